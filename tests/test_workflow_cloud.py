"""A cloud-style run: no shared filesystem, every file through S3, the same bytes as the local run.

Stands in for the Kubernetes and Google Batch executors, which need a cluster: Snakemake's
cluster-generic executor submits each job to ``tests/helpers/isolated_job.sh``, which runs it in a
new, empty folder, with ``--shared-fs-usage none`` (sources deployed from the bucket) and
``--default-storage-provider s3`` against an S3 server (moto). A file a rule forgets to declare, or
a folder genotile.storage_mirror forgets to move, makes the run fail or differ from the local run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, ROOT, WORKFLOW_INSTALLED, copy_workflow, report, snakemake_env
from genotile.run_digest import compare_digests, digest_run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)

BUCKET = "genotile-test"
ISOLATED_JOB = ROOT / "tests" / "helpers" / "isolated_job.sh"


@pytest.fixture
def s3_server():
    """An S3 endpoint on localhost: (endpoint URL, credentials as environment variables)."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": endpoint,
           "AWS_DEFAULT_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield endpoint, env
    server.stop()


def _as_a_git_checkout(workdir: Path) -> None:
    """Snakemake ships the files git tracks to jobs without a shared filesystem (users run from a clone)."""
    shutil.copy2(ROOT / ".gitignore", workdir / ".gitignore")
    git = ["git", "-c", "user.email=test@genotile", "-c", "user.name=test"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "workflow"]):
        subprocess.run([*git, *args], cwd=workdir, check=True, capture_output=True)


def _download(endpoint: str, env: dict[str, str], prefix: str, target: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix):].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(BUCKET, item["Key"], str(path))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to ship the workflow sources to jobs")
def test_run_without_shared_filesystem_through_s3_equals_local_run(demo_run, s3_server, tmp_path):
    endpoint, s3_env = s3_server
    _, run_dir, _ = demo_run
    workdir = copy_workflow(tmp_path / "wf")
    _as_a_git_checkout(workdir)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    env = dict(snakemake_env(), GENOTILE_JOB_ROOT=str(jobs), **s3_env)
    prefix = "cloud-run"
    run = subprocess.run(
        [str(BIN / "snakemake"), "--executor", "cluster-generic", "--jobs", "2",
         "--cluster-generic-submit-cmd", f"{ISOLATED_JOB} submit", "--cluster-generic-status-cmd", f"{ISOLATED_JOB} status",
         "--shared-fs-usage", "none", "--job-deploy-sources",
         "--default-storage-provider", "s3", "--default-storage-prefix", f"s3://{BUCKET}/{prefix}",
         "--storage-s3-endpoint-url", endpoint, "--storage-s3-access-key", "testing", "--storage-s3-secret-key", "testing"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=2400,
    )
    assert run.returncode == 0, report(run)
    job_folders = sorted(jobs.iterdir())
    assert len(job_folders) >= 15, report(run)  # every rule ran as its own job, each in its own folder
    assert not (workdir / "results").exists()  # nothing reached the submitting folder except through S3

    bucket_run = tmp_path / "bucket" / run_dir.name
    _download(endpoint, s3_env, f"{prefix}/results/{run_dir.name}/", bucket_run)
    expected = digest_run(run_dir)
    assert len(expected) > 100
    assert compare_digests(expected, digest_run(bucket_run)) == []
