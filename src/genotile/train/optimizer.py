"""The optimizer of every training mode: AdamW, linear warm-up then cosine decay, global-norm clipping, accumulation.

Why one builder: heads-only, partial and full fine-tuning differ only in *which* leaves the optimizer
sees (``genotile.train.freezing``), never in the update rule, so a run's settings fully describe its
updates (and go into the resume fingerprint). Everything here is optax; nothing is hand-written.

Counting: the trainer's step is one batch. With ``accumulate = k`` the update is applied every k-th
batch (``optax.MultiSteps``, gradients averaged), so the learning-rate schedule counts *updates*:
warm-up and decay lengths are given in batches and divided by k here.
"""

from __future__ import annotations

import dataclasses

import jax
import optax


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    """AdamW hyper-parameters. The class defaults take the reference notebook's learning rate (5e-4) and clip
    (global norm 0.5); the notebook's update is plain Adam at a constant rate, so ``weight_decay=0`` and a long
    ``decay_steps`` come closest. The workflow's defaults (``train.*``, ``config.schema.yaml``) are its own."""

    learning_rate: float = 5e-4  # peak, reached at the end of warm-up
    warmup_steps: int = 0  # batches of linear warm-up from 0
    decay_steps: int = 1000  # batches from the start to the end of the cosine decay (the run's length)
    end_learning_rate_fraction: float = 0.0  # the cosine ends at learning_rate * this
    weight_decay: float = 1e-4  # decoupled; on matrices and kernels only (not scales, offsets, biases)
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    clip_global_norm: float | None = 0.5  # None: no clipping
    accumulate: int = 1  # batches per update

    def __post_init__(self) -> None:
        if self.accumulate < 1:
            raise ValueError(f"optimizer.accumulate must be at least 1, got {self.accumulate}")
        if self.decay_steps < max(1, self.warmup_steps):
            raise ValueError(
                f"optimizer.decay_steps ({self.decay_steps}) must be at least warmup_steps ({self.warmup_steps}) and 1"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"optimizer.learning_rate must be positive, got {self.learning_rate}")


def learning_rate_schedule(settings: OptimizerSettings) -> optax.Schedule:
    """Learning rate per *update* (see the module docstring for the batch -> update conversion)."""
    k = settings.accumulate
    warmup = settings.warmup_steps // k
    decay = max(warmup + 1, settings.decay_steps // k)
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup else settings.learning_rate,
        peak_value=settings.learning_rate,
        warmup_steps=warmup,
        decay_steps=decay,
        end_value=settings.learning_rate * settings.end_learning_rate_fraction,
    )


def _decay_mask(params):
    """Weight decay on matrices and kernels (ndim >= 2), not on norms' scales/offsets or biases."""
    return jax.tree.map(lambda x: x.ndim >= 2, params)


def build_optimizer(settings: OptimizerSettings) -> optax.GradientTransformation:
    """clip_by_global_norm -> AdamW(schedule), wrapped in MultiSteps when accumulating."""
    parts = []
    if settings.clip_global_norm is not None:
        parts.append(optax.clip_by_global_norm(settings.clip_global_norm))
    parts.append(
        optax.adamw(
            learning_rate_schedule(settings),
            b1=settings.b1,
            b2=settings.b2,
            eps=settings.eps,
            weight_decay=settings.weight_decay,
            mask=_decay_mask,
        )
    )
    optimizer = optax.chain(*parts)
    if settings.accumulate > 1:
        optimizer = optax.MultiSteps(optimizer, every_k_schedule=settings.accumulate).gradient_transformation()
    return optimizer
