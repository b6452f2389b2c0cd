"""``genotile train``: the workflow's training steps from a config file, outside Snakemake."""

from __future__ import annotations

import pytest
import yaml

from genotile.cli.main import main
from genotile.model.checkpoints import load_checkpoint
from genotile.train.demo_targets import motif_signal
from tests.helpers.train_data import random_sequence, write_bigwig, write_fasta, write_sheet


def _config(tmp_path, **train) -> str:
    sequences = {"c1": random_sequence(4 * 4096, 5), "c2": random_sequence(2 * 4096, 6)}
    fasta = write_fasta(tmp_path / "genome.fa", sequences)
    bigwig = write_bigwig(tmp_path / "signal.bw", {k: len(v) for k, v in sequences.items()},
                          {k: motif_signal(v) for k, v in sequences.items()})
    sheet = write_sheet(tmp_path / "sheet.tsv", [["motif", "dnase", ".", str(bigwig), "synthetic", "motifs"]])
    config = {"run": "cli", "results": str(tmp_path / "results"), "genome": {"fasta": str(fasta)},
              "model": {"size": "tiny"}, "tracks": [],
              "train": {"tracks_sheet": str(sheet), "window_bp": 4096, "validation_contigs": ["c2"], "max_shift": 32,
                        "steps": 2, "validate_every": 1, "batch_size": 1, **train}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.slow
def test_genotile_train_runs_the_steps_and_skips_finished_ones(tmp_path, capsys):
    config = _config(tmp_path)
    assert main(["train", "--configfile", config]) == 0
    model = load_checkpoint(tmp_path / "results" / "cli" / "train" / "model")
    assert model.new_tracks["name"].tolist() == ["motif"]
    assert (tmp_path / "results" / "cli" / "train" / "evaluation.parquet").is_file()
    capsys.readouterr()
    assert main(["train", "--configfile", config]) == 0
    err = capsys.readouterr().err
    assert "train_model: outputs exist, skipped" in err and "evaluate_model: outputs exist, skipped" in err


def test_genotile_train_without_a_tracks_sheet_says_what_to_set(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"run": "x", "genome": {"fasta": "g.fa"}, "tracks": []}))
    assert main(["train", "--configfile", str(path)]) == 2
    assert "train.tracks_sheet is not set" in capsys.readouterr().err
