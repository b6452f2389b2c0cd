"""Numbers in messages: byte sizes and counted nouns, worded one way in every stage's messages."""

from __future__ import annotations


def format_bytes(n: float) -> str:
    """Decimal units: 73.3 TB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 window``, ``2 windows``, ``1,000 batches`` (``many``: the plural when it is not ``word + 's'``)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
