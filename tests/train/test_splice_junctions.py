"""STAR SJ.out.tab: junctions read and checked against the FASTA, and the splice sites they use."""

from __future__ import annotations

import numpy as np
import pytest

from genotile.tracks.junctions import window_junctions
from genotile.tracks.tiling import Window
from genotile.train.data_errors import TrainingDataError
from genotile.train.splice_junctions import JUNCTION_COLUMNS, read_sj_out_tab, splice_sites

CONTIGS = {"chr1": 10_000, "chr2": 5_000}
# contig, intron first/last base (1-based), strand 0/1/2, motif, annotated, unique, multi, overhang
TABLE = """chr1\t101\t200\t1\t1\t1\t5\t2\t30
chr1\t101\t400\t1\t1\t0\t2\t0\t12
chr1\t1001\t1500\t2\t2\t1\t7\t1\t40
chr2\t11\t20\t0\t0\t0\t1\t0\t5
chrUn_1\t5\t50\t1\t1\t0\t3\t0\t9
"""


def _write(tmp_path, text, name="SJ.out.tab"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_junctions_and_sites(tmp_path):
    junctions = read_sj_out_tab(_write(tmp_path, TABLE), CONTIGS)
    assert list(junctions.columns) == list(JUNCTION_COLUMNS)
    assert junctions[["contig", "start", "end", "strand"]].values.tolist() == [
        ["chr1", 100, 200, "+"], ["chr1", 100, 400, "+"], ["chr1", 1000, 1500, "-"], ["chr2", 10, 20, "."]]
    assert list(junctions["motif"]) == ["GT/AG", "GT/AG", "CT/AC", "non-canonical"]  # chrUn_1 is not trained on
    sites = splice_sites(junctions)
    assert sites[["position", "site", "class_index", "unique_reads", "junctions"]].values.tolist() == [
        [99, "donor+", 0, 7, 2], [200, "acceptor+", 1, 5, 1], [400, "acceptor+", 1, 2, 1],
        [999, "acceptor-", 3, 7, 1], [1500, "donor-", 2, 7, 1]]
    assert len(splice_sites(junctions, min_unique_reads=3)) == 4


def test_sites_match_the_junction_heads_convention():
    # the junction head's (donor, acceptor) slots become [start, end); the sites of that intron are the same slots
    positions = np.array([[99], [200], [1500], [999]], dtype=np.int32)  # donor+, acceptor+, donor-, acceptor-
    predicted = window_junctions(Window("chr1", 0, 4096, 0, 4096), np.ones((1, 1, 2), np.float32), positions, ["t"])
    introns = predicted[["start", "end", "strand"]].drop_duplicates().values.tolist()
    assert [100, 200, "+"] in introns and [1000, 1500, "-"] in introns


@pytest.mark.parametrize(("text", "expected"), [
    ("1\t101\t200\t1\t1\t1\t5\t2\t30\n", "line 1: contig 1 is not in the FASTA .* name contigs differently"),
    ("chr1\t101\t20000\t1\t1\t1\t5\t2\t30\n", "chr1:101-20000 does not fit contig chr1 of 10,000 bp .* another genome build"),
    ("chr1\t101\t200\t1\n", "line 1: not STAR's SJ.out.tab format"),
    ("chr1\t101\t200\t5\t1\t1\t5\t2\t30\n", "strand must be 0/1/2"),
    ("", "empty"),
])
def test_bad_tables(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(TrainingDataError, match=expected) as info:
        read_sj_out_tab(path, CONTIGS)
    assert str(path) in str(info.value)
