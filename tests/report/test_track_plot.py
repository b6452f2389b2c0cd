"""The report's track plot (genotile.report.track_plot): region choice, one panel per stored group, a PNG that re-runs to the same bytes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.tiny_store import CONTIGS, GTF, WINDOW_BP, tiny_store, tiny_windows

from genotile.report.track_plot import Region, choose_region, plot_store_region, plot_tracks, store_contigs, store_tracksets
from genotile.tracks.store import open_tracks

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tiny_store(tmp_path_factory.mktemp("plots") / "tracks.zarr")


def test_the_store_lists_its_groups_and_contigs(store):
    tree = open_tracks(store)
    assert store_tracksets(tree) == [("dnase", "1bp"), ("rna_seq", "128bp")]  # the N mask is not a group
    assert store_contigs(tree) == CONTIGS


def test_the_region_is_a_window_around_the_first_gene_else_the_first_window_not_all_n():
    windows = tiny_windows()
    genes = pd.DataFrame({"Chromosome": ["chrZ", "chrA"], "Start": [0, 9_000], "End": [100, 12_000],
                          "gene_name": ["elsewhere", "GENE1"], "gene_id": ["G0", "G1"]})
    region = choose_region(windows, genes, contigs=["chrA"])
    assert (region.contig, region.end - region.start) == ("chrA", WINDOW_BP)
    assert region.start <= 9_000 and region.end >= 12_000 and "GENE1" in region.label
    first = choose_region(windows)  # no annotation: window 0 is all N, so window 1
    assert (first.start, first.end) == (int(windows.start[1]), int(windows.end[1]))
    with pytest.raises(ValueError, match="all N"):
        choose_region(windows.assign(all_n=True))


def test_one_panel_per_group_plus_the_gene_lane(store):
    fig = plot_store_region(store, Region("chrA", 4_096, 20_480, "test"))
    axes = fig.axes
    assert len(axes) == 3
    assert [len(ax.lines) for ax in axes[:2]] == [2, 1]
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["dnase a", "dnase b"]
    assert axes[-1].get_xlim() == (4_096, 20_480)


def test_the_step_writes_a_png_that_reruns_to_the_same_bytes(store, tmp_path):
    windows, gtf = tmp_path / "windows.tsv", tmp_path / "genes.gtf"
    tiny_windows().to_csv(windows, sep="\t", index=False)
    gtf.write_text(GTF)
    out = tmp_path / "report" / "tracks.png"
    region = plot_tracks(str(store), str(windows), str(out), str(gtf))
    assert region is not None and "GENE1" in region.label
    first = out.read_bytes()
    assert first.startswith(PNG_MAGIC)
    plot_tracks(str(store), str(windows), str(out), str(gtf))
    assert out.read_bytes() == first
    assert sorted(p.name for p in out.parent.iterdir()) == ["tracks.png"]  # no temporary left


def test_a_run_without_a_store_gets_a_figure_that_says_so(tmp_path):
    windows, out = tmp_path / "windows.tsv", tmp_path / "tracks.png"
    tiny_windows().to_csv(windows, sep="\t", index=False)
    assert plot_tracks(str(tmp_path / "missing.zarr"), str(windows), str(out)) is None
    assert out.read_bytes().startswith(PNG_MAGIC)
