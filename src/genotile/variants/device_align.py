"""Indel alignment of ALT outputs on the device: :func:`~genotile.variants.sequences.align_alternate` in JAX.

Why (issue 15): the gene-mask scorers reduce whole-window 1-bp outputs of ALT *aligned* to REF coordinates; with
their reductions on the device the alignment must be there too. Sending a row's four length-``S`` index/mask
arrays would cost as much host-to-device traffic as its one-hot sequence, so the host compresses the
alignment it already computes (:func:`~genotile.variants.sequences.indel_alignment`, the one source of truth)
into :data:`PARAMS` int32 numbers and the device rebuilds the same arrays from them:

* the composed gather ``c = insertion_reindex[deletion_reindex]`` is at most three runs of consecutive indices
  (an insertion or a deletion moves one block; both never happen at once);
* ``z = deletion_zeros[deletion_reindex]`` (the zeros the deletion moves into its span), ``alt_mask`` and
  ``insertion_crop`` are single ranges.

Then ``aligned[i] = (0 if z[i] else x'[c[i]]) * (1 - crop[i])`` with ``x'`` = ALT whose ``alt_mask`` rows hold
their per-track maximum: the host's steps composed, with the same NaN behaviour (a gather, a ``where`` and a
product by 0/1 are exact, so the result equals the host's bit for bit; tests/variants/test_device_pass.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genotile.variants.sequences import IndelAlignment

__all__ = ["IDENTITY", "PARAMS", "align_alternate_jax", "alignment_params"]

#: Numbers per row: is_indel, 3 run starts, 3 run offsets, then [lo, hi) of alt_mask, of z and of the crop.
PARAMS = 13
MAX_RUNS = 3


def _range(mask: np.ndarray, what: str) -> tuple[int, int]:
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return 0, 0
    lo, hi = int(hits[0]), int(hits[-1]) + 1
    if hits.size != hi - lo:
        raise ValueError(f"indel alignment: {what} is not one range (cannot happen for one left-aligned indel)")
    return lo, hi


def alignment_params(alignment: IndelAlignment) -> np.ndarray:
    """The ``[PARAMS]`` int32 description of ``alignment`` that :func:`align_alternate_jax` expands."""
    s = alignment.length
    gather = alignment.insertion_reindex[alignment.deletion_reindex].astype(np.int64)
    zeros = alignment.deletion_zeros[alignment.deletion_reindex]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(gather) != 1) + 1])
    if starts.size > MAX_RUNS:
        raise ValueError(f"indel alignment: {starts.size} runs in its gather, at most {MAX_RUNS} (cannot happen for one indel)")
    offsets = gather[starts] - starts
    out = np.zeros(PARAMS, np.int64)
    out[0] = int(alignment.is_indel)
    out[1 : 1 + MAX_RUNS] = s  # unused runs start past the window
    out[1 : 1 + starts.size] = starts
    out[4 : 4 + offsets.size] = offsets
    out[7:9] = _range(alignment.alt_mask, "alt_mask")
    out[9:11] = _range(zeros, "the deletion zeros")
    out[11:13] = _range(alignment.insertion_crop, "insertion_crop")
    return out.astype(np.int32)


#: The parameters of no alignment (SNVs, MNVs): one run, offset 0, empty masks.
IDENTITY = np.array([0, 0, 1 << 30, 1 << 30, 0, 0, 0, 0, 0, 0, 0, 0, 0], np.int32)


def align_alternate_jax(x: Any, params: Any) -> Any:
    """ALT ``x [S, T]`` aligned to REF by ``params`` (:func:`alignment_params`); traced JAX, equal to
    :func:`~genotile.variants.sequences.align_alternate` bit for bit. Rows that are no indel skip the work
    (``lax.cond``: inside the ALT passes' row-by-row map it is a real branch)."""
    import jax
    import jax.numpy as jnp

    def align(x: Any) -> Any:
        pos = jnp.arange(x.shape[0], dtype=jnp.int32)
        inside = lambda lo, hi: (pos >= params[lo]) & (pos < params[hi])  # noqa: E731
        alt_mask = inside(7, 8)[:, None]
        peak = jnp.max(jnp.where(alt_mask, x, -jnp.inf), axis=0, keepdims=True)
        x = jnp.where(alt_mask, peak, x)
        run = jnp.sum(pos[:, None] >= params[1:4][None, :], axis=1) - 1
        gathered = jnp.take(x, pos + jnp.take(params[4:7], run), axis=0)
        gathered = jnp.where(inside(9, 10)[:, None], jnp.zeros((), x.dtype), gathered)
        return gathered * (~inside(11, 12))[:, None].astype(x.dtype)

    return jax.lax.cond(params[0] != 0, align, lambda x: x, x)
