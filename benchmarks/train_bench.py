#!/usr/bin/env python
"""Benchmark the trainer: steps/s and peak memory per training mode, sequence length and model size.

Each configuration runs in its own subprocess (so the peak RSS, ``resource.getrusage``'s
``ru_maxrss``, and on a GPU the device's peak, belong to it alone): seeded synthetic weights, one
``Trainer`` (the forward ``genotile train`` uses unless ``--forward`` says otherwise, a Poisson loss
on the requested heads against random 1-bp targets, the default augmentation: shift up to 1,024 bp
and reverse complement), one step to compile (reported as ``first step``), then ``--steps`` timed
steps (``steps/s``). No checkpoints are written.

The markdown table (the machine's description on top) goes to stdout, progress to stderr.

Usage::

    .venv/bin/python benchmarks/train_bench.py [--modes heads full] [--lengths 16384 131072]
        [--size tiny] [--heads dnase] [--resolutions 1 128] [--steps 5] [--batch 1]
        [--forward auto|inference|train] [--remat]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe_machine  # noqa: E402


def forward_of(mode: str, forward: str, remat: bool) -> str:
    """The forward pass a configuration trains through. ``auto`` is what ``genotile train`` uses
    (``train_model._settings``): the train-mode forward (batch statistics) in ``full`` mode, the inference
    forward for a frozen trunk (``heads``, ``lora``). ``--remat`` only exists in the train-mode forward."""
    chosen = forward if forward != "auto" else ("train" if mode == "full" else "inference")
    if chosen == "train" and remat:
        return "train+remat"
    return chosen


def child(args: argparse.Namespace) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from genotile.model.alphagenome import OutputRequest
    from genotile.model.checkpoints import synthetic_model
    from genotile.model.layers import TrainMode
    from genotile.train.augment import AugmentSettings, TargetSpec
    from genotile.train.batches import ArraySource
    from genotile.train.freezing import Trainable
    from genotile.train.optimizer import OptimizerSettings
    from genotile.train.trainer import Trainer, TrainSettings

    model = synthetic_model(args.size, 0)
    request = OutputRequest(heads=tuple(args.heads), resolutions=tuple(args.resolutions))
    augment = AugmentSettings()
    length = args.length + 2 * augment.max_shift
    rng = np.random.default_rng(0)
    targets = {h: rng.poisson(0.5, (args.batch, length, model.config.tracks(h))).astype(np.float32) for h in args.heads}
    rows = {"dna": np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.batch, length))],
            "organism": np.zeros(args.batch, np.int32), "targets": targets}

    def loss_fn(predictions, batch):
        parts = {}
        for head in args.heads:
            for res in request.head_resolutions(head):
                p = predictions[head][f"scaled_predictions_{res}bp"]
                t = batch["targets"][head]
                t = t.reshape(t.shape[0], -1, res, t.shape[-1]).sum(2)
                parts[f"{head}/{res}bp"] = jnp.mean(p - t * jnp.log(p + 1e-7))
        return sum(parts.values()), parts

    model_mode = TrainMode(remat=args.remat) if forward_of(args.mode, args.forward, args.remat) != "inference" else None
    # log_every=1: the trainer reads the loss back (a sync) only on log steps; between them JAX's async
    # dispatch lets the host prepare and queue batches ahead, so with no log step at all the peak memory
    # grew with --steps (tiny heads, 131,072 bp: 3.5 GiB after 5 steps, 5.7 GiB after 20, 2.6 GiB synced).
    settings = TrainSettings(steps=1 + args.steps, trainable=Trainable(args.mode), augment=augment,
                             optimizer=OptimizerSettings(decay_steps=1 + args.steps), log_every=1,
                             model_mode=model_mode)
    trainer = Trainer(model, loss_fn, settings, targets={h: TargetSpec(h) for h in args.heads}, request=request)
    source = ArraySource(rows, args.batch)
    start = time.perf_counter()
    trainer.fit(source, stop_after=1)
    jax.block_until_ready(trainer.trainable_params())
    first = time.perf_counter() - start
    start = time.perf_counter()
    trainer.fit(source)
    jax.block_until_ready(trainer.trainable_params())
    timed = time.perf_counter() - start
    trainable = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(trainer.trainable_params()))
    # On a GPU the figure that matters is the device's high-water mark, not the host's RSS.
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:
        stats = {}
    device_peak = stats.get("peak_bytes_in_use")
    print(json.dumps({
        "first_step_s": first, "steps_per_s": args.steps / timed, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "device_peak_gib": None if device_peak is None else int(device_peak) / 2**30,
        "trainable": trainable, "platform": jax.devices()[0].platform, "precision": trainer.precision.name,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", default=["heads", "full"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[16_384, 131_072])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--heads", nargs="+", default=["dnase"])
    parser.add_argument("--resolutions", nargs="+", type=int, default=[1, 128])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--forward", choices=["auto", "inference", "train"], default="auto",
                        help="auto (default): as genotile train, the train-mode forward in full mode, inference otherwise")
    parser.add_argument("--remat", action="store_true", help="rematerialise blocks in the train-mode forward")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.mode, args.length = args.child[0], int(args.child[1])
        child(args)
        return
    rows, ran_on, failed = [], set(), False
    for length in args.lengths:
        for mode in args.modes:
            forward = forward_of(mode, args.forward, args.remat)
            lead = f"| {args.size} | {mode} | {forward} | {length:,} |"
            print(f"train_bench: {args.size} {mode} ({forward} forward) {length:,} bp ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, __file__, "--child", mode, str(length), "--size", args.size, "--heads", *args.heads,
                   "--resolutions", *map(str, args.resolutions), "--steps", str(args.steps), "--batch", str(args.batch),
                   "--forward", args.forward, *(["--remat"] if args.remat else [])]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                failed = True
                rows.append(f"{lead} timed out after {args.timeout:.0f} s | | | | |")
                continue
            if done.returncode:
                failed = True
                last = (done.stderr.strip().splitlines() or ["no output"])[-1][:80]
                rows.append(f"{lead} failed: {last} | | | | |")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            ran_on.add(f"{r['precision']} on {r['platform'].upper() if r['platform'] != 'cpu' else 'CPU'}")
            device = "-" if r["device_peak_gib"] is None else f"{r['device_peak_gib']:.2f}"
            rows.append(f"{lead} {r['trainable']:,} | {r['first_step_s']:.1f} | "
                        f"{r['steps_per_s']:.3f} | {r['peak_rss_gib']:.2f} | {device} |")
    print(describe_machine())
    print()
    print(f"Heads {', '.join(args.heads)} at {', '.join(map(str, args.resolutions))} bp, batch {args.batch}, "
          f"{args.steps} timed steps, shift 1,024 + reverse complement, {', '.join(sorted(ran_on)) or 'nothing ran'}.")
    print()
    print("| size | mode | forward | length (bp) | trainable values | first step (s, compile) | steps/s | peak RSS (GiB) "
          "| device peak (GiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
