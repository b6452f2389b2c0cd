"""The one error of the training-data steps: bad input named with its file, record and fix.

Why its own class: ``genotile.runtime.rule.rule_context`` turns any ``ValueError`` into one
``genotile: error:`` line, and tests (and the CLI) can tell a training-data problem from a bug.
"""

from __future__ import annotations


class TrainingDataError(ValueError):
    """A tracks sheet, bigWig, split or windows table that cannot be used (the message says why and the fix)."""
