"""``model.checkpoint: finetuned``: the run's own fine-tuned model feeds its predictions and variant scores.

Why a word and not a path: "fine-tune on my cell type, then predict it genome-wide and score my cohort
in it" is one ``snakemake`` call, so the checkpoint the prediction rules load does not exist when the
workflow is parsed. The word names ``<results>/<run>/train/model`` (``train_model``'s delivered
checkpoint), and everything that depends on the weights resolves it here, in one place:

* the rules that load the model get the resolved path (``genotile.runtime.provenance.rule_settings``)
  and declare the folder as an input, so Snakemake trains first;
* the weights' identity, needed while parsing, is that of what *makes* the model: the ``train:``
  settings and the base weights' identity (training is deterministic, so those fix the result), and a
  changed training setting re-runs the predictions;
* training itself starts from the base model: the ``model:`` section with ``checkpoint`` replaced by
  ``train.base_checkpoint`` (null: the seeded synthetic model of ``model.size`` / ``model.seed``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FINETUNED", "base_model_config", "finetuned_checkpoint_path", "finetuned_identity", "is_finetuned",
           "resolved_model_config"]

#: The ``model.checkpoint`` value that means "the model this run trains".
FINETUNED = "finetuned"
#: Where ``train_model`` delivers its checkpoint, under the run folder.
MODEL_FOLDER = "train/model"
#: ``train:`` keys that change what training writes, not the weights it delivers (not in the identity).
WRITE_ONLY_TRAIN_KEYS = ("delta_checkpoint",)


def is_finetuned(model: Mapping[str, Any] | None) -> bool:
    """True when the ``model:`` section asks for the run's own fine-tuned model."""
    return bool(model) and model.get("checkpoint") == FINETUNED


def finetuned_checkpoint_path(config: Mapping[str, Any]) -> str:
    """``<results>/<run>/train/model``: the delivered checkpoint of this run's ``train_model``."""
    return f"{config['results']}/{config['run']}/{MODEL_FOLDER}"


def base_model_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``model:`` mapping training starts from (what ``genotile.model.loading.load_predictor`` takes).

    With ``model.checkpoint: finetuned`` the base is ``train.base_checkpoint`` (null: the synthetic model);
    with any other ``model.checkpoint`` the run predicts with that model, and a fine-tune starts from it.
    """
    model = dict(config["model"])
    if is_finetuned(model):
        model["checkpoint"] = (config.get("train") or {}).get("base_checkpoint") or None
    return model


def resolved_model_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``model:`` mapping with ``finetuned`` replaced by the delivered checkpoint's path."""
    model = dict(config["model"])
    if is_finetuned(model):
        model["checkpoint"] = finetuned_checkpoint_path(config)
    return model


def finetuned_identity(config: Mapping[str, Any], base_identity: Callable[[Mapping[str, Any]], str]) -> str:
    """An identity of the fine-tuned weights known before they exist: the ``train:`` settings and the base.

    ``base_identity``: the weights identity of a ``model:`` mapping (``provenance.weights_identity``).
    """
    train = {k: v for k, v in (config.get("train") or {}).items() if k not in WRITE_ONLY_TRAIN_KEYS}
    recipe = {"train": train, "base": base_identity(base_model_config(config)),
              "model": {k: v for k, v in config["model"].items() if k != "checkpoint"}}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()
    return f"finetuned:{digest[:16]}"
