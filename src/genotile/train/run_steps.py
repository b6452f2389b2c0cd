"""The training steps of a workflow config, in order, on the workflow's own files (``genotile train``).

Each step gets the settings its rule gets (``genotile.runtime.provenance.rule_settings``) and writes the
files its rule declares, under ``<results>/<run>/train/``, so Snakemake and ``genotile train`` can take
over each other's work. A step whose outputs all exist is skipped unless ``force``; ``train_model``
resumes from its checkpoints either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["TRAINING_STEPS", "run_training_steps", "training_paths"]

TRAINING_STEPS = ("split_windows", "prepare_targets", "train_model", "evaluate_model")


def training_paths(config: Mapping[str, Any]) -> dict[str, str]:
    """The files of the training rules (as ``workflow/rules/train.smk`` names them)."""
    train = f"{config['results']}/{config['run']}/train"
    return {"windows": f"{train}/windows.tsv", "targets": f"{train}/targets.zarr", "qc": f"{train}/targets_qc.tsv",
            "tracks": f"{train}/tracks.tsv", "model": f"{train}/model", "model_delta": f"{train}/model_delta",
            "curve": f"{train}/learning_curve.tsv", "summary": f"{train}/train_summary.json", "checkpoints": f"{train}/checkpoints",
            "evaluation": f"{train}/evaluation.parquet", "losses": f"{train}/evaluation_losses.tsv",
            "region": f"{train}/evaluation_region.tsv"}


_OUTPUTS = {"split_windows": ("windows",), "prepare_targets": ("targets", "qc", "tracks"),
            "train_model": ("model", "curve", "summary"), "evaluate_model": ("evaluation", "losses", "region")}


def run_training_steps(config: Mapping[str, Any], steps: Sequence[str], force: bool = False) -> Iterator[tuple[str, bool]]:
    """Run ``steps`` (in :data:`TRAINING_STEPS` order); yields ``(step, ran)`` after each."""
    from genotile.model.checkpoints import load_checkpoint
    from genotile.model.loading import load_predictor
    from genotile.runtime.provenance import rule_settings
    from genotile.settings import EvaluateModelSettings, PrepareTargetsSettings, SplitWindowsSettings, TrainModelSettings
    from genotile.train.evaluate_model import evaluate_model
    from genotile.train.steps import prepare_targets, split_windows
    from genotile.train.train_model import train_model

    paths, fasta = training_paths(config), config["genome"]["fasta"]
    for step in TRAINING_STEPS:
        if step not in steps:
            continue
        delta = step == "train_model" and bool(config["train"].get("delta_checkpoint"))  # train.delta_checkpoint
        outputs = [Path(paths[k]) for k in _OUTPUTS[step] + (("model_delta",) if delta else ())]
        if not force and all(p.exists() for p in outputs):
            yield step, False
            continue
        for path in outputs:  # as Snakemake removes a rerun job's outputs first
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        Path(paths["windows"]).parent.mkdir(parents=True, exist_ok=True)
        settings = rule_settings(config, step)
        if step == "split_windows":
            split_windows(SplitWindowsSettings.from_config(settings), fasta, paths["windows"])
        elif step == "prepare_targets":
            prepare_targets(PrepareTargetsSettings.from_config(settings), fasta, paths["windows"], paths["targets"],
                            paths["qc"], paths["tracks"])
        elif step == "evaluate_model":
            evaluation = EvaluateModelSettings.from_config(settings)
            evaluate_model(evaluation, load_predictor(evaluation.base_model()), load_checkpoint(paths["model"]), fasta,
                           paths["windows"], paths["targets"], paths["tracks"], paths["evaluation"], paths["losses"],
                           paths["region"],
                           gtf=(config.get("annotation") or {}).get("gtf") if evaluation.gene_loss_weight > 0 else None)
        else:
            train = TrainModelSettings.from_config(settings)
            base = load_predictor(train.base_model()).model
            train_model(train, base, fasta, paths["windows"], paths["targets"], paths["tracks"], paths["model"],
                        paths["curve"], paths["summary"], paths["checkpoints"],
                        checkpoint_every=int(config["train"]["checkpoint_every"]),
                        gtf=(config.get("annotation") or {}).get("gtf") if train.gene_loss_weight > 0 else None,
                        delta_dir=paths["model_delta"] if delta else None)
        yield step, True
