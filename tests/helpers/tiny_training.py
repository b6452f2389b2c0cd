"""A tiny, cheap training setup shared by the trainer tests and the training benchmark.

The tiny model in today's (inference) mode, DNase at 128 bp on four channels, 1-bp Poisson targets
summed to 128 bp by a simple Poisson loss: small enough that a step runs in milliseconds on a CPU,
real enough that every part of the trainer (partition, augmentation, AdamW, checkpoints) is used.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import LoadedModel
from genotile.model.config import TINY
from genotile.train.augment import TargetSpec
from genotile.train.batches import ArraySource

CHANNELS = 4
REQUEST = OutputRequest(heads=("dnase",), resolutions=(128,), channels=(("dnase", tuple(range(CHANNELS))),))
TARGETS = {"dnase": TargetSpec("dnase")}


def poisson_loss(predictions, batch):
    """Poisson of the 128-bp predictions against the 1-bp targets summed to 128 bp."""
    predicted = predictions["dnase"]["scaled_predictions_128bp"]
    target = batch["targets"]["dnase"]
    target = target.reshape(target.shape[0], -1, 128, target.shape[-1]).sum(2)
    loss = jnp.mean(predicted - target * jnp.log(predicted + 1e-7))
    return loss, {"dnase": loss}


def tiny_rows(rows: int, window: int, margin: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    length = window + 2 * margin
    return {
        "dna": np.eye(4, dtype=np.float32)[rng.integers(0, 4, (rows, length))],
        "organism": np.zeros(rows, np.int32),
        "targets": {"dnase": rng.poisson(1.0, (rows, length, CHANNELS)).astype(np.float32)},
        "masks": {"dnase": np.ones((rows, 1, CHANNELS), bool)},
    }


def tiny_source(rows: int = 4, window: int = 4096, margin: int = 128, batch_size: int = 2, seed: int = 0) -> ArraySource:
    return ArraySource(tiny_rows(rows, window, margin, seed), batch_size, seed=seed)


def toy_model() -> LoadedModel:
    """A two-layer stand-in with the real model's path names (trunk under transformer_tower/, a head under
    head/): the trainer's machinery at a compile cost of a second, for the fast tests."""
    rng = np.random.default_rng(7)
    params = {
        "transformer_tower": {"mlp_block_1": {"linear": {"w": rng.normal(0, 0.5, (4, 8)).astype(np.float32)}}},
        "head": {"dnase": {"linear": {"w": rng.normal(0, 0.3, (8, CHANNELS)).astype(np.float32),
                                      "b": np.zeros(CHANNELS, np.float32)}}},
    }
    state = {"transformer_tower": {"mlp_block_1": {"rms_batch_norm": {"var_ema": np.ones((1, 1, 8), np.float32)}}}}
    return LoadedModel(TINY, {"params": params, "state": state}, "synthetic", "synthetic:toy")


def toy_apply(variables, dna, organism, key):
    """128-bp means of the one-hot -> trunk -> head, softplus: the output tree of one DNase request."""
    del organism, key
    p = variables["params"]
    pooled = dna.reshape(dna.shape[0], -1, 128, 4).mean(2)
    hidden = jnp.tanh(pooled @ p["transformer_tower"]["mlp_block_1"]["linear"]["w"])
    head = p["head"]["dnase"]["linear"]
    out = jax.nn.softplus(hidden @ head["w"] + head["b"]) * 128.0
    return {"dnase": {"scaled_predictions_128bp": out}}, variables["state"]
