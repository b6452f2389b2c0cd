"""Placeholder for the one logger (helper "helpers" writes the real module): the rule entry point calls
:func:`configure` once per job."""

from __future__ import annotations


def configure(log_file: str | None) -> None:
    """Configure genotile's logging for one job writing to ``log_file`` (None: the terminal)."""
