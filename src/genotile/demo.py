"""A small seeded genome for demos and tests (not real sequence: biologically meaningless).

Why generated rather than bundled: the bytes are a pure function of the seed
and contig sizes, so the demo is reproducible without committing data, and
tests can make genomes with exactly the features they need (short contigs,
N gaps, lower case).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: Default demo contigs: one longer than a 16 kb window, one shorter, one with an N gap.
DEMO_CONTIGS: Mapping[str, int] = {"demo1": 65_536, "demo2": 12_000, "demo3": 40_000}
DEMO_GAPS: Mapping[str, tuple[int, int]] = {"demo3": (8_000, 33_000)}  # holds whole all-N windows
LINE_WIDTH = 60


def demo_sequence(length: int, rng: np.random.Generator, gc: float = 0.41) -> str:
    """Random DNA with a human-like GC content and some soft-masked (lower-case) runs."""
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    seq = np.frombuffer(b"ACGT", np.uint8)[rng.choice(4, size=length, p=p)]
    for start in rng.integers(0, max(1, length - 300), size=max(1, length // 20_000)):
        seq[start : start + 300] = np.char.lower(seq[start : start + 300].view("S1")).view(np.uint8)
    return seq.tobytes().decode()


def write_demo_genome(
    path: str | os.PathLike[str],
    seed: int = 0,
    contigs: Mapping[str, int] = DEMO_CONTIGS,
    gaps: Mapping[str, tuple[int, int]] = DEMO_GAPS,
) -> Path:
    """Write a FASTA of seeded random contigs, with N gaps ``[start, end)`` where asked."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as out:
        for name, length in contigs.items():
            seq = list(demo_sequence(length, rng))
            if name in gaps:
                start, end = gaps[name]
                seq[start:end] = "N" * (end - start)
            text = "".join(seq)
            out.write(f">{name}\n")
            for i in range(0, len(text), LINE_WIDTH):
                out.write(text[i : i + LINE_WIDTH] + "\n")
    os.replace(tmp, path)
    for stale in (path.with_name(path.name + ".fai"),):
        stale.unlink(missing_ok=True)
    return path
