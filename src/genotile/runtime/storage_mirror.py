"""Mirror the run's folders (Zarr stores, bigWig and table folders) between a job and object storage.

Why: on cloud executors (Kubernetes, Google Batch) jobs share no filesystem. Snakemake's storage
plugins move the files a rule declares, but two kinds of output do not fit them:

- the track and contact stores are written *in place* by many prediction jobs, each writing its
  own chunks. No declared output can say "these chunks of a shared store"; declaring per-job
  fragments would copy the whole store through one stitching job;
- folder outputs (``directory()``) are unreliable in the storage plugins (snakemake-storage-plugin-s3
  0.3.6 caches "not a folder" before the job runs and then reports the uploaded folder missing).

So such folders are not declared: each rule declares a small done-file, and a job pulls the folders
it reads from the bucket before it runs and pushes the files it wrote afterwards, to the place where
the storage plugin keeps the run's declared files (``<default-storage-prefix>/<results>/<run>/...``),
so the bucket holds the whole run in the same layout as a local run.

Why this is safe: jobs write disjoint chunk files (the store's chunk alignment guarantees it), the
store's metadata is written once by ``init_store``, and a job pushes before its script returns, so
its done-file (uploaded by Snakemake after the script) never reaches the bucket before its chunks.
A killed job pushes nothing complete that a rerun would not rewrite byte for byte.

On a shared filesystem (no default storage provider) nothing here runs: the remote is ``None``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from genotile.runtime.atomic import write_file
from genotile.runtime.log import say

METADATA_FILE = "zarr.json"
"""Zarr v3 keeps all metadata in ``zarr.json`` files; everything else in a store is chunk data."""

PullMode = Literal["none", "metadata", "all"]

Listing = dict[str, tuple[int, int]]
"""Relative path -> (size, mtime_ns) of every file under a local store."""


class StoreMirrorError(ValueError):
    """Object storage is set up so that a store cannot be mirrored; the message names the setting and the fix
    (a ValueError, so rule scripts report it as an input error, without a traceback)."""


def remote_root(provider: str | None, prefix: str | None) -> str | None:
    """Where the run's files live in object storage, as an fsspec URL; ``None`` on a shared filesystem.

    ``provider`` and ``prefix`` are Snakemake's ``--default-storage-provider`` and
    ``--default-storage-prefix``. The storage plugins keep ``results/demo/x`` at
    ``<prefix>/results/demo/x``; stores go to the same place, so the bucket holds the whole run.
    """
    if not provider:
        return None
    if not prefix:
        raise StoreMirrorError(
            f"--default-storage-provider {provider} is set without --default-storage-prefix; genotile writes its "
            "Zarr stores next to the run's other files in the bucket, so give the prefix (e.g. s3://bucket/genotile)"
        )
    prefix = prefix.rstrip("/")
    if provider == "fs":  # storage-plugin-fs: the prefix is a folder on a filesystem every job can reach
        return os.path.abspath(prefix)
    if "://" not in prefix:
        scheme = {"s3": "s3", "gcs": "gs"}.get(provider, provider)
        return f"{scheme}://{prefix}"
    return prefix


def remote_path(root: str | None, relative: str) -> str | None:
    """The URL of the run-relative ``relative`` under ``root`` (``None`` stays ``None``)."""
    if root is None:
        return None
    return f"{root.rstrip('/')}/{os.path.normpath(relative).lstrip('/')}"


def local_listing(folder: str | os.PathLike[str]) -> Listing:
    """Every file under ``folder`` with its size and modification time (empty when it does not exist)."""
    folder = Path(folder)
    listing: Listing = {}
    if not folder.is_dir():
        return listing
    for base, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(base) / name
            stat = path.stat()
            listing[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return listing


def _storage_options(url: str) -> dict[str, str]:
    """Credentials for ``url`` beyond the provider's standard chain (IAM role, ``AWS_*``, ADC).

    snakemake-storage-plugin-s3 hands its keys to cloud jobs as ``SNAKEMAKE_STORAGE_S3_*``
    variables; reading them too means one set of credentials serves the plugin and the mirror.
    """
    env = os.environ
    options: dict[str, str] = {}
    if url.startswith("s3://"):
        if env.get("SNAKEMAKE_STORAGE_S3_ACCESS_KEY") and env.get("SNAKEMAKE_STORAGE_S3_SECRET_KEY"):
            options.update(key=env["SNAKEMAKE_STORAGE_S3_ACCESS_KEY"], secret=env["SNAKEMAKE_STORAGE_S3_SECRET_KEY"])
        if env.get("SNAKEMAKE_STORAGE_S3_ENDPOINT_URL") and not env.get("AWS_ENDPOINT_URL"):
            options["endpoint_url"] = env["SNAKEMAKE_STORAGE_S3_ENDPOINT_URL"]
    return options


def filesystem(url: str):
    """An fsspec filesystem and path for ``url``, with the credentials of :func:`_storage_options`."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url, **_storage_options(url))
    except (ImportError, ValueError) as exc:
        raise StoreMirrorError(
            f"{url}: no filesystem for this URL ({exc}); install genotile's 'cloud' extra (s3fs, gcsfs) on the job image"
        ) from None


def _is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def pull(local: str | os.PathLike[str], remote: str, mode: PullMode) -> int:
    """Copy the store at ``remote`` to ``local``: only its metadata files, or everything. Returns files copied.

    Files are downloaded under a temporary name and renamed, so a killed pull leaves no partial file
    under a final name. A store that is not in the bucket is reported and nothing is copied: a run
    that selects no contact maps has no contact store, and the reader says what it misses.
    """
    if mode == "none":
        return 0
    fs, root = filesystem(remote)
    if not fs.isdir(root):
        say(f"{remote} is not in object storage (nothing to pull)")
        return 0
    local = Path(local)
    count = 0
    for path in sorted(fs.find(root)):
        relative = path[len(root):].lstrip("/")
        if mode == "metadata" and Path(relative).name != METADATA_FILE:
            continue
        target = local / relative
        write_file(target, lambda tmp, path=path: fs.get_file(path, str(tmp)))
        count += 1
    return count


def push(local: str | os.PathLike[str], remote: str, before: Listing | None = None) -> int:
    """Upload the files of ``local`` that are new or changed since ``before`` (all when ``None``). Returns files sent.

    Object stores replace an object atomically on upload; on a plain filesystem remote the file is
    copied under a temporary name and renamed, for the same guarantee.
    """
    fs, root = filesystem(remote)
    local = Path(local)
    before = before or {}
    count = 0
    for relative, state in sorted(local_listing(local).items()):
        if before.get(relative) == state:
            continue
        destination = f"{root.rstrip('/')}/{relative}"
        if _is_local(fs):
            write_file(destination, lambda tmp, relative=relative: fs.put_file(str(local / relative), str(tmp)))
        else:
            fs.put_file(str(local / relative), destination)
        count += 1
    return count


def clear(remote: str) -> None:
    """Delete the store at ``remote`` (before a fresh store is created, so no stale chunk survives)."""
    fs, root = filesystem(remote)
    if fs.exists(root):
        fs.rm(root, recursive=True)


@contextlib.contextmanager
def mirrored(local: str | os.PathLike[str], storage_root: str | None, pull_mode: PullMode, write: bool,
             fresh: bool = False) -> Iterator[None]:
    """Run the body against a local copy of the run folder ``local`` and push what it wrote.

    ``local`` is the run-relative path (``results/demo/tracks.zarr``); its remote copy is that path
    under ``storage_root`` (:func:`remote_root`). ``pull_mode`` says what the body reads
    (``metadata`` for writers of chunks, ``all`` for readers of values). ``write`` pushes new or
    changed files when the body succeeds; ``fresh`` deletes the remote copy first (the body writes
    the folder anew, and no stale file may survive). With ``storage_root=None`` (shared filesystem)
    the body runs alone.
    """
    remote = remote_path(storage_root, os.fspath(local))
    if remote is None:
        yield
        return
    if fresh:
        clear(remote)
    fetched = pull(local, remote, pull_mode)
    if fetched:
        say(f"pulled {fetched} file(s) of {remote}")
    before = {} if fresh else local_listing(local)
    yield
    if write:
        sent = push(local, remote, before)
        say(f"pushed {sent} file(s) to {remote}")


@contextlib.contextmanager
def pulled(folders: list[str], storage_root: str | None) -> Iterator[None]:
    """Run the body with local copies of the run folders ``folders`` (read only; nothing is pushed)."""
    with contextlib.ExitStack() as stack:
        for folder in folders:
            stack.enter_context(mirrored(folder, storage_root, "all", write=False))
        yield
