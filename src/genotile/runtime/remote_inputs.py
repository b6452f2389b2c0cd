"""Inputs given as object-storage URLs (``s3://``, ``gs://``): the genome, cohort VCFs, annotation, weights.

Why: on cloud executors the reference genome, the cohort and the checkpoint already live in a
bucket. Copying them next to the workflow, or under the run's storage prefix at the same relative
path, is error-prone; a user expects to write the URL in the config. Snakemake's storage plugins
fetch declared files given as URLs (``storage(url)``), so the rules declare URL inputs that way, and
their indexes (``.fai``, ``.tbi``/``.csi``) too when the bucket has them, so no job rebuilds a FASTA
index or misses a tabix index.

The checkpoint is a folder (Orbax), which the storage plugins do not move reliably (see
:mod:`genotile.runtime.storage_mirror`). Each job downloads it once into a local cache keyed by the URL and
the objects' versions (:func:`local_checkpoint`); its identity for provenance comes from the same
listing (:func:`remote_identity`), so a re-uploaded checkpoint re-runs the jobs it affects and an
unchanged one re-runs nothing. Credentials are the provider's standard chain plus Snakemake's
``SNAKEMAKE_STORAGE_S3_*`` variables (:func:`genotile.runtime.storage_mirror.filesystem`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from genotile.runtime.log import say
from genotile.runtime.storage_mirror import StoreMirrorError, filesystem, pull, remote_path

SCHEMES = ("s3://", "gs://", "gcs://")
"""URL schemes genotile reads inputs from (the storage plugins it installs: s3 and gcs)."""

INDEX_SUFFIXES = {"fasta": (".fai",), "vcf": (".tbi", ".csi")}
"""Index files declared next to a URL input when the bucket has them (the first one found)."""

COMPLETE_MARKER = ".genotile-complete.json"
"""Written last into a cached checkpoint folder: a folder without it is a partial download."""

_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "LastModified", "updated", "mtime")
"""Per-object version fields, in order of preference: S3 (ETag), GCS (md5Hash, generation), local (mtime)."""


def is_url(path: object) -> bool:
    """True for a path that names an object in storage rather than a local file."""
    return isinstance(path, str) and "://" in path


def check_url(path: str, what: str) -> str | None:
    """A one-line problem with the URL input ``path`` (configured as ``what``), or ``None`` when it exists."""
    if not path.startswith(SCHEMES):
        scheme = path.split("://", 1)[0]
        return (f"{what}: {path}: genotile reads inputs from {', '.join(SCHEMES)} URLs or local paths, "
                f"not {scheme}://; copy the file to a bucket or give a local path")
    try:
        fs, root = filesystem(path)
        if fs.exists(root):
            return None
        return f"{what}: {path} does not exist in object storage (check the bucket, the path and the credentials)"
    except StoreMirrorError as exc:
        return f"{what}: {exc}"
    except Exception as exc:  # noqa: BLE001 - credential and network errors differ per provider; report, don't trace
        return f"{what}: {path} cannot be read ({type(exc).__name__}: {exc}); check the credentials for this bucket"


_FIXES = {"genome.fasta": "give a FASTA path or URL, or null for the demo genome",
          "model.checkpoint": "give the checkpoint folder, or null for seeded synthetic weights"}


def input_problems(configured: list[tuple[str, str | None]], storage_root: str | None) -> list[str]:
    """One line per configured input (``(config key, path or URL)``) that jobs could not read, with the fix.

    Each input is checked where jobs will read it: a URL in its bucket; a path on a shared filesystem
    (``storage_root`` None) locally; on a run with a default storage provider, under that provider's
    root (Snakemake maps relative input paths there), except the checkpoint, which jobs read in place.
    """
    problems = []
    for key, path in configured:
        problem = _input_problem(key, path, storage_root) if path else None
        if problem:
            fix = _FIXES.get(key) or ("give a VCF/BCF path or URL, or null for the demo cohort"
                                      if key.startswith("variants.") else "give the file's path or URL")
            problems.append(f"{problem} ({fix})")
    return problems


def _input_problem(key: str, path: str, storage_root: str | None) -> str | None:
    if is_url(path):
        return check_url(path, key)
    if storage_root is None or key == "model.checkpoint":
        return None if os.path.exists(path) else f"{key}: {path} does not exist"
    if os.path.isabs(path):
        return (f"{key}: {path} is an absolute path, but jobs read inputs from object storage "
                "(--default-storage-provider); give the file's s3:// or gs:// URL")
    where = remote_path(storage_root, path)
    if is_url(where):
        return check_url(where, key)
    return None if os.path.exists(where) else f"{key}: {path} is not in the storage folder ({where} does not exist)"


def index_of(path: str, kind: str) -> str | None:
    """The URL of ``path``'s index in the bucket (``kind``: fasta or vcf), or ``None`` when there is none."""
    fs, root = filesystem(path)
    for suffix in INDEX_SUFFIXES[kind]:
        if fs.exists(root + suffix):
            return path + suffix
    return None


def remote_listing(url: str) -> list[tuple[str, int, str]]:
    """Every object under ``url`` (or ``url`` itself when it is one object): relative path, size, version."""
    fs, root = filesystem(url)
    root = root.rstrip("/")
    try:
        if fs.isfile(root):
            info = fs.info(root)
            return [(Path(root).name, int(info.get("size") or 0), _version(info))]
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        return []
    except Exception as exc:  # noqa: BLE001 - credential and network errors differ per provider
        raise StoreMirrorError(f"{url} cannot be listed ({type(exc).__name__}: {exc}); check the credentials "
                               "for this bucket") from None
    return sorted((path[len(root):].lstrip("/"), int(info.get("size") or 0), _version(info))
                  for path, info in found.items())


def _version(info: dict) -> str:
    for key in _VERSION_KEYS:
        if info.get(key) not in (None, ""):
            return str(info[key]).strip('"')
    return ""


def remote_identity(url: str) -> str:
    """A string that changes when any object under ``url`` changes (names, sizes and object versions)."""
    listing = remote_listing(url)
    if not listing:
        raise FileNotFoundError(f"model.checkpoint: {url} does not exist in object storage (give the checkpoint folder)")
    digest = hashlib.sha256()
    for relative, size, version in listing:
        digest.update(f"{relative}\t{size}\t{version}\n".encode())
    return f"checkpoint:{len(listing)} objects:{digest.hexdigest()[:16]}"


def cache_dir() -> Path:
    """Where downloaded checkpoints are kept: ``$GENOTILE_CACHE_DIR``, else ``$XDG_CACHE_HOME/genotile``, else ~/.cache."""
    if os.environ.get("GENOTILE_CACHE_DIR"):
        return Path(os.environ["GENOTILE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genotile"


def local_checkpoint(url: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """A local copy of the checkpoint at ``url``, downloaded once per version into ``cache``.

    The copy is made in a temporary folder, marked complete, then renamed into place, so jobs that
    share a cache (a node's local disk, a shared home) never load a half-downloaded checkpoint; when
    two jobs race, the second one's copy is discarded.
    """
    identity = remote_identity(url)
    root = Path(cache) if cache is not None else cache_dir()
    key = hashlib.sha256(f"{url}\n{identity}".encode()).hexdigest()[:16]
    target = root / "checkpoints" / key
    name = Path(url.rstrip("/")).name
    if (target / COMPLETE_MARKER).exists():
        return target / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        say(f"downloading checkpoint {url} to {target}")
        fs, source = filesystem(url)
        if fs.isfile(source.rstrip("/")):
            fs.get_file(source.rstrip("/"), str(partial / name))
        else:
            pull(partial / name, url, "all")
        (partial / COMPLETE_MARKER).write_text(json.dumps({"url": url, "identity": identity}) + "\n")
        if target.exists() and not (target / COMPLETE_MARKER).exists():
            shutil.rmtree(target, ignore_errors=True)  # an unmarked copy is not trusted (made by hand, or damaged)
        try:
            os.rename(partial, target)
        except OSError:  # another job finished first (the target exists and is complete)
            if not (target / COMPLETE_MARKER).exists():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(partial)
    return target / name


def checkpoint_path(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """A loadable checkpoint path: a URL's local cached copy (:func:`local_checkpoint`), a local path as is."""
    return local_checkpoint(path) if is_url(path) else path
