"""Workflow: `snakemake report_figures --report` on the demo gives a report that holds every figure and page (issue 13,
item 7). Reuses the session's demo run (a copy of it): only the report's own rules run here."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from conftest import planned_jobs, report, snakemake

pytestmark = pytest.mark.slow

REPORT_RULES = {"plot_tracks", "report_tables", "plot_variant", "report_summaries"}


def test_the_report_holds_every_figure_and_page(demo_run, tmp_path):
    workdir, run_dir, _ = demo_run
    copy = tmp_path / "wf"
    shutil.copytree(workdir, copy, symlinks=True)  # mtimes kept: the demo's outputs stay up to date
    results = copy / run_dir.relative_to(workdir)
    figures = snakemake(copy, "report_figures", "--cores", "2")
    assert figures.returncode == 0, report(figures)
    assert set(planned_jobs(figures)) - {"report_figures"} == REPORT_RULES, report(figures)  # nothing else re-ran

    made = snakemake(copy, "report_figures", "--report", str(results / "report.zip"))
    assert made.returncode == 0, report(made)
    with zipfile.ZipFile(results / "report.zip") as archive:
        held = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    summaries = results / "report" / "variants" / "demo" / "summaries"
    expected = [results / "storage_report.txt", results / "report" / "tracks.png", results / "report" / "tiling.html",
                results / "report" / "track_selection.html", results / "report" / "variants" / "demo" / "ref_alt.png",
                summaries / "summaries.html", *sorted((results / "variants" / "demo" / "summaries" / "figures").glob("*.png")),
                results / "ism" / "demo" / "ism_logo.png"]
    assert len(expected) > 8  # the summaries have figures of their own
    for path in expected:
        shown = path if path.parent.name != "figures" else summaries / path.name  # the report shows the copies
        assert shown.read_bytes() == path.read_bytes()
        assert any(name.endswith("/" + path.name) and data == path.read_bytes() for name, data in held.items()), path.name
    page = held[next(n for n in held if n.endswith("report.html"))].decode()
    assert "Statistics" in page or "runtimes" in page.lower()  # Snakemake's run times per rule
