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

import pytest

from conftest import (
    BIN,
    WORKFLOW_INSTALLED,
    as_a_git_checkout,
    cloud_run_args,
    copy_workflow,
    download_prefix,
    report,
    s3_endpoint,
    snakemake_env,
)
from genotile.run_digest import compare_digests, digest_run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to ship the workflow sources to jobs")
def test_run_without_shared_filesystem_through_s3_equals_local_run(demo_run, tmp_path):
    _, run_dir, _ = demo_run
    workdir = copy_workflow(tmp_path / "wf")
    as_a_git_checkout(workdir)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    with s3_endpoint() as (endpoint, s3_env):
        env = dict(snakemake_env(), GENOTILE_JOB_ROOT=str(jobs), **s3_env)
        run = subprocess.run([str(BIN / "snakemake"), *cloud_run_args(endpoint, "cloud-run")], cwd=workdir, env=env,
                             capture_output=True, text=True, timeout=2400)
        assert run.returncode == 0, report(run)
        bucket_run = tmp_path / "bucket" / run_dir.name
        assert download_prefix(endpoint, f"cloud-run/results/{run_dir.name}/", bucket_run) > 100
    assert len(list(jobs.iterdir())) >= 15, report(run)  # every rule ran as its own job, each in its own folder
    assert not (workdir / "results").exists()  # nothing reached the submitting folder except through S3
    assert compare_digests(digest_run(run_dir), digest_run(bucket_run)) == []
