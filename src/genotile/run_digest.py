"""Byte-level digests of a run's outputs, to show two runs produced the same results.

Why: genotile promises that the same inputs, config and weights give the same bytes whatever the
executor (local, Slurm), the number of jobs, the batch size or the number of devices, and after a
killed job is resumed. ``genotile digest RUN_DIR [OTHER_RUN_DIR]`` checks that promise on a user's
own runs, and the tests use it to check it on ours.

Only run records are left out: ``logs/`` (timings, host names), per-shard ``stats.json`` (timings)
and Snakemake's ``.snakemake_timestamp`` markers. Every other file, including zarr chunks and their
metadata, bigWigs, Parquet tables, figures and done-files, is compared byte for byte.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["JOB_LAYOUT", "READER_CACHES", "RUN_RECORDS", "compare_digests", "digest_run"]

#: File or folder names that record how a run went rather than what it produced.
RUN_RECORDS = frozenset({"logs", "stats.json", ".snakemake_timestamp"})
#: Caches a reader leaves beside its input: pyfaidx writes ``<genome>.fai`` wherever the FASTA is
#: read, so a shared-filesystem run has it and a run through object storage (a job-local copy) does not.
READER_CACHES = (".fai",)
#: Files that describe how the work was cut into jobs (windows per batch, variants per shard): they
#: differ when those settings do, while the products they add up to must not.
JOB_LAYOUT = ("windows.tsv", "storage_report.txt", "batches/*", "variants/*/shards.tsv", "variants/*/shards/*")


def digest_run(run_dir: str | os.PathLike[str], job_layout: bool = True) -> dict[str, str]:
    """``{relative path: sha256}`` of every output file under ``run_dir`` except the run records.

    ``job_layout=False`` also leaves out the per-job intermediates (:data:`JOB_LAYOUT`), to compare
    runs that cut the same work into different jobs.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder (expected <results>/<run>/)")
    digests: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in RUN_RECORDS)
        for name in sorted(files):
            if name in RUN_RECORDS or name.endswith((".tmp", *READER_CACHES)):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if job_layout or not _is_job_layout(relative):
                digests[relative] = _sha256(path)
    return digests


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
