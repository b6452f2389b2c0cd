"""Shim: the rule entry point is genotile.runtime.rule (remove once no script imports _rule)."""
from genotile.runtime.rule import rule_context  # noqa: F401
