"""Exact resume: stop, build a fresh trainer, resume, finish -> weights bit-identical to an uninterrupted run."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers.tiny_training import REQUEST, TARGETS, poisson_loss, tiny_source, toy_apply, toy_model

from genotile.model.checkpoints import synthetic_model
from genotile.model.layers import TrainMode
from genotile.train.augment import AugmentSettings
from genotile.train.checkpointing import ResumeError, TrainCheckpoints
from genotile.train.freezing import Trainable
from genotile.train.optimizer import OptimizerSettings
from genotile.train.trainer import Trainer, TrainSettings

ROOT = Path(__file__).resolve().parents[2]
STEPS = 5
SETTINGS = TrainSettings(
    steps=STEPS,
    trainable=Trainable("heads", unfreeze_last_blocks=1),
    optimizer=OptimizerSettings(learning_rate=1e-2, warmup_steps=2, decay_steps=STEPS, accumulate=2),
    augment=AugmentSettings(max_shift=128),
    checkpoint_every=2,
    log_every=1,
)


def _toy_trainer(folder, settings=SETTINGS):
    return Trainer(toy_model(), poisson_loss, settings, targets=TARGETS, apply_fn=toy_apply, checkpoint_dir=folder)


def _assert_same_leaves(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(leaves_a, leaves_b):
        assert np.array_equal(np.asarray(x), np.asarray(y)), "a leaf differs after resume"


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory):
    """An uninterrupted run, and one stopped after 3 steps (mid-accumulation) and resumed by a fresh trainer."""
    base = tmp_path_factory.mktemp("resume")
    straight = _toy_trainer(base / "straight")
    straight.fit(tiny_source())
    first = _toy_trainer(base / "stopped")
    stopped = first.fit(tiny_source(), stop_after=3)
    second = _toy_trainer(base / "stopped")
    resumed = second.fit(tiny_source())
    return base, straight, stopped, second, resumed


def test_stopped_and_resumed_run_is_bit_identical(toy_runs):
    _, straight, stopped, second, resumed = toy_runs
    assert (stopped.step, resumed.resumed_from, resumed.step) == (3, 3, STEPS)
    _assert_same_leaves(second.variables(), straight.variables())
    _assert_same_leaves(second.opt_state, straight.opt_state)
    assert not np.array_equal(straight.variables()["params"]["head"]["dnase"]["linear"]["w"], toy_model().variables["params"]["head"]["dnase"]["linear"]["w"])


def test_a_finished_run_resumes_to_nothing(toy_runs):
    base, straight, *_ = toy_runs
    again = _toy_trainer(base / "straight")
    result = again.fit(tiny_source())
    assert (result.resumed_from, result.step, result.last_loss) == (STEPS, STEPS, None)
    _assert_same_leaves(again.variables(), straight.variables())


def test_changed_settings_stop_with_the_setting_named(toy_runs):
    base = toy_runs[0]
    changed = dataclasses.replace(SETTINGS, optimizer=dataclasses.replace(SETTINGS.optimizer, learning_rate=2e-2))
    with pytest.raises(ResumeError, match=r"settings\.optimizer\.learning_rate: was 0\.01, now 0\.02.*new checkpoint folder"):
        _toy_trainer(base / "straight", changed).fit(tiny_source())
    with pytest.raises(ResumeError, match=r"source\.seed: was 0, now 1"):
        _toy_trainer(base / "straight").fit(tiny_source(seed=1))
    # bookkeeping (how often to log or checkpoint, how far to train) is not part of the run's identity
    assert _toy_trainer(base / "straight", dataclasses.replace(SETTINGS, log_every=5)).fit(tiny_source()).step == STEPS


def test_a_half_written_checkpoint_is_never_taken(toy_runs, tmp_path):
    base = toy_runs[0]
    folder = tmp_path / "copy"
    shutil.copytree(base / "stopped", folder)
    partial = folder / f"{STEPS + 1}.orbax-checkpoint-tmp"  # what a job killed while writing leaves
    (partial / "train_state").mkdir(parents=True)
    (partial / "train_state" / "d").write_bytes(b"\0" * 10)
    checkpoints = TrainCheckpoints(folder, _toy_trainer(folder).run_description(tiny_source()))
    try:
        assert checkpoints.latest_step() == STEPS
    finally:
        checkpoints.close()
    longer = _toy_trainer(folder, dataclasses.replace(SETTINGS, steps=STEPS + 2)).fit(tiny_source())
    assert (longer.resumed_from, longer.step) == (STEPS, STEPS + 2)
    assert not any(".orbax-checkpoint-tmp" in p.name for p in folder.iterdir())


@pytest.mark.slow
def test_tiny_model_full_training_stopped_and_resumed_is_bit_identical(tmp_path):
    """The same on the real tiny network, every weight training (4,096 bp, shift and strand) with the
    train-mode forward (batch statistics, their EMA in the model state, dropout): full mode differentiates the
    whole model, and a resumed run ends on the same bits, batch-norm state and dropout draws included (the
    second trainer's step comes from the persistent compilation cache, so this costs about one compilation)."""
    mode = TrainMode(batch_stats=True, dropout_rate=0.1)
    settings = dataclasses.replace(SETTINGS, steps=3, trainable=Trainable("full"), model_mode=mode,
                                   optimizer=OptimizerSettings(learning_rate=1e-2, decay_steps=4))  # 3 updates, none at lr 0
    model = synthetic_model("tiny", 0)

    def trainer(folder):
        return Trainer(model, poisson_loss, settings, targets=TARGETS, request=REQUEST, checkpoint_dir=folder)

    straight = trainer(tmp_path / "straight")
    assert np.isfinite(straight.fit(tiny_source()).last_loss)
    trainer(tmp_path / "stopped").fit(tiny_source(), stop_after=1)
    resumed = trainer(tmp_path / "stopped")
    assert resumed.fit(tiny_source()).resumed_from == 1
    _assert_same_leaves(resumed.variables(), straight.variables())
    _assert_same_leaves(resumed.opt_state, straight.opt_state)
    ema = [leaf for leaf in jax.tree.leaves(straight.variables()["state"])]
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(model.variables["state"]), ema, strict=True))
    trunk = ("transformer_tower", "mha_block", "q_layer", "w")
    before, after = model.variables["params"], straight.variables()["params"]
    assert not np.array_equal(before[trunk[0]][trunk[1]][trunk[2]][trunk[3]], after[trunk[0]][trunk[1]][trunk[2]][trunk[3]])


KILL_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    sys.path.insert(0, {tests!r})
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    from helpers.tiny_training import TARGETS, poisson_loss, tiny_source, toy_apply, toy_model
    from genotile.train.trainer import Trainer, TrainSettings
    from genotile.train.optimizer import OptimizerSettings
    from genotile.train.augment import AugmentSettings
    settings = TrainSettings(steps={steps}, optimizer=OptimizerSettings(decay_steps={steps}), augment=AugmentSettings(max_shift=128),
                             checkpoint_every=3, log_every=1)
    trainer = Trainer(toy_model(), poisson_loss, settings, targets=TARGETS, apply_fn=toy_apply, checkpoint_dir=sys.argv[1])
    trainer.fit(tiny_source())
    import numpy as np, jax
    np.savez(sys.argv[2], *[np.asarray(x) for x in jax.tree.leaves(trainer.variables())])
    """
)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_is_bit_identical(tmp_path):
    """A real kill: SIGKILL the training process once it has logged a few steps, rerun it, compare."""
    steps = 30
    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT.format(tests=str(ROOT / "tests"), steps=steps))
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    straight = subprocess.run([sys.executable, str(script), str(tmp_path / "a"), str(tmp_path / "a.npz")],
                              env=env, capture_output=True, text=True, timeout=900)
    assert straight.returncode == 0, straight.stderr[-3000:]
    job = subprocess.Popen([sys.executable, str(script), str(tmp_path / "b"), str(tmp_path / "b.npz")],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in job.stdout:
        if line.startswith("step 12/"):
            break
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL
    assert not (tmp_path / "b.npz").exists()
    rerun = subprocess.run([sys.executable, str(script), str(tmp_path / "b"), str(tmp_path / "b.npz")],
                           env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from the checkpoint of step" in rerun.stdout + rerun.stderr
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
