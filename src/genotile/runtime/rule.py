"""The rule entry point: every rule script runs its one step inside :func:`rule_context`.

Why one entry point: a rule's job must send its progress to the rule's log (and the terminal
Snakemake shows) and turn genotile's known input errors into one clear line naming the input and
the fix, never a traceback; doing that in one place keeps the scripts to one call each.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from genotile.runtime.log import configure


@contextlib.contextmanager
def rule_context(snakemake: Any) -> Iterator[None]:
    """Run a rule's step: stderr to the rule's log (``snakemake.log[0]``, else the terminal), logging
    configured once, a ValueError/FileNotFoundError as one ``genotile: error:`` line and exit status 1."""
    log = configure(snakemake.log[0] if snakemake.log else None)  # the log file becomes sys.stderr
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:  # genotile's input errors: message names the input and the fix
        print(f"genotile: error: {exc}", file=log, flush=True)
        print(f"genotile: error: {exc}", file=sys.__stderr__, flush=True)
        raise SystemExit(1) from None
    finally:
        log.flush()
