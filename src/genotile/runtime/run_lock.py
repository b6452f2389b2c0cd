"""Stale Snakemake locks after the Snakemake process itself was killed.

Snakemake locks a working directory (``.snakemake/locks/``) while it runs and removes the lock
when it exits. A SIGKILL, an out-of-memory kill or a lost node leaves the lock behind, and the
next run stops with ``LockException`` until ``snakemake --unlock``. That is deliberate: a lock
cannot tell a dead run from one still running on another machine that shares the folder.

On one machine the question can be answered: a lock is stale when no Snakemake process on this
host has its working directory in the folder. ``make demo`` (always local) asks it through
``genotile unlock-stale`` before it starts; cluster users follow the README's command
(``--unlock``, then the same command again), since their Snakemake may run on another login node.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LOCK_FOLDER = Path(".snakemake") / "locks"


def held_locks(workdir: str | os.PathLike[str]) -> list[Path]:
    """The lock files Snakemake left in ``workdir`` (empty when it is not locked)."""
    folder = Path(workdir) / LOCK_FOLDER
    return sorted(folder.glob("*.lock")) if folder.is_dir() else []


def snakemake_processes(workdir: str | os.PathLike[str], proc: str | os.PathLike[str] = "/proc") -> list[int]:
    """PIDs of this host's Snakemake processes working in ``workdir`` (read from ``/proc``)."""
    target = Path(workdir).resolve()
    pids = []
    for entry in Path(proc).iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(entry / "cwd")).resolve()
        except OSError:  # gone meanwhile, or another user's process
            continue
        if any(Path(part.decode(errors="replace")).name == "snakemake" for part in command[:3]) and cwd == target:
            pids.append(int(entry.name))
    return pids


def unlock_stale(workdir: str | os.PathLike[str], proc: str | os.PathLike[str] = "/proc") -> str:
    """Remove ``workdir``'s Snakemake lock if no Snakemake process of this host works there; say what was done."""
    locks = held_locks(workdir)
    if not locks:
        return "no Snakemake lock"
    if not Path(proc).is_dir():
        return "locked, but this system has no /proc to tell whether the run is alive: run snakemake with --unlock if it is not"
    running = snakemake_processes(workdir, proc)
    if running:
        return f"locked by a running Snakemake (pid {', '.join(map(str, running))}): left in place"
    shutil.rmtree(Path(workdir) / LOCK_FOLDER)
    return f"removed a stale Snakemake lock ({len(locks)} file(s)) left by a killed run"
