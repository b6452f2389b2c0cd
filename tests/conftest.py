"""Shared by the workflow tests: copies of the workflow, snakemake runs, and one reference demo run.

Each workflow test works in its own copy of Snakefile, workflow/, config/, envs/ and scripts/ (so
``.snakemake/`` and outputs never land in the repository) and runs ``snakemake`` with the venv's bin
first on PATH. Results go to ``results/`` *inside* the copy, so two runs' outputs (which record
relative paths) can be compared byte for byte.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEMO_CONFIG_FILE = "config/demo.yaml"  # the demo is one config among others: runs name it with --configfile
DEMO_CONFIG = yaml.safe_load((ROOT / DEMO_CONFIG_FILE).read_text())
WORKFLOW_INSTALLED = (BIN / "snakemake").exists() and (BIN / "genotile").exists()

# One persistent XLA compilation cache for the test session and every Snakemake job it starts: the tiny model
# is compiled once per program instead of once per prediction/scoring job (most of a workflow test's time).
# Only a speed-up: a cached executable is the same program, so outputs are the same bytes. A size limit turns
# on JAX's file lock, so two jobs writing the same entry at once cannot hand a third a half-written file.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "genotile-tests-xla-cache"))
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 * 2**30))


def copy_workflow(target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", target / "Snakefile")
    for folder in ("workflow", "config", "envs", "scripts"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


def edit_config(workdir: Path, changes: dict) -> None:
    """Deep-update the copy's demo config (``config/demo.yaml``), which the demo runs of the tests name."""
    path = workdir / DEMO_CONFIG_FILE
    config = yaml.safe_load(path.read_text())

    def update(target: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and value and isinstance(target.get(key), dict):
                update(target[key], value)
            else:
                target[key] = value

    update(config, changes)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


# ------------------------------------------------------------------ runs without a shared filesystem
ISOLATED_JOB = ROOT / "tests" / "helpers" / "isolated_job.sh"
S3_BUCKET = "genotile-test"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def s3_endpoint():
    """An S3 server (moto) on localhost with an empty bucket: yields (endpoint URL, credential variables)."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                     region_name="us-east-1").create_bucket(Bucket=S3_BUCKET)
        yield endpoint, dict(S3_KEYS, AWS_ENDPOINT_URL=endpoint)
    finally:
        server.stop()


def as_a_git_checkout(workdir: Path) -> None:
    """Snakemake ships the files git tracks to jobs without a shared filesystem (users run from a clone)."""
    shutil.copy2(ROOT / ".gitignore", workdir / ".gitignore")
    git = ["git", "-c", "user.email=test@genotile", "-c", "user.name=test"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "workflow"]):
        subprocess.run([*git, *args], cwd=workdir, check=True, capture_output=True)


def _cloud_run_args(endpoint: str, prefix: str, jobs: int) -> list[str]:
    """Snakemake arguments for a cloud-style run: each job in its own empty folder, every file through S3."""
    # Status checks every second, not Snakemake's default 10 s: a job's successor starts as soon as it ends.
    return ["--executor", "cluster-generic", "--jobs", str(jobs), "--seconds-between-status-checks", "1",
            "--cluster-generic-submit-cmd", f"{ISOLATED_JOB} submit", "--cluster-generic-status-cmd", f"{ISOLATED_JOB} status",
            "--shared-fs-usage", "none", "--job-deploy-sources",
            "--default-storage-provider", "s3", "--default-storage-prefix", f"s3://{S3_BUCKET}/{prefix}",
            "--storage-s3-endpoint-url", endpoint, "--storage-s3-access-key", "testing", "--storage-s3-secret-key", "testing"]


def _download_prefix(endpoint: str, prefix: str, target: Path) -> int:
    """Copy every object under ``prefix`` of the test bucket to ``target``; returns the number of objects."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="us-east-1")
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix):].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(S3_BUCKET, item["Key"], str(path))
            count += 1
    return count


@dataclasses.dataclass
class CloudRun:
    """A finished cloud-style run: Snakemake's result, its wall time and where its pieces are."""

    result: subprocess.CompletedProcess[str]
    seconds: float
    workdir: Path  # the submitting folder
    jobs: Path  # one folder per job (tests/helpers/isolated_job.sh)
    bucket_run: Path  # the run folder downloaded from the bucket (when the run succeeded)
    objects: int  # objects downloaded


def cloud_style_run(base: Path, jobs: int = 2, timeout: float = 2400, uploads: dict[str, Path] | None = None,
                    overlay: dict | None = None) -> CloudRun:
    """Run the demo workflow from a git copy under ``base`` with no shared filesystem, every file through S3.

    Snakemake's cluster-generic executor submits each job to ``tests/helpers/isolated_job.sh`` (a new,
    empty folder per job), with ``--shared-fs-usage none`` (sources deployed from the bucket) and a
    moto S3 server as the default storage. ``uploads`` (bucket key -> local file or folder) are put in
    the bucket first, ``overlay`` is merged over the demo config (``config/overlay.yaml``, tracked so
    jobs get it). Jobs keep downloaded checkpoints under ``base/cache``. The run folder is downloaded to
    ``base/bucket/<run>``.
    """
    import time

    workdir = copy_workflow(base / "wf")
    extra_args = []
    if overlay:
        (workdir / "config" / "overlay.yaml").write_text(yaml.safe_dump(overlay))
        extra_args = ["--configfile", "config/overlay.yaml"]  # merged over the demo's (snakemake_command)
    as_a_git_checkout(workdir)
    job_root = base / "jobs"
    job_root.mkdir()
    run_name = DEMO_CONFIG["run"]
    bucket_run = base / "bucket" / run_name
    with s3_endpoint() as (endpoint, s3_env):
        for key, local in (uploads or {}).items():
            upload_to_bucket(endpoint, key, local)
        env = dict(snakemake_env(), GENOTILE_JOB_ROOT=str(job_root), GENOTILE_CACHE_DIR=str(base / "cache"), **s3_env)
        start = time.perf_counter()
        result = subprocess.run(snakemake_command(*_cloud_run_args(endpoint, "cloud-run", jobs), *extra_args),
                                cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - start
        objects = 0
        if result.returncode == 0:
            objects = _download_prefix(endpoint, f"cloud-run/{DEMO_CONFIG['results']}/{run_name}/", bucket_run)
    return CloudRun(result, seconds, workdir, job_root, bucket_run, objects)


def upload_to_bucket(endpoint: str, key: str, local: Path) -> None:
    """Put a local file, or every file of a folder, at ``key`` in the test bucket."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="us-east-1")
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    for path in files:
        suffix = "" if path == local else "/" + path.relative_to(local).as_posix()
        s3.upload_file(str(path), S3_BUCKET, f"{key}{suffix}")


def snakemake_env() -> dict[str, str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    env.pop("XLA_FLAGS", None)
    return env


def snakemake_command(*args: str, demo: bool = True) -> list[str]:
    """``snakemake`` with ``args``; with ``demo`` the demo config comes first among the config files.

    Snakemake's ``--configfile`` takes several files (later ones override earlier ones) and a second
    ``--configfile`` flag replaces the first flag's list, so every config file given in ``args`` is
    gathered behind the demo's into one flag (so targets go before ``--configfile`` in ``args``).
    """
    files, rest, taking = [DEMO_CONFIG_FILE] if demo else [], [], False
    for arg in args:
        if arg in ("--configfile", "--configfiles"):
            taking = True
        elif taking and not arg.startswith("-"):
            files.append(arg)
        else:
            taking = False
            rest.append(arg)
    return [str(BIN / "snakemake"), *rest, *(["--configfile", *files] if files else [])]


def snakemake(workdir: Path, *args: str, timeout: float = 900, demo: bool = True) -> subprocess.CompletedProcess[str]:
    """Run snakemake in ``workdir`` (on the demo config unless ``demo=False``: then ``args`` name the config)."""
    return subprocess.run(
        snakemake_command(*args, demo=demo), cwd=workdir, env=snakemake_env(), capture_output=True, text=True,
        timeout=timeout,
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


#: The xdist group of the tests that each hold ~10-15 GiB at their peak: the full-size model's tests (its
#: compilation alone takes ~6 GiB for a moment) and the Slurm runs (up to 8 scoring and prediction jobs at
#: once, each a JAX process). One worker runs them one after the other (``--dist loadgroup``), so two of
#: them never meet on a 24 GiB CI machine (a variant golden beside a Slurm run ran it out of memory).
MEMORY_HEAVY = pytest.mark.xdist_group("memory_heavy")
SLOW_TEST_SECONDS = float(os.environ.get("GENOTILE_SLOW_TEST_SECONDS", 60))
_CONFIG: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG.append(config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Name each test that took a minute or more as it finishes (setup included: the session's demo run),
    so a CI run stopped by its time limit still shows where the time went (--durations prints only at the end)."""
    terminal = _CONFIG[0].pluginmanager.getplugin("terminalreporter") if _CONFIG else None
    if terminal is not None and report.when in ("setup", "call") and report.duration >= SLOW_TEST_SECONDS:
        terminal.write_line(f"[{report.duration:.0f} s {report.when}] {report.nodeid}")


def _session_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every xdist worker of this test session shares (the worker's own temp folder without xdist)."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run_id:
        return tmp_path_factory.mktemp(name)
    folder = tmp_path_factory.getbasetemp().parent / f"{name}-{run_id}"  # beside the workers' popen-gw* folders
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """One full local run of the demo config (tracks and variant scoring): (workdir, run folder, result).

    Made once per test session, not once per xdist worker: the first worker to ask runs it (with both
    cores) while the other waits on a file lock, then reads the same run; it is several minutes of CI.
    Tests only read it (or dry-run in it, or copy it before running anything).
    """
    import fcntl
    import json

    if not WORKFLOW_INSTALLED:  # pragma: no cover
        pytest.skip(f"snakemake/genotile not installed in {BIN}")
    shared = _session_folder(tmp_path_factory, "demo")
    workdir, record = shared / "wf", shared / "demo_run.json"
    with open(shared / "demo_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the worker dies)
        if not record.exists():
            shutil.rmtree(workdir, ignore_errors=True)  # what a worker killed mid-run left
            copy_workflow(workdir)
            result = snakemake(workdir, "--cores", "2")
            record.write_text(json.dumps({"args": result.args, "returncode": result.returncode,
                                          "stdout": result.stdout, "stderr": result.stderr}))
    run = subprocess.CompletedProcess(**json.loads(record.read_text()))
    assert run.returncode == 0, report(run)
    return workdir, workdir / "results" / DEMO_CONFIG["run"], run


# ------------------------------------------------------------------ the track steps' settings (tests/tracks)


def settings_for(config: dict, rule: str):
    """``rule``'s settings from ``config`` as a run builds them: the schema's defaults filled in (the
    Snakefile's validate), then the rule's ``params.settings`` (rule_settings), then ``from_config``,
    so a step reading a key its rule does not pass fails here."""
    import copy

    from snakemake.utils import validate

    from genotile.runtime.provenance import rule_settings
    from genotile.settings import InitStoreSettings, PlanWindowsSettings, PredictBatchSettings

    full = copy.deepcopy(dict(config))
    validate(full, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    cls = {"plan_windows": PlanWindowsSettings, "init_store": InitStoreSettings, "predict_batch": PredictBatchSettings}[rule]
    return cls.from_config(rule_settings(full, rule))


@pytest.fixture(scope="session")
def step_settings():
    """:func:`settings_for` (``step_settings(config, "init_store")``)."""
    return settings_for
