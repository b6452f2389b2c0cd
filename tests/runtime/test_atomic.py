"""genotile.runtime.atomic: a file appears under its final name only when complete, and every step writes through it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from genotile.runtime import atomic
from genotile.runtime.run_digest import TEMPORARY

ROOT = Path(__file__).resolve().parents[2]


class Boom(RuntimeError):
    pass


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")

    def half(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise Boom

    with pytest.raises(Boom):
        atomic.write_file(path, half)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_killed_writer_leaves_nothing_under_the_final_name(tmp_path):
    """SIGKILL mid-write (no cleanup runs): the final name is absent; the leftover is a temporary that digests skip."""
    path = tmp_path / "scores.parquet"
    code = (
        "import os, signal, sys\n"
        "from genotile.runtime.atomic import write_file\n"
        "def half(tmp):\n"
        "    tmp.write_bytes(b'PAR1 half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        f"write_file({str(path)!r}, half)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True)
    assert run.returncode == -signal.SIGKILL
    assert not path.exists()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".scores.parquet.") and TEMPORARY.search(left[0])


def test_same_bytes_as_the_direct_calls_and_usual_permissions(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.to_parquet(tmp_path / "direct.parquet", index=False, compression="zstd")
    frame.to_csv(tmp_path / "direct.tsv", sep="\t", index=False)
    atomic.write_parquet(frame, tmp_path / "sub" / "via.parquet", index=False, compression="zstd")
    atomic.write_table(frame, tmp_path / "sub" / "via.tsv", sep="\t", index=False)
    atomic.write_text(tmp_path / "sub" / "via.txt", "text\n")
    assert (tmp_path / "sub" / "via.parquet").read_bytes() == (tmp_path / "direct.parquet").read_bytes()
    assert (tmp_path / "sub" / "via.tsv").read_bytes() == (tmp_path / "direct.tsv").read_bytes()
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "sub" / "via.txt").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_write_errors_name_the_file_in_the_callers_error_type(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")

    class StepError(ValueError):
        pass

    with pytest.raises(StepError, match=r"cannot write into .*file.*choose a writable folder"):
        atomic.write_text(blocker / "out.txt", "x", StepError)
    with pytest.raises(OSError):
        atomic.write_text(blocker / "out.txt", "x")


def test_no_module_renames_by_hand():
    """Outputs go through genotile.runtime.atomic; a new hand-written rename would bypass its guarantees."""
    allowed = {
        "runtime/atomic.py",
        "runtime/remote_inputs.py",  # a whole cache folder, renamed without replacing a concurrent job's copy
        "sequence/fasta.py",  # pyfaidx builds its index in a temporary folder; the files are moved beside the FASTA
    }
    src = ROOT / "src" / "genotile"
    found = [
        f"{p.relative_to(src)}:{n}"
        for p in sorted(src.rglob("*.py"))
        if str(p.relative_to(src)) not in allowed
        for n, line in enumerate(p.read_text().splitlines(), start=1)
        if re.search(r"\bos\.(replace|rename)\(", line)
    ]
    assert not found, f"write through genotile.runtime.atomic instead: {found}"


def test_the_bgzip_step_writes_the_vcf_and_its_index_by_rename(tmp_path, monkeypatch):
    """compress_plain_vcf (rule bgzip_vcf) renames both files into place, each from a temporary beside it."""
    from genotile.sequence.demo import write_demo_genome, write_demo_vcf
    from genotile.variants.normalize import compress_plain_vcf

    vcf = write_demo_vcf(tmp_path / "c.vcf", write_demo_genome(tmp_path / "g.fa"))
    renames: list[tuple[str, str]] = []
    real = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (renames.append((str(a), str(b))), real(a, b))[1])
    compress_plain_vcf(vcf, tmp_path / "c.vcf.gz")
    targets = {Path(b).name: Path(a).name for a, b in renames}
    assert set(targets) >= {"c.vcf.gz", "c.vcf.gz.tbi"}
    assert all(TEMPORARY.search(source) for source in targets.values())
    assert not [p for p in tmp_path.iterdir() if TEMPORARY.search(p.name)]


def test_the_normalise_and_shard_steps_write_by_rename(tmp_path, monkeypatch):
    """normalize_variants and shard_variants wrote their tables directly once; now each arrives by a rename."""
    from genotile.sequence.demo import write_demo_genome, write_demo_vcf
    from genotile.variants import steps
    from genotile.variants.normalize import compress_plain_vcf

    fasta = write_demo_genome(tmp_path / "g.fa")
    compress_plain_vcf(write_demo_vcf(tmp_path / "c.vcf", fasta), tmp_path / "c.vcf.gz")
    cfg = {"variants": {"max_indel_length": 50, "max_ref_mismatch_fraction": 0.5, "region": None, "rename_chr_prefix": False,
                        "mode": "tiled", "window_bp": 16_384, "tile_owned_bp": None, "variants_per_shard": 3}}
    renames: list[str] = []
    real = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (renames.append(Path(b).name), real(a, b))[1])
    out = tmp_path / "out"
    from genotile.settings import NormalizeSettings, ShardSettings

    steps.normalize_variants(NormalizeSettings.from_config(cfg), str(tmp_path / "c.vcf.gz"), str(fasta),
                             str(out / "variants.parquet"), str(out / "rejects.parquet"))
    steps.shard_variants(ShardSettings.from_config(cfg), str(out / "variants.parquet"), str(fasta), str(out / "shards.tsv"))
    assert renames == ["variants.parquet", "rejects.parquet", "shards.tsv"]
