"""Atomic replacement of files and folders: build beside the target, then rename into place.

Every output of genotile (stores, per-window arrays, done-files) is written
this way, so an interrupted job never leaves something under the final name
that looks complete; a rename within one folder is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], error: type[Exception] = OSError) -> Iterator[Path]:
    """Yield a temporary file name beside ``path``; on a clean exit rename it onto ``path``.

    Why one place: a job killed mid-write must never leave a partial file under the final name
    (Snakemake would take it as done). The temporary name is ``.<name>.<random>.tmp`` (hidden,
    and skipped by ``genotile digest``); it gets the usual umask permissions, and is deleted
    when the block raises, leaving the old ``path`` (if any) untouched. An ``OSError`` is
    re-raised as ``error`` naming the file and the fix (as is, when ``error`` is ``OSError``).
    The temporary name does not end like ``path``: writers that infer a format or compression
    from the extension must be told it (all of genotile's outputs pass it or need none).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        if error is OSError:
            raise
        raise error(f"{path}: cannot write into {path.parent} ({exc.strerror or exc}); choose a writable folder") from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if error is OSError:
            raise
        raise error(f"{path}: writing failed ({exc.strerror or exc}); check free space and permissions") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_file(path: str | os.PathLike[str], write: Callable[[Path], object], error: type[Exception] = OSError) -> Path:
    """Call ``write(temporary name)`` to make the file, then rename it onto ``path`` (see :func:`writing`)."""
    with writing(path, error) as tmp:
        write(tmp)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, error: type[Exception] = OSError) -> Path:
    """Write a small text file atomically."""
    return write_file(path, lambda tmp: tmp.write_text(text), error)


def write_parquet(frame: Any, path: str | os.PathLike[str], error: type[Exception] = OSError, **options: Any) -> Path:
    """``frame.to_parquet(path, **options)``, atomically (the same call, so the same bytes)."""
    return write_file(path, lambda tmp: frame.to_parquet(tmp, **options), error)


def write_table(frame: Any, path: str | os.PathLike[str], error: type[Exception] = OSError, **options: Any) -> Path:
    """``frame.to_csv(path, **options)`` (pass ``sep="\t"`` for a TSV), atomically.

    The temporary name ends in ``.tmp``, so pandas infers no compression: pass ``compression``
    for a compressed table.
    """
    return write_file(path, lambda tmp: frame.to_csv(tmp, **options), error)


def replace_path(path: str | os.PathLike[str], build: Callable[[Path], object], error: type[Exception] = OSError) -> Path:
    """Call ``build(tmp)`` to create a file or (usually) a folder at a temporary sibling path, then swap it into ``path``.

    Why: callers only say *what* to write; whether it is complete when it appears under its final
    name is decided here once. A failing ``build`` leaves the old ``path`` untouched.
    """
    path = Path(path)
    staging = temporary_sibling(path, "new", error)
    try:
        built = staging / path.name
        build(built)
        swap_into_place(built, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
