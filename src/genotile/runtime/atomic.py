"""Atomic replacement of files and folders: build beside the target, then rename into place.

Every output of genotile (stores, per-window arrays, done-files) is written
this way, so an interrupted job never leaves something under the final name
that looks complete; a rename within one folder is atomic on POSIX.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def temporary_sibling(path: Path, tag: str, error: type[Exception] = OSError) -> Path:
    """A new private-named folder next to ``path`` (same filesystem, so a later rename is atomic).

    Raises ``error`` naming the folder when it cannot be written. The folder gets the
    usual umask permissions (``mkdtemp`` would make it private).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.{tag}-", dir=path.parent))
    except OSError as exc:
        raise error(f"{path}: cannot write into {path.parent} ({exc.strerror or exc}); choose a writable folder") from None
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    return folder


def swap_into_place(built: Path, path: Path, error: type[Exception] = OSError) -> None:
    """Move the finished ``built`` to ``path``, replacing what was there (the old one is moved aside first)."""
    old = None
    if path.exists():
        old = temporary_sibling(path, "old", error)
        os.replace(path, old / path.name)
    os.replace(built, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_aside(path: Path, error: type[Exception] = OSError) -> None:
    """Delete the folder ``path``, moving it aside first so no reader ever sees half of it."""
    aside = temporary_sibling(path, "old", error)
    os.replace(path, aside / path.name)
    shutil.rmtree(aside, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a small text file atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def replace_path(path: str | os.PathLike[str], build) -> Path:
    """Call ``build(tmp)`` to create a file or folder at a temporary sibling path, then swap it into ``path``.

    Why: callers only say *what* to write; whether it is complete when it appears under its final
    name is decided here once. A failing ``build`` leaves the old ``path`` untouched.
    """
    path = Path(path)
    staging = temporary_sibling(path, "new")
    try:
        built = staging / path.name
        build(built)
        swap_into_place(built, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
