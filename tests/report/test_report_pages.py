"""The report's pages (genotile.report.pages): tiling with the all-N skips, the stored tracks, the cohort summaries."""

from __future__ import annotations

import pandas as pd
from helpers.tiny_store import tiny_store, tiny_windows

from genotile.report.pages import html_page, report_summaries, report_tables, selection_table, tiling_table


def test_the_tiling_table_counts_windows_skips_and_n_runs_per_contig():
    windows = tiny_windows()
    runs = pd.DataFrame({"contig": ["chrA", "chrA"], "start": [0, 100], "end": [50, 150]})
    table = tiling_table(windows, runs).set_index("contig")
    assert table.loc["chrA", "windows"] == len(windows)
    assert table.loc["chrA", "skipped_all_n"] == 1
    assert (table.loc["chrA", "n_runs"], table.loc["chrA", "n_bp"]) == (2, 100)


def test_the_selection_lists_every_stored_track(tmp_path):
    table = selection_table(tiny_store(tmp_path / "tracks.zarr"))
    assert table[["output", "resolution", "track_index"]].values.tolist() == [
        ["dnase", "1bp", 0], ["dnase", "1bp", 1], ["rna_seq", "128bp", 3]]
    assert list(table["name"]) == ["dnase a", "dnase b", "rna +"]
    assert selection_table(tmp_path / "none.zarr").empty  # no 1-D track selected: no store


def test_the_run_pages_name_the_skipped_window(tmp_path):
    windows, bed = tmp_path / "windows.tsv", tmp_path / "n_runs.bed"
    tiny_windows().to_csv(windows, sep="\t", index=False)
    bed.write_text("chrA\t0\t16384\n")
    tiling, selection = tmp_path / "tiling.html", tmp_path / "track_selection.html"
    report_tables(str(windows), str(bed), str(tiny_store(tmp_path / "tracks.zarr")), str(tiling), str(selection))
    text = tiling.read_text()
    assert "1 all-N window(s) skipped" in text and "chrA:1-16,384" in text and "<table" in text
    assert "dnase b" in selection.read_text()


def test_the_summaries_folder_gets_a_page_and_copies_of_the_figures(tmp_path):
    summaries = tmp_path / "variants" / "demo" / "summaries"
    (summaries / "figures").mkdir(parents=True)
    pd.DataFrame({"variant_id": ["a", "b"], "score": [0.1, -3.0]}).to_parquet(summaries / "summary_variants.parquet")
    pd.DataFrame({"gene_id": ["g"], "max_abs_score": [1.0]}).to_parquet(summaries / "summary_genes.parquet")
    pd.DataFrame({"sample": ["s1"]}).to_parquet(summaries / "summary_samples.parquet")
    (summaries / "figures" / "effects.png").write_bytes(b"\x89PNG fake")
    out = tmp_path / "report" / "summaries"
    report_summaries(str(summaries), str(out))
    assert sorted(p.name for p in out.iterdir()) == ["effects.png", "summaries.html"]
    assert (out / "effects.png").read_bytes() == b"\x89PNG fake"
    page = (out / "summaries.html").read_text()
    assert page.index("<td>b</td>") < page.index("<td>a</td>")  # largest |score| first
    assert "Variant summaries: demo" in page


def test_a_page_escapes_its_text():
    assert "&lt;x&gt;" in html_page("<x>", [("h", "n", pd.DataFrame({"a": [1]}))])
