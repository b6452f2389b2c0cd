#!/usr/bin/env python
"""Fine-tune the tiny model on the real chr22 ENCODE track: heads and full mode, each against a shuffled control.

The issue's test of the training stage on real data: does a fine-tune reach a held-out Pearson on the
ENCODE track clearly above the untrained model's, and above a control trained on shuffled targets (each
training window learns another window's track, ``train.shuffle_targets``)? Each variant is the workflow's
own training steps (``genotile train``: split_windows, prepare_targets, train_model, evaluate_model) on
``config/chr22_encode.yaml`` with mode and ``shuffle_targets`` set per variant (and ``--steps`` /
``--learning-rate`` when given); the windows and targets are prepared
once and copied into the other runs (the steps skip finished outputs). The figures are the
``evaluate_model`` rows on the config's ``train.evaluate_split`` (``test``: the validation split chose the
delivered step), N bases left out.

The markdown table (the machine's description on top) goes to stdout, progress to stderr.

Usage::

    .venv/bin/python benchmarks/finetune_chr22.py [--out /tmp/genotile_chr22] [--steps N] [--learning-rate LR]
        [--variants heads heads-shuffled full full-shuffled]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"heads": ("heads", False), "heads-shuffled": ("heads", True), "full": ("full", False),
            "full-shuffled": ("full", True)}
PREPARED = ("windows.tsv", "targets.zarr", "targets_qc.tsv", "tracks.tsv")


def _config(args: argparse.Namespace, variant: str) -> dict:
    from genotile.cli.train import load_config

    config = load_config(str(ROOT / "config" / "chr22_encode.yaml"))
    mode, shuffled = VARIANTS[variant]
    config["results"], config["run"] = str(args.out), f"chr22_{variant}"
    changes = {"mode": mode, "shuffle_targets": shuffled, "steps": args.steps, "learning_rate": args.learning_rate}
    config["train"].update({k: v for k, v in changes.items() if v is not None})
    return config


def run(args: argparse.Namespace) -> list[dict]:
    from genotile.train.run_steps import TRAINING_STEPS, run_training_steps

    rows, first = [], None
    for variant in args.variants:
        config = _config(args, variant)
        train = Path(config["results"]) / config["run"] / "train"
        if first is not None:
            train.mkdir(parents=True, exist_ok=True)
            for name in PREPARED:
                if not (train / name).exists():
                    (shutil.copytree if (first / name).is_dir() else shutil.copy2)(first / name, train / name)
        started = time.perf_counter()
        for step, ran in run_training_steps(config, TRAINING_STEPS):
            print(f"{variant}: {step} {'done' if ran else 'skipped'} at {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
        first = first or train
        summary = json.loads((train / "train_summary.json").read_text())
        table = pd.read_parquet(train / "evaluation.parquet")
        new = table[table["kind"] == "new"]
        row = {"variant": variant, "best step": summary["best_step"], "train s": summary["seconds_this_call"]}
        for model in ("untrained", "fine-tuned"):
            for (res, scale), group in new[new["model"] == model].groupby(["resolution_bp", "scale"]):
                row[f"{model} r {scale} {res} bp"] = group["pearson"].item()
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/genotile_chr22"))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=None, help="train.steps (default: the config's)")
    parser.add_argument("--learning-rate", type=float, default=None, help="train.learning_rate (default: the config's)")
    args = parser.parse_args()
    rows = run(args)
    train = _config(args, args.variants[0])["train"]
    print(describe_machine())
    print(f"\n`{' '.join(sys.argv)}`: tiny model, {train['window_bp']:,}-bp windows, {train['steps']} steps, "
          f"batch {train['batch_size']}, learning rate {train['learning_rate']:g}; Pearson of the delivered step on "
          f"the {train['evaluate_split']} split (N bases left out)\n")
    frame = pd.DataFrame(rows)
    print(frame.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
