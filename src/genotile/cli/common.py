"""Shared by the command modules: progress lines on stderr (stdout is kept for results)."""

from __future__ import annotations

from genotile.runtime.log import say


def log(message: str) -> None:
    """A progress line through genotile's one logger (timestamped, to stderr)."""
    say(message)
