#!/usr/bin/env python
"""Benchmark genotile's AlphaGenome forward pass: compile time, forward time, peak memory, FLOPs.

For every configuration in the grid (size x length x precision x output
selection) a fresh subprocess builds seeded synthetic weights, compiles the
jitted forward pass for one batch shape, runs it once (warm-up) and then
``--repeats`` more times, and reports:

- ``weights``: generating the synthetic weights and moving them to the device
  (not part of any other timing);
- ``compile``: ``jax.jit(...).lower(...).compile()``;
- ``first``: the first call of the compiled function (buffers, thread pools);
- ``forward``: the median of the ``--repeats`` calls after the first;
- ``peak RSS``: the child process's ``VmHWM`` (host high-water mark, weights
  included) - each configuration runs in its own process, so this is per
  configuration;
- ``GFLOP``: XLA's ``cost_analysis()`` FLOP count of the compiled forward, and
  the achieved GFLOP/s (``GFLOP / forward``); on a GPU also the device's peak
  memory in use and the MFU against ``--peak-tflops``.

The markdown table (with a description of the machine on top) goes to stdout,
progress and errors to stderr, so ``... > table.md`` captures only what goes
into BENCHMARKS.md. ``--json PATH`` also writes every figure, with the
per-stage memory breakdown, as JSON.

Usage::

    python benchmarks/model_forward.py [--sizes tiny full] [--lengths 16384 131072]
        [--precisions float32 bfloat16] [--outputs all 128bp] [--repeats 3]
        [--batch 1] [--timeout 1800] [--peak-tflops 790] [--json results.json]

``--outputs`` takes one or more selections: ``all`` (every head, 1 bp and
128 bp), ``128bp`` (``chip_tf`` and ``chip_histone`` at 128 bp: no decoder, no
1-bp embedder), or ``HEAD[,HEAD...][@RES[,RES]]`` such as
``atac,dnase@128`` or ``contact_maps``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_SIZES = ("tiny", "full")
DEFAULT_LENGTHS = (16_384, 131_072)
SEQUENCE_MULTIPLE = 2048  # the model's length granularity (7 pools of 2, then 16 x 128-bp pair tokens)
PRESETS = {
    "all": (None, (1, 128)),  # None: every head
    "128bp": (("chip_tf", "chip_histone"), (128,)),
}


# --------------------------------------------------------------------------- machine description

from machine import cpu_model, meminfo_gib, package_version, usable_cpus  # noqa: E402
from machine import read_text as _read  # noqa: E402


def probe_devices(timeout: float) -> dict[str, Any]:
    """``jax.devices()`` from a child process: the parent never initialises a backend (it would hold GPU memory)."""
    code = (
        "import json, jax; d = jax.devices(); "
        "print(json.dumps({'platform': d[0].platform, 'devices': [str(x) for x in d], "
        "'kinds': [getattr(x, 'device_kind', '') for x in d]}))"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        return {"platform": "unknown", "devices": [f"probe failed: {type(exc).__name__}"], "kinds": []}


def machine_description(timeout: float) -> dict[str, Any]:
    probe = probe_devices(timeout)
    usable = usable_cpus()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "ram_gib": meminfo_gib("MemTotal"),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "jax": package_version("jax"),
        "jaxlib": package_version("jaxlib"),
        "jax_cuda_plugin": package_version("jax-cuda12-plugin") or package_version("jax-cuda13-plugin"),
        "flax": package_version("flax"),
        "platform": probe["platform"],
        "devices": probe["devices"],
        "device_kinds": sorted(set(probe["kinds"])),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


# --------------------------------------------------------------------------- configurations


@dataclasses.dataclass(frozen=True)
class Config:
    size: str
    length: int
    precision: str
    outputs: str  # the selection as given on the command line
    batch: int
    repeats: int
    seed: int

    @property
    def label(self) -> str:
        return f"{self.size} {self.length:,} bp {self.precision} outputs={self.outputs} batch={self.batch}"


def parse_outputs(spec: str) -> tuple[tuple[str, ...] | None, tuple[int, ...]]:
    """``all`` / ``128bp`` / ``head,head[@res,res]`` -> (heads or None for all, resolutions)."""
    if spec in PRESETS:
        return PRESETS[spec]
    heads_part, _, res_part = spec.partition("@")
    heads = tuple(h.strip() for h in heads_part.split(",") if h.strip())
    resolutions = tuple(int(r) for r in res_part.split(",")) if res_part else (1, 128)
    if not heads:
        raise ValueError(f"output selection {spec!r} names no head")
    return heads, resolutions


# --------------------------------------------------------------------------- the child: one configuration


def _status_kib(field: str) -> int | None:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def peak_rss_bytes() -> int:
    """High-water mark of this process's resident set (VmHWM; getrusage where /proc is missing)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def current_rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def xla_flops(compiled: Any) -> float | None:
    """The ``flops`` of ``compiled.cost_analysis()``, a dict or (older jax) a list of dicts."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # some backends do not implement it
        return None
    if isinstance(cost, (list, tuple)):
        cost = next((c for c in cost if c), None)
    if not cost or "flops" not in cost:
        return None
    return float(cost["flops"])


def memory_analysis(compiled: Any) -> dict[str, int]:
    try:
        mem = compiled.memory_analysis()
    except Exception:
        return {}
    if mem is None:
        return {}
    fields = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes", "generated_code_size_in_bytes")
    return {f: int(getattr(mem, f)) for f in fields if hasattr(mem, f)}


def run_one(cfg: Config) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from genotile.model.alphagenome import AlphaGenome, OutputRequest
    from genotile.model.checkpoints import synthetic_variables
    from genotile.model.config import get_config, get_precision
    from genotile.model.layout import default_track_means
    from genotile.outputs import MODEL_HEADS

    result: dict[str, Any] = {"rss_start": current_rss_bytes()}
    model_cfg = get_config(cfg.size)
    heads, resolutions = parse_outputs(cfg.outputs)
    request = OutputRequest(heads=heads or MODEL_HEADS, resolutions=resolutions)
    module = AlphaGenome(model_cfg, get_precision(cfg.precision))
    means = default_track_means(model_cfg)

    t0 = time.perf_counter()
    variables = synthetic_variables(model_cfg, cfg.seed)
    t1 = time.perf_counter()
    variables = jax.block_until_ready(jax.device_put(variables))
    t2 = time.perf_counter()
    result.update(weights_generate_s=t1 - t0, weights_device_put_s=t2 - t1, weights_s=t2 - t0)
    result.update(rss_after_weights=current_rss_bytes(), peak_rss_after_weights=peak_rss_bytes())

    rng = np.random.default_rng(cfg.seed)
    bases = rng.integers(0, 4, size=(cfg.batch, cfg.length))
    dna = jax.device_put(np.eye(4, dtype=np.float32)[bases])
    organisms = jax.device_put(np.zeros((cfg.batch,), np.int32))

    t0 = time.perf_counter()
    compiled = jax.jit(lambda v, x, o: module.apply(v, x, o, means, request)).lower(variables, dna, organisms).compile()
    result["compile_s"] = time.perf_counter() - t0
    result["flops"] = xla_flops(compiled)
    result["memory_analysis"] = memory_analysis(compiled)
    result["peak_rss_after_compile"] = peak_rss_bytes()

    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(variables, dna, organisms))
    result["first_s"] = time.perf_counter() - t0
    leaves = jax.tree.leaves(out)
    result["output_values"] = int(sum(x.size for x in leaves))
    result["outputs_finite"] = bool(
        all(bool(jnp.isfinite(x).all()) for x in leaves if jnp.issubdtype(x.dtype, jnp.floating))
    )
    del out, leaves

    times = []
    for _ in range(cfg.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(variables, dna, organisms))
        times.append(time.perf_counter() - t0)
    result["forward_times_s"] = times
    result["forward_s"] = statistics.median(times) if times else result["first_s"]
    result["peak_rss"] = peak_rss_bytes()

    device = jax.devices()[0]
    result["platform"] = device.platform
    try:
        stats = device.memory_stats() or {}
    except Exception:
        stats = {}
    if "peak_bytes_in_use" in stats:
        result["device_peak_bytes"] = int(stats["peak_bytes_in_use"])
    return result


def child_main(spec: str, result_path: str) -> int:
    cfg = Config(**json.loads(spec))
    result = run_one(cfg)
    Path(result_path).write_text(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- the parent: the grid


def run_config(cfg: Config, timeout: float) -> dict[str, Any]:
    """Run one configuration in its own process (own process group, killed as a whole on timeout)."""
    with tempfile.TemporaryDirectory(prefix="genotile-bench-") as tmp:
        result_path = os.path.join(tmp, "result.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--_child", json.dumps(dataclasses.asdict(cfg)), result_path]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"status": "timeout", "error": f"timed out after {timeout:g} s", "wall_s": time.perf_counter() - start}
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not os.path.exists(result_path):
            tail = "\n".join((log or "").strip().splitlines()[-15:])
            reason = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
            if proc.returncode == -signal.SIGKILL:
                reason += " (killed: out of memory?)"
            return {"status": "failed", "error": reason, "log_tail": tail, "wall_s": wall}
        result = json.loads(Path(result_path).read_text())
    result.update(status="ok", wall_s=wall)
    return result


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def markdown(machine: dict[str, Any], rows: list[tuple[Config, dict[str, Any]]], peak_tflops: float) -> str:
    gpu = machine["platform"] in ("gpu", "cuda", "rocm")
    ram = machine["ram_gib"]
    lines = [
        f"Machine: {machine['host_cpu']}, {machine['cpu_count']} cores ({machine['cpus_usable']} usable), "
        f"{_fmt(ram, '.1f')} GiB RAM; {machine['os']}; Python {machine['python']}",
        "",
        f"- jax {machine['jax']}, jaxlib {machine['jaxlib']}"
        + (f", jax-cuda plugin {machine['jax_cuda_plugin']}" if machine["jax_cuda_plugin"] else "")
        + f", flax {machine['flax']}",
        f"- devices ({machine['platform']}): {', '.join(machine['devices'])}"
        + (f" [{', '.join(machine['device_kinds'])}]" if machine["device_kinds"] else ""),
        f"- date: {machine['date']}" + (f"; XLA_FLAGS={machine['xla_flags']}" if machine["xla_flags"] else ""),
        "",
    ]
    header = ["size", "length (bp)", "precision", "outputs", "batch", "weights", "compile", "first call",
              "forward (median)", "peak RSS (GiB)", "GFLOP (XLA)", "GFLOP/s"]
    if gpu:
        header += ["device peak (GiB)", f"MFU (vs {peak_tflops:g} TFLOP/s)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" if i < 5 else "---:" for i in range(len(header))) + "|")
    for cfg, r in rows:
        cells = [cfg.size, f"{cfg.length:,}", cfg.precision, cfg.outputs, str(cfg.batch)]
        if r["status"] != "ok":
            cells += [r["status"] + ": " + r["error"]] + [""] * (len(header) - len(cells) - 1)
        else:
            flops, fwd = r.get("flops"), r["forward_s"]
            rate = flops / fwd if flops is not None and fwd > 0 else None
            cells += [
                _time(r["weights_s"]),
                _time(r["compile_s"]),
                _time(r["first_s"]),
                _time(fwd) + ("" if r.get("outputs_finite", True) else " (non-finite outputs!)"),
                f"{r['peak_rss'] / 2**30:.2f}",
                _fmt(None if flops is None else flops / 1e9, ",.1f"),
                _fmt(None if rate is None else rate / 1e9, ",.1f"),
            ]
            if gpu:
                dev = r.get("device_peak_bytes")
                cells.append(_fmt(None if dev is None else dev / 2**30, ".2f"))
                cells.append(_fmt(None if rate is None else 100 * rate / (peak_tflops * 1e12), ".1f") + ("%" if rate else ""))
        lines.append("| " + " | ".join(cells) + " |")
    repeats = {cfg.repeats for cfg, _ in rows}
    lines += [
        "",
        f"forward = median of the {'/'.join(map(str, sorted(repeats)))} timed call(s) after the first; weights = seeded synthetic "
        "weights generated on the host and put on the device (excluded from the other timings); peak RSS = the "
        "configuration's own process's VmHWM (host memory, weights included); GFLOP = XLA cost_analysis() of the "
        "compiled forward.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), choices=["tiny", "full"], help="model sizes (default: tiny full)")
    p.add_argument("--lengths", nargs="+", type=int, default=list(DEFAULT_LENGTHS), help="sequence lengths in bp (default: 16384 131072)")
    p.add_argument("--precisions", nargs="+", default=["float32"], choices=["float32", "bfloat16"], help="numeric policies (default: float32)")
    p.add_argument("--outputs", nargs="+", default=["all"],
                   help="output selections: 'all', '128bp' (chip_tf, chip_histone at 128 bp) or HEAD[,HEAD][@RES[,RES]] (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="timed forward calls after the first; the median is reported (default: 3)")
    p.add_argument("--batch", type=int, default=1, help="sequences per forward call (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights and the random DNA (default: 0)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per configuration, weights included (default: 1800)")
    p.add_argument("--peak-tflops", type=float, default=790.0, help="peak TFLOP/s for the MFU column on a GPU (default: 790)")
    p.add_argument("--json", metavar="PATH", help="also write machine description and every figure as JSON")
    args = p.parse_args(argv)
    for length in args.lengths:
        if length <= 0 or length % SEQUENCE_MULTIPLE:
            p.error(f"--lengths: {length} is not a positive multiple of {SEQUENCE_MULTIPLE}")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if args.batch < 1:
        p.error("--batch must be at least 1")
    from genotile.model.alphagenome import OutputRequest  # validates head names without starting a backend

    for spec in args.outputs:
        try:
            heads, resolutions = parse_outputs(spec)
            if heads is not None:
                OutputRequest(heads=heads, resolutions=resolutions)
        except ValueError as exc:
            p.error(f"--outputs {spec!r}: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_child"]:
        return child_main(argv[1], argv[2])
    args = parse_args(argv)
    machine = machine_description(min(args.timeout, 300))
    configs = [
        Config(size, length, precision, outputs, args.batch, args.repeats, args.seed)
        for size in args.sizes
        for length in args.lengths
        for precision in args.precisions
        for outputs in args.outputs
    ]
    rows = []
    for i, cfg in enumerate(configs, 1):
        print(f"[{i}/{len(configs)}] {cfg.label} ...", file=sys.stderr, flush=True)
        result = run_config(cfg, args.timeout)
        if result["status"] == "ok":
            print(f"    compile {_time(result['compile_s'])}, forward {_time(result['forward_s'])}, "
                  f"peak RSS {result['peak_rss'] / 2**30:.2f} GiB ({result['wall_s']:.1f} s wall)", file=sys.stderr, flush=True)
        else:
            print(f"    {result['status']}: {result['error']}", file=sys.stderr, flush=True)
            if result.get("log_tail"):
                print("    " + result["log_tail"].replace("\n", "\n    "), file=sys.stderr, flush=True)
        rows.append((cfg, result))
    print(markdown(machine, rows, args.peak_tflops))
    if args.json:
        payload = {
            "machine": machine,
            "peak_tflops": args.peak_tflops,
            "results": [dict(dataclasses.asdict(cfg), **result) for cfg, result in rows],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0 if all(r["status"] == "ok" for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
