"""LoRA: adapters on the tower's attention and MLP kernels, trained with the heads, merged into the weights."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from helpers.tiny_training import TARGETS, poisson_loss, tiny_source, toy_apply, toy_model

from genotile.model.config import TINY
from genotile.model.layout import from_official, official_shapes
from genotile.train.augment import AugmentSettings
from genotile.train.freezing import FreezingError, Trainable, flat
from genotile.train.lora import LoraSettings, adapted_kernels, apply_adapters, init_adapters
from genotile.train.optimizer import OptimizerSettings
from genotile.train.trainer import Trainer, TrainSettings


def test_targets_are_the_towers_attention_projections_and_mlp():
    shapes, state = official_shapes(TINY)
    zeros = lambda tree: {m: {n: np.zeros(s, np.float32) for n, s in leaves.items()} for m, leaves in tree.items()}
    params = from_official(zeros(shapes), zeros(state))["params"]
    kernels = adapted_kernels(params, LoraSettings())
    assert len(kernels) == TINY.tower_layers * 6
    assert "transformer_tower/mha_block_1/q_layer/w" in kernels and "transformer_tower/mlp_block/linear_1/w" in kernels
    assert not any("pair_update_block" in k or "attention_bias_block" in k for k in kernels)
    assert len(adapted_kernels(params, LoraSettings(targets=("q_layer", "v_layer")))) == 2 * TINY.tower_layers
    with pytest.raises(FreezingError, match="unknown lora target"):
        LoraSettings(targets=("o_proj",))


def test_fresh_adapters_leave_the_model_unchanged():
    params = toy_model().variables["params"]
    settings = LoraSettings(rank=2)
    adapters = init_adapters(params, settings, jax.random.key(0))
    assert set(flat(adapters)) == {"transformer_tower/mlp_block_1/linear/w/a", "transformer_tower/mlp_block_1/linear/w/b"}
    merged = apply_adapters(params, adapters, settings)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(params)))


def test_lora_trains_adapters_and_heads_and_delivers_merged_weights():
    model = toy_model()
    settings = TrainSettings(steps=4, trainable=Trainable("lora"), lora=LoraSettings(rank=2),
                             optimizer=OptimizerSettings(learning_rate=5e-2, decay_steps=4), augment=AugmentSettings(max_shift=128))
    trainer = Trainer(model, poisson_loss, settings, targets=TARGETS, apply_fn=toy_apply)
    trainer.fit(tiny_source())
    trained = trainer.trainable_params()
    assert set(flat(trained["params"])) == {p for p in flat(model.variables["params"]) if p.startswith("head/")}
    moments = set()
    for leaf in jax.tree.leaves(trainer.opt_state, is_leaf=lambda x: hasattr(x, "mu")):
        if hasattr(leaf, "mu"):
            moments |= set(flat(leaf.mu))
    assert moments == set(flat(trained)), "only heads and adapters carry optimizer state"
    path = ("transformer_tower", "mlp_block_1", "linear", "w")
    base = model.variables["params"][path[0]][path[1]][path[2]][path[3]]
    adapter = trained["lora"][path[0]][path[1]][path[2]][path[3]]
    delivered = trainer.variables()["params"][path[0]][path[1]][path[2]][path[3]]
    np.testing.assert_allclose(delivered, base + settings.lora.scale * np.asarray(adapter["a"] @ adapter["b"]), rtol=1e-6)
    assert not np.array_equal(delivered, base)
