#!/usr/bin/env python
"""Per-job overhead of the Slurm executor on the local single-node cluster (scripts/slurm-local.sh up).

Runs the demo workflow's track part (variants off) in a temporary copy of the workflow through
``--profile workflow/profiles/slurm-local``, then reads every job's times back from slurmctld
(``scontrol show job``: scripts/slurm-local.sh keeps finished jobs visible for MinJobAge = 1 h) and the prediction jobs'
logs, and prints per rule:

* submission to start: Slurm's SubmitTime -> StartTime (scheduler latency);
* start to model ready (prediction jobs): StartTime -> the job's "model ready" log line, i.e. the
  two Snakemake start-ups inside the job (the plugin's batch script and its ``srun`` step), the JAX
  import and the model load;
* job length: StartTime -> EndTime;

and the run's wall time against the sum of the prediction jobs' own work. Times from slurmctld and
the log lines have one-second resolution.

Usage::

    scripts/slurm-local.sh up
    .venv/bin/python benchmarks/slurm_overhead.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe_machine  # noqa: E402
from workflow_bench import copy_workflow  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the Slurm job helpers live beside the tests
from helpers.slurm_jobs import jobs_of_run, rule_of  # noqa: E402

BIN = Path(sys.executable).parent


def _copy_workflow(target: Path) -> None:
    """The workflow with the demo config's track part only (variant scoring off)."""
    copy_workflow(target)
    config_path = target / "config" / "demo.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["variants"]["cohorts"] = {}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _model_ready(log: Path, day: dt.date) -> dt.datetime | None:
    for line in log.read_text().splitlines():
        match = re.match(r"\[genotile (\d\d:\d\d:\d\d)\] batch \d+: .*model ready", line)
        if match:
            return dt.datetime.combine(day, dt.time.fromisoformat(match.group(1)))
    return None


def _summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} (min {min(values):.1f}, max {max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", help="run in this folder and keep it (default: a temporary folder)")
    args = parser.parse_args()
    if subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        print("no Slurm cluster answers: run scripts/slurm-local.sh up first", file=sys.stderr)
        return 2
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="genotile-slurm-bench-"))
    workdir = base / "wf"
    _copy_workflow(workdir)
    print(f"running the demo's track part under workflow/profiles/slurm-local in {workdir} ...", file=sys.stderr)
    started = time.perf_counter()
    run = subprocess.run([str(BIN / "snakemake"), "--profile", "workflow/profiles/slurm-local", "--configfile", "config/demo.yaml"], cwd=workdir,
                         capture_output=True, text=True, env={"PATH": f"{BIN}:/usr/bin:/bin:/usr/sbin:/sbin"})
    wall = time.perf_counter() - started
    if run.returncode != 0:
        print(run.stdout[-4000:] + run.stderr[-4000:], file=sys.stderr)
        return 1
    jobs = jobs_of_run(workdir)
    by_rule: dict[str, list[dict[str, str]]] = {}
    for job in jobs:
        rule = rule_of(job) or "?"
        by_rule.setdefault(rule, []).append(job)
    print(describe_machine())
    print(f"\nDemo track workflow (tiny model, 16 kb windows) through `--profile workflow/profiles/slurm-local`: "
          f"{len(jobs)} Slurm jobs, wall time {wall:.0f} s.\n")
    print("| rule | jobs | submission -> start (s) | start -> model ready (s) | job length (s) |")
    print("|---|---:|---:|---:|---:|")
    ready_all, length_all = [], []
    for rule, items in sorted(by_rule.items()):
        queue = [(_time(j["StartTime"]) - _time(j["SubmitTime"])).total_seconds() for j in items]
        length = [(_time(j["EndTime"]) - _time(j["StartTime"])).total_seconds() for j in items]
        ready = []
        if rule == "predict_batch":
            for job in items:  # the comment names the wildcards: rule_predict_batch_wildcards_<batch>
                batch = re.findall(r"(\d+)$", job.get("Comment", ""))
                log = workdir / "results" / "demo" / "logs" / f"predict_batch_{batch[-1] if batch else '?'}.log"
                moment = _model_ready(log, _time(job["StartTime"]).date()) if log.exists() else None
                if moment:
                    ready.append((moment - _time(job["StartTime"])).total_seconds())
            ready_all += ready
        length_all += length
        print(f"| {rule} | {len(items)} | {_summary(queue)} | {_summary(ready)} | {_summary(length)} |")
    print(f"\nAll jobs: median length {_summary(length_all)} s; prediction jobs reach a loaded model "
          f"{_summary(ready_all)} s after Slurm starts them.")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
