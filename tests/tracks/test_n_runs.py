"""N runs (assembly gaps): detection on the FASTA's bytes, BED, the store's 1-bp mask, bin masks, overlaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.tracks.n_runs import (
    bin_mask,
    contig_n_runs,
    genome_n_runs,
    mask_runs,
    read_n_runs_bed,
    runs_by_contig,
    span_touches,
    unknown_bases,
    write_n_runs_bed,
)
from genotile.tracks.store import StoreError, TrackSet, create_store, read_n_mask

ROOT = Path(__file__).resolve().parents[2]
CHR22 = ROOT.parent / "shared/realdata/grch37_chr22_20-21Mb/chr22.fa.gz"
CHR20 = ROOT.parent / "shared/realdata/grch37_chr20_1Mb/chr20_b37_0-2M.fa"
SEQUENCES = st.text(alphabet="ACGTNacgtnRY-", max_size=300)


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_runs_cover_exactly_the_unknown_bases(sequence):
    starts, ends = mask_runs(unknown_bases(sequence))
    covered = np.zeros(len(sequence), dtype=bool)
    for s, e in zip(starts.tolist(), ends.tolist()):
        assert s < e
        covered[s:e] = True
    expected = np.array([c not in "ACGTacgt" for c in sequence], dtype=bool)
    np.testing.assert_array_equal(covered, expected)
    assert (starts[1:] > ends[:-1]).all()  # maximal: runs never touch
    # the mask is the model's view: all-zero one-hot rows
    np.testing.assert_array_equal(unknown_bases(one_hot(sequence)), expected)


@settings(max_examples=100, deadline=None)
@given(SEQUENCES, st.integers(1, 40))
def test_blocked_reading_joins_runs_across_block_edges(tmp_path_factory, sequence, block_bp):
    sequence = sequence.replace("-", "N") or "N"
    fasta = tmp_path_factory.mktemp("fa") / "g.fa"
    fasta.write_text(">c\n" + "\n".join(sequence[i : i + 7] for i in range(0, len(sequence), 7)) + "\n")
    starts, ends = contig_n_runs(Genome(fasta), "c", block_bp=block_bp)
    whole = mask_runs(unknown_bases(sequence))
    np.testing.assert_array_equal(starts, whole[0])
    np.testing.assert_array_equal(ends, whole[1])


def test_bed_round_trip_and_store_mask(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">a\n" + "ACGT" * 10 + "N" * 5000 + "acgt" * 1000 + "nnnRn" + "ACGT" * 50 + "\n>b\nACGTACGT\n")
    genome = Genome(fasta)
    table = genome_n_runs(genome, genome.contigs)
    assert table.values.tolist() == [["a", 40, 5040], ["a", 9040, 9045]]
    write_n_runs_bed(table, tmp_path / "n_runs.bed")
    assert (tmp_path / "n_runs.bed").read_text() == "a\t40\t5040\na\t9040\t9045\n"
    pd.testing.assert_frame_equal(read_n_runs_bed(tmp_path / "n_runs.bed"), table)
    write_n_runs_bed(genome_n_runs(genome, ["b"]), tmp_path / "none.bed")
    assert len(read_n_runs_bed(tmp_path / "none.bed")) == 0

    store = tmp_path / "tracks.zarr"
    tracks = [TrackSet("dnase", 128, pd.DataFrame({"track_index": [0], "name": ["x"]}))]
    create_store(store, genome.contigs, tracks, chunk_bp=2048, attrs={}, n_runs=runs_by_contig(table))
    np.testing.assert_array_equal(read_n_mask(store, "a"), unknown_bases(genome.sequence("a", 0, genome.contigs["a"])))
    assert not read_n_mask(store, "b").any()
    assert read_n_mask(store, "a", 9_039, 9_046).tolist() == [False] + [True] * 5 + [False]
    chunks = sorted(p.name for p in (store / "n_mask" / "a" / "mask" / "c").iterdir())
    assert chunks == ["0", "1", "2", "4"]  # only the chunks holding an N are written (9,040-9,045 is in chunk 4)
    assert not (store / "n_mask" / "b" / "mask" / "c").exists()
    with pytest.raises(StoreError, match="sorted, disjoint"):
        create_store(store, genome.contigs, tracks, chunk_bp=2048, attrs={}, n_runs={"a": ([50], [10])})
    with pytest.raises(StoreError, match="no N mask"):
        create_store(tmp_path / "plain.zarr", genome.contigs, tracks, chunk_bp=2048, attrs={})
        read_n_mask(tmp_path / "plain.zarr", "a")


def test_bin_mask_keeps_bins_with_any_real_base():
    unknown = np.zeros(300, dtype=bool)
    unknown[100:300] = True
    # 128-bp bins: [0,128) has real bases, [128,256) is all N, [256,300) is all N up to the contig end
    assert bin_mask(unknown, 128).tolist() == [False, True, True]
    assert bin_mask(unknown, 1).sum() == 200
    assert bin_mask(np.zeros(0, dtype=bool), 128).tolist() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=80), st.lists(st.tuples(st.integers(0, 79), st.integers(1, 20)), max_size=20))
def test_span_touches_matches_brute_force(mask, spans):
    mask = np.array(mask)
    run_starts, run_ends = mask_runs(mask)
    starts = np.array([min(s, len(mask) - 1) for s, _ in spans], dtype=np.int64)
    ends = np.array([min(s + n, len(mask)) for (_, n), s in zip(spans, starts)], dtype=np.int64)
    expected = [bool(mask[s:e].any()) for s, e in zip(starts, ends)]
    assert span_touches(starts, ends, run_starts, run_ends).tolist() == expected


@pytest.mark.slow  # reads 53 Mb of bgzipped FASTA (a few seconds)
@pytest.mark.skipif(not CHR22.exists(), reason="real data not available")
def test_real_gaps_grch37_chr22_and_chr20():
    runs = genome_n_runs(Genome(CHR22), ["chr22"])
    # N up to 20,000,000, the slice's own 100 kb assembly gap (1-based 20,509,432-20,609,431), N after 21,000,000
    assert runs[["start", "end"]].values.tolist() == [[0, 20_000_000], [20_509_431, 20_609_431], [21_000_000, 51_304_566]]
    if CHR20.exists():
        runs = genome_n_runs(Genome(CHR20), ["20"])
        assert runs.values.tolist()[0] == ["20", 0, 1_000_000]
