"""Splice-site position extraction for the junction head (the reference's ``splice_sites_junction`` head).

The junction head scores donor x acceptor pairs only at a fixed number of
candidate sites per class; which sites is decided here from the splice-site
classification probabilities (and, when scoring variants, from the maximum
of REF, aligned ALT and annotated sites).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array
EMPTY = -1


def splice_site_positions(probabilities: Array, k: int, threshold: float) -> Array:
    """Top-``k`` positions of each of the four site classes -> int32 ``[B, 4, k]``.

    Positions whose probability is below ``threshold`` are dropped; kept
    positions are sorted ascending and the empties (-1) sit at the end, as the
    reference returns them. ``approx_max_k`` is exact except on TPU.
    """
    if probabilities.shape[1] < k:
        raise ValueError(f"need at least {k} positions to pick {k} splice sites, got {probabilities.shape[1]}")
    values, positions = jax.lax.approx_max_k(probabilities[..., :4], k, reduction_dimension=1)
    positions = jnp.where(values < threshold, jnp.inf, positions.astype(jnp.float32))
    positions = jnp.sort(positions, axis=1)
    positions = jnp.where(jnp.isinf(positions), EMPTY, positions)
    return positions.swapaxes(1, 2).astype(jnp.int32)
