"""Reductions of one window's ``[S, T]`` output over per-variant intervals, traced in JAX (issue 15).

Why intervals, not masks: the scorers that read genes the *variant* overlaps (GeneMaskSplicing, Polyadenylation,
SpliceJunction) used ``[S, G]`` boolean masks on the host, built per variant (~1 MB per gene at 1 Mb); a gene body
or a PAS window is one interval (a gene with several records on a contig: a few), so a variant sends a few integers
and the reduction runs next to the forward pass.

Why blocks of :data:`BLOCK` bases: an interval ``[lo, hi)`` is its (at most two) partial edge blocks, masked
position by position, plus the whole blocks strictly between them, reduced once per window output (``[S/128, T]``).
Every step is a dense reduction with a fixed order, so a row's result does not depend on its batch (byte identity),
and a max is exact (equal to the host's bit for bit). Window lengths are multiples of 2,048 bp, so of ``BLOCK``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BLOCK", "interval_max_jax", "interval_sum_jax"]

#: Bases per block (a 128-bp bin of the model).
BLOCK = 128


def _edges(x: Any, intervals: Any) -> tuple[Any, Any, Any, Any]:
    """The blocks ``[N, BLOCK, T]`` of ``x``, each interval's first and last block ``[I]`` (equal for an empty or
    one-block interval), and the edge blocks' in-interval mask ``[I, 2, BLOCK]`` (the last block's only where it
    differs from the first, so no position is counted twice)."""
    import jax.numpy as jnp

    s, t = x.shape
    if s % BLOCK:
        raise ValueError(f"an interval reduction needs a window of whole {BLOCK}-bp blocks, got {s} positions")
    blocks = x.reshape(s // BLOCK, BLOCK, t)
    lo, hi = intervals[:, 0], intervals[:, 1]
    first = jnp.clip(lo // BLOCK, 0, s // BLOCK - 1)
    last = jnp.clip(jnp.maximum(hi - 1, lo) // BLOCK, first, s // BLOCK - 1)
    edge = jnp.stack([first, last], axis=1)  # [I, 2]
    pos = edge[..., None] * BLOCK + jnp.arange(BLOCK)  # [I, 2, BLOCK]
    inside = (pos >= lo[:, None, None]) & (pos < hi[:, None, None])
    inside = inside & jnp.stack([jnp.ones_like(first, bool), last != first], axis=1)[..., None]
    return blocks, first, last, inside


def interval_max_jax(x: Any, intervals: Any) -> Any:
    """``[I, T]`` maximum of ``x [S, T]`` over each interval ``[lo, hi)`` of ``intervals [I, 2]`` (window
    positions); ``-inf`` for an empty interval; a NaN inside an interval is that track's result."""
    import jax.numpy as jnp

    blocks, first, last, inside = _edges(x, intervals)
    low = jnp.asarray(-jnp.inf, x.dtype)
    j = jnp.arange(blocks.shape[0])
    between = (j[None] > first[:, None]) & (j[None] < last[:, None])  # [I, N]
    inner = jnp.max(jnp.where(between[..., None], jnp.max(blocks, axis=1)[None], low), axis=1)
    edge_blocks = blocks[jnp.stack([first, last], axis=1)]  # [I, 2, BLOCK, T]
    edge = jnp.max(jnp.where(inside[..., None], edge_blocks, low), axis=(1, 2))
    return jnp.maximum(inner, edge)


def interval_sum_jax(x: Any, intervals: Any, max_length: int | None = None) -> Any:
    """``[I, T]`` sum of ``x [S, T]`` over each interval (0 for an empty one), accumulated in ``x``'s dtype:
    first edge block, then the whole blocks between, then the last edge block.

    ``max_length``: no interval is longer (bp), so only the few blocks that fit between the edges are gathered
    (a PAS window: 400 bp, 3 blocks) instead of masking all of the window's blocks per interval."""
    import jax.numpy as jnp

    blocks, first, last, inside = _edges(x, intervals)
    zero = jnp.zeros((), x.dtype)
    sums = jnp.sum(blocks, axis=1, dtype=x.dtype)  # [N, T]
    if max_length is None:
        j = jnp.arange(blocks.shape[0])[None]
    else:
        j = first[:, None] + 1 + jnp.arange(max(max_length // BLOCK, 1))[None]  # [I, K] candidate inner blocks
    between = (j > first[:, None]) & (j < last[:, None])
    picked = sums[None] if max_length is None else sums[jnp.clip(j, 0, blocks.shape[0] - 1)]
    inner = jnp.sum(jnp.where(between[..., None], picked, zero), axis=1, dtype=x.dtype)
    edge_blocks = blocks[jnp.stack([first, last], axis=1)]  # [I, 2, BLOCK, T]
    edge = jnp.sum(jnp.where(inside[..., None], edge_blocks, zero), axis=2, dtype=x.dtype)  # [I, 2, T]
    return edge[:, 0] + inner + edge[:, 1]
