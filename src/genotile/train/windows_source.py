"""The batches of a fine-tune: training windows of ``train/windows.tsv`` with their sequence and targets.

A batch row is one window widened by ``margin`` bases each side (the trainer's random shift crops them,
``genotile.train.augment``): the one-hot DNA from the FASTA (``N`` past a contig's end, as inference
pads) and the targets of each head at 1 bp. Targets past a contig's end are zero and masked by nothing
more: the DNA there is all-zero too, like the model's own padding.

Why targets come through a callable (:data:`TargetsFn`): measured tracks (``targets.zarr``,
:func:`store_targets`) and, for distillation, a teacher's predictions over the same window are the same
to the trainer; only this function changes.

With gene masks (``gene_masks``, :mod:`genotile.train.gene_masks`; the RNA-seq loss's gene-level term), a
row also holds the ``[L, 2, G]`` gene masks of its *sequence's* window (with ``shuffle_targets`` too: the
genes are where the DNA is), which the batch carries as ``gene_mask`` beside the targets.

The stream is a deterministic function of (seed, position), reshuffled every epoch from (seed, epoch),
so a resumed run re-creates it from the position a checkpoint holds (``genotile.train.batches``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from genotile.outputs import SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.train.augment import SITE_POSITIONS
from genotile.train.batches import Batch
from genotile.train.gene_masks import GeneMaskFn
from genotile.train.losses import GENE_MASK_KEY
from genotile.train.splice_targets import window_splice_targets, window_usage_targets
from genotile.train.targets import TargetsStore

__all__ = ["SITE_POSITIONS", "TargetsFn", "WindowsSource", "store_targets"]

#: ``(contig, start, end) -> {head: [end - start, channels] float32}``: a window's targets at 1 bp.
TargetsFn = Callable[[str, int, int], Mapping[str, np.ndarray]]


def store_targets(store: TargetsStore, heads: Sequence[str], splice_slots: int | None = None) -> TargetsFn:
    """Measured targets: the 1-bp arrays of ``targets.zarr`` (``prepare_targets``' output).

    ``splice_slots`` (the junction head's K sites per class): also the splice targets of the store's splice
    samples (:func:`genotile.train.splice_targets.window_splice_targets`): ``splice_sites_classification``
    ``[L, 5]``, ``splice_sites_junction`` ``[K, K, 2 n]`` and the site slots (:data:`SITE_POSITIONS`, ``[4, K]``,
    relative to the window's first base), which the batch carries beside the targets; with usage samples (the
    sheet's ``splice_site_usage`` rows) also ``splice_sites_usage`` ``[L, 2 m]``
    (:func:`genotile.train.splice_targets.window_usage_targets`)."""
    junctions = store.splice_junctions() if splice_slots else None
    usage = store.site_usage() if splice_slots and len(store.usage_samples()) else None

    def read(contig: str, start: int, end: int) -> dict[str, np.ndarray]:
        out = {head: store.read(head, 1, contig, start, end) for head in heads}
        if junctions is not None:
            classes, positions, counts = window_splice_targets(junctions, contig, start, end, int(splice_slots))
            out.update({SPLICE_SITES.head: classes, SPLICE_JUNCTIONS.head: counts, SITE_POSITIONS: positions})
        if usage is not None:
            out[SPLICE_SITE_USAGE.head] = window_usage_targets(usage, contig, start, end)
        return out

    return read


def stack_rows(rows: Sequence[Mapping[str, Any]], organism: int) -> Batch:
    """Rows of :meth:`WindowsSource.row` as one batch; the splice-site slots go beside the targets (no mask)."""
    heads = [h for h in rows[0]["targets"] if h != SITE_POSITIONS]
    targets = {h: np.stack([r["targets"][h] for r in rows]) for h in heads}
    batch = {
        "dna": np.stack([r["dna"] for r in rows]),
        "organism": np.full(len(rows), organism, np.int32),
        "targets": targets,
        "masks": {h: np.ones((len(rows), 1, targets[h].shape[-1]), bool) for h in heads},
    }
    if SITE_POSITIONS in rows[0]["targets"]:
        batch[SITE_POSITIONS] = np.stack([r["targets"][SITE_POSITIONS] for r in rows]).astype(np.int32)
    if GENE_MASK_KEY in rows[0]:
        batch[GENE_MASK_KEY] = np.stack([r[GENE_MASK_KEY] for r in rows]).astype(bool)
    return batch


class WindowsSource:
    """Batches of windows (rows of ``windows.tsv``), in a seeded order, each widened by ``margin``."""

    def __init__(self, genome: Genome, windows: pd.DataFrame, targets: TargetsFn, *, margin: int,
                 batch_size: int, seed: int, organism: int, shuffle_targets: bool = False,
                 identity: Mapping[str, Any] | None = None, gene_masks: GeneMaskFn | None = None) -> None:
        """``shuffle_targets``: the control of a fine-tune. Each window reads the targets of another window
        of the same table (a permutation fixed by ``seed``), so no target belongs to its sequence.
        ``identity``: what else names the data (the targets store, its tracks) for the resume fingerprint.
        ``gene_masks``: each row also gets its window's gene masks (``gene_mask``, ``[L, 2, G]``); the
        annotation that makes them belongs in ``identity``."""
        if len(windows) == 0:
            raise ValueError("no windows to train on")
        self.genome, self.targets, self.margin = genome, targets, int(margin)
        self.windows = windows[["contig", "start", "end"]].reset_index(drop=True)
        self.batch_size, self.seed, self.organism = int(batch_size), int(seed), int(organism)
        if not 1 <= self.batch_size <= len(self.windows):
            raise ValueError(f"train.batch_size = {batch_size} must be between 1 and the {len(self.windows)} "
                             "training windows")
        self.shuffle_targets = bool(shuffle_targets)
        count = len(self.windows)
        self._target_of = np.arange(count)
        if shuffle_targets and count > 1:  # one cycle through a seeded order: no window keeps its own targets
            order = np.random.default_rng([self.seed, 7]).permutation(count)
            self._target_of[order] = np.roll(order, -1)
        self.identity = dict(identity or {})
        self.gene_masks = gene_masks

    def __len__(self) -> int:
        return len(self.windows)

    def row(self, index: int) -> dict[str, Any]:
        """Window ``index`` with its margins: DNA ``[L, 4]``, targets ``{head: [L, C]}`` (and ``gene_mask`` ``[L, 2, G]``)."""
        contig, start, end = self.windows.loc[index, ["contig", "start", "end"]]
        lo, hi = int(start) - self.margin, int(end) + self.margin
        dna = one_hot(self.genome.sequence(str(contig), max(lo, 0), hi))
        if lo < 0:  # the margin before a contig's start: N (all-zero rows)
            dna = np.concatenate([np.zeros((-lo, 4), np.float32), dna])
        t_contig, t_start, t_end = self.windows.loc[int(self._target_of[index]), ["contig", "start", "end"]]
        if (int(t_end) - int(t_start)) != (int(end) - int(start)):
            raise ValueError("train_model: shuffled targets need windows of one length")
        targets = self.targets(str(t_contig), int(t_start) - self.margin, int(t_end) + self.margin)
        row = {"dna": dna, "targets": dict(targets)}
        if self.gene_masks is not None:
            row[GENE_MASK_KEY] = self.gene_masks(str(contig), lo, hi)
        return row

    def batch(self, position: int) -> Batch:
        per_epoch = len(self.windows) // self.batch_size
        epoch, index = divmod(int(position), per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.windows))
        rows = [self.row(int(i)) for i in order[index * self.batch_size : (index + 1) * self.batch_size]]
        return stack_rows(rows, self.organism)

    def batches(self, position: int) -> Iterator[Batch]:
        while True:
            yield self.batch(position)
            position += 1

    def fingerprint(self) -> Mapping[str, Any]:
        digest = hashlib.sha256(self.windows.to_csv(sep="\t", index=False).encode()).hexdigest()
        return {"kind": "windows", "windows_sha256": digest, "rows": len(self.windows), "margin": self.margin,
                "batch_size": self.batch_size, "seed": self.seed, "organism": self.organism,
                "shuffle_targets": self.shuffle_targets, **self.identity}
