"""The batch-source protocol the trainer reads, and a small in-memory source (tests, benchmarks, demos).

Why a position, not an iterator's hidden state: exact resume needs the batch stream to be re-created
from what a checkpoint holds. A source is therefore a deterministic function of (its seed, the
position): ``batches(position)`` yields the batch number ``position``, then ``position + 1``, ...; the
trainer records how many batches it has consumed and asks for the stream from there after a restart.

A batch is a dict of numpy (or JAX) arrays with a leading batch axis:

* ``dna``: one-hot ``[B, S + 2 max_shift, 4]`` float32 (the augmentation crops the margins);
* ``organism``: ``[B]`` int32;
* ``targets``: ``{name: array}`` (1-bp tracks ``[B, S + 2 max_shift, C]``, contact maps ``[B, P, P, C]``);
* ``masks``: ``{name: [B, 1, C] bool}`` for the targets that have one (same names);
* anything else is handed to the loss unchanged.

For distillation, ``targets`` are simply another model's predictions: nothing here cares where they
come from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

Batch = dict[str, Any]


@runtime_checkable
class BatchSource(Protocol):
    """What the trainer needs from a data pipeline."""

    def batches(self, position: int) -> Iterator[Batch]:
        """Batches ``position``, ``position + 1``, ... (endless or long enough for the run); the same
        (source settings, position) must always give the same batches."""
        ...

    def fingerprint(self) -> Mapping[str, Any]:
        """What identifies the stream (seed, data, batch size): a resume refuses a changed source."""
        ...


class ArraySource:
    """Rows of in-memory arrays, reshuffled every epoch from (seed, epoch): the stream at any position
    is recomputed without replaying the ones before it."""

    def __init__(self, rows: Mapping[str, Any], batch_size: int, seed: int = 0) -> None:
        self.rows = rows
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.count = int(np.asarray(rows["dna"]).shape[0])
        if self.batch_size < 1 or self.batch_size > self.count:
            raise ValueError(f"batch_size must be in [1, {self.count}] (the rows given), got {batch_size}")

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.count)

    def batch(self, position: int) -> Batch:
        per_epoch = self.count // self.batch_size
        epoch, index = divmod(int(position), per_epoch)
        rows = self._order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        return _take(self.rows, rows)

    def batches(self, position: int) -> Iterator[Batch]:
        while True:
            yield self.batch(position)
            position += 1

    def fingerprint(self) -> Mapping[str, Any]:
        digest = hashlib.sha256()
        for leaf in _leaves(self.rows):
            array = np.ascontiguousarray(leaf)
            digest.update(str((array.dtype, array.shape)).encode())
            digest.update(array.tobytes())
        return {"kind": "arrays", "rows": self.count, "batch_size": self.batch_size, "seed": self.seed,
                "data_sha256": digest.hexdigest()}


def _take(tree: Any, rows: np.ndarray) -> Any:
    if isinstance(tree, Mapping):
        return {k: _take(v, rows) for k, v in tree.items()}
    return np.asarray(tree)[rows]


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, Mapping):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    return [tree]
