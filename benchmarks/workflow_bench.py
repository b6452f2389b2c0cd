#!/usr/bin/env python
"""Benchmark genotile's workflow around the model: stitching into Zarr, the Snakemake DAG, windows/s.

Three measurements, each selectable by flag (all three when none is given):

``--stitch``
    Zarr write throughput of ``write_window`` for a synthetic genome (default 2 contigs of
    16,000,000 bp; tiling 1,048,576 / owned 524,288, chunk_bp 524,288; ``dnase`` at 1 bp x 8
    tracks and ``chip_tf`` at 128 bp x 256 tracks, float32). Full-window lognormal predictions
    are generated before any timing (a small pool of seeded arrays, reused round-robin); only
    ``write_window(path, window, {key: full})`` (which crops to the owned bins) is timed. The very
    same owned-region bytes are written with raw numpy, one file per window
    (``ndarray.tofile``), without and with ``os.fsync``. ``--stitch-repeats`` interleaved passes
    per writer. Reports MB/s of every pass, best and median, the ratio zarr/raw, zarr plus an
    fsync of its chunk files, zstd alone, and the store's size on disk against its
    uncompressed size.

``--dag``
    ``snakemake -n`` of the whole-genome DAG for hg38's primary contigs (chr1..chr22, chrX, chrY,
    chrM; lengths below) in a temporary copy of the workflow. The FASTA is a stub whose ``.fai``
    lists the real lengths; the checkpoint's outputs (``windows.tsv``, ``storage_report.txt``)
    are generated here with ``genotile.tracks.tiling.tile_windows`` + ``windows_table`` and made newer
    than the FASTA, so the dry run expands every batch. Reports the wall time, jobs per rule (the
    dry run's job stats), windows, batches, and the files the run would create.

``--windows``
    Tiny-model (seeded synthetic weights, the demo config's ``model:`` and ``tracks:``) windows
    per second on the CPU for 16,384, 131,072 and 1,048,576 bp windows: first call (trace +
    compile + one run), then the mean over ``N`` further windows, and peak RSS. Each length runs
    in its own subprocess (so its peak RSS is its own), killed if it passes ``--max-rss-gb``
    or ``--timeout``.

The markdown report (machine description on top) goes to stdout, progress to stderr;
``--json PATH`` also writes every figure as JSON.

Usage::

    python benchmarks/workflow_bench.py [--stitch] [--dag] [--windows] [--json PATH]
        [--tmpdir DIR] [--contigs 2] [--contig-bp 16000000] [--stitch-repeats 3] [--dag-repeats 2]
        [--lengths 16384 131072 1048576] [--n-windows 8 4 2] [--max-rss-gb 5] [--timeout 300]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: GRCh38 primary-assembly chromosome lengths (UCSC hg38 chrom.sizes; no alts, randoms or chrUn).
HG38 = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555,
    "chr5": 181_538_259, "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636,
    "chr9": 138_394_717, "chr10": 133_797_422, "chr11": 135_086_622, "chr12": 133_275_309,
    "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189, "chr16": 90_338_345,
    "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616, "chr20": 64_444_167,
    "chr21": 46_709_983, "chr22": 50_818_468, "chrX": 156_040_895, "chrY": 57_227_415,
    "chrM": 16_569,
}  # fmt: skip

MB = 1e6


def progress(message: str) -> None:
    print(f"[workflow_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine description

from machine import cpu_model, meminfo_gib, package_version, usable_cpus  # noqa: E402
from machine import read_text as _read  # noqa: E402


def filesystem(path: Path) -> str:
    """Device and type of the filesystem holding ``path`` (from /proc/mounts; longest matching mount point)."""
    best = ("?", "?", "")
    path = path.resolve()
    for line in _read("/proc/mounts").splitlines():
        fields = line.split()
        if len(fields) >= 3 and (path == Path(fields[1]) or Path(fields[1]) in path.parents):
            if len(fields[1]) >= len(best[2]):
                best = (fields[0], fields[2], fields[1])
    return f"{best[1]} ({best[0]} on {best[2]})"


def machine_description(tmpdir: Path) -> dict[str, Any]:
    usable = usable_cpus()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "ram_gib": meminfo_gib("MemTotal"),
        "ram_available_gib": meminfo_gib("MemAvailable"),
        "load_average": os.getloadavg(),
        "os": f"{platform.system()} {platform.release()}",
        "tmpdir": str(tmpdir),
        "tmpdir_filesystem": filesystem(tmpdir),
        "disk_free_gb": shutil.disk_usage(tmpdir).free / 1e9,
        "python": platform.python_version(),
        "genotile": package_version("genotile"),
        "zarr": package_version("zarr"),
        "xarray": package_version("xarray"),
        "numpy": package_version("numpy"),
        "numcodecs": package_version("numcodecs"),
        "snakemake": package_version("snakemake"),
        "jax": package_version("jax"),
        "jaxlib": package_version("jaxlib"),
    }


def format_machine(m: dict[str, Any]) -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in m["load_average"])
    return [
        "## Machine",
        "",
        f"- date: {m['date']}",
        f"- CPU: {m['cpu']}; {m['cpu_count']} logical cores ({m['cpus_usable']} usable by this process)",
        f"- RAM: {m['ram_gib']:.1f} GiB ({m['ram_available_gib']:.1f} GiB available at start); "
        f"load average at start: {load}",
        f"- OS: {m['os']}; scratch: {m['tmpdir']} on {m['tmpdir_filesystem']}, {m['disk_free_gb']:.0f} GB free",
        f"- Python {m['python']}; genotile {m['genotile']}, zarr {m['zarr']}, xarray {m['xarray']}, numpy {m['numpy']}, "
        f"numcodecs {m['numcodecs']}, snakemake {m['snakemake']}, jax {m['jax']} (jaxlib {m['jaxlib']})",
        "",
    ]


def table(header: list[str], rows: list[list[Any]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def tree_size(path: Path) -> tuple[int, int, int]:
    """(files, directories, bytes of the files) under ``path``."""
    files = dirs = size = 0
    for base, dirnames, filenames in os.walk(path):
        dirs += len(dirnames)
        for name in filenames:
            files += 1
            size += os.lstat(os.path.join(base, name)).st_size
    return files, dirs, size


def drop_page_cache_writes() -> None:
    """Flush dirty pages before a timed pass so each pass starts from the same state (not timed)."""
    os.sync()


# --------------------------------------------------------------------------- 1. stitch + zarr write


def stitch_bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import statistics

    import numpy as np
    import pandas as pd

    from genotile.tracks.store import ZSTD_LEVEL, TrackSet, create_store, crop_to_owned, estimate_bytes, write_window
    from genotile.tracks.tiling import tile_windows

    contigs = {f"bench{i + 1}": int(args.contig_bp) for i in range(args.contigs)}
    windows = tile_windows(contigs, args.window_bp, args.owned_bp)
    specs = [("dnase", 1, args.dnase_tracks), ("chip_tf", 128, args.chip_tracks)]
    tracksets = [
        TrackSet(head, res, pd.DataFrame({"track_index": np.arange(n, dtype=np.int64), "name": [f"track_{i}" for i in range(n)]}))
        for head, res, n in specs
    ]
    store = tmp / "stitch" / "tracks.zarr"
    raw_dir = tmp / "stitch" / "raw"
    progress(f"stitch: {len(windows)} windows over {len(contigs)} contigs of {args.contig_bp:,} bp, "
             f"{args.stitch_repeats} pass(es) per writer")

    # Full-window predictions, generated before any timing: a pool of seeded arrays, window i uses pool[i % pool]
    # (every window has the same shape; keeps generation out of the loop and memory small).
    def full_window(seed: int, ts: TrackSet) -> np.ndarray:
        """Realistic-ish values: lognormal exp(N(-1, 1.2^2)) (median ~0.37, long right tail), dense float32."""
        rng = np.random.default_rng([args.seed, seed, ts.resolution])
        x = rng.standard_normal((args.window_bp // ts.resolution, ts.n_tracks), dtype=np.float32)
        np.multiply(x, np.float32(1.2), out=x)
        np.add(x, np.float32(-1.0), out=x)
        return np.exp(x, out=x)

    t0 = time.perf_counter()
    pool = [{ts.key: full_window(k, ts) for ts in tracksets} for k in range(min(args.pool, len(windows)))]
    generate_s = time.perf_counter() - t0
    pool_bytes = sum(a.nbytes for full in pool for a in full.values())

    def full(i: int) -> dict[tuple[str, int], np.ndarray]:
        return pool[i % len(pool)]

    nbytes = sum(crop_to_owned(w, a, key[1]).nbytes for i, w in enumerate(windows) for key, a in full(i).items())

    def zarr_pass() -> tuple[float, float, list[float]]:
        shutil.rmtree(store, ignore_errors=True)
        create_store(store, contigs, tracksets, args.chunk_bp, {"benchmark": "workflow_bench"}, owned_bp=args.owned_bp)
        drop_page_cache_writes()
        per_window = []
        for i, w in enumerate(windows):
            arrays = full(i)
            t = time.perf_counter()
            write_window(store, w, arrays)  # full-window arrays: write_window crops to the owned bins
            per_window.append(time.perf_counter() - t)
        t = time.perf_counter()
        for base, _, names in os.walk(store):
            for name in names:
                if name != "zarr.json":
                    fd = os.open(os.path.join(base, name), os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        return sum(per_window), time.perf_counter() - t, per_window

    def raw_pass(sync: bool) -> float:
        shutil.rmtree(raw_dir, ignore_errors=True)
        raw_dir.mkdir(parents=True)
        drop_page_cache_writes()
        total = 0.0
        for i, w in enumerate(windows):
            arrays = full(i)
            t = time.perf_counter()
            with open(raw_dir / f"window_{i:05d}.bin", "wb") as handle:
                for key, a in arrays.items():
                    crop_to_owned(w, a, key[1]).tofile(handle)
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
            total += time.perf_counter() - t
        shutil.rmtree(raw_dir, ignore_errors=True)
        return total

    t0 = time.perf_counter()
    create_store(store, contigs, tracksets, args.chunk_bp, {"benchmark": "workflow_bench"}, owned_bp=args.owned_bp)
    create_s = time.perf_counter() - t0
    passes: dict[str, list[float]] = {"zarr": [], "zarr_fsync": [], "raw": [], "raw_fsync": []}
    per_window: list[float] = []
    for rep in range(args.stitch_repeats):  # interleaved, so drifting machine state hits every writer alike
        write_s, fsync_s, per_window = zarr_pass()
        passes["zarr"].append(write_s)
        passes["zarr_fsync"].append(write_s + fsync_s)
        passes["raw"].append(raw_pass(False))
        passes["raw_fsync"].append(raw_pass(True))
        progress("stitch: pass {}: ".format(rep + 1)
                 + ", ".join(f"{k} {nbytes / MB / v[-1]:,.0f} MB/s" for k, v in passes.items()))
    files, dirs, disk = tree_size(store)
    data_files = [Path(b) / f for b, _, fs in os.walk(store) for f in fs if "/predictions/c" in f"{b}/"]
    data_disk = sum(f.stat().st_size for f in data_files)
    uncompressed = sum(estimate_bytes(contigs, tracksets).values())
    shutil.rmtree(store, ignore_errors=True)

    # zstd alone on the same owned arrays (the store's codec and level), to show where zarr's time goes
    zstd_mbs = None
    try:
        import numcodecs

        codec = numcodecs.Zstd(level=ZSTD_LEVEL)
        sample = windows[: len(pool)]
        owned = [np.ascontiguousarray(crop_to_owned(w, a, key[1])) for i, w in enumerate(sample) for key, a in full(i).items()]
        t0 = time.perf_counter()
        for a in owned:
            codec.encode(a)
        zstd_mbs = sum(a.nbytes for a in owned) / MB / (time.perf_counter() - t0)
        del owned
    except ImportError:  # pragma: no cover
        pass

    return {
        "contigs": contigs,
        "window_bp": args.window_bp,
        "owned_bp": args.owned_bp,
        "chunk_bp": args.chunk_bp,
        "tracksets": [{"head": h, "resolution": r, "n_tracks": n, "dtype": "float32"} for h, r, n in specs],
        "windows": len(windows),
        "pool": len(pool),
        "pool_bytes": pool_bytes,
        "generate_s": generate_s,
        "bytes_written": nbytes,
        "create_store_s": create_s,
        "passes_s": passes,
        "zarr_window_median_s": statistics.median(per_window),
        "zstd_only_mb_s": zstd_mbs,
        "store_files": files,
        "store_dirs": dirs,
        "store_bytes_on_disk": disk,
        "chunk_files": len(data_files),
        "chunk_bytes": data_disk,
        "uncompressed_bytes": uncompressed,
    }


def format_stitch(r: dict[str, Any]) -> list[str]:
    import statistics

    n = r["bytes_written"] / MB
    p = r["passes_s"]
    best = {k: min(v) for k, v in p.items()}
    med = {k: statistics.median(v) for k, v in p.items()}
    labels = {
        "zarr": "zarr `write_window` (as predict_batch: no fsync)",
        "zarr_fsync": "zarr `write_window`, then fsync of every chunk file",
        "raw": "raw numpy `tofile`, 1 file per window, no fsync",
        "raw_fsync": "raw numpy `tofile` + `os.fsync` per file",
    }
    rows = [
        [labels[k], ", ".join(f"{n / s:,.0f}" for s in p[k]), f"{best[k]:.2f}", f"**{n / best[k]:,.0f}**", f"{n / med[k]:,.0f}"]
        for k in labels
    ]
    ts = ", ".join(f"{t['head']} at {t['resolution']} bp x {t['n_tracks']} tracks" for t in r["tracksets"])
    contigs = r["contigs"]
    return [
        "## 1. Stitch + Zarr write throughput",
        "",
        f"Synthetic genome: {len(contigs)} contigs x {next(iter(contigs.values())):,} bp; tiling window "
        f"{r['window_bp']:,} / owned {r['owned_bp']:,} bp, chunk_bp {r['chunk_bp']:,} -> {r['windows']} windows. "
        f"Track sets: {ts}; float32. Full-window predictions are lognormal, exp(N(-1, 1.2^2)): dense floats with random "
        f"mantissas, close to the worst case for compression. {r['pool']} seeded full-window arrays "
        f"({r['pool_bytes'] / MB:,.0f} MB, generated in {r['generate_s']:.1f} s, not timed) are reused round-robin; "
        f"each writer gets the very same owned-region bytes, {n:,.0f} MB per pass. Only the write calls are timed "
        f"(`write_window(path, window, {{key: full}})`, which crops; for raw, `crop_to_owned(...).tofile` "
        f"into one file per window). Each pass writes fresh files after `os.sync()`; the writers' passes are interleaved. "
        f"Without fsync the figures are page-cache writes; on a shared VM they vary a lot from pass to pass (page-cache "
        f"allocation, writeback of other processes' data), hence every pass, the best and the median.",
        "",
        *table(["writer", "MB/s of each pass", "best s", "best MB/s", "median MB/s"], rows),
        "",
        f"- ratio zarr / raw throughput, no fsync on either side: **{best['raw'] / best['zarr']:.2f}** (best), "
        f"{med['raw'] / med['zarr']:.2f} (median); with fsync on both sides: **{best['raw_fsync'] / best['zarr_fsync']:.2f}** "
        f"(best), {med['raw_fsync'] / med['zarr_fsync']:.2f} (median)",
        "- zstd level 3 alone on the same owned arrays (numcodecs, one thread): "
        + (f"{r['zstd_only_mb_s']:,.0f} MB/s" if r["zstd_only_mb_s"] else "n/a"),
        f"- median `write_window` per window (last pass): {r['zarr_window_median_s'] * 1e3:,.0f} ms; `create_store` "
        f"(metadata only): {r['create_store_s']:.2f} s",
        f"- store size: {r['chunk_bytes'] / MB:,.1f} MB in {r['chunk_files']} chunk files (whole store "
        f"{r['store_bytes_on_disk'] / MB:,.1f} MB, {r['store_files']} files, {r['store_dirs']} directories) vs "
        f"{r['uncompressed_bytes'] / MB:,.1f} MB uncompressed (`estimate_bytes`): compressed / uncompressed = "
        f"**{r['chunk_bytes'] / r['uncompressed_bytes']:.3f}**",
        "",
    ]


# --------------------------------------------------------------------------- 2. whole-genome DAG dry run


def copy_workflow(target: Path) -> Path:
    """As tests/workflow/test_workflow.py: Snakefile, workflow/, config/, envs/ and scripts/ into a fresh folder."""
    target.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", target / "Snakefile")
    for folder in ("workflow", "config", "envs", "scripts"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


def write_stub_fasta(path: Path, contigs: dict[str, int]) -> None:
    """A tiny FASTA (4 bp per contig) whose .fai claims the real lengths: enough for a dry run, never read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text, fai, offset = [], [], 0
    for name, length in contigs.items():
        header = f">{name}\n"
        offset += len(header)
        text.append(header + "NNNN\n")
        fai.append(f"{name}\t{length}\t{offset}\t60\t61\n")
        offset += 5
    path.write_text("".join(text))
    Path(str(path) + ".fai").write_text("".join(fai))


def deep_update(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_update(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_job_stats(text: str) -> dict[str, int]:
    """The dry run's 'Job stats:' table: {rule: count, ..., 'total': n}."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.strip() == "Job stats:":
            break
    else:
        return {}
    stats: dict[str, int] = {}
    for line in lines[start + 1 :]:
        fields = line.split()
        if not fields:
            if stats:
                break
            continue
        if fields[0] in ("job", "count") or set(fields[0]) == {"-"}:
            continue
        if len(fields) >= 2 and fields[-1].isdigit():
            stats[fields[0]] = int(fields[-1])
        elif stats:
            break
    return stats


def dag_bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import numpy as np
    import yaml

    from genotile.model.config import get_config
    from genotile.model.metadata import organism_index
    from genotile.settings import SelectionSettings
    from genotile.tracks.selection import resolve_selection, write_selection
    from genotile.tracks.steps import resolve_track_selection, storage_report
    from genotile.tracks.store import TARGET_CHUNK_BYTES, create_store, estimate_bytes, n_bins
    from genotile.tracks.tiling import tile_windows, windows_table

    base = tmp / "dag"
    workdir = copy_workflow(base / "wf")
    results = base / "results"
    fasta = base / "genome" / "hg38_stub.fa"
    write_stub_fasta(fasta, HG38)
    old = time.time() - 3600
    os.utime(fasta, (old, old))
    os.utime(str(fasta) + ".fai", (old, old))
    defaults = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)

    def prepare(run: str, contigs: list[str]) -> tuple[Path, dict[str, Any], Any, float]:
        """Config file for one run, and the checkpoint's outputs as plan_windows would write them (no all-N windows)."""
        overrides = {
            "run": run,
            "results": str(results),
            "genome": {"fasta": str(fasta)},
            "tiling": {"window_bp": args.dag_window_bp, "owned_bp": args.dag_owned_bp, "contigs": contigs,
                       "contig_regex": None, "regions_bed": None, "windows_per_batch": args.windows_per_batch},
            "store": {"chunk_bp": args.dag_chunk_bp},
            "tracks": [{"output": "dnase", "resolutions": [128], "indices": [0, 1, 2, 3]}],
            "export": {"bigwig": True},
        }
        extra = base / f"{run}.yaml"
        config = deep_update(defaults, overrides)
        extra.write_text(yaml.safe_dump(config, sort_keys=False))  # a whole config: --configfile replaces none
        selected = {name: HG38[name] for name in contigs} if contigs else HG38
        t0 = time.perf_counter()
        frame = windows_table(tile_windows(selected, args.dag_window_bp, args.dag_owned_bp), HG38, args.windows_per_batch)
        frame["all_n"] = False
        plan_s = time.perf_counter() - t0
        run_dir = results / run
        run_dir.mkdir(parents=True)
        frame.to_csv(run_dir / "windows.tsv", sep="\t", index=False)
        selection = resolve_track_selection(SelectionSettings.from_config(config))
        write_selection(selection, str(run_dir / "track_selection.tsv"))
        (run_dir / "storage_report.txt").write_text(
            f"{len(frame)} windows of {args.dag_window_bp:,} bp (owned {args.dag_owned_bp:,} bp) over {len(selected)} "
            f"contig(s), {frame['batch'].nunique()} batch(es); 0 all-N window(s) will be skipped\n\n"
            f"{storage_report(selection, config['model']['size'], selected)}\n"
        )
        return extra, config, frame, plan_s

    def dry_run(label: str, flags: list[str], extra: Path) -> tuple[dict[str, Any], dict[str, int]]:
        cmd = [str(BIN / "snakemake"), *flags, "--cores", "1", "--configfile", str(extra)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=args.timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"snakemake {' '.join(flags)} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-3000:]}")
        stats = parse_job_stats(proc.stdout + "\n" + proc.stderr)
        if not stats:
            raise RuntimeError(f"no 'Job stats:' table in the output of snakemake {' '.join(flags)}")
        if "plan_windows" in stats:
            raise RuntimeError("the dry run would re-run the plan_windows checkpoint: the DAG behind it was not expanded")
        progress(f"dag: snakemake {label}: {wall:.1f} s, {stats.get('total')} jobs")
        return {"flags": label, "wall_s": wall, "jobs": stats.get("total"),
                "output_lines": len((proc.stdout + proc.stderr).splitlines())}, stats

    extra, config, frame, plan_s = prepare("hg38_bench", [])
    n_windows, n_batches = len(frame), int(frame["batch"].nunique())
    progress(f"dag: {n_windows} windows, {n_batches} batches; dry-running snakemake")
    runs = []
    stats: dict[str, int] = {}
    for label, flags in [("-n --quiet rules", ["-n", "--quiet", "rules"])] * args.dag_repeats + [("-n", ["-n"])]:
        result, parsed = dry_run(label, flags, extra)
        runs.append(result)
        stats = stats or parsed
    # the fixed cost (interpreter, snakemake import, parsing, config validation): the same workflow for chrM only
    small_extra, _, small, _ = prepare("hg38_chrM_only", ["chrM"])
    baselines = [dry_run(f"-n --quiet rules (chrM only: {len(small)} window)", ["-n", "--quiet", "rules"], small_extra)[0]
                 for _ in range(args.dag_repeats)]
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "snakemake"), "--version"], cwd=workdir, env=env, capture_output=True, timeout=args.timeout, check=True)
    startup = {"flags": "--version", "wall_s": time.perf_counter() - t0, "jobs": "", "output_lines": 1}

    # files the run would create
    selection = resolve_selection(config["tracks"], get_config(config["model"]["size"]), None,
                                  organism_index(config["organism"]), dtype=config["store"]["dtype"])
    chunk_bp = args.dag_chunk_bp
    trackset_rows = []
    chunk_files_exact = chunk_files_est = 0
    sizes = estimate_bytes(HG38, selection.tracksets)
    for ts in selection.tracksets:
        rows = chunk_bp // ts.resolution
        row_bytes = rows * np.dtype(ts.dtype).itemsize
        track_chunk = max(1, min(ts.n_tracks, TARGET_CHUNK_BYTES // row_bytes))  # as create_store's default
        chunk_bytes = rows * track_chunk * np.dtype(ts.dtype).itemsize
        track_blocks = math.ceil(ts.n_tracks / track_chunk)
        exact = sum(math.ceil(n_bins(length, ts.resolution) / rows) * track_blocks for length in HG38.values())
        est = math.ceil(sizes[ts.key] / chunk_bytes)
        chunk_files_exact += exact
        chunk_files_est += est
        trackset_rows.append({"group": ts.group, "n_tracks": ts.n_tracks, "chunk": [rows, track_chunk], "chunk_bytes": chunk_bytes,
                              "bytes": sizes[ts.key], "chunk_files_estimate": est, "chunk_files_exact": exact})
    meta_store = base / "metadata_only.zarr"
    create_store(meta_store, HG38, selection.tracksets, chunk_bp, {"benchmark": "workflow_bench"}, owned_bp=args.dag_owned_bp)
    meta_files, meta_dirs, _ = tree_size(meta_store)
    bigwigs = sum(ts.n_tracks for ts in selection.tracksets)
    jobs_total = stats.get("total", sum(v for k, v in stats.items() if k != "total"))
    files = {
        "batch done-files (batches/batch_N.done)": n_batches,
        "batch junction files (batches/batch_N.junctions.parquet; empty placeholders without a junction selection)": n_batches,
        "track store chunk files (exact chunk grid)": chunk_files_exact,
        "track store metadata (zarr.json per node + the track coordinate arrays' chunks)": meta_files,
        "bigWigs (one per stored track and resolution) + bigwig/done.json": bigwigs + 1,
        # + plan_windows, whose outputs were pre-generated here but which a real run executes first
        "rule logs (logs/<rule>[_N].log: one per job but `all`, and plan_windows')": jobs_total - stats.get("all", 0) + 1,
        "Snakemake's .snakemake/metadata/ records (one per job output file, plan_windows' two included)": 2 * n_batches
        + stats.get("init_store", 0) + stats.get("finalize_store", 0) + stats.get("export_bigwig", 0) + 2,
        "run files (windows.tsv, track_selection.tsv, storage_report.txt, store.created, tracks.summary.json)": 5,
    }
    shutil.rmtree(base, ignore_errors=True)
    return {
        "contigs": len(HG38),
        "genome_bp": sum(HG38.values()),
        "window_bp": args.dag_window_bp,
        "owned_bp": args.dag_owned_bp,
        "windows_per_batch": args.windows_per_batch,
        "chunk_bp": chunk_bp,
        "tracks": config["tracks"],
        "plan_s": plan_s,
        "windows": n_windows,
        "batches": n_batches,
        "runs": runs,
        "baselines": baselines,
        "startup": startup,
        "job_stats": stats,
        "tracksets": trackset_rows,
        "chunk_files_estimate": chunk_files_est,
        "chunk_files_exact": chunk_files_exact,
        "metadata_dirs": meta_dirs,
        "files": files,
        "files_total": sum(files.values()),
    }


def format_dag(r: dict[str, Any]) -> list[str]:
    stats = r["job_stats"]
    rule_rows = [[f"`{k}`", v] for k, v in stats.items() if k != "total"] + [["**total**", f"**{stats.get('total', '')}**"]]
    run_rows = [[f"`snakemake {x['flags']}`", x["jobs"], f"{x['wall_s']:.2f}", x["output_lines"]]
                for x in [*r["runs"], *r["baselines"], r["startup"]]]
    fixed = min(x["wall_s"] for x in r["baselines"])
    best = min(x["wall_s"] for x in r["runs"] if "quiet" in x["flags"])
    extra_s = best - fixed
    if extra_s > 0.1 * fixed:
        dag_cost = (f"the whole-genome DAG adds {extra_s:.2f} s, about "
                    f"{extra_s / max(1, r['job_stats'].get('total', 1)) * 1e3:.1f} ms per job")
    else:
        dag_cost = (f"the whole-genome DAG adds no measurable time beyond that (best of each: {best:.2f} s vs "
                    f"{fixed:.2f} s, a difference within run-to-run noise)")
    ts_rows = [
        [t["group"], t["n_tracks"], f"{t['chunk'][0]:,} x {t['chunk'][1]}", f"{t['chunk_bytes'] / 2**20:.2f} MiB",
         f"{t['bytes'] / MB:,.1f} MB", f"{t['chunk_files_estimate']:,}", f"{t['chunk_files_exact']:,}"]
        for t in r["tracksets"]
    ]
    tracks = "; ".join(f"{t['output']} at {t['resolutions']} bp, indices {t['indices']}" for t in r["tracks"])
    return [
        "## 2. Whole-genome DAG dry run (hg38 primary contigs)",
        "",
        f"{r['contigs']} contigs (chr1..chr22, chrX, chrY, chrM), {r['genome_bp']:,} bp; window {r['window_bp']:,} / owned "
        f"{r['owned_bp']:,} bp, {r['windows_per_batch']} windows per batch, chunk_bp {r['chunk_bp']:,}; tracks: {tracks}. "
        f"Stub FASTA (real lengths in its `.fai`) and a pre-generated checkpoint output (`windows.tsv`, newer than the "
        f"FASTA; `tile_windows` + `windows_table` took {r['plan_s']:.2f} s), so the dry run expands every batch. "
        f"Fresh copy of the workflow, no `.snakemake/` metadata before the first run.",
        "",
        f"- windows: **{r['windows']:,}**, batches (predict_batch jobs): **{r['batches']:,}**",
        "",
        *table(["command (dry runs: + `--cores 1 --configfile <run>.yaml`)", "jobs", "wall s", "output lines"], run_rows),
        "",
        f"- fixed cost (best chrM-only dry run: interpreter, snakemake import, Snakefile parsing, config validation): "
        f"{fixed:.2f} s, of which {r['startup']['wall_s']:.2f} s is `snakemake --version` alone; {dag_cost}.",
        "",
        "Jobs per rule (the dry run's job stats):",
        "",
        *table(["rule", "jobs"], rule_rows),
        "",
        "Track store chunks (chunk files = `estimate_bytes` / chunk bytes, rounded up, vs the exact per-contig chunk grid, "
        "where every contig's last chunk is partial):",
        "",
        *table(["group", "tracks", "chunk (positions x tracks)", "chunk size", "uncompressed", "estimate", "exact"], ts_rows),
        "",
        "Files the run would create (approximate: the store's chunk files are counted from the chunk grid, i.e. "
        "assuming every window is predicted, none skipped as all-N; metadata counted from a real metadata-only "
        f"`create_store`; directories not counted: the store alone adds {r['metadata_dirs']:,} metadata directories "
        "plus one `c/<i>/` directory per chunk row):",
        "",
        *table(["what", "files"], [[k, f"{v:,}"] for k, v in r["files"].items()] + [["**total**", f"**{r['files_total']:,}**"]]),
        "",
    ]


# --------------------------------------------------------------------------- 3. tiny model windows/s


def windows_child(length: int, n: int, seed: int) -> dict[str, Any]:
    """In a subprocess: load the demo config's model, predict 1 + n windows of ``length`` bp, report timings."""
    import numpy as np
    import yaml

    from genotile.model.loading import load_predictor
    from genotile.settings import SelectionSettings
    from genotile.tracks.steps import resolve_track_selection

    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    t0 = time.perf_counter()
    predictor = load_predictor(config["model"])
    load_s = time.perf_counter() - t0
    selection = resolve_track_selection(SelectionSettings.from_config(config))
    request = selection.request()
    rng = np.random.default_rng(seed)
    eye = np.eye(4, dtype=np.float32)

    def one_window() -> np.ndarray:
        return eye[rng.integers(0, 4, length)][None]

    def step(dna: np.ndarray) -> float:
        t = time.perf_counter()
        outputs = predictor.predict(dna, 0, request)
        selection.extract(outputs, 0)
        return time.perf_counter() - t

    first_s = step(one_window())
    times = [step(one_window()) for _ in range(n)]
    status = _read("/proc/self/status")
    hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
    return {
        "length": length,
        "n": n,
        "load_s": load_s,
        "first_s": first_s,
        "times_s": times,
        "peak_rss_gib": int(hwm.group(1)) / 2**20 if hwm else None,
        "request": repr(request),
        "tracksets": [ts.group + f" x {ts.n_tracks}" for ts in selection.tracksets],
        "per_window": [f"{name} x {len(frame)}" for name, frame in (("contact_maps", selection.contact_tracks),
                                                                   ("splice junction tissues", selection.junction_tissues))
                       if frame is not None],
    }


def windows_bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    counts = list(args.n_windows) + [args.n_windows[-1]] * max(0, len(args.lengths) - len(args.n_windows))
    for length, n in zip(args.lengths, counts):
        progress(f"windows: {length:,} bp x (1 + {n}) in a subprocess")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_child-windows", str(length), str(n), str(args.seed)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        start, peak, killed = time.perf_counter(), 0.0, None
        while proc.poll() is None:
            m = re.search(r"VmRSS:\s+(\d+) kB", _read(f"/proc/{proc.pid}/status"))
            if m:
                peak = max(peak, int(m.group(1)) / 2**20)
            if peak > args.max_rss_gb:
                killed = f"killed: RSS passed {args.max_rss_gb} GiB"
            elif time.perf_counter() - start > args.timeout:
                killed = f"killed: took over {args.timeout} s"
            if killed:
                proc.kill()
                break
            time.sleep(0.1)
        out, err = proc.communicate()
        wall = time.perf_counter() - start
        if killed or proc.returncode != 0:
            reason = killed or f"failed (exit {proc.returncode}): {err.strip().splitlines()[-1] if err.strip() else ''}"
            progress(f"windows: {length:,} bp {reason}")
            results.append({"length": length, "n": n, "error": reason, "peak_rss_gib_polled": peak, "wall_s": wall})
            continue
        r = json.loads(out.strip().splitlines()[-1])
        r["peak_rss_gib_polled"] = peak
        r["wall_s"] = wall
        results.append(r)
    return results


def format_windows(results: list[dict[str, Any]], dag: dict[str, Any] | None) -> list[str]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([f"{r['length']:,}", r["n"], "", "", "", "", "", f"{r['peak_rss_gib_polled']:.2f}+", r["error"]])
            continue
        mean = sum(r["times_s"]) / len(r["times_s"])
        compile_s = r["first_s"] - mean
        rows.append([
            f"{r['length']:,}", r["n"], f"{r['load_s']:.1f}", f"{r['first_s']:.2f}", f"{compile_s:.2f}",
            f"{mean:.3f}", f"{1 / mean:.2f}", f"{r['peak_rss_gib']:.2f}", f"{r['length'] / mean / MB:.2f}",
        ])
    ok = [r for r in results if "error" not in r]
    selection = (f"`{ok[0]['request']}`; track store: {', '.join(ok[0]['tracksets'])}; kept per window: "
                 f"{', '.join(ok[0]['per_window']) or 'nothing'}") if ok else "n/a"
    lines = [
        "## 3. Tiny model windows per second (CPU)",
        "",
        "Seeded synthetic tiny weights (the demo config's `model:`), the demo's track selection "
        f"(`tracks:` resolved by `genotile.tracks.steps.resolve_track_selection`): {selection}. One window per call "
        "(`Predictor.predict` + `Selection.extract`, random DNA), float32. `first` is the first call (trace + XLA compile + "
        "one run); `compile` is first minus the mean of the timed windows; the mean is over N windows after the first. "
        "Each length ran in its own process; peak RSS is its `VmHWM` (weights included).",
        "",
        *table(["window bp", "N", "load s", "first s", "compile s", "s / window", "windows/s", "peak RSS GiB", "window Mb/s"], rows),
        "",
    ]
    one_mb = next((r for r in ok if r["length"] == 1_048_576), None)
    if one_mb and dag:
        mean = sum(one_mb["times_s"]) / len(one_mb["times_s"])
        lines += [
            f"- at the 1 Mb rate, hg38's {dag['windows']:,} windows would take {dag['windows'] * mean / 3600:.1f} hours "
            f"of tiny-model forward passes on this whole machine, one job at a time ({dag['batches']:,} batches, each also "
            f"paying load + compile once: about {dag['batches'] * (one_mb['load_s'] + one_mb['first_s'] - mean) / 3600:.1f} "
            f"h more).",
            "",
        ]
    for r in results:
        if "error" in r:
            lines += [f"- {r['length']:,} bp: {r['error']} (peak RSS seen {r['peak_rss_gib_polled']:.2f} GiB after {r['wall_s']:.0f} s)", ""]
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stitch", action="store_true", help="measure stitch + Zarr write throughput vs raw numpy")
    p.add_argument("--dag", action="store_true", help="time the hg38 whole-genome DAG dry run")
    p.add_argument("--windows", action="store_true", help="tiny-model windows per second on the CPU")
    p.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    p.add_argument("--tmpdir", type=Path, default=None, help="scratch folder (default: the system temp folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=300, help="seconds allowed per subprocess (dry run, window length)")
    g = p.add_argument_group("--stitch")
    g.add_argument("--contigs", type=int, default=2, help="synthetic contigs")
    g.add_argument("--contig-bp", type=int, default=16_000_000, help="length of each synthetic contig")
    g.add_argument("--window-bp", type=int, default=1_048_576)
    g.add_argument("--owned-bp", type=int, default=524_288)
    g.add_argument("--chunk-bp", type=int, default=524_288)
    g.add_argument("--dnase-tracks", type=int, default=8, help="dnase tracks at 1 bp")
    g.add_argument("--chip-tracks", type=int, default=256, help="chip_tf tracks at 128 bp")
    g.add_argument("--stitch-repeats", type=int, default=3, help="passes per writer (interleaved)")
    g.add_argument("--pool", type=int, default=4, help="distinct seeded full-window arrays, reused round-robin")
    g = p.add_argument_group("--dag")
    g.add_argument("--dag-window-bp", type=int, default=1_048_576)
    g.add_argument("--dag-owned-bp", type=int, default=524_288)
    g.add_argument("--dag-chunk-bp", type=int, default=524_288)
    g.add_argument("--windows-per-batch", type=int, default=16)
    g.add_argument("--dag-repeats", type=int, default=2, help="timed runs of `snakemake -n --quiet rules` (then one plain -n)")
    g = p.add_argument_group("--windows")
    g.add_argument("--lengths", type=int, nargs="+", default=[16_384, 131_072, 1_048_576])
    g.add_argument("--n-windows", type=int, nargs="+", default=[8, 4, 2], help="timed windows per length (after the first)")
    g.add_argument("--max-rss-gb", type=float, default=5.0, help="kill a window-length subprocess whose RSS passes this (GiB)")
    p.add_argument("--_child-windows", nargs=3, type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not (args.stitch or args.dag or args.windows):
        args.stitch = args.dag = args.windows = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child_windows:
        length, n, seed = args._child_windows
        print(json.dumps(windows_child(length, n, seed)))
        return 0
    base = Path(args.tmpdir or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    machine = machine_description(base)
    report: dict[str, Any] = {"machine": machine}
    lines = ["# genotile workflow benchmark", "", *format_machine(machine)]
    failed = False
    with tempfile.TemporaryDirectory(prefix="genotile-workflow-bench-", dir=base) as tmp:
        tmp_path = Path(tmp)
        for name, enabled, run, fmt in (
            ("stitch", args.stitch, lambda: stitch_bench(args, tmp_path), format_stitch),
            ("dag", args.dag, lambda: dag_bench(args, tmp_path), format_dag),
            ("windows", args.windows, lambda: windows_bench(args), lambda r: format_windows(r, report.get("dag"))),
        ):
            if not enabled:
                continue
            t0 = time.perf_counter()
            try:
                report[name] = run()
            except Exception as exc:  # report the others even when one fails
                failed = True
                progress(f"{name}: failed: {type(exc).__name__}: {exc}")
                lines += [f"## {name}: FAILED", "", "```", f"{type(exc).__name__}: {exc}", "```", ""]
                continue
            elapsed = time.perf_counter() - t0
            progress(f"{name}: done in {elapsed:.0f} s")
            report[f"{name}_load_average_after"] = os.getloadavg()
            lines += fmt(report[name])
            lines += [f"_(section took {elapsed:.0f} s; load average after it: "
                      f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})_", ""]
    if "windows" in report and any("error" in r for r in report["windows"]):
        failed = True
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
