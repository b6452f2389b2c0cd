"""Shared by the rule scripts: send progress to the rule's log and turn known errors into one clear line."""

import contextlib
import sys


@contextlib.contextmanager
def rule_context(snakemake):
    log = open(snakemake.log[0], "w") if snakemake.log else sys.stderr
    sys.stderr = log
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:  # genotile's input errors: message names the input and the fix
        print(f"genotile: error: {exc}", file=log, flush=True)
        print(f"genotile: error: {exc}", file=sys.__stderr__, flush=True)
        raise SystemExit(1) from None
    finally:
        log.flush()
