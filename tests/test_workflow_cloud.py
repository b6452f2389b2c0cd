"""A cloud-style run: no shared filesystem, every file through S3, the same bytes as the local run.

Stands in for the Kubernetes and Google Batch executors, which need a cluster (``conftest.cloud_style_run``):
Snakemake's cluster-generic executor submits each job to ``tests/helpers/isolated_job.sh``, which runs it
in a new, empty folder, with ``--shared-fs-usage none`` (sources deployed from the bucket) and
``--default-storage-provider s3`` against an S3 server (moto). A file a rule forgets to declare, or
a folder genotile.storage_mirror forgets to move, makes the run fail or differ from the local run.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import BIN, WORKFLOW_INSTALLED, cloud_style_run, report
from genotile.run_digest import compare_digests, digest_run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to ship the workflow sources to jobs")
def test_run_without_shared_filesystem_through_s3_equals_local_run(demo_run, tmp_path):
    _, run_dir, _ = demo_run
    run = cloud_style_run(tmp_path)
    assert run.result.returncode == 0, report(run.result)
    assert run.objects > 100
    assert len(list(run.jobs.iterdir())) >= 15, report(run.result)  # every rule its own job, in its own folder
    assert not (run.workdir / "results").exists()  # nothing reached the submitting folder except through S3
    assert compare_digests(digest_run(run_dir), digest_run(run.bucket_run)) == []
