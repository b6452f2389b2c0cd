"""genotile.runtime.run_lock: a lock is removed only when no Snakemake of this host works in the folder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from genotile.runtime.run_lock import held_locks, snakemake_processes, unlock_stale

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")


def _locked(folder: Path) -> Path:
    locks = folder / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("/some/input\n")
    (locks / "0.output.lock").write_text("/some/output\n")
    return folder


def test_no_lock_is_said_and_nothing_removed(tmp_path):
    assert unlock_stale(tmp_path) == "no Snakemake lock"


def test_a_lock_without_a_live_snakemake_is_removed(tmp_path):
    _locked(tmp_path)
    assert len(held_locks(tmp_path)) == 2
    assert "removed a stale Snakemake lock (2 file(s))" in unlock_stale(tmp_path)
    assert held_locks(tmp_path) == []


def test_a_lock_held_by_a_running_snakemake_is_kept(tmp_path):
    _locked(tmp_path)
    fake = tmp_path / "bin" / "snakemake"  # a process whose command is `snakemake`, working in the folder
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    fake.chmod(0o755)
    proc = subprocess.Popen([str(fake)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not snakemake_processes(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert snakemake_processes(tmp_path) == [proc.pid]
        assert f"running Snakemake (pid {proc.pid})" in unlock_stale(tmp_path)
        assert len(held_locks(tmp_path)) == 2
    finally:
        proc.kill()
        proc.wait()
