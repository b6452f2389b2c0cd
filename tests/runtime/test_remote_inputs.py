"""genotile.runtime.remote_inputs: inputs given as s3:// or gs:// URLs (checks, identity, the checkpoint cache).

Most tests use fsspec's file:// protocol as the bucket (the functions below the scheme check are
protocol-agnostic); the S3 ones use a moto server, as the storage plugins would see it. The whole
workflow with URL inputs and no shared filesystem is tested in test_workflow_cloud.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from genotile.runtime.provenance import weights_identity
from genotile.runtime.remote_inputs import (
    COMPLETE_MARKER,
    check_url,
    checkpoint_path,
    index_of,
    input_problems,
    is_url,
    local_checkpoint,
    remote_identity,
)
from genotile.runtime.storage_mirror import StoreMirrorError


def _folder(root: Path) -> Path:
    (root / "weights").mkdir(parents=True)
    (root / "genotile.json").write_text('{"config": "tiny"}')
    (root / "weights" / "data").write_bytes(b"\x00" * 64)
    return root


def test_is_url_separates_object_storage_from_local_paths():
    assert is_url("s3://bucket/genome.fa") and is_url("gs://bucket/x")
    assert not is_url("/data/genome.fa") and not is_url("genome.fa") and not is_url(None)


def test_unsupported_schemes_are_refused_with_the_fix():
    problem = check_url("https://example.org/hg38.fa", "genome.fasta")
    assert problem.startswith("genome.fasta: https://example.org/hg38.fa") and "s3://" in problem and "local path" in problem


def test_inputs_are_checked_where_jobs_will_read_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.fa").write_text(">a\nACGT\n")
    bucket = tmp_path / "bucket"  # a storage root on a filesystem (storage-plugin-fs)
    (bucket / "ref").mkdir(parents=True)
    (bucket / "ref" / "g.fa").write_text(">a\nACGT\n")
    # Shared filesystem: local paths, each problem with its key and fix.
    assert input_problems([("genome.fasta", "g.fa"), ("annotation.pas", None)], None) == []
    assert input_problems([("variants.cohorts.x", "missing.vcf.gz")], None) == [
        "variants.cohorts.x: missing.vcf.gz does not exist (give a VCF/BCF path or URL, or null for the demo cohort)"]
    # Default storage provider: a relative path is looked up under the storage root, not locally.
    assert input_problems([("genome.fasta", "ref/g.fa")], str(bucket)) == []
    assert input_problems([("genome.fasta", "g.fa")], str(bucket)) == [
        f"genome.fasta: g.fa is not in the storage folder ({bucket}/g.fa does not exist) "
        "(give a FASTA path or URL, or null for the demo genome)"]
    absolute = input_problems([("annotation.gtf", str(tmp_path / "g.fa"))], "s3://b/run")
    assert len(absolute) == 1 and "is an absolute path" in absolute[0] and "s3:// or gs:// URL" in absolute[0]
    # ... except the checkpoint, which jobs read in place (image or mounted volume).
    assert input_problems([("model.checkpoint", "g.fa")], "s3://b/run") == []
    assert "not ftp://" in input_problems([("annotation.gtf", "ftp://host/x.gtf")], None)[0]


def test_remote_identity_changes_with_the_objects_and_only_then(tmp_path):
    folder = _folder(tmp_path / "ckpt")
    url = f"file://{folder}"
    first = remote_identity(url)
    assert first.startswith("checkpoint:2 objects:")
    assert remote_identity(url) == first
    (folder / "weights" / "data").write_bytes(b"\x01" * 65)
    assert remote_identity(url) != first
    with pytest.raises(FileNotFoundError, match="does not exist in object storage"):
        remote_identity(f"file://{tmp_path}/missing")


def test_local_checkpoint_downloads_once_per_version_and_never_returns_a_partial_copy(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "ckpt")
    url = f"file://{folder}"
    cache = tmp_path / "cache"
    local = local_checkpoint(url, cache)
    (local.parent / COMPLETE_MARKER).unlink()  # an unmarked copy (damaged, or made by hand) is not trusted
    (local / "weights" / "data").write_bytes(b"damaged")
    assert local_checkpoint(url, cache) == local
    assert local.name == "ckpt" and (local.parent / COMPLETE_MARKER).exists()
    assert (local / "weights" / "data").read_bytes() == b"\x00" * 64
    assert (local / "genotile.json").read_text() == '{"config": "tiny"}'
    assert not [p for p in (cache / "checkpoints").iterdir() if p.name.endswith(".partial")]

    import genotile.runtime.remote_inputs as remote_inputs

    calls = []
    monkeypatch.setattr(remote_inputs, "pull", lambda *a: calls.append(a))
    assert local_checkpoint(url, cache) == local and calls == []  # cached: nothing fetched
    (folder / "weights" / "data").write_bytes(b"\x02" * 64 + b"!")  # a new version is a new copy
    monkeypatch.undo()
    assert local_checkpoint(url, cache) != local


def test_a_killed_download_leaves_no_complete_copy(tmp_path, monkeypatch):
    folder = _folder(tmp_path / "ckpt")
    url = f"file://{folder}"
    import genotile.runtime.remote_inputs as remote_inputs

    def killed(local, remote, mode):
        Path(local).mkdir(parents=True)
        (Path(local) / "genotile.json").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(remote_inputs, "pull", killed)
    with pytest.raises(KeyboardInterrupt):
        local_checkpoint(url, tmp_path / "cache")
    assert list((tmp_path / "cache" / "checkpoints").iterdir()) == []


def test_single_file_checkpoints_and_local_paths(tmp_path):
    (tmp_path / "one.ckpt").write_bytes(b"weights")
    local = local_checkpoint(f"file://{tmp_path}/one.ckpt", tmp_path / "cache")
    assert local.name == "one.ckpt" and local.read_bytes() == b"weights"
    assert checkpoint_path(str(tmp_path / "one.ckpt")) == str(tmp_path / "one.ckpt")


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    from genotile.runtime.remote_inputs import cache_dir

    monkeypatch.setenv("GENOTILE_CACHE_DIR", str(tmp_path / "g"))
    assert cache_dir() == tmp_path / "g"
    monkeypatch.delenv("GENOTILE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "genotile"


@pytest.mark.slow
def test_inputs_and_a_checkpoint_through_s3(tmp_path, monkeypatch):
    """Against an S3 server: existence checks, index lookup, and a genotile checkpoint loaded from its URL."""
    from conftest import S3_BUCKET, s3_endpoint, upload_to_bucket

    from genotile.model.checkpoints import save_checkpoint, synthetic_model
    from genotile.model.loading import load_predictor

    saved = save_checkpoint(tmp_path / "tiny", synthetic_model("tiny", 3).variables, synthetic_model("tiny", 3).config)
    with s3_endpoint() as (endpoint, env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("GENOTILE_CACHE_DIR", str(tmp_path / "cache"))
        base = f"s3://{S3_BUCKET}/inputs"
        upload_to_bucket(endpoint, "inputs/tiny", saved)
        (tmp_path / "g.fa").write_text(">a\nACGT\n")
        (tmp_path / "g.fa.fai").write_text("a\t4\t3\t4\t5\n")
        for key, local in (("g.fa", "g.fa"), ("h.fa", "g.fa"), ("g.fa.fai", "g.fa.fai"), ("run/ref/g.fa", "g.fa")):
            upload_to_bucket(endpoint, f"inputs/{key}", tmp_path / local)

        assert check_url(f"{base}/g.fa", "genome.fasta") is None
        missing = check_url(f"{base}/nope.vcf.gz", "variants.cohorts.x")
        assert missing == f"variants.cohorts.x: {base}/nope.vcf.gz does not exist in object storage (check the bucket, the path and the credentials)"
        assert index_of(f"{base}/g.fa", "fasta") == f"{base}/g.fa.fai"
        assert index_of(f"{base}/h.fa", "fasta") is None
        # On a cloud run a relative path is looked up under the storage prefix.
        assert input_problems([("genome.fasta", "ref/g.fa")], f"{base}/run") == []
        assert "does not exist in object storage" in input_problems([("genome.fasta", "g.fa")], f"{base}/run")[0]

        identity = weights_identity({"checkpoint": f"{base}/tiny"})
        assert identity.startswith("checkpoint:") and identity == remote_identity(f"{base}/tiny")
        predictor = load_predictor({"checkpoint": f"{base}/tiny", "size": "tiny", "seed": 0, "metadata": None,
                                    "precision": "float32"})
        expected = synthetic_model("tiny", 3).variables
        import jax

        got = jax.device_get(predictor.variables)
        for a, b in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(got), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert os.listdir(tmp_path / "cache" / "checkpoints")


def test_unreadable_buckets_are_reported_in_one_line(monkeypatch):
    import genotile.runtime.remote_inputs as remote_inputs

    class Denied:
        def isfile(self, path):
            raise PermissionError("Access Denied")

        exists = isfile

    monkeypatch.setattr(remote_inputs, "filesystem", lambda url: (Denied(), url.split("://", 1)[1]))
    with pytest.raises(StoreMirrorError, match=r"s3://b/ckpt cannot be listed \(PermissionError: Access Denied\); check the credentials"):
        remote_identity("s3://b/ckpt")
    assert "cannot be read (PermissionError: Access Denied)" in check_url("s3://b/g.fa", "genome.fasta")
