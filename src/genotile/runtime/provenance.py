"""Which settings each workflow step's outputs depend on, and an identity for the model weights.

Why: Snakemake re-runs a job when its ``params`` change. Passing the whole config to every rule
would re-run the whole genome when a summary threshold changes; passing nothing would keep stale
tracks when the weights change. Each rule gets exactly the config keys its *outputs* depend on
(:func:`rule_settings`), so a changed key re-runs the jobs it affects and nothing else.

Keys that only change how fast a job runs (``inference.windows_per_pass``, ``inference.threads``,
``variants.batch_size``, job resources) are left out on purpose: the outputs are the same bytes
whatever their value (rows are computed one by one, see :class:`genotile.model.predictor.Predictor`), so
changing them must not re-run finished work. The rule scripts read them from the full config.

The weights enter as :func:`weights_identity`: a checkpoint folder's file names, sizes and
modification times (cheap on a 2 GB checkpoint, unlike hashing it on every Snakemake start), a
checkpoint URL's object names, sizes and versions (:func:`genotile.runtime.remote_inputs.remote_identity`),
or the synthetic model's size and seed.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from genotile.runtime.finetuned import base_model_config, finetuned_identity, is_finetuned, resolved_model_config
from genotile.runtime.remote_inputs import is_url, remote_identity
from genotile.settings import (
    MODEL_KEYS,
    EvaluateModelSettings,
    InitStoreSettings,
    IsmSettings,
    MergeSettings,
    NormalizeSettings,
    PlanWindowsSettings,
    PredictBatchSettings,
    PrepareTargetsSettings,
    ScoreSettings,
    ShardSettings,
    SplitWindowsSettings,
    SummarizeSettings,
    TrainModelSettings,
)

__all__ = ["RULE_SETTINGS", "RUNTIME_ONLY", "rule_settings", "weights_identity"]

#: The model keys that change predicted values ("model.weights" is :func:`weights_identity`).
_MODEL: Final = MODEL_KEYS
#: ... plus the fields of the scoring step's settings (the model enters as the predictor it is given).
_SCORE_CONTENT: Final = tuple(dict.fromkeys((*_MODEL, *ScoreSettings.CONFIG_KEYS)))

#: Rule name -> dotted config keys its outputs depend on ("model.weights" is :func:`weights_identity`):
#: exactly the fields of the settings each step takes (genotile.settings).
RULE_SETTINGS: Final[Mapping[str, tuple[str, ...]]] = {
    "plan_windows": PlanWindowsSettings.CONFIG_KEYS,
    "init_store": InitStoreSettings.CONFIG_KEYS,
    "predict_batch": PredictBatchSettings.CONFIG_KEYS,
    "normalize_variants": NormalizeSettings.CONFIG_KEYS,
    "shard_variants": ShardSettings.CONFIG_KEYS,
    "score_shard": _SCORE_CONTENT,
    "merge_scores": MergeSettings.CONFIG_KEYS,
    "summarize_variants": SummarizeSettings.CONFIG_KEYS,
    "ism": tuple(dict.fromkeys((*_MODEL, *IsmSettings.CONFIG_KEYS))),
    "split_windows": SplitWindowsSettings.CONFIG_KEYS,
    "prepare_targets": PrepareTargetsSettings.CONFIG_KEYS,
    "train_model": TrainModelSettings.CONFIG_KEYS,
    "evaluate_model": EvaluateModelSettings.CONFIG_KEYS,
}

#: Rules that read the base model of a fine-tune (``train.base_checkpoint`` under ``model.checkpoint: finetuned``).
BASE_MODEL_RULES: Final = ("train_model", "evaluate_model")

#: Keys that change speed or resources only (documented; they never re-run a job).
RUNTIME_ONLY: Final = (
    "tiling.windows_per_batch",  # regroups windows into jobs: plan_windows re-runs, values do not change
    "inference.windows_per_pass", "inference.threads", "inference.gpus_per_job", "inference.mem_mb",
    "variants.batch_size", "ism.batch_size",
)


def weights_identity(model: Mapping[str, Any]) -> str:
    """A string that changes when the weights do: checkpoint files (name, size, mtime) or synthetic seed."""
    checkpoint = model.get("checkpoint")
    if not checkpoint:
        return f"synthetic:{model.get('size', 'tiny')}:seed={model.get('seed', 0)}"
    if is_url(checkpoint):
        return remote_identity(checkpoint)
    folder = Path(checkpoint)
    if not folder.exists():
        raise FileNotFoundError(f"model.checkpoint: {checkpoint} does not exist (give the checkpoint folder, or null)")
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{os.path.relpath(path, folder)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return f"checkpoint:{len(files)} files:{digest.hexdigest()[:16]}"


def rule_settings(config: Mapping[str, Any], rule: str) -> dict[str, Any]:
    """The part of ``config`` that ``rule``'s outputs depend on, as a nested dict (absent keys: None)."""
    if rule not in RULE_SETTINGS:
        raise KeyError(f"no settings declared for rule {rule!r}; add it to genotile.runtime.provenance.RULE_SETTINGS")
    full = dict(config)
    model = config.get("model", {})
    if rule in BASE_MODEL_RULES:  # training reads the base model (train.base_checkpoint under finetuned)
        base = base_model_config(config)
        full["model"] = {**base, "weights": weights_identity(base)}
    elif is_finetuned(model):  # the run's own fine-tuned model: its path, and the identity of what makes it
        full["model"] = {**resolved_model_config(config), "weights": finetuned_identity(config, weights_identity)}
    elif "model.weights" in RULE_SETTINGS[rule]:
        full["model"] = {**model, "weights": weights_identity(model)}
    result: dict[str, Any] = {}
    for dotted in RULE_SETTINGS[rule]:
        _copy_key(full, result, dotted.split("."))
    return result


def _copy_key(source: Mapping[str, Any], target: dict[str, Any], path: list[str]) -> None:
    head, rest = path[0], path[1:]
    value = source.get(head) if isinstance(source, Mapping) else None
    if not rest:
        target[head] = copy.deepcopy(value)
        return
    _copy_key(value or {}, target.setdefault(head, {}), rest)
