"""The trainer: what trains and what stays, progress lines, precision, data parallel over devices."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers.tiny_training import TARGETS, poisson_loss, tiny_source, toy_apply, toy_model

from genotile.model.config import BF16, F32
from genotile.train.augment import AugmentSettings
from genotile.train.freezing import Trainable, flat
from genotile.train.optimizer import OptimizerSettings
from genotile.train.trainer import Trainer, TrainerError, TrainSettings

ROOT = Path(__file__).resolve().parents[2]


def _settings(steps=8, mode="heads", **kw):
    return TrainSettings(
        steps=steps,
        trainable=Trainable(mode),
        optimizer=OptimizerSettings(learning_rate=5e-2, decay_steps=steps),
        augment=AugmentSettings(max_shift=128),
        log_every=4,
        **kw,
    )


def test_heads_training_lowers_the_loss_and_leaves_the_trunk_alone(caplog):
    model = toy_model()
    trainer = Trainer(model, poisson_loss, _settings(), targets=TARGETS, apply_fn=toy_apply)
    with caplog.at_level(logging.INFO, logger="genotile.train"):
        result = trainer.fit(tiny_source())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [line.split(":")[0] for line in lines] == ["step 4/8", "step 8/8"]
    assert all("(dnase " in line and "steps/s, ETA " in line for line in lines)
    first = float(lines[0].split("loss ")[1].split(" ")[0])
    assert result.step == 8 and result.last_loss < first and set(result.last_parts) == {"dnase"}
    before, after = flat(model.variables), flat(trainer.variables())
    assert before.keys() == after.keys()
    for path in before:
        same = np.array_equal(before[path], after[path])
        assert same != path.startswith("params/head/"), f"{path}: {'unchanged' if same else 'changed'}"


def test_precision_is_bf16_compute_on_accelerators_and_f32_on_cpu():
    settings = _settings()
    assert settings.compute_precision("cpu") == F32
    assert settings.compute_precision("gpu") == BF16
    assert TrainSettings(steps=1, precision="float32").compute_precision("gpu") == F32
    with pytest.raises(TrainerError, match="at least 1"):
        TrainSettings(steps=0)


DEVICES_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    from helpers.tiny_training import TARGETS, poisson_loss, tiny_source, toy_apply, toy_model
    from genotile.train.augment import AugmentSettings
    from genotile.train.trainer import Trainer, TrainerError, TrainSettings
    settings = TrainSettings(steps=3, augment=AugmentSettings(max_shift=128))
    def run(devices, batch_size=2):
        trainer = Trainer(toy_model(), poisson_loss, settings, targets=TARGETS, apply_fn=toy_apply, devices=devices)
        trainer.fit(tiny_source(rows=6, batch_size=batch_size))
        return trainer
    one, two = run(jax.devices()[:1]), run(jax.devices())
    leaves = lambda t: [np.asarray(x) for x in jax.tree.leaves(t.variables())]
    close = all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(leaves(one), leaves(two)))
    shards = len(two.trainable_params()["params"]["head"]["dnase"]["linear"]["w"].sharding.device_set)
    try:
        run(jax.devices(), batch_size=3)
        message = ""
    except TrainerError as error:
        message = str(error)
    print(json.dumps({{"devices": len(jax.devices()), "close": close, "replicas": shards, "message": message}}))
    """
)


@pytest.mark.slow
def test_two_devices_split_the_batch_and_agree_with_one():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    code = DEVICES_SCRIPT.format(tests=str(ROOT / "tests"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["devices"] == 2 and found["replicas"] == 2 and found["close"]
    assert "multiple of 2" in found["message"]


def test_pooling_layers_have_gradients():
    """Full-mode training differentiates through the U-Net's max-pool and the tower's average pool."""
    import jax.numpy as jnp

    from genotile.model.layers import avg_pool, max_pool2

    x = jnp.arange(2 * 32 * 3, dtype=jnp.float32).reshape(2, 32, 3) % 7
    grad_max = jax.jit(jax.grad(lambda v: max_pool2(v).sum()))(x)
    grad_avg = jax.jit(jax.grad(lambda v: avg_pool(v, 16).sum()))(x)
    assert float(grad_max.sum()) == 2 * 16 * 3  # one winner per window of 2
    np.testing.assert_allclose(np.asarray(grad_avg), 1 / 16)


class _InOrder:
    """The rows in their own order, ``batch_size`` at a time: k batches of 1 row are one batch of k rows."""

    def __init__(self, rows, batch_size):
        self.rows, self.batch_size = rows, batch_size

    def batches(self, position):
        count = self.rows["dna"].shape[0]
        while True:
            take = (np.arange(self.batch_size) + position * self.batch_size) % count
            yield jax.tree.map(lambda x: x[take], self.rows)
            position += 1

    def fingerprint(self):
        return {"kind": "in order", "batch_size": self.batch_size}


def test_accumulated_batches_update_as_one_batch_of_their_rows():
    """accumulate = 2 over batches of one row takes the update one batch of those two rows takes (gradients are
    averaged before clipping and AdamW), and the schedule counts updates."""
    from helpers.tiny_training import tiny_rows

    rows = tiny_rows(4, 2048, 0)

    def run(batch_size, accumulate):
        steps = 2 * accumulate  # two updates either way
        settings = TrainSettings(steps=steps, trainable=Trainable("heads"), augment=AugmentSettings(0, False),
                                 optimizer=OptimizerSettings(learning_rate=5e-2, decay_steps=steps, accumulate=accumulate))
        trainer = Trainer(toy_model(), poisson_loss, settings, targets=TARGETS, apply_fn=toy_apply)
        trainer.fit(_InOrder(rows, batch_size))
        return flat(trainer.variables())

    big, accumulated, single = run(2, 1), run(1, 2), run(1, 1)
    for path in big:
        np.testing.assert_allclose(accumulated[path], big[path], rtol=1e-5, atol=1e-7, err_msg=path)
    assert any(not np.allclose(single[p], big[p], rtol=1e-5, atol=1e-7) for p in big)  # not a vacuous comparison


@pytest.mark.slow
def test_a_bfloat16_step_keeps_float32_master_weights():
    """bf16 compute (what ``precision: auto`` picks on accelerators), run on the CPU: the real tiny model trains one
    full-mode step, its loss is finite, and the weights it updates stay float32."""
    from helpers.tiny_training import REQUEST

    from genotile.model.checkpoints import synthetic_model

    model = synthetic_model("tiny", 0)
    settings = TrainSettings(steps=1, trainable=Trainable("full"), precision="bfloat16",
                             optimizer=OptimizerSettings(learning_rate=1e-3, decay_steps=1), augment=AugmentSettings(64))
    trainer = Trainer(model, poisson_loss, settings, targets=TARGETS, request=REQUEST)
    result = trainer.fit(tiny_source(rows=2, window=4096, margin=64, batch_size=2))
    assert np.isfinite(result.last_loss)
    trained = jax.tree.leaves(trainer.trainable_params())
    assert trained and all(leaf.dtype == np.float32 for leaf in trained)
    before, after = flat(model.variables["params"]), flat(trainer.variables()["params"])
    assert any(not np.array_equal(before[p], after[p]) for p in before)
