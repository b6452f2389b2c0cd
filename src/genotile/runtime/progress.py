"""Progress lines for long jobs: done/total, rate and ETA at a steady interval, to the log and the terminal.

Why: a scoring or prediction job can run for many minutes; with one line at its start and one at
its end the user cannot tell a slow job from a hung one. Rule scripts send ``sys.stderr`` to the
job's log file (``genotile.runtime.rule``), while ``sys.__stderr__`` is the terminal Snakemake shows, so
every line goes to both (once when they are the same stream).

The interval is ``GENOTILE_PROGRESS_SECONDS`` (default 30 s; 0 reports every step, for tests).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

__all__ = ["DEFAULT_INTERVAL_S", "Progress", "format_duration", "interval_seconds", "say"]

DEFAULT_INTERVAL_S = 30.0
ENV_INTERVAL = "GENOTILE_PROGRESS_SECONDS"


def interval_seconds() -> float:
    """The reporting interval from ``GENOTILE_PROGRESS_SECONDS`` (default 30 s; unusable values fall back to it)."""
    text = os.environ.get(ENV_INTERVAL, "").strip()
    try:
        value = float(text) if text else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if math.isfinite(value) and value >= 0 else DEFAULT_INTERVAL_S


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


def format_duration(seconds: float) -> str:
    """``42 s``, ``5 min 48 s``, ``2 h 03 min``; ``?`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Counts work done and reports ``label: done/total unit verb (pct), rate unit/s, ETA ...`` every ``interval`` s.

    ``advance(n)`` after each step; a line is written after the first step (the first rate and ETA,
    and proof the job is moving), then whenever ``interval`` seconds have passed since the last
    line, and always when ``done`` reaches ``total``. ``clock`` (monotonic seconds) and ``streams``
    are injectable for tests.
    """

    def __init__(
        self,
        total: int,
        unit: str,
        label: str,
        *,
        verb: str = "done",
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        streams: Sequence[TextIO] | None = None,
    ) -> None:
        self.total, self.unit, self.label, self.verb = max(0, int(total)), unit, label, verb
        self.interval = interval_seconds() if interval is None else float(interval)
        self.clock, self.streams = clock, streams
        self.done = 0
        self.start = self.last = clock()
        self.lines: list[str] = []

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more units done; report if the interval has passed or the work is complete."""
        self.done = min(self.total, self.done + int(n)) if self.total else self.done + int(n)
        now = self.clock()
        if not self.lines or now - self.last >= self.interval or (self.total and self.done >= self.total):
            self.report(now)

    def report(self, now: float | None = None) -> str:
        """Write one progress line now."""
        now = self.clock() if now is None else now
        self.last = now
        elapsed = max(now - self.start, 0.0)
        rate = self.done / elapsed if elapsed > 0 else float("nan")
        left = self.total - self.done
        eta = 0.0 if left <= 0 else (left / rate if rate > 0 else float("inf"))
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        rate_text = f"{rate:,.2f} {self.unit}/s" if math.isfinite(rate) else f"? {self.unit}/s"
        message = (f"{self.label}: {self.done:,}/{self.total:,} {self.unit} {self.verb}{pct}, {rate_text}, "
                   f"elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}")
        line = say(message, self.streams)
        self.lines.append(line)
        return line
