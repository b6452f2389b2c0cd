"""The ``genotile`` command line: the parser and ``main``; each command group lives in its own module.

``cli.model`` (model summary/init/manifest/verify), ``cli.tracks`` (predict, demo-genome),
``cli.variants`` (vcf normalize, score, demo-cohort: the workflow's variant steps), ``cli.ism`` (ism), ``cli.train``
(train: the fine-tuning steps), ``cli.runtime`` (digest, unlock-stale).

Every error a user can cause (a bad path, region, organism, checkpoint or
metadata folder) is a ``ValueError`` subclass raised with a message that
names the input and the fix; ``main`` prints it on one line and exits 2, so
no traceback reaches the user. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from genotile import __version__
from genotile.cli import ism, model, runtime, tracks, train, variants
from genotile.cli.variants import parse_scorer_option

__all__ = ["build_parser", "main", "parse_scorer_option"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genotile", description="AlphaGenome-class inference over genomes and cohorts.")
    parser.add_argument("--version", action="version", version=f"genotile {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (model, tracks, variants, ism, train, runtime):  # the order of `genotile --help`
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"genotile: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
