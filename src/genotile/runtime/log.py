"""One logger for genotile: timestamped lines to the job's log and to the terminal Snakemake shows.

Why one: a rule job's messages (progress, warnings, summaries) must reach two places, the
rule's log file, which stays with the results, and the terminal the user watches. Rule
scripts make ``sys.stderr`` the log file (:func:`configure`, called once by the rule entry
point), while ``sys.__stderr__`` stays the terminal, so :func:`say` writes every line to
both (once when they are the same stream, as in the CLI). Library modules either call
:func:`say` or log through ``logging.getLogger(__name__)`` (a child of the ``genotile``
logger); once :func:`configure` has run, those records go through :func:`say` too, with
``warning:``/``error:`` in front of the message. Before it (a library user, the tests), the
``genotile`` logger is left alone: records propagate to whatever the caller configured.

A line reads ``[genotile HH:MM:SS] message``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

__all__ = ["LOGGER_NAME", "configure", "say"]

LOGGER_NAME = "genotile"
_opened: list[TextIO] = []  # the log file configure() opened (closed when it is configured again)


def _streams() -> list[TextIO]:
    """The job's log (``sys.stderr``) and the terminal (``sys.__stderr__``), without duplicates."""
    streams = [s for s in (sys.stderr, sys.__stderr__) if s is not None]
    return [s for i, s in enumerate(streams) if all(s is not t for t in streams[:i])]


def say(message: str, streams: Sequence[TextIO] | None = None, clock: Callable[[], float] = time.time) -> str:
    """Write ``[genotile HH:MM:SS] message`` to the log and the terminal; returns the line."""
    line = f"[genotile {time.strftime('%H:%M:%S', time.localtime(clock()))}] {message}"
    for stream in _streams() if streams is None else streams:
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError):  # a closed terminal must not stop the job
            pass
    return line


class _SayHandler(logging.Handler):
    """Sends the ``genotile`` logger's records through :func:`say` (level name in front of warnings and errors)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)
            return
        say(message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}")


def configure(log_file: str | None = None, level: int = logging.INFO) -> TextIO:
    """Send genotile's messages to ``log_file`` (when given) and the terminal; returns the log stream.

    Called once per job by the rule entry point with the rule's ``log:`` file (``snakemake.log[0]``),
    which becomes ``sys.stderr`` so that warnings and tracebacks land in it as well. Calling it
    again (a second job in one process, a test) replaces the earlier file and adds no second handler.
    """
    while _opened:
        stream = _opened.pop()
        if sys.stderr is stream:
            sys.stderr = sys.__stderr__
        stream.close()
    if log_file:
        stream = open(log_file, "w")  # noqa: SIM115 - stays open for the job's lifetime
        _opened.append(stream)
        sys.stderr = stream
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _SayHandler) for h in logger.handlers):
        logger.addHandler(_SayHandler())
    logger.setLevel(level)
    logger.propagate = False  # one line per record: not again through the root logger's handlers
    return sys.stderr
