"""The training rules through Snakemake on a sheet of every row kind: a bigWig track, a STAR SJ.out.tab and its
raw coverage bigWig (splice-site usage). The step functions are tested in tests/train; this checks the rules'
wiring (the sheet's files as inputs, the settings each rule passes) end to end on the demo genome."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BIN, WORKFLOW_INSTALLED, copy_workflow, report, snakemake
from helpers.train_data import write_bigwig, write_sheet, write_sj_out_tab

from genotile.outputs import SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES
from genotile.sequence.demo import write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.train.demo_targets import motif_signal

pytestmark = pytest.mark.slow

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)


def test_a_splice_fine_tune_runs_as_rules_and_reports_every_splice_loss(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    data = tmp_path / "data"
    data.mkdir()
    fasta = write_demo_genome(data / "demo.fa")
    contigs = Genome(fasta).contigs
    with Genome(fasta) as genome:
        signal = {c: motif_signal(genome.sequence(c, 0, n)) for c, n in contigs.items()}
    sheet = write_sheet(data / "sheet.tsv", [
        ["motif", "dnase", ".", str(write_bigwig(data / "signal.bw", contigs, signal)), "synthetic", "motifs", ""],
        ["liver", "splice_junctions", ".", str(write_sj_out_tab(data / "liver.SJ.out.tab")), "liver", "RNA-seq", ""],
        ["liver", "splice_site_usage", ".", str(write_bigwig(data / "liver.bw", contigs,
                                                              {c: np.full(n, 3.0) for c, n in contigs.items()})),
         "liver", "RNA-seq", ""]])
    config = {"run": "splice", "results": "results", "genome": {"fasta": str(fasta)},
              "model": {"checkpoint": "finetuned", "size": "tiny", "precision": "float32"}, "tracks": [],
              "train": {"tracks_sheet": str(sheet), "window_bp": 8192, "stride_bp": 8192, "validation_contigs": ["demo3"],
                        "max_shift": 64, "mode": "heads", "steps": 2, "batch_size": 2, "validate_every": 1}}
    (workdir / "run.yaml").write_text(yaml.safe_dump(config))
    train = workdir / "results" / "splice" / "train"
    done = snakemake(workdir, "results/splice/train/evaluation.parquet", "--cores", "2", "--configfile", "run.yaml",
                     demo=False)
    assert done.returncode == 0, report(done)
    summary = json.loads((train / "train_summary.json").read_text())
    assert summary["splice_junction_channels"] == {"liver": 0} and summary["new_tracks"] == 1
    assert summary["splice_site_usage_channels"]
    qc = pd.read_csv(train / "targets_qc.tsv", sep="\t")
    assert {"motif", "liver"} <= set(qc["name"])
    losses = pd.read_csv(train / "evaluation_losses.tsv", sep="\t")
    assert {SPLICE_SITES.head, SPLICE_JUNCTIONS.head, SPLICE_SITE_USAGE.head, "dnase"} <= set(losses["head"])
    assert np.isfinite(losses["loss"]).all()
