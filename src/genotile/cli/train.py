"""``genotile train``: the fine-tuning steps of a workflow config, in order, outside Snakemake.

Why: a lab may want to fine-tune on one GPU node without a workflow manager (or to debug a training
config step by step). The command runs exactly the workflow's steps (``split_windows``,
``prepare_targets``, ``train_model``, ``evaluate_model``) with the settings the rules would pass
(:func:`genotile.runtime.provenance.rule_settings`), on the same files under ``<results>/<run>/train/``,
so a run started here can be continued by ``snakemake`` and the other way round. A step whose outputs
exist is skipped (``--force`` redoes it); ``train_model`` resumes from its checkpoints either way.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genotile.cli.common import log
from genotile.train.run_steps import TRAINING_STEPS as STEPS


def load_config(path: str) -> dict[str, Any]:
    """The config file, validated against the workflow's schema with its defaults filled in (as Snakemake does)."""
    import yaml
    from snakemake.utils import validate

    from genotile.settings import SCHEMA_PATH

    config_path = Path(path)
    if not config_path.is_file():
        raise FileNotFoundError(f"config file {path} not found; give the YAML you run snakemake with (--configfile)")
    config = yaml.safe_load(config_path.read_text()) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a YAML mapping of config keys (config/README.md)")
    try:
        validate(config, str(SCHEMA_PATH))
    except Exception as exc:  # snakemake's WorkflowError carries jsonschema's message
        raise ValueError(f"{path}: {str(exc).splitlines()[0]}") from None
    if not (config.get("train") or {}).get("tracks_sheet"):
        raise ValueError(f"{path}: train.tracks_sheet is not set; give the TSV of the tracks to train on "
                         "(config/README.md, 'Fine-tuning')")
    if not config["genome"]["fasta"]:
        raise ValueError(f"{path}: genome.fasta is not set; `genotile train` needs a FASTA (the demo genome is made by "
                         "the workflow: run `snakemake` for the fine-tuning demo)")
    return config


def cmd_train(args: argparse.Namespace) -> int:
    from genotile.train.run_steps import run_training_steps

    config = load_config(args.configfile)
    chosen = STEPS[: STEPS.index(args.until) + 1]
    for step, outputs in run_training_steps(config, chosen, force=args.force):
        log(f"{step}: {'done' if outputs else 'outputs exist, skipped (--force redoes it)'}")
    log(f"training outputs in {config['results']}/{config['run']}/train/")
    return 0


def register(sub) -> None:
    """Add ``genotile train`` to the ``genotile`` subparsers ``sub``."""
    train = sub.add_parser("train", help="fine-tune on a tracks sheet: the workflow's training steps, outside Snakemake")
    train.add_argument("--configfile", required=True, help="the workflow config (YAML) with a train: section")
    train.add_argument("--until", choices=STEPS, default=STEPS[-1], help="stop after this step (default: all)")
    train.add_argument("--force", action="store_true", help="redo steps whose outputs exist (training still resumes)")
    train.set_defaults(func=cmd_train)
