"""The one model loader every caller uses (rules, CLI, benchmarks): configured weights and metadata as a
:class:`~genotile.model.predictor.Predictor`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def load_predictor(model_cfg: Mapping[str, Any]):
    """The configured weights (official/genotile checkpoint, or seeded synthetic) and metadata, as a Predictor."""
    from genotile.model.predictor import Predictor
    from genotile.model.checkpoints import load_checkpoint, synthetic_model
    from genotile.runtime.remote_inputs import checkpoint_path

    if model_cfg.get("checkpoint"):
        loaded = load_checkpoint(checkpoint_path(model_cfg["checkpoint"]), model_cfg.get("size") if model_cfg.get("size") != "tiny" else None)
    else:
        loaded = synthetic_model(model_cfg.get("size", "tiny"), int(model_cfg.get("seed", 0)))
    return Predictor(loaded, model_cfg.get("metadata") or None, precision=model_cfg.get("precision", "float32"))
