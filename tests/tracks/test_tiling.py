"""Tiling invariants: every base owned exactly once, 2,048-bp alignment, contig ends, selections."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.sequence.encoding import GRID_BP
from genotile.tracks.tiling import (
    TilingError,
    read_bed,
    restrict_to_regions,
    select_contigs,
    tile_contig,
    tile_windows,
    validate_sizes,
    windows_table,
)

sizes = st.tuples(st.integers(1, 64), st.integers(0, 32)).map(lambda t: (GRID_BP * (t[0] + 2 * t[1]), GRID_BP * t[0]))


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 3_000_000), wo=sizes)
def test_every_base_owned_exactly_once_and_aligned(length, wo):
    window_bp, owned_bp = wo
    windows = tile_contig("c", length, window_bp, owned_bp)
    assert windows[0].own_start == 0 and windows[-1].own_end == length
    for before, after in zip(windows, windows[1:]):
        assert before.own_end == after.own_start  # contiguous, no overlap
        assert before.start < after.start  # no window predicted twice
    for w in windows:
        assert w.end - w.start == window_bp
        assert w.start % GRID_BP == 0 and w.start >= 0
        assert w.own_start % GRID_BP == 0
        assert w.own_end % GRID_BP == 0 or w.own_end == length
        assert w.start <= w.own_start < w.own_end <= w.end
        if length >= window_bp:
            assert w.end - length < GRID_BP  # shifted inward: at most 2,047 bp of N padding
        else:
            assert (w.start, w.end) == (0, window_bp)


@settings(max_examples=100, deadline=None)
@given(blocks=st.integers(3, 40), extra=st.integers(0, 2 * GRID_BP), wo=sizes)
def test_interior_owned_regions_are_centred(blocks, extra, wo):
    window_bp, owned_bp = wo
    length = blocks * max(window_bp, owned_bp) + extra
    margin = (window_bp - owned_bp) // 2
    for w in tile_contig("c", length, window_bp, owned_bp):
        if w.own_start - margin >= 0 and w.own_start - margin + window_bp <= length and w.own_end - w.own_start == owned_bp:
            assert w.own_start - w.start == margin


def test_defaults_on_a_real_sized_contig():
    windows = tile_contig("chr1", 248_956_422)
    assert all(w.end - w.start == 1_048_576 for w in windows)
    assert windows[0] == windows[0].__class__("chr1", 0, 1_048_576, 0, 524_288)  # first window shifted inward to 0
    assert windows[1].own_start - windows[1].start == 262_144
    assert sum(w.own_end - w.own_start for w in windows) == 248_956_422


def test_short_contig_gets_one_padded_window():
    assert tile_contig("chrM", 16_569) == [tile_contig("chrM", 16_569)[0]]
    w = tile_contig("chrM", 16_569)[0]
    assert (w.start, w.end, w.own_start, w.own_end) == (0, 1_048_576, 0, 16_569)


@pytest.mark.parametrize("window_bp, owned_bp, words", [
    (1_000_000, 524_288, "multiple of 2,048"),
    (1_048_576, 0, "positive multiple"),
    (524_288, 1_048_576, "larger than"),
    (1_048_576, 1_046_528, "centred"),
])
def test_bad_sizes(window_bp, owned_bp, words):
    with pytest.raises(TilingError, match=words):
        validate_sizes(window_bp, owned_bp)


def test_contig_selection():
    contigs = {"chr1": 10, "chr2": 20, "chrX": 30, "chrUn_x": 5}
    assert list(select_contigs(contigs, regex=r"chr[0-9XY]+")) == ["chr1", "chr2", "chrX"]
    assert list(select_contigs(contigs, names=["chrX", "chr1"])) == ["chr1", "chrX"]
    with pytest.raises(TilingError, match="not in the FASTA"):
        select_contigs(contigs, names=["chr3"])
    with pytest.raises(TilingError, match="matches no contig"):
        select_contigs(contigs, regex="chrZ")
    with pytest.raises(TilingError, match="not a valid regular expression"):
        select_contigs(contigs, regex="chr(")


def test_bed_regions_keep_whole_owned_blocks(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("# comment\nc\t600000\t600001\nc\t3000000\t3000100\n")
    regions = read_bed(str(bed))
    windows = tile_windows({"c": 4_000_000}, regions=regions)
    owned = [(w.own_start, w.own_end) for w in windows]
    assert any(s <= 600_000 < e for s, e in owned) and any(s <= 3_000_000 < e for s, e in owned)
    assert len(windows) == 2
    assert restrict_to_regions(windows, {}) == []
    with pytest.raises(TilingError, match="not selected"):
        tile_windows({"c": 4_000_000}, regions={"d": [(0, 10)]})
    bad = tmp_path / "bad.bed"
    bad.write_text("c\tten\t20\n")
    with pytest.raises(TilingError, match="line 1"):
        read_bed(str(bad))


def test_windows_table_batches_and_padding():
    contigs = {"a": 3_000_000, "b": 100_000}
    windows = tile_windows(contigs)
    table = windows_table(windows, contigs, windows_per_batch=2)
    assert list(table["window"]) == list(range(len(windows)))
    assert list(table["batch"]) == [i // 2 for i in range(len(windows))]
    assert table.loc[table.contig == "b", "pad_right"].item() == 1_048_576 - 100_000
    assert (table.loc[table.contig == "a", "pad_right"] < GRID_BP).all()
