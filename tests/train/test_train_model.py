"""train_model: new heads trained on prepared targets, the best validation step delivered as a genotile checkpoint."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from types import SimpleNamespace

import jax
import numpy as np
import pandas as pd
import pytest

from genotile.model.checkpoints import load_checkpoint, synthetic_model
from genotile.model.config import new_head_scope
from genotile.model.new_tracks import add_new_tracks, new_tracks_from_targets
from genotile.model.predictor import Predictor
from genotile.runtime.rule import rule_context
from genotile.settings import PrepareTargetsSettings, SplitWindowsSettings, TrainModelSettings
from genotile.train.checkpointing import ResumeError
from genotile.train.data_errors import TrainingDataError
from genotile.train.demo_targets import motif_signal
from genotile.train.steps import prepare_targets, split_windows
from genotile.train.train_model import BEST_DIR, _recover_best, train_model
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
                              clip_norm=0.5, unfreeze_last_blocks=0, lora_rank=4, lora_alpha=8.0,
                              lora_targets=("q_layer", "v_layer"), dropout_rate=0.0, remat=False, accumulate=1,
                              validate_every=2, seed=0, shuffle_targets=False, gene_loss_weight=0.0, window_bp=WINDOW, max_shift=64,
                              organism="human", model=(("checkpoint", None), ("size", "tiny"), ("seed", 0)))
    return dataclasses.replace(base, **changes)


def run(folder, fasta, name, windows=None, **changes):
    out = folder / name
    summary = train_model(settings(**changes), synthetic_model("tiny", 0), str(fasta), str(windows or folder / "windows.tsv"),
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


@pytest.fixture(scope="module")
def straight_run(prepared):
    """The default run (full mode, 4 steps, validation every 2, checkpoints every 2), uninterrupted."""
    folder, fasta = prepared
    return run(folder, fasta, "run")


@pytest.mark.slow
def test_train_model_delivers_the_best_validation_step_with_the_new_track(prepared, straight_run):
    folder, fasta = prepared
    out, summary = straight_run
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


class _Killed(Exception):
    """What the test raises in place of a SIGKILL."""


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_write", [False, True], ids=["before-the-curve-write", "after-it"])
def test_a_killed_run_rerun_ends_with_the_straight_runs_bytes(prepared, straight_run, monkeypatch, kill_after_write):
    """A job killed once its step-2 checkpoint is written (before or after the learning curve's write), then rerun,
    delivers the same weights and the same learning curve, byte for byte, as the run that never stopped."""
    import genotile.train.train_model as module

    folder, fasta = prepared
    straight, _ = straight_run
    name = f"killed_{kill_after_write}"
    original_fit, original_write = module.Trainer.fit, module.write_table

    def fit_then_die(self, source, stop_after=None):
        result = original_fit(self, source, stop_after)
        if stop_after and not kill_after_write:
            raise _Killed
        return result

    def write_then_die(frame, path, *args, **kwargs):
        original_write(frame, path, *args, **kwargs)
        if kill_after_write and (frame["split"] == "train").any():
            raise _Killed

    monkeypatch.setattr(module.Trainer, "fit", fit_then_die)
    monkeypatch.setattr(module, "write_table", write_then_die)
    with pytest.raises(_Killed):
        run(folder, fasta, name)
    monkeypatch.undo()
    rerun, summary = run(folder, fasta, name)
    assert summary["steps_this_call"] == 2
    assert (rerun / "curve.tsv").read_bytes() == (straight / "curve.tsv").read_bytes()
    leaves = lambda path: [np.asarray(x) for x in jax.tree.leaves(load_checkpoint(path).variables)]
    assert all(np.array_equal(a, b) for a, b in zip(leaves(rerun / "model"), leaves(straight / "model"), strict=True))


#: The quick runs below: heads only, two steps.
QUICK = {"mode": "heads", "steps": 2}


@pytest.fixture(scope="module")
def without_validation(prepared):
    """A two-step run on the prepared windows with the validation windows turned test windows: none to validate on."""
    folder, fasta = prepared
    table = pd.read_csv(folder / "windows.tsv", sep="\t")
    assert (table["split"] == "validation").any()
    table.loc[table["split"] == "validation", "split"] = "test"
    windows = folder / "windows_no_validation.tsv"
    table.to_csv(windows, sep="\t", index=False)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("genotile")
    logger.addHandler(handler)  # on the logger itself: it may not propagate (genotile.runtime.log.configure)
    try:
        out, summary = run(folder, fasta, "no_validation", windows=windows, **QUICK)
    finally:
        logger.removeHandler(handler)
    return folder, fasta, windows, out, summary, [r.getMessage() for r in records]


def test_without_validation_windows_the_last_step_is_delivered_with_a_warning(without_validation):
    folder, _, _, out, summary, warnings = without_validation
    assert "train_model: no validation windows; the delivered model is the last step's" in warnings
    assert summary["best_step"] == 2 and summary["best_validation_loss"] is None and summary["steps_this_call"] == 2
    curve = pd.read_csv(out / "curve.tsv", sep="\t")
    assert set(curve["split"]) == {"train"} and curve["step"].max() == 2
    assert json.loads((out / "model" / "genotile.json").read_text())["note"] == "train_model step 2"
    delivered = load_checkpoint(out / "model")
    assert delivered.config.new_tracks == (("dnase", 1),)
    start = add_new_tracks(synthetic_model("tiny", 0), new_tracks_from_targets(pd.read_csv(folder / "tracks.tsv", sep="\t"), 0),
                           seed=0)
    head = lambda m: m.variables["params"]["head"][new_head_scope("dnase")]
    trained = [np.asarray(x) for x in jax.tree.leaves(head(delivered))]
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(trained, jax.tree.leaves(head(start))))


def test_a_rerun_with_changed_settings_names_them_in_one_line(without_validation, tmp_path, monkeypatch):
    folder, fasta, windows, out, *_ = without_validation
    checkpoints = out / "checkpoints"
    logger = logging.getLogger("genotile")  # rule_context configures it: put it back afterwards
    for attribute in ("handlers", "propagate", "level"):
        monkeypatch.setattr(logger, attribute, list(logger.handlers) if attribute == "handlers" else getattr(logger, attribute))
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    log = tmp_path / "train_model.log"
    with pytest.raises(SystemExit) as exit_info, rule_context(SimpleNamespace(log=[str(log)])):
        run(folder, fasta, "no_validation", windows=windows, learning_rate=2e-3, **QUICK)
    text = log.read_text()
    assert exit_info.value.code == 1 and "Traceback" not in text
    (line,) = [x for x in text.splitlines() if "error" in x]
    assert line == (f"genotile: error: train_model: the resume checkpoints in {checkpoints} (step 2) are of a run with "
                    "other settings: train.learning_rate: was 0.001, now 0.002 (and 1 setting(s) derived from them). "
                    f"Fix: set them back to continue that run, or delete {checkpoints} to train from the start with the "
                    "new settings (a rerun resumes from that folder; it is not an output Snakemake removes)")
    # the split's validation windows are part of the run (the best model and the curve are judged on them)
    with pytest.raises(ResumeError, match=r"other settings: the validation windows \(train/windows.tsv"):
        run(folder, fasta, "no_validation", **QUICK)
    with pytest.raises(ResumeError, match=r"other settings: train.seed: was 0, now 1 \(and 2 setting\(s\) derived from them\)\. Fix"):
        run(folder, fasta, "no_validation", windows=windows, seed=1, **QUICK)
    assert json.loads((out / "model" / "genotile.json").read_text())["note"] == "train_model step 2"  # untouched


def test_a_batch_larger_than_the_training_windows_is_named(prepared):
    folder, fasta = prepared
    n = int((pd.read_csv(folder / "windows.tsv", sep="\t")["split"] == "train").sum())
    with pytest.raises(TrainingDataError, match=rf"windows.tsv: {n} training window\(s\) but train.batch_size = 99; "
                                                rf"set train.batch_size to at most {n}"):
        run(folder, fasta, "big_batch", batch_size=99)


def test_a_best_model_left_mid_swap_is_put_back(tmp_path):
    best, old = tmp_path / BEST_DIR, tmp_path / f"{BEST_DIR}.old"
    old.mkdir()
    (old / "genotile.json").write_text("{}")
    _recover_best(best)
    assert (best / "genotile.json").is_file() and not old.exists()
    old.mkdir()  # with a best model in place, a stale .old is left for _save_model to clear
    _recover_best(best)
    assert best.is_dir() and old.is_dir()


def test_config_keys_reach_the_trainer():
    """train.remat, train.accumulate and train.lora_targets are what the trainer gets (not its defaults)."""
    from genotile.train.train_model import _settings

    got = _settings(settings(remat=True, accumulate=4, steps=10, lora_targets=("k_layer",)), checkpoint_every=5)
    assert got.model_mode.remat and got.optimizer.accumulate == 4 and got.lora.targets == ("k_layer",)
    assert got.optimizer.decay_steps == 3  # 10 batches in updates of 4: the schedule counts updates
    assert _settings(settings(mode="heads", remat=True), checkpoint_every=5).model_mode is None
