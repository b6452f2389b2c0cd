#!/usr/bin/env python
"""Data-parallel scaling of the Predictor over local devices: windows per second for 1, 2, 4 ... devices.

Each device count runs in its own subprocess (JAX fixes its devices at start-up). On a CPU the
devices are virtual (``XLA_FLAGS=--xla_force_host_platform_device_count=N``) and share the
machine's cores, so the figure shows the sharding's overhead and how far the cores carry it, not
GPU scaling; on a multi-GPU machine pass ``--real`` to use the GPUs it has (1..all of them, through
``CUDA_VISIBLE_DEVICES``). Every run also checks that its outputs equal the 1-device run's bytes.

Usage::

    python benchmarks/multi_device.py [--devices 1 2 4] [--size tiny] [--length 131072]
        [--windows-per-pass 8] [--passes 3] [--real]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe_machine  # noqa: E402

CHILD = r"""
import hashlib, json, sys, time
import jax, numpy as np
from genotile.model.predictor import Predictor
from genotile.model.checkpoints import synthetic_model
from genotile.model.alphagenome import OutputRequest
size, length, per_pass, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
predictor = Predictor(synthetic_model(size, 0), None, precision="bfloat16" if jax.default_backend() == "gpu" else "float32")
rng = np.random.default_rng(0)
dna = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (per_pass, length))]
request = OutputRequest(heads=("dnase", "rna_seq"), resolutions=(128,))
t0 = time.perf_counter()
first = predictor.predict(dna, 0, request)
compile_s = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(passes):
    predictor.predict(dna, 0, request)
seconds = (time.perf_counter() - t0) / passes
digest = hashlib.sha256(b"".join(np.ascontiguousarray(first[k]).tobytes() for k in sorted(first))).hexdigest()
print(json.dumps({"devices": predictor.device_count, "backend": jax.default_backend(), "compile_s": compile_s,
                  "seconds_per_pass": seconds, "windows_per_s": per_pass / seconds, "digest": digest}))
"""


def run(devices: int, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    if args.real:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(devices))
    else:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
        env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run([sys.executable, "-c", CHILD, args.size, str(args.length), str(args.windows_per_pass),
                           str(args.passes)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--size", default="tiny", choices=["tiny", "full"])
    parser.add_argument("--length", type=int, default=131_072)
    parser.add_argument("--windows-per-pass", type=int, default=8)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="use real accelerators instead of virtual CPU devices")
    args = parser.parse_args()
    results = []
    for n in args.devices:
        print(f"{n} device(s) ...", file=sys.stderr, flush=True)
        results.append(run(n, args))
    print(describe_machine())
    print(f"\n{args.size} model, {args.length:,} bp windows, {args.windows_per_pass} windows per pass, "
          f"{'real' if args.real else 'virtual CPU'} devices, backend {results[0]['backend']}.\n")
    print("| devices | compile + first pass (s) | s / pass | windows/s | speed-up | same bytes as 1 device |")
    print("|---:|---:|---:|---:|---:|---|")
    base = results[0]
    for r in results:
        print(f"| {r['devices']} | {r['compile_s']:.1f} | {r['seconds_per_pass']:.2f} | {r['windows_per_s']:.2f} | "
              f"{r['windows_per_s'] / base['windows_per_s']:.2f} | {'yes' if r['digest'] == base['digest'] else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
