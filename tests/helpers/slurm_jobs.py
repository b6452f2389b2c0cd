"""The Slurm jobs a workflow run submitted, read back from slurmctld (``scontrol show job -o``).

Why: to check what a run actually asked the scheduler for (which rules got a GPU, how long each
job queued and ran) without the accounting daemon, which many small clusters and our CI do not
run. slurmctld keeps finished jobs for ``MinJobAge`` seconds (an hour on ``scripts/slurm-local.sh``).
Used by the Slurm workflow test and ``benchmarks/slurm_overhead.py``.
"""

from __future__ import annotations

import os
import subprocess

__all__ = ["jobs_of_run", "parse_jobs", "rule_of"]


def parse_jobs(scontrol_output: str, workdir: str | os.PathLike[str]) -> list[dict[str, str]]:
    """One ``{field: value}`` per job line whose ``WorkDir`` is ``workdir`` (a Snakemake run's folder)."""
    jobs = []
    for line in scontrol_output.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if fields.get("WorkDir") == str(workdir):
            jobs.append(fields)
    return jobs


def jobs_of_run(workdir: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The jobs slurmctld still knows for the run in ``workdir``."""
    shown = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=60, check=True)
    return parse_jobs(shown.stdout, workdir)


def rule_of(job: dict[str, str]) -> str:
    """The Snakemake rule of a job (the slurm executor comments jobs ``rule_<name>[_wildcards_<w>]``)."""
    return job.get("Comment", "").removeprefix("rule_").split("_wildcards_")[0]
