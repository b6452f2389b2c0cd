"""train_model: new heads trained on prepared targets, the best validation step delivered as a genotile checkpoint."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from genotile.model.checkpoints import load_checkpoint, synthetic_model
from genotile.model.predictor import Predictor
from genotile.settings import PrepareTargetsSettings, SplitWindowsSettings, TrainModelSettings
from genotile.train.demo_targets import motif_signal
from genotile.train.steps import prepare_targets, split_windows
from genotile.train.train_model import train_model
from genotile.train.windows_source import WindowsSource, store_targets
from tests.helpers.train_data import random_sequence, write_bigwig, write_fasta, write_sheet

WINDOW = 4096


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A two-contig genome with the demo's motif track; one contig held out for validation."""
    folder = tmp_path_factory.mktemp("train_model")
    sequences = {"c1": random_sequence(6 * WINDOW, 1), "c2": random_sequence(2 * WINDOW, 2)}
    fasta = write_fasta(folder / "genome.fa", sequences)
    bigwig = write_bigwig(folder / "signal.bw", {k: len(v) for k, v in sequences.items()},
                          {k: motif_signal(v) for k, v in sequences.items()})
    sheet = write_sheet(folder / "sheet.tsv", [["motif", "dnase", ".", str(bigwig), "synthetic", "motifs"]])
    config = {"train": {"tracks_sheet": str(sheet), "window_bp": WINDOW, "stride_bp": WINDOW, "contigs": [],
                        "contig_regex": None, "regions_bed": None, "validation_contigs": ["c2"], "test_contigs": [],
                        "validation_bed": None, "test_bed": None, "max_shift": 64}}
    windows = folder / "windows.tsv"
    split_windows(SplitWindowsSettings.from_config(config), fasta, windows)
    prepare_targets(PrepareTargetsSettings.from_config(config), fasta, windows, folder / "targets.zarr",
                    folder / "qc.tsv", folder / "tracks.tsv")
    return folder, fasta


def settings(**changes) -> TrainModelSettings:
    base = TrainModelSettings(mode="full", steps=4, batch_size=2, learning_rate=1e-3, warmup_steps=0, weight_decay=0.0,
                              clip_norm=0.5, unfreeze_last_blocks=0, lora_rank=4, lora_alpha=8.0, dropout_rate=0.0,
                              validate_every=2, seed=0, shuffle_targets=False, window_bp=WINDOW, max_shift=64,
                              organism="human", model=(("checkpoint", None), ("size", "tiny"), ("seed", 0)))
    return dataclasses.replace(base, **changes)


def run(folder, fasta, name, **changes):
    out = folder / name
    summary = train_model(settings(**changes), synthetic_model("tiny", 0), str(fasta), str(folder / "windows.tsv"),
                          str(folder / "targets.zarr"), str(folder / "tracks.tsv"), str(out / "model"),
                          str(out / "curve.tsv"), str(out / "summary.json"), str(out / "checkpoints"),
                          checkpoint_every=2)
    return out, summary


def test_the_source_is_a_function_of_seed_and_position(prepared):
    folder, fasta = prepared
    from genotile.sequence.fasta import Genome
    from genotile.train.targets import TargetsStore

    windows = pd.read_csv(folder / "windows.tsv", sep="\t")
    windows = windows[windows["split"] == "train"]
    make = lambda shuffle=False: WindowsSource(Genome(fasta), windows, store_targets(TargetsStore(folder / "targets.zarr"), ["dnase"]),
                                               margin=64, batch_size=2, seed=3, organism=0, shuffle_targets=shuffle)
    a, b = make().batch(5), make().batch(5)
    assert a["dna"].shape == (2, WINDOW + 128, 4) and a["targets"]["dnase"].shape == (2, WINDOW + 128, 1)
    np.testing.assert_array_equal(a["dna"], b["dna"])
    np.testing.assert_array_equal(a["targets"]["dnase"], b["targets"]["dnase"])
    shuffled_source = make(shuffle=True)
    assert not (shuffled_source._target_of == np.arange(len(shuffled_source))).any()  # nobody keeps its own
    assert sorted(shuffled_source._target_of) == list(range(len(shuffled_source)))
    shuffled = shuffled_source.batch(5)
    np.testing.assert_array_equal(shuffled["dna"], a["dna"])  # the same sequence, another window's targets
    assert not np.array_equal(shuffled["targets"]["dnase"], a["targets"]["dnase"])


@pytest.mark.slow
def test_train_model_delivers_the_best_validation_step_with_the_new_track(prepared):
    folder, fasta = prepared
    out, summary = run(folder, fasta, "run")
    curve = pd.read_csv(out / "curve.tsv", sep="\t")
    validation = curve[curve["split"] == "validation"]
    assert validation["step"].tolist() == [0, 2, 4]
    assert summary["best_step"] == int(validation.loc[validation["loss"].idxmin(), "step"])
    assert json.loads((out / "summary.json").read_text())["new_tracks"] == 1
    model = load_checkpoint(out / "model")
    assert model.config.new_tracks == (("dnase", 1),) and model.new_tracks["name"].tolist() == ["motif"]
    predictor = Predictor(model, precision="float32")
    assert predictor.track_means["dnase"].shape[-1] == model.config.tracks("dnase")

    again, _ = run(folder, fasta, "run")  # a rerun resumes from the finished checkpoints: the same model
    reloaded = load_checkpoint(again / "model")
    flat = lambda m: np.concatenate([np.ravel(x) for x in __import__("jax").tree.leaves(m.variables["params"]["head"])])
    np.testing.assert_array_equal(flat(model), flat(reloaded))
