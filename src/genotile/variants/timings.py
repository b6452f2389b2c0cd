"""Where a scoring run's wall time goes: forward passes, scorer reductions, everything else; and peak RSS.

Why always on: issue 15 asks that a score job be bound by the forward pass, which has to be measured
on every run, not assumed; the counters are a few ``perf_counter`` calls per variant and scorer
(microseconds against seconds per forward pass), so they cost nothing measurable and change no output.

The parts are disjoint, so ``forward + reductions + other = total``:

* ``forward``: the REF and ALT passes of :mod:`genotile.variants.device_pass` -- the device computation
  (waited on with ``block_until_ready``: trunk, the heads on the bins the device scorers read, and those
  scorers' reductions, i.e. centre masks and contact maps) and the copies of their scores and of the host
  scorers' outputs to the host as float32 numpy; ``forward_device`` is the part until the device finished.
* ``reductions``: the host scorers' ``score`` calls (gene masks, splicing, polyadenylation, junctions),
  the indel alignment of ALT outputs they ask for and, for junctions, the junction head they run.
* ``other``: the rest -- FASTA reads and one-hot sequences (``sequences``), turning scores into tidy
  tables (``tables``), the REF checks of tiled mode, bookkeeping.
"""

from __future__ import annotations

import resource
import sys
from collections import defaultdict
from dataclasses import dataclass, field

__all__ = ["ScoreTimings", "peak_rss_gib"]


def peak_rss_gib() -> float:
    """This process's resident-set high-water mark in GiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20


@dataclass
class ScoreTimings:
    """Seconds of one scoring run by part (see the module docstring), and the process's peak RSS at its end."""

    total_s: float = 0.0
    forward_s: float = 0.0
    forward_device_s: float = 0.0
    reductions_s: float = 0.0
    sequences_s: float = 0.0
    tables_s: float = 0.0
    peak_rss_gib: float = 0.0
    reductions_by_scorer: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def other_s(self) -> float:
        """Everything but forward passes and reductions (never negative: clock reads round)."""
        return max(0.0, self.total_s - self.forward_s - self.reductions_s)

    def shares(self) -> dict[str, float]:
        """``forward``, ``reductions`` and ``other`` as fractions of their sum (1.0 in all); zeros for an empty run."""
        parts = {"forward": self.forward_s, "reductions": self.reductions_s, "other": self.other_s}
        total = sum(parts.values())
        return {k: (v / total if total > 0 else 0.0) for k, v in parts.items()}

    def as_stats(self) -> dict[str, float]:
        """Flat float fields for a shard's ``stats.json`` (next to ``seconds`` and ``variants_per_second``)."""
        share = self.shares()
        return {
            "forward_seconds": self.forward_s, "forward_device_seconds": self.forward_device_s,
            "reductions_seconds": self.reductions_s, "other_seconds": self.other_s,
            "sequences_seconds": self.sequences_s, "tables_seconds": self.tables_s,
            "forward_share": share["forward"], "reductions_share": share["reductions"], "other_share": share["other"],
            "peak_rss_gib": self.peak_rss_gib,
        }  # fmt: skip

    def summary(self, variants: int) -> str:
        """One log line: ``N variants in T s: forward X%, reductions Y%, other Z%, peak RSS G GiB``."""
        share = self.shares()
        return (f"{variants:,} variants in {self.total_s:.1f} s: forward {100 * share['forward']:.0f}%, "
                f"reductions {100 * share['reductions']:.0f}%, other {100 * share['other']:.0f}%, "
                f"peak RSS {self.peak_rss_gib:.2f} GiB")
