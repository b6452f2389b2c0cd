"""A cloud-style run: no shared filesystem, every file through S3, inputs as URLs, the same bytes as the local run.

Stands in for the Kubernetes and Google Batch executors, which need a cluster (``conftest.cloud_style_run``):
Snakemake's cluster-generic executor submits each job to ``tests/helpers/isolated_job.sh``, which runs it
in a new, empty folder, with ``--shared-fs-usage none`` (sources deployed from the bucket) and
``--default-storage-provider s3`` against an S3 server (moto). A file a rule forgets to declare, or
a folder genotile.runtime.storage_mirror forgets to move, makes the run fail or differ from the local run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import BIN, WORKFLOW_INSTALLED, cloud_style_run, report

from genotile.runtime.run_digest import compare_digests, digest_run

pytestmark = pytest.mark.slow

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)


#: What the local demo run makes for itself (its seeded genome, demo annotation and demo cohort) and the
#: cloud run is given as s3:// URLs instead: inputs, so only in the local run (``.fai``: never digested).
GENERATED_INPUTS = frozenset({"genome/demo.fa", "annotation/demo.gtf", "annotation/demo_pas.tsv",
                              "variants/demo/input/demo.vcf", "variants/demo/input/cohort.vcf.gz",
                              "variants/demo/input/cohort.vcf.gz.tbi"})
#: The provenance entries that say where the inputs came from: a path against an s3:// URL, seeded weights
#: against a checkpoint of the same values. Everything else in those files must be the same.
INPUT_PROVENANCE = (("genome", "fasta"), ("weights",), ("weights_note",), ("config", "model", "checkpoint"),
                    ("config", "model", "weights"))
#: The files that hold that provenance (the stores' root attributes).
PROVENANCE_FILES = frozenset({"tracks.zarr/zarr.json", "contact_maps.zarr/zarr.json"})


def _is_ism_metadata(path: str) -> bool:
    """An ``ism.zarr`` metadata file: its attributes name the model's weights (``model``), which the cloud run
    loads from the bucket and the local run makes from the seed, so only they may differ."""
    return path.startswith("ism/") and path.endswith("zarr.json")


def _without_model_attribute(node):
    """A zarr.json tree with every ``attributes.model`` (ism.zarr's weights identity) removed."""
    if isinstance(node, dict):
        return {k: _without_model_attribute(v) for k, v in node.items()
                if not (k == "model" and isinstance(v, str) and (v.startswith("checkpoint:") or v.startswith("synthetic:")))}
    if isinstance(node, list):
        return [_without_model_attribute(v) for v in node]
    return node


def _without_input_provenance(zarr_json: Path) -> dict:
    """A store root's metadata with the :data:`INPUT_PROVENANCE` entries of its attributes removed."""
    metadata = json.loads(zarr_json.read_text())
    for keys in INPUT_PROVENANCE:
        parent = metadata["attributes"]
        for key in keys[:-1]:
            parent = parent.get(key, {})
        parent.pop(keys[-1], None)
    return metadata


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to ship the workflow sources to jobs")
def test_cloud_run_with_s3_url_inputs_equals_local_run(demo_run, tmp_path):
    """One run, two promises (one cloud run instead of two: each costs a quarter of CI's time).

    No shared filesystem: every rule is its own job in its own empty folder, nothing reaches the
    submitting folder except through S3, and the products are the local run's bytes. Inputs as URLs:
    the genome, index files, VCF, annotation and checkpoint are all s3:// URLs, fetched by the storage
    plugin; every job that reads the VCF fetches its .tbi too (a ``variants.region`` query needs it;
    region queries themselves: tests/variants/test_vcf_normalize.py); the checkpoint is downloaded once
    into the jobs' cache. Compared with the local demo run over every contig and every variant: every product has the
    same bytes, except only the stores' provenance entries that name the inputs (:data:`INPUT_PROVENANCE`).
    """
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
               "annotation": {"gtf": f"{inputs}/demo.gtf", "pas": f"{inputs}/demo_pas.tsv"},
               "variants": {"cohorts": {"demo": f"{inputs}/cohort.vcf.gz"}}}
    run = cloud_style_run(tmp_path / "cloud", uploads=uploads, overlay=overlay)
    assert run.result.returncode == 0, report(run.result)
    assert run.objects > 100
    assert len(list(run.jobs.iterdir())) >= 15, report(run.result)  # every rule its own job, in its own folder
    assert not (run.workdir / "results").exists()  # nothing reached the submitting folder except through S3
    assert "positions_per_second" in (run.bucket_run / "ism" / "demo" / "stats.json").read_text()  # run records too
    logs = "".join(p.read_text() for p in (run.bucket_run / "logs").glob("*.log"))
    assert f"downloading checkpoint {inputs}/weights" in logs, report(run.result)
    assert len(list((tmp_path / "cloud" / "cache" / "checkpoints").glob(f"*/{COMPLETE_MARKER}"))) == 1

    vcf_jobs = [log for log in (p.read_text() for p in run.jobs.glob("*/job.log"))
                if re.search(rf"^Retrieving from storage: {inputs}/cohort\.vcf\.gz$", log, re.M)]
    assert len(vcf_jobs) >= 2, report(run.result)  # normalize_variants and summarize_variants read the VCF
    assert all(f"Retrieving from storage: {inputs}/cohort.vcf.gz.tbi" in log for log in vcf_jobs)  # its index too

    local, cloud = digest_run(run_dir), digest_run(run.bucket_run)
    assert GENERATED_INPUTS <= set(local)
    expected = {path: digest for path, digest in local.items()
                if path not in GENERATED_INPUTS | PROVENANCE_FILES and not _is_ism_metadata(path)}
    got = {path: digest for path, digest in cloud.items() if path not in PROVENANCE_FILES and not _is_ism_metadata(path)}
    assert compare_digests(expected, got) == []
    ism_metadata = sorted(path for path in local if _is_ism_metadata(path))
    assert ism_metadata and ism_metadata == sorted(path for path in cloud if _is_ism_metadata(path))
    for name in ism_metadata:  # the same ISM arrays and attributes but the weights' identity
        local_tree, cloud_tree = (json.loads((root / name).read_text()) for root in (run_dir, run.bucket_run))
        assert _without_model_attribute(local_tree) == _without_model_attribute(cloud_tree), name
    for name in PROVENANCE_FILES:  # the same store, made from inputs named differently
        assert _without_input_provenance(run_dir / name) == _without_input_provenance(run.bucket_run / name), name
        attributes = json.loads((run.bucket_run / name).read_text())["attributes"]
        assert attributes["genome"]["fasta"] == f"{inputs}/genome/demo.fa", name
