#!/usr/bin/env python
"""What a run without a shared filesystem costs: the demo with every job in its own folder, files through S3.

Runs the whole demo (tracks and variant scoring) twice in temporary copies of the workflow: once
locally (``--cores 2``), once cloud-style (Snakemake's cluster-generic executor submitting each job
to ``tests/helpers/isolated_job.sh``, ``--shared-fs-usage none``, ``--default-storage-provider s3``
against a local S3 server, moto). It prints the two wall times, the run's objects and bytes in the
bucket, and per rule the jobs, their median length and the files genotile's folder mirror pulled
and pushed (from each job's log), then checks the bucket holds the local run's bytes.

The S3 server is on localhost, so this measures the per-job cost of the storage round trips and of
Snakemake's start-up in an empty folder (sources deployed from the bucket), not network bandwidth.

Usage::

    .venv/bin/python benchmarks/cloud_run.py [--jobs 2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
from conftest import BIN, cloud_style_run, copy_workflow, snakemake_env  # noqa: E402
from machine import describe_machine  # noqa: E402

from genotile.runtime.run_digest import compare_digests, digest_run  # noqa: E402

RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):", re.M)
PULLED = re.compile(r"genotile: pulled (\d+) file")
PUSHED = re.compile(r"genotile: pushed (\d+) file")


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"run failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def _job_table(jobs: Path, rule_logs: Path) -> dict[str, dict[str, list[float]]]:
    """Per rule: job lengths (job script copy -> exit code file) and files pulled/pushed by the mirror.

    The mirror reports in the rule's own log (``<run>/logs/<rule>[_<wildcards>].log``, from the bucket).
    """
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for folder in sorted(jobs.iterdir()):
        rule = RULE.search((folder / "job.log").read_text(errors="replace"))
        row = table[rule.group(1) if rule else "?"]
        row["length"].append((folder / "exitcode").stat().st_mtime - (folder / "jobscript.sh").stat().st_mtime)
    for log in sorted(rule_logs.glob("*.log")):
        rule = max((r for r in table if log.stem == r or log.stem.startswith(f"{r}_")), key=len, default=None)
        if rule is not None:
            text = log.read_text(errors="replace")
            table[rule]["pulled"].append(sum(int(n) for n in PULLED.findall(text)))
            table[rule]["pushed"].append(sum(int(n) for n in PUSHED.findall(text)))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="cloud jobs at once (default 2)")
    args = parser.parse_args()
    print(describe_machine())
    with tempfile.TemporaryDirectory(prefix="genotile-cloud-") as tmp:
        tmp = Path(tmp)
        local = copy_workflow(tmp / "local")
        local_s = _run([str(BIN / "snakemake"), "--cores", "2", "--configfile", "config/demo.yaml"], local, snakemake_env())
        cloud = cloud_style_run(tmp / "cloud", jobs=args.jobs, timeout=7200)
        if cloud.result.returncode != 0:
            sys.exit(f"cloud-style run failed:\n{cloud.result.stdout[-3000:]}\n{cloud.result.stderr[-3000:]}")
        cloud_s, objects, bucket = cloud.seconds, cloud.objects, cloud.bucket_run
        size = sum(p.stat().st_size for p in bucket.rglob("*") if p.is_file())
        same = compare_digests(digest_run(local / "results" / "demo"), digest_run(bucket)) == []
        table = _job_table(cloud.jobs, bucket / "logs")

    print(f"\nDemo (tracks and variants): local --cores 2 {local_s:.0f} s; cloud-style, {args.jobs} jobs at once, "
          f"{sum(len(r['length']) for r in table.values())} jobs: {cloud_s:.0f} s. "
          f"Bucket: {objects} objects, {size / 1e6:.1f} MB. Same bytes as the local run: {'yes' if same else 'NO'}.\n")
    print("| rule | jobs | median job length (s) | files pulled by the mirror (per job) | files pushed (per job) |")
    print("|---|---:|---:|---:|---:|")
    for rule, row in sorted(table.items()):
        pulled, pushed = row.get("pulled") or [0], row.get("pushed") or [0]
        print(f"| {rule} | {len(row['length'])} | {statistics.median(row['length']):.1f} | "
              f"{statistics.median(pulled):.0f} | {statistics.median(pushed):.0f} |")


if __name__ == "__main__":
    main()
