"""Run digests: byte comparison of two run folders, run records and (optionally) job layout left out."""

from __future__ import annotations

import pytest

from genotile.cli.main import main
from genotile.runtime.run_digest import compare_digests, digest_run


def _run(folder, value: bytes, batches: int):
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "x.log").write_text(f"took {batches} s")
    (folder / "tracks.zarr" / "c").mkdir(parents=True)
    (folder / "tracks.zarr" / "c" / "0").write_bytes(value)
    (folder / "batches").mkdir()
    for b in range(batches):
        (folder / "batches" / f"batch_{b}.done").write_text(str(b))
    (folder / "variants" / "demo" / "shards" / "shard_0").mkdir(parents=True)
    (folder / "variants" / "demo" / "shards" / "shard_0" / "stats.json").write_text(str(batches))
    (folder / "variants" / "demo" / "shards.tsv").write_text(str(batches))
    (folder / "windows.tsv").write_text(str(batches))
    return folder


def test_identical_products_with_different_job_layouts(tmp_path, capsys):
    a = _run(tmp_path / "a", b"same", 2)
    b = _run(tmp_path / "b", b"same", 3)
    assert "logs/x.log" not in digest_run(a)
    (a / "genome").mkdir()
    (a / "genome" / "demo.fa.fai").write_text("index written where the FASTA was read")
    assert "genome/demo.fa.fai" not in digest_run(a)  # a reader's cache, present only on shared filesystems
    assert compare_digests(digest_run(a, job_layout=False), digest_run(b, job_layout=False)) == []
    problems = compare_digests(digest_run(a), digest_run(b))
    assert "only in the second run: batches/batch_2.done" in problems and "differs: windows.tsv" in problems
    assert main(["digest", str(a), str(b), "--products-only"]) == 0
    assert "identical" in capsys.readouterr().out


def test_a_changed_chunk_is_reported(tmp_path, capsys):
    a = _run(tmp_path / "a", b"one", 2)
    b = _run(tmp_path / "b", b"two", 2)
    assert compare_digests(digest_run(a), digest_run(b)) == ["differs: tracks.zarr/c/0"]
    assert main(["digest", str(a), str(b)]) == 1
    assert "differs: tracks.zarr/c/0" in capsys.readouterr().out
    assert main(["digest", str(tmp_path / "nope")]) == 2
    with pytest.raises(FileNotFoundError):
        digest_run(tmp_path / "nope")


def test_leftover_temporary_files_are_differences(tmp_path, capsys):
    """A killed export or store write leaves temporary files: never 'identical', and listed when digesting one run."""
    from genotile.runtime.run_digest import compare_runs, leftovers

    a = _run(tmp_path / "a", b"same", 2)
    b = _run(tmp_path / "b", b"same", 2)
    assert leftovers(a) == [] and compare_runs(a, b) == []
    (a / "bigwig").mkdir()
    (a / "bigwig" / ".dnase.128bp.0000.x.bw.k3j2.tmp").write_bytes(b"half")
    (a / ".tracks.zarr.tmp-ab12" / "c").mkdir(parents=True)
    (a / ".tracks.zarr.tmp-ab12" / "c" / "0").write_bytes(b"half")
    (a / "tracks.zarr" / "c" / "1.0f3a.partial").write_bytes(b"half")
    (a / "logs" / "y.tmp").write_text("a run record, not a product")
    assert digest_run(a) == digest_run(b)  # the products are the same ...
    assert leftovers(a) == [".tracks.zarr.tmp-ab12/", "bigwig/.dnase.128bp.0000.x.bw.k3j2.tmp", "tracks.zarr/c/1.0f3a.partial"]
    problems = compare_runs(a, b)  # ... but the first run is not clean
    assert len(problems) == 3 and all(p.startswith("leftover temporary file in the first run: ") for p in problems)
    assert main(["digest", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "bigwig/.dnase.128bp.0000.x.bw.k3j2.tmp" in out and "identical" not in out
    assert main(["digest", str(b), str(a), "--products-only"]) == 1
    assert "in the second run: .tracks.zarr.tmp-ab12/" in capsys.readouterr().out
    assert main(["digest", str(a)]) == 0
    assert "warning: leftover temporary file bigwig/.dnase" in capsys.readouterr().err
