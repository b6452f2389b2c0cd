"""Shared by the workflow tests: copies of the workflow, snakemake runs, and one reference demo run.

Each workflow test works in its own copy of Snakefile, workflow/, config/, envs/ and scripts/ (so
``.snakemake/`` and outputs never land in the repository) and runs ``snakemake`` with the venv's bin
first on PATH. Results go to ``results/`` *inside* the copy, so two runs' outputs (which record
relative paths) can be compared byte for byte.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEMO_CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
WORKFLOW_INSTALLED = (BIN / "snakemake").exists() and (BIN / "genotile").exists()


def copy_workflow(target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", target / "Snakefile")
    for folder in ("workflow", "config", "envs", "scripts"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


def edit_config(workdir: Path, changes: dict) -> None:
    """Deep-update the copy's ``config/config.yaml`` (``--configfile`` merges, so it cannot remove a cohort)."""
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())

    def update(target: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and value and isinstance(target.get(key), dict):
                update(target[key], value)
            else:
                target[key] = value

    update(config, changes)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    env.pop("XLA_FLAGS", None)
    return env


def snakemake(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=workdir, env=snakemake_env(), capture_output=True, text=True, timeout=timeout
    )


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"


def planned_jobs(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """``{rule: count}`` from a (dry-)run's "Job stats" table ({} when there is nothing to do)."""
    text = result.stdout + result.stderr
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        jobs[match.group(1)] = int(match.group(2))
    return jobs


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """One full local run of the demo config (tracks and variant scoring): (workdir, run folder, result)."""
    if not WORKFLOW_INSTALLED:  # pragma: no cover
        pytest.skip(f"snakemake/genotile not installed in {BIN}")
    workdir = copy_workflow(tmp_path_factory.mktemp("demo") / "wf")
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode == 0, report(run)
    return workdir, workdir / "results" / DEMO_CONFIG["run"], run
