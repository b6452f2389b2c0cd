"""Which tile (prediction window of ``tracks.tiling.tile_contig``) owns each variant: one function for sharding and scoring.

Why one place: ``shard_variants`` cuts shards only between tiles, so that the scoring engine's
tiled mode predicts each tile's REF once per tile. That holds only while both compute the same
membership; two copies could drift (they did: one read the table's index, the other positions).

Why here and not in ``tracks/tiling.py``: the tiling knows windows and contigs, never variant
tables; the membership of a variant table's rows is a variant-stage concern built on it, and
keeping it here keeps ``tracks/`` free of the variants' column names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genotile.tracks.tiling import Window, tile_contig

__all__ = ["TileMembership", "tile_membership"]


@dataclass(frozen=True)
class TileMembership:
    """``windows``: the tiles of every contig the variants are on (contigs in order of first appearance,
    tiles in contig order); ``tile[i]``: index into ``windows`` of the tile owning row ``i`` (by position)."""

    windows: list[Window]
    tile: np.ndarray

    def groups(self) -> Iterator[tuple[Window, np.ndarray]]:
        """Each owning tile with the row positions it owns (table order kept), tiles in ``windows`` order."""
        for index in np.unique(self.tile):
            yield self.windows[int(index)], np.flatnonzero(self.tile == index)


def tile_membership(variants: pd.DataFrame, contig_length: Callable[[str], int], window_bp: int,
                    owned_bp: int | None) -> TileMembership:
    """The tile owning each variant: the window whose owned region holds its (1-based) ``pos``.

    ``owned_bp`` None means half the window (the ``variants.tile_owned_bp`` default).
    """
    owned = owned_bp or window_bp // 2
    tile = np.zeros(len(variants), np.int64)
    windows: list[Window] = []
    chroms = variants["chrom"].astype(str).to_numpy()
    positions = variants["pos"].to_numpy(np.int64)
    for chrom in pd.unique(chroms):
        rows = np.flatnonzero(chroms == chrom)
        contig = tile_contig(str(chrom), contig_length(str(chrom)), window_bp, owned)
        starts = np.array([w.own_start for w in contig], np.int64)
        tile[rows] = len(windows) + np.searchsorted(starts, positions[rows] - 1, side="right") - 1
        windows.extend(contig)
    return TileMembership(windows, tile)
