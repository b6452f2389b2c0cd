"""Workflow: the score and summary folders hold exactly what their done-files list, after a scorer change
too, and a cohort with no variant to score gets valid empty outputs (issue 12, items 3, 11 and 13)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import edit_config, report, snakemake

pytestmark = pytest.mark.slow

CENTER = [{"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_LOG2_SUM"},
          {"scorer": "CenterMask", "output": "ATAC", "width": 501, "aggregation": "ACTIVE_SUM"}]
EMPTY_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
"""


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _check_folders(cohort: Path) -> dict:
    """scores/, scores.zarr and summaries/ hold exactly what scores.done.json and summaries/done.json list."""
    import zarr

    merged = json.loads((cohort / "scores.done.json").read_text())
    assert _files(cohort / "scores") == sorted(Path(f).name for f in merged["files"])
    groups = sorted(name for name, _ in zarr.open_group(str(cohort / "scores.zarr"), mode="r").groups())
    assert groups == sorted(merged["matrix_groups"])
    listed = json.loads((cohort / "summaries" / "done.json").read_text())["files"]
    assert _files(cohort / "summaries") == sorted([*listed, "done.json"])
    return merged


def test_demo_folders_hold_what_their_done_files_list(demo_run):
    _, run_dir, _ = demo_run
    cohort = run_dir / "variants" / "demo"
    merged = _check_folders(cohort)
    assert {r["kind"] for r in merged["scorers"]} >= {"CenterMask", "GeneMaskLFC", "SpliceJunction"}
    rates = pd.read_parquet(cohort / "summaries" / "sample_call_rates.parquet")
    assert rates["sample"].tolist() == [f"S0{i}" for i in range(1, 7)] and rates["missing_calls"].sum() > 0
    assert {"called_variants", "call_rate"} <= set(pd.read_parquet(cohort / "summaries" / "summary_samples.parquet"))


def test_a_scorer_change_leaves_no_stale_table_and_an_empty_cohort_is_summarised(demo_run, tmp_path):
    """Rerun the demo with two scorers instead of the recommended set, plus a cohort with no records."""
    workdir, run_dir, _ = demo_run
    copy = tmp_path / "wf"
    shutil.copytree(workdir, copy, symlinks=True)  # mtimes kept: the track part stays up to date
    (tmp_path / "empty.vcf").write_text(EMPTY_VCF)
    edit_config(copy, {"variants": {"scorers": CENTER, "cohorts": {"demo": None, "empty": str(tmp_path / "empty.vcf")}}})
    run = snakemake(copy, "--cores", "2")
    assert run.returncode == 0, report(run)
    results = copy / run_dir.relative_to(workdir)
    demo = results / "variants" / "demo"
    merged = _check_folders(demo)
    assert [r["name"] for r in merged["scorers"]] == ["CenterMask|ATAC|501|ACTIVE_SUM", "CenterMask|DNASE|501|DIFF_LOG2_SUM"]
    assert set(pd.read_parquet(demo / "summaries" / "summary_variants.parquet")["scorer"]) == {r["name"] for r in merged["scorers"]}
    assert set(pd.read_parquet(demo / "summaries" / "summary_samples.parquet")["scorer"]) <= {r["name"] for r in merged["scorers"]}
    assert len(pd.read_parquet(demo / "summaries" / "summary_genes.parquet")) == 0  # no gene scorer any more

    empty = results / "variants" / "empty"
    merged = _check_folders(empty)
    assert merged["message"] == "no variants to score" and set(merged["rows_per_scorer"].values()) == {0}
    assert len(merged["scorers"]) == 2
    assert len(pd.read_parquet(empty / "summaries" / "sample_call_rates.parquet")) == 2
    for rule in ("merge_scores", "summarize_variants"):  # said in the rule's log (and on the terminal)
        assert "no variants to score" in (results / "logs" / f"{rule}_empty.log").read_text(), rule
