"""``genotile digest`` (a run's output checksums, or two runs compared) and ``genotile unlock-stale``."""

from __future__ import annotations

import argparse
import sys


def cmd_digest(args: argparse.Namespace) -> int:
    """Print a run's output digests, or compare two runs byte for byte (exit 1 when they differ)."""
    from genotile.runtime.run_digest import compare_runs, digest_run, leftovers

    first = digest_run(args.run, job_layout=not args.products_only)
    if not args.other:
        for path, digest in first.items():
            print(f"{digest}  {path}")
        for path in leftovers(args.run):
            print(f"genotile: warning: leftover temporary file {path} (an interrupted job; rerun the workflow)", file=sys.stderr)
        return 0
    problems = compare_runs(args.run, args.other, job_layout=not args.products_only)
    for line in problems:
        print(line)
    print(f"{len(first)} files compared: " + ("identical" if not problems else f"{len(problems)} difference(s)"))
    return 1 if problems else 0


def cmd_unlock_stale(args: argparse.Namespace) -> int:
    """Local runs only (``make demo``): a cluster's Snakemake may run on another host (README: --unlock)."""
    from genotile.runtime.run_lock import unlock_stale

    print(f"genotile: {unlock_stale(args.workdir)}", file=sys.stderr)
    return 0


def register(sub) -> None:
    """Add this group's commands to the ``genotile`` subparsers ``sub``."""
    digest = sub.add_parser("digest", help="sha256 of a run's outputs (logs excluded); with two runs, compare them")
    digest.add_argument("run", help="a run folder, <results>/<run>")
    digest.add_argument("other", nargs="?", help="a second run folder to compare with, byte for byte")
    digest.add_argument("--products-only", action="store_true",
                        help="leave out the job-layout files (batches/, shards/, windows.tsv, storage_report.txt): compare runs cut into different jobs")
    digest.set_defaults(func=cmd_digest)

    unlock = sub.add_parser("unlock-stale", help="remove a Snakemake lock left by a killed run (only if no Snakemake of this host runs there)")
    unlock.add_argument("workdir", nargs="?", default=".", help="the workflow folder (default: the current one)")
    unlock.set_defaults(func=cmd_unlock_stale)
