"""model.checkpoint: finetuned resolves to the run's train/model, with an identity known before training."""

from __future__ import annotations

import copy

from genotile.runtime.finetuned import (
    base_model_config,
    finetuned_checkpoint_path,
    finetuned_identity,
    resolved_model_config,
)
from genotile.runtime.provenance import rule_settings, weights_identity

CONFIG = {
    "results": "results", "run": "ft", "organism": "human",
    "model": {"checkpoint": "finetuned", "size": "tiny", "seed": 3, "metadata": None, "precision": "float32"},
    "train": {"tracks_sheet": "sheet.tsv", "steps": 10, "base_checkpoint": None},
}


def test_finetuned_names_the_runs_delivered_checkpoint_and_trains_from_the_base():
    assert finetuned_checkpoint_path(CONFIG) == "results/ft/train/model"
    assert resolved_model_config(CONFIG)["checkpoint"] == "results/ft/train/model"
    assert base_model_config(CONFIG)["checkpoint"] is None  # the synthetic tiny model, seed 3
    other = {**CONFIG, "model": {**CONFIG["model"], "checkpoint": "/weights/official"}}
    assert base_model_config(other)["checkpoint"] == "/weights/official"  # no fine-tune in the run: as given
    assert resolved_model_config(other) == other["model"]


def test_the_identity_changes_with_the_training_recipe_and_the_base_only():
    identity = finetuned_identity(CONFIG, weights_identity)
    assert identity.startswith("finetuned:") and identity == finetuned_identity(copy.deepcopy(CONFIG), weights_identity)
    more_steps = copy.deepcopy(CONFIG)
    more_steps["train"]["steps"] = 11
    other_seed = copy.deepcopy(CONFIG)
    other_seed["model"]["seed"] = 4
    assert len({identity, finetuned_identity(more_steps, weights_identity),
                finetuned_identity(other_seed, weights_identity)}) == 3
    delta = copy.deepcopy(CONFIG)
    delta["train"]["delta_checkpoint"] = True  # changes what training writes, not the weights
    assert finetuned_identity(delta, weights_identity) == identity


def test_prediction_rules_get_the_resolved_path_and_the_recipe_identity():
    settings = rule_settings(CONFIG, "predict_batch")
    assert settings["model"]["checkpoint"] == "results/ft/train/model"
    assert settings["model"]["weights"] == finetuned_identity(CONFIG, weights_identity)
