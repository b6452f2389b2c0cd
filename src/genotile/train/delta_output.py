"""``train_model``'s delta checkpoint (``train.delta_checkpoint``): the best model as a delta against its base.

Why a module of its own: the delta is about what is written, not what is trained, so it sits beside the
training loop and keeps ``train_model`` to three calls. The delta is
:func:`genotile.model.checkpoints.save_delta_checkpoint` of the best model against the base it was trained
from (the new heads, the leaves whose values changed, in mode ``lora`` the adapters un-merged), with the
base weights' identity: ``load_checkpoint`` (every ``model.checkpoint`` / ``--checkpoint`` loader) re-opens
the recorded base and refuses other weights.

Where the adapters come from: the delivered full model holds them merged (``W + scale A B``), which cannot be
split again, so whenever the best model is saved (beside the resume checkpoints, ``best_model``) its delta is
saved too (``best_model_delta``), from the trainer's adapters at that step. A run that had no delta saved
with its best model (the key turned on after the run, or a job killed between the two saves) gets the delta
from the full best model instead: the same weights, in mode ``lora`` with the adapted kernels stored whole
(larger, logged). An adapted kernel that also trains itself (``lora`` with ``unfreeze_last_blocks``) is stored
whole too: base kernel plus adapters would not be the trained kernel.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax

from genotile.model.checkpoints import CheckpointError, LoadedModel, load_checkpoint, save_delta_checkpoint
from genotile.train.data_errors import TrainingDataError
from genotile.train.freezing import flat, nested

__all__ = ["BEST_DELTA_DIR", "clear_best_delta", "delta_path", "deliver_delta", "save_best_delta"]

log = logging.getLogger("genotile")

#: The best model's delta, beside ``best_model`` in the resume folder.
BEST_DELTA_DIR = "best_model_delta"


def delta_path(model_dir: str | Path) -> Path:
    """``<model_dir>_delta``: where the workflow puts the delta of ``train/model`` (``train/model_delta``)."""
    model_dir = Path(model_dir)
    return model_dir.with_name(model_dir.name + "_delta")


def clear_best_delta(state_dir: Path) -> None:
    """Remove the best model's delta before the best model changes: a delta on disk is always the best's."""
    for path in (state_dir / BEST_DELTA_DIR, state_dir / f"{BEST_DELTA_DIR}.partial"):
        shutil.rmtree(path, ignore_errors=True)


def _separate_adapters(trainer: Any) -> tuple[dict[str, Any] | None, float | None]:
    """The trainer's LoRA adapters whose kernel is frozen (numpy), and their scale; None outside mode lora."""
    adapters = trainer.trainable_params().get("lora")
    if not adapters:
        return None, None
    pieces = flat(jax.device_get(adapters))
    kept = {k: v for k, v in pieces.items() if k.rsplit("/", 1)[0] not in trainer.trainable_paths}
    return (nested(kept) if kept else None), (trainer.settings.lora.scale if kept else None)


def _write(path: Path, model: LoadedModel, base: LoadedModel, note: str, adapters: Mapping[str, Any] | None = None,
           scale: float | None = None) -> None:
    """``save_delta_checkpoint`` to ``path`` through ``path.partial`` (a killed job leaves no half delta)."""
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        save_delta_checkpoint(partial, model, base, adapters=adapters, lora_scale=scale, note=note)
    except CheckpointError as exc:
        if "does not differ from its base" not in str(exc):
            raise
        raise TrainingDataError(
            f"train.delta_checkpoint: the best model ({note}) is the base model itself, so there is no delta to "
            "write; fix: train longer (a later step must be the best), or set train.delta_checkpoint: false") from None
    partial.rename(path)


def save_best_delta(state_dir: Path, trainer: Any, model: LoadedModel, base: LoadedModel, note: str,
                    delta_dir: str | Path | None) -> None:
    """With a delta asked for, save the trainer's current weights (just saved as the best) as a delta against ``base``."""
    if delta_dir is None:
        return
    adapters, scale = _separate_adapters(trainer)
    best = LoadedModel(model.config, trainer.variables(), "genotile", f"train_model:{note}", model.new_tracks)
    _write(state_dir / BEST_DELTA_DIR, best, base, note, adapters, scale)


def deliver_delta(state_dir: Path, base: LoadedModel, model_dir: Path, delta_dir: str | Path | None) -> None:
    """Copy the best model's delta to ``delta_dir`` (made from the delivered full model when none was saved with
    it); without ``delta_dir``, remove a stale ``<model_dir>_delta`` left by an earlier run with the key on."""
    if delta_dir is None:
        stale = delta_path(model_dir)
        if stale.is_dir():
            log.info("train_model: removing %s (train.delta_checkpoint is off; it was an earlier run's)", stale)
            shutil.rmtree(stale)
        return
    saved = state_dir / BEST_DELTA_DIR
    if not saved.is_dir():
        full = load_checkpoint(model_dir)
        log.info("train_model: no delta was saved with the best model (train.delta_checkpoint turned on later?); "
                 "making it from %s (in mode lora with the adapted kernels whole)", model_dir)
        _write(saved, full, base, f"train_model: from {model_dir}")
    out = Path(delta_dir)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(saved, partial)
    partial.rename(out)
    log.info("train_model: delta checkpoint (on %s) in %s", base.identity, out)
