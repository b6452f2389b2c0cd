"""Which leaves train, and that frozen leaves carry no optimizer state."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from genotile.model.config import TINY
from genotile.model.layout import from_official, official_shapes
from genotile.train.freezing import FreezingError, Trainable, flat, merge, partition, tower_layer, trainable_paths
from genotile.train.optimizer import OptimizerSettings, build_optimizer, learning_rate_schedule


@pytest.fixture(scope="module")
def params():
    """The tiny model's parameter tree (zeros: only paths and shapes matter here)."""
    shapes, state = official_shapes(TINY)
    zeros = lambda tree: {m: {n: np.zeros(s, np.float32) for n, s in leaves.items()} for m, leaves in tree.items()}
    return from_official(zeros(shapes), zeros(state))["params"]


def _moment_paths(opt_state) -> set[str]:
    """Every parameter path that has an Adam first moment in the optimizer state."""
    found = set()
    for leaf_state in jax.tree.leaves(opt_state, is_leaf=lambda x: hasattr(x, "mu")):
        if hasattr(leaf_state, "mu"):
            found |= set(flat(leaf_state.mu))
    return found


def test_heads_mode_trains_heads_only_and_frozen_leaves_have_no_moments(params):
    paths = trainable_paths(params, Trainable("heads"))
    assert paths and all(p.startswith("head/") for p in paths)
    assert paths == {p for p in flat(params) if p.startswith("head/")}
    trainable, frozen = partition(params, paths)
    opt_state = jax.eval_shape(build_optimizer(OptimizerSettings(accumulate=2)).init, trainable)
    assert _moment_paths(opt_state) == paths
    values = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(opt_state))
    head_values = sum(np.asarray(v).size for p, v in flat(params).items() if p in paths)
    assert values < 4 * head_values + 100  # mu, nu, accumulated gradients and counters: heads only
    merged = merge(trainable, frozen)
    assert jax.tree.structure(merged) == jax.tree.structure(params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(params)))


def test_unfreeze_last_blocks_opens_the_last_tower_layers(params):
    paths = trainable_paths(params, Trainable("heads", unfreeze_last_blocks=1))
    tower = {p.split("/")[1] for p in paths if p.startswith("transformer_tower/")}
    assert tower == {"attention_bias_block_1", "mha_block_1", "mlp_block_1"}  # tiny: 2 layers, pair blocks at 0
    both = trainable_paths(params, Trainable("heads", unfreeze_last_blocks=2))
    assert {p.split("/")[1] for p in both if p.startswith("transformer_tower/")} == set(params["transformer_tower"])
    one_layer = {"transformer_tower": {"mlp_block_1": {"w": 0}}, "head": {"x": {"w": 0}}}  # layers need not start at 0
    assert trainable_paths(one_layer, Trainable("heads")) == {"head/x/w"}
    assert trainable_paths(one_layer, Trainable("heads", unfreeze_last_blocks=1)) == {"head/x/w", "transformer_tower/mlp_block_1/w"}
    assert tower_layer("transformer_tower/pair_update_block_2/linear_q/w") == 4
    assert tower_layer("head/dnase/x") is None


def test_full_mode_and_extra_prefixes(params):
    assert trainable_paths(params, Trainable("full")) == set(flat(params))
    extra = trainable_paths(params, Trainable("heads", extra_prefixes=("output_embedder",)))
    assert any(p.startswith("output_embedder/") for p in extra)
    assert not any(p.startswith("output_embedder_1/") for p in extra)


def test_bad_settings_stop_with_the_fix(params):
    with pytest.raises(FreezingError, match="unknown training mode 'adapters'"):
        Trainable("adapters")
    with pytest.raises(FreezingError, match="at most 2"):
        trainable_paths(params, Trainable("heads", unfreeze_last_blocks=3))
    with pytest.raises(FreezingError, match="name no parameter"):
        trainable_paths(params, Trainable("heads", extra_prefixes=("output_embeder",)))


def test_schedule_warms_up_then_decays():
    lr = learning_rate_schedule(OptimizerSettings(learning_rate=1.0, warmup_steps=4, decay_steps=12))
    values = [float(lr(i)) for i in range(13)]
    assert values[0] == 0.0 and values[4] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(values[:4], values[1:5]))
    assert all(a > b for a, b in zip(values[4:12], values[5:13])) and values[12] == pytest.approx(0.0, abs=1e-6)
    accumulated = learning_rate_schedule(OptimizerSettings(learning_rate=1.0, warmup_steps=4, decay_steps=12, accumulate=2))
    assert float(accumulated(2)) == pytest.approx(1.0)  # counted in updates: 4 batches of warm-up = 2 updates


def test_only_heads_trains_exactly_those_heads(params):
    """A splice fine-tune names its heads: the others are frozen (weight decay would move them otherwise)."""
    only = ("splice_sites_classification", "splice_sites_junction")
    paths = trainable_paths(params, Trainable("heads", only_heads=only))
    assert paths == {p for p in flat(params) if p.split("/")[:1] == ["head"] and p.split("/")[1] in only}
    with_block = trainable_paths(params, Trainable("heads", unfreeze_last_blocks=1, only_heads=only))
    assert paths < with_block and all(p.startswith(("head/", "transformer_tower/")) for p in with_block)
    with pytest.raises(FreezingError, match=r"only_heads names head\(s\) \['nope'\]"):
        trainable_paths(params, Trainable("heads", only_heads=("nope",)))
