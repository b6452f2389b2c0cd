"""Cloud-style runs: no shared filesystem, every file through S3, the same bytes as the local run; inputs as URLs.

Stands in for the Kubernetes and Google Batch executors, which need a cluster (``conftest.cloud_style_run``):
Snakemake's cluster-generic executor submits each job to ``tests/helpers/isolated_job.sh``, which runs it
in a new, empty folder, with ``--shared-fs-usage none`` (sources deployed from the bucket) and
``--default-storage-provider s3`` against an S3 server (moto). A file a rule forgets to declare, or
a folder genotile.runtime.storage_mirror forgets to move, makes the run fail or differ from the local run.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import BIN, WORKFLOW_INSTALLED, cloud_style_run, report

from genotile.runtime.run_digest import compare_digests, digest_run

pytestmark = pytest.mark.slow

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


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to ship the workflow sources to jobs")
def test_inputs_and_weights_given_as_s3_urls(demo_run, tmp_path):
    """A cohort run whose genome, index files, VCF, annotation and checkpoint are all s3:// URLs.

    The jobs fetch them through the storage plugin (the .tbi too: the region query needs it) and
    download the checkpoint into their cache; the values equal the local run's on the same contig.
    """
    import pandas as pd
    from conftest import DEMO_CONFIG, S3_BUCKET

    from genotile.model.checkpoints import save_checkpoint, synthetic_model
    from genotile.runtime.remote_inputs import COMPLETE_MARKER

    _, run_dir, _ = demo_run
    model = DEMO_CONFIG["model"]
    weights = synthetic_model(model["size"], model["seed"])
    checkpoint = save_checkpoint(tmp_path / "weights", weights.variables, weights.config)
    inputs = f"s3://{S3_BUCKET}/inputs"
    uploads = {"inputs/genome/demo.fa": run_dir / "genome/demo.fa",
               "inputs/genome/demo.fa.fai": run_dir / "genome/demo.fa.fai",
               "inputs/cohort.vcf.gz": run_dir / "variants/demo/input/cohort.vcf.gz",
               "inputs/cohort.vcf.gz.tbi": run_dir / "variants/demo/input/cohort.vcf.gz.tbi",
               "inputs/demo.gtf": run_dir / "annotation/demo.gtf",
               "inputs/demo_pas.tsv": run_dir / "annotation/demo_pas.tsv",
               "inputs/weights": checkpoint}
    overlay = {"genome": {"fasta": f"{inputs}/genome/demo.fa"},
               "model": {"checkpoint": f"{inputs}/weights"},
               "tiling": {"contigs": ["demo1"]},
               "annotation": {"gtf": f"{inputs}/demo.gtf", "pas": f"{inputs}/demo_pas.tsv"},
               "variants": {"cohorts": {"demo": f"{inputs}/cohort.vcf.gz"}, "region": "demo1"}}
    run = cloud_style_run(tmp_path / "cloud", uploads=uploads, overlay=overlay)
    assert run.result.returncode == 0, report(run.result)
    assert not (run.workdir / "results").exists()
    logs = "".join(p.read_text() for p in (run.bucket_run / "logs").glob("*.log"))
    assert f"downloading checkpoint {inputs}/weights" in logs, report(run.result)
    assert len(list((tmp_path / "cloud" / "cache" / "checkpoints").glob(f"*/{COMPLETE_MARKER}"))) == 1

    # Tracks: every chunk of demo1 has the local run's bytes (metadata differs: provenance names the URLs).
    local, cloud = digest_run(run_dir), digest_run(run.bucket_run)
    chunks = {p: d for p, d in local.items() if "/demo1/" in p and p.startswith(("tracks.zarr", "contact_maps.zarr"))
              and not p.endswith("zarr.json")}
    assert chunks and {p: cloud.get(p) for p in chunks} == chunks

    # Variants: the region kept demo1's records, and every score equals the local run's.
    tables = sorted((run_dir / "variants/demo/scores").glob("*.parquet"))
    assert tables
    for table in tables:
        expected = pd.read_parquet(table)
        expected = expected[expected["chrom"] == "demo1"]
        got = pd.read_parquet(run.bucket_run / "variants/demo/scores" / table.name)
        assert set(got["chrom"]) == {"demo1"} and len(got) == len(expected), table.name
        keys = [c for c in got.columns if c not in ("score", "ref_value", "alt_value")]
        pd.testing.assert_frame_equal(got.sort_values(keys).reset_index(drop=True),
                                      expected.sort_values(keys).reset_index(drop=True), check_dtype=False)
