"""One tile membership (genotile.variants.tiles) for shard_variants and the scoring engine: shards are cut only between tiles."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.sequence.encoding import GRID_BP as ALIGN
from genotile.variants import engine
from genotile.variants.engine import ScoringOptions
from genotile.variants.steps import shard_table
from genotile.variants.tiles import tile_membership


class _Lengths:
    """A stand-in Genome: only contig lengths are needed for the tiling."""

    def __init__(self, lengths: dict[str, int]) -> None:
        self.lengths = lengths

    def length(self, contig: str) -> int:
        return self.lengths[contig]


@st.composite
def cohorts(draw):
    """Sorted variants on 1-3 contigs, a valid (window, owned) pair and a shard size."""
    window_bp = ALIGN * draw(st.sampled_from([2, 4, 8]))
    owned = [window_bp - 2 * ALIGN * k for k in range(window_bp // (2 * ALIGN))]
    owned_bp = draw(st.sampled_from(owned + ([None] if (window_bp // 2) in owned else [])))  # None: half the window
    lengths = {f"c{i}": draw(st.integers(1, 6 * window_bp)) for i in range(draw(st.integers(1, 3)))}
    rows = []
    for contig, length in lengths.items():
        for pos in sorted(draw(st.lists(st.integers(1, length), max_size=25))):
            rows.append({"variant_id": f"{contig}:{pos}", "chrom": contig, "pos": pos, "ref": "A", "alt": "C"})
    variants = pd.DataFrame(rows, columns=["variant_id", "chrom", "pos", "ref", "alt"])
    return variants, lengths, window_bp, owned_bp, draw(st.integers(1, 10))


@settings(max_examples=100, deadline=None)
@given(cohorts())
def test_shards_are_cut_only_between_tiles(cohort):
    variants, lengths, window_bp, owned_bp, per_shard = cohort
    genome = _Lengths(lengths)
    membership = tile_membership(variants, genome.length, window_bp, owned_bp)
    # each variant lies in the owned region of its tile
    for i, row in enumerate(variants.itertuples(index=False)):
        window = membership.windows[membership.tile[i]]
        assert window.contig == row.chrom and window.own_start <= row.pos - 1 < window.own_end
    table = shard_table(variants, membership.tile, per_shard)
    # the shards partition the rows, in order
    bounds = [0, *table["end_row"].tolist()]
    assert table["first_row"].tolist() == bounds[:-1] and bounds[-1] == len(variants)
    for first in table["first_row"].iloc[1:]:
        assert membership.tile[first] != membership.tile[first - 1]
    # the engine's tiles (what tiled mode predicts once per REF) each fall inside one shard
    shard_of = {}
    for shard in table.itertuples(index=False):
        shard_of.update({v: shard.shard for v in variants["variant_id"].iloc[shard.first_row:shard.end_row]})
    options = ScoringOptions(mode="tiled", window_bp=window_bp, tile_owned_bp=owned_bp)
    seen = []
    for window, rows in engine._tiles(variants, genome, options):
        assert len({shard_of[r.variant_id] for r in rows}) == 1, window
        seen.extend(r.variant_id for r in rows)
    assert seen == variants["variant_id"].tolist()  # every variant once, in table order


def test_membership_uses_row_positions_not_the_index():
    """A slice of the table (as score_shard reads one shard) keeps its original index."""
    variants = pd.DataFrame({"chrom": ["c0"] * 3, "pos": [1, 5000, 9000]}, index=[7, 8, 9])
    membership = tile_membership(variants, {"c0": 20_000}.__getitem__, 8192, 4096)
    assert membership.tile.tolist() == [0, 1, 2]
    assert [w.own_start for w, _ in membership.groups()] == [0, 4096, 8192]
