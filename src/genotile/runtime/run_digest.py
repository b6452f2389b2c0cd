"""Byte-level digests of a run's outputs, to show two runs produced the same results.

Why: genotile promises that the same inputs, config and weights give the same bytes whatever the
executor (local, Slurm), the number of jobs, the batch size or the number of devices, and after a
killed job is resumed. ``genotile digest RUN_DIR [OTHER_RUN_DIR]`` checks that promise on a user's
own runs, and the tests use it to check it on ours.

Only run records are left out: ``logs/`` (timings, host names), per-shard ``stats.json`` (timings)
and Snakemake's ``.snakemake_timestamp`` markers. Every other file, including zarr chunks and their
metadata, bigWigs, Parquet tables, figures and done-files, is compared byte for byte.

Temporary files and folders (what a killed job leaves: ``*.tmp``, ``.<name>.tmp-*/``, zarr's
``*.partial``, ...; :data:`TEMPORARY`) are not products, so they are not digested, but a run that
holds any is not clean: :func:`leftovers` lists them and :func:`compare_runs` reports each one as a
difference, so ``genotile digest A B`` never calls a run with half-written files "identical".
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["JOB_LAYOUT", "READER_CACHES", "RUN_RECORDS", "TEMPORARY", "compare_digests", "compare_runs", "digest_run",
           "leftovers"]

#: File or folder names that record how a run went rather than what it produced.
RUN_RECORDS = frozenset({"logs", "stats.json", ".snakemake_timestamp"})
#: Caches a reader leaves beside its input: pyfaidx writes ``<genome>.fai`` wherever the FASTA is
#: read, so a shared-filesystem run has it and a run through object storage (a job-local copy) does not.
READER_CACHES = (".fai",)
#: Files that describe how the work was cut into jobs (windows per batch, variants per shard): they
#: differ when those settings do, while the products they add up to must not.
JOB_LAYOUT = ("windows.tsv", "storage_report.txt", "batches/*", "variants/*/shards.tsv", "variants/*/shards/*")
#: Names of the temporary files and folders genotile and zarr write before renaming into place
#: (genotile.runtime.atomic, the exporters' ``mkstemp`` files, storage-mirror pulls, zarr's chunk writes).
TEMPORARY = re.compile(
    r"""(\.tmp$)                         # windows.tsv.tmp, .x.bw.abc123.tmp, .junctions.parquet.abc.tmp
      | (^\..+\.tmp\d+$)                  # .done.json.tmp1234 (genotile.runtime.atomic.write_text)
      | (^\..+\.(tmp|old|new)-[^/]+$)      # .tracks.zarr.tmp-abc/ (genotile.runtime.atomic.temporary_sibling)
      | (^\.genotile-index-)               # a FASTA index being built
      | (\.(partial|pull)$)                # zarr's chunk writes, storage-mirror downloads
    """,
    re.VERBOSE,
)


def digest_run(run_dir: str | os.PathLike[str], job_layout: bool = True) -> dict[str, str]:
    """``{relative path: sha256}`` of every output file under ``run_dir`` except the run records.

    ``job_layout=False`` also leaves out the per-job intermediates (:data:`JOB_LAYOUT`), to compare
    runs that cut the same work into different jobs.
    """
    root = _run_folder(run_dir)
    digests: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in RUN_RECORDS and not TEMPORARY.search(d))
        for name in sorted(files):
            if name in RUN_RECORDS or name.endswith(READER_CACHES) or TEMPORARY.search(name):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if job_layout or not _is_job_layout(relative):
                digests[relative] = _sha256(path)
    return digests


def leftovers(run_dir: str | os.PathLike[str]) -> list[str]:
    """Temporary files and folders anywhere in the run (run-relative; folders end in ``/``).

    A finished, clean run has none: every job renames its outputs into place and removes its
    temporary files. Any found were left by a killed job that was not resumed (or whose resume
    did not clean them); rerun the workflow, or delete them.
    """
    root = _run_folder(run_dir)
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in [d for d in dirs if TEMPORARY.search(d)]:
            found.append((Path(folder) / name).relative_to(root).as_posix() + "/")
        dirs[:] = [d for d in dirs if d not in RUN_RECORDS and not TEMPORARY.search(d)]
        found += [(Path(folder) / n).relative_to(root).as_posix() for n in sorted(files) if TEMPORARY.search(n)]
    return sorted(found)


def compare_runs(first: str | os.PathLike[str], second: str | os.PathLike[str], job_layout: bool = True) -> list[str]:
    """Differences between two runs' products (:func:`compare_digests`) plus every leftover temporary file of either."""
    problems = compare_digests(digest_run(first, job_layout), digest_run(second, job_layout))
    for label, run in (("first", first), ("second", second)):
        problems += [f"leftover temporary file in the {label} run: {p} (from an interrupted job; rerun the workflow or "
                     f"delete it)" for p in leftovers(run)]
    return problems


def _run_folder(run_dir: str | os.PathLike[str]) -> Path:
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder (expected <results>/<run>/)")
    return root


def _is_job_layout(relative: str) -> bool:
    return any(fnmatch.fnmatchcase(relative, pattern) for pattern in JOB_LAYOUT)


def compare_digests(left: Mapping[str, str], right: Mapping[str, str]) -> list[str]:
    """Human-readable differences (empty when the runs are byte-identical)."""
    problems = [f"only in the first run: {p}" for p in sorted(set(left) - set(right))]
    problems += [f"only in the second run: {p}" for p in sorted(set(right) - set(left))]
    problems += [f"differs: {p}" for p in sorted(set(left) & set(right)) if left[p] != right[p]]
    return problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
