"""genotile.runtime.storage_mirror: where run folders go in object storage, and pull/push between job and bucket.

The bucket is a local folder here (fsspec's file protocol) or an S3 server (moto); the whole
workflow over S3 with isolated jobs is tested in test_workflow_cloud.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genotile.runtime.storage_mirror import (
    StoreMirrorError,
    local_listing,
    mirrored,
    pull,
    pulled,
    push,
    remote_path,
    remote_root,
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _store(folder: Path) -> None:
    _write(folder / "zarr.json", "root")
    _write(folder / "dnase" / "zarr.json", "array")
    _write(folder / "dnase" / "c" / "0" / "0", "chunk-a")
    _write(folder / "dnase" / "c" / "1" / "0", "chunk-b")


def test_remote_root_follows_the_storage_plugins_layout(tmp_path):
    assert remote_root(None, None) is None
    assert remote_root(None, "s3://bucket/x") is None
    assert remote_root("s3", "s3://bucket/genotile/") == "s3://bucket/genotile"
    assert remote_root("s3", "bucket/genotile") == "s3://bucket/genotile"
    assert remote_root("gcs", "bucket/genotile") == "gs://bucket/genotile"
    assert remote_root("fs", str(tmp_path / "bucket")) == str(tmp_path / "bucket")
    assert remote_path("s3://bucket/genotile", "results/demo/tracks.zarr") == "s3://bucket/genotile/results/demo/tracks.zarr"
    assert remote_path("s3://b/g", "./results/demo/") == "s3://b/g/results/demo"
    assert remote_path(None, "results/demo/tracks.zarr") is None


def test_a_provider_without_prefix_is_refused_with_the_fix():
    with pytest.raises(StoreMirrorError, match="--default-storage-prefix"):
        remote_root("s3", None)
    assert issubclass(StoreMirrorError, ValueError)  # rule scripts report ValueErrors without a traceback


def test_push_sends_only_new_or_changed_files_and_pull_metadata_fetches_zarr_json_only(tmp_path):
    job1, bucket = tmp_path / "job1" / "tracks.zarr", tmp_path / "bucket" / "tracks.zarr"
    _store(job1)
    assert push(job1, str(bucket)) == 4
    assert local_listing(bucket).keys() == local_listing(job1).keys()

    job2 = tmp_path / "job2" / "tracks.zarr"
    assert pull(job2, str(bucket), "metadata") == 2
    assert sorted(local_listing(job2)) == ["dnase/zarr.json", "zarr.json"]
    before = local_listing(job2)
    _write(job2 / "dnase" / "c" / "2" / "0", "chunk-c")
    assert push(job2, str(bucket), before) == 1  # the metadata it pulled is not sent back
    assert (bucket / "dnase" / "c" / "2" / "0").read_text() == "chunk-c"
    assert (bucket / "dnase" / "c" / "0" / "0").read_text() == "chunk-a"  # other jobs' chunks untouched

    reader = tmp_path / "job3" / "tracks.zarr"
    assert pull(reader, str(bucket), "all") == 5
    assert (reader / "dnase" / "c" / "1" / "0").read_text() == "chunk-b"
    assert not [p for p in reader.rglob("*") if p.name.endswith((".pull", ".tmp"))]  # no temporaries left behind


def test_pull_of_a_missing_store_copies_nothing(tmp_path, capsys):
    assert pull(tmp_path / "job", str(tmp_path / "bucket" / "contact_maps.zarr"), "all") == 0
    assert "not in object storage" in capsys.readouterr().err


def test_mirrored_is_a_no_op_on_a_shared_filesystem(tmp_path):
    with mirrored(tmp_path / "tracks.zarr", None, "all", write=True, fresh=True):
        _store(tmp_path / "tracks.zarr")
    assert len(local_listing(tmp_path / "tracks.zarr")) == 4


def test_mirrored_fresh_replaces_the_remote_folder_and_failure_pushes_nothing(tmp_path, monkeypatch):
    (tmp_path / "job").mkdir()
    monkeypatch.chdir(tmp_path / "job")
    root = str(tmp_path / "bucket")
    stale = tmp_path / "bucket" / "results" / "demo" / "bigwig" / "old.bw"
    _write(stale, "stale")
    with mirrored("results/demo/bigwig", root, "none", write=True, fresh=True):
        _write(Path("results/demo/bigwig/new.bw"), "new")
    assert not stale.exists() and (stale.parent / "new.bw").read_text() == "new"

    with pytest.raises(RuntimeError), mirrored("results/demo/bigwig", root, "none", write=True):
        _write(Path("results/demo/bigwig/half.bw"), "half")
        raise RuntimeError("job killed")
    assert not (stale.parent / "half.bw").exists()

    monkeypatch.chdir(tmp_path)  # another job: a new, empty folder
    with pulled(["results/demo/bigwig"], root):
        assert Path("results/demo/bigwig/new.bw").read_text() == "new"


@pytest.mark.slow
def test_push_and_pull_through_s3(tmp_path, monkeypatch):
    """The same round trip against an S3 server (moto), through s3fs, with the keys the S3 plugin hands to jobs."""
    pytest.importorskip("moto.server")
    from conftest import s3_endpoint

    with s3_endpoint() as (endpoint, _env):
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("SNAKEMAKE_STORAGE_S3_ACCESS_KEY", "testing")
        monkeypatch.setenv("SNAKEMAKE_STORAGE_S3_SECRET_KEY", "testing")
        monkeypatch.setenv("SNAKEMAKE_STORAGE_S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        job1 = tmp_path / "job1" / "tracks.zarr"
        _store(job1)
        remote = remote_path(remote_root("s3", "s3://genotile-test/run"), "results/demo/tracks.zarr")
        assert push(job1, remote) == 4
        job2 = tmp_path / "job2" / "tracks.zarr"
        assert pull(job2, remote, "metadata") == 2
        assert pull(job2, remote, "all") == 4
        assert (job2 / "dnase" / "c" / "1" / "0").read_text() == "chunk-b"
