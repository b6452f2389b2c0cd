"""The workflow's steps as plain functions (fast; the Snakemake runs are in test_workflow.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from genotile.demo import write_demo_genome
from genotile.tiling import ALIGN
from genotile.workflow import _average_strands, plan

CONFIG = {
    "run": "t",
    "organism": "human",
    "model": {"size": "tiny", "seed": 0, "metadata": None, "checkpoint": None, "precision": "float32"},
    "tiling": {"window_bp": 16384, "owned_bp": 8192, "contigs": [], "contig_regex": None, "regions_bed": None,
               "windows_per_batch": 3},
    "store": {"chunk_bp": 8192, "dtype": "float32"},
    "tracks": [{"output": "dnase", "resolutions": [128], "indices": [0, 1]}],
}  # fmt: skip


def test_plan_writes_windows_and_storage_report(tmp_path, capsys):
    fasta = write_demo_genome(tmp_path / "g.fa")
    table = plan(CONFIG, str(fasta), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))
    read = pd.read_csv(tmp_path / "w.tsv", sep="\t")
    assert list(read.columns) == ["window", "contig", "start", "end", "own_start", "own_end", "pad_right", "batch", "all_n"]
    assert read.equals(table)
    assert (read["start"] % ALIGN == 0).all() and read["batch"].max() == (len(read) - 1) // 3
    gap = read[read["all_n"]]
    assert len(gap) >= 1 and set(gap["contig"]) == {"demo3"}  # the demo genome's long N gap
    report = (tmp_path / "r.txt").read_text()
    assert "all-N window(s) will be skipped" in report and "dnase" in report and "128 bp" in report
    assert not (tmp_path / "w.tsv.tmp").exists()


def test_plan_regex_selection(tmp_path):
    fasta = write_demo_genome(tmp_path / "g.fa")
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["tiling"]["contig_regex"] = "demo[12]"
    table = plan(config, str(fasta), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))
    assert set(table["contig"]) == {"demo1", "demo2"}


def test_strand_averaging_keeps_junctions_forward_only():
    forward = {"dnase/predictions_1bp": np.array([[1.0, 3.0]], np.float32),
               "splice_sites_junction/predictions": np.array([1.0], np.float32),
               "splice_sites_junction/splice_site_positions": np.array([[5]], np.int32)}
    reverse = {"dnase/predictions_1bp": np.array([[3.0, 5.0]], np.float32),
               "splice_sites_junction/predictions": np.array([9.0], np.float32),
               "splice_sites_junction/splice_site_positions": np.array([[7]], np.int32)}  # fmt: skip
    averaged = _average_strands(forward, reverse)
    np.testing.assert_array_equal(averaged["dnase/predictions_1bp"], [[2.0, 4.0]])
    assert averaged["splice_sites_junction/predictions"][0] == 1.0
    assert averaged["splice_sites_junction/splice_site_positions"][0, 0] == 5


def test_plan_reports_a_missing_contig(tmp_path):
    fasta = write_demo_genome(tmp_path / "g.fa")
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["tiling"]["contigs"] = ["chr1"]
    with pytest.raises(ValueError, match="not in the FASTA"):
        plan(config, str(fasta), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))
