"""Shared by the command modules: progress lines on stderr (stdout is kept for results)."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    print(f"[genotile] {message}", file=sys.stderr, flush=True)
