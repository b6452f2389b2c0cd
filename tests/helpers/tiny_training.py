"""A tiny, cheap training setup shared by the trainer tests and the training benchmark.

The tiny model in today's (inference) mode, DNase at 128 bp on four channels, 1-bp Poisson targets
summed to 128 bp by a simple Poisson loss: small enough that a step runs in milliseconds on a CPU,
real enough that every part of the trainer (partition, augmentation, AdamW, checkpoints) is used.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from genotile.model.alphagenome import OutputRequest
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
