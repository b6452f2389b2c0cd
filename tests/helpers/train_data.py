"""Tiny training-data inputs written into a test's tmp_path: a FASTA, bigWigs (pyBigWig), a tracks sheet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

SHEET_HEADER = ("name", "output_type", "strand", "file_path", "biosample", "assay", "nonzero_mean")


def write_fasta(path: Path, sequences: Mapping[str, str]) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in sequences.items()))
    return path


def random_sequence(length: int, seed: int, n_spans: Sequence[tuple[int, int]] = ()) -> str:
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)[np.random.default_rng(seed).integers(0, 4, length)].copy()
    for a, b in n_spans:
        bases[a:b] = ord("N")
    return bases.tobytes().decode()


def write_bigwig(path: Path, chroms: Mapping[str, int], values: Mapping[str, np.ndarray]) -> Path:
    """A bigWig with ``chroms`` in its header and one entry per finite base of ``values[contig]`` (NaN: no entry)."""
    import pyBigWig

    handle = pyBigWig.open(str(path), "w")
    handle.addHeader(list(chroms.items()))
    for contig in chroms:
        data = np.asarray(values.get(contig, np.full(chroms[contig], np.nan)), dtype=np.float64)
        where = np.flatnonzero(~np.isnan(data))
        if len(where):
            handle.addEntries([contig] * len(where), where.tolist(), ends=(where + 1).tolist(), values=data[where].tolist())
    handle.close()
    return path


def write_sheet(path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] = SHEET_HEADER) -> Path:
    lines = ["\t".join(header)] + ["\t".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


#: STAR SJ.out.tab rows of the demo genes' introns (genotile.sequence.demo.DEMO_GENES): contig, intron first and
#: last base (1-based), strand (1 +, 2 -), motif, annotated, unique reads, multi-mapping reads, max overhang.
DEMO_JUNCTIONS = (
    ("demo1", 3401, 6000, 1, 1, 1, 30, 2, 40), ("demo1", 6301, 9500, 1, 1, 1, 25, 0, 40),
    ("demo1", 3401, 9500, 1, 1, 1, 8, 0, 30), ("demo1", 30901, 36000, 2, 2, 1, 12, 1, 30),
    ("demo1", 36201, 44000, 2, 2, 1, 9, 0, 30), ("demo1", 53501, 57000, 1, 1, 1, 14, 0, 25),
    ("demo3", 1601, 4000, 1, 1, 1, 5, 0, 20), ("demo2", 1001, 2000, 0, 0, 0, 3, 0, 10),
)


def write_sj_out_tab(path: Path, rows: Sequence[Sequence[object]] = DEMO_JUNCTIONS) -> Path:
    """A STAR SJ.out.tab (nine tab-separated columns, no header)."""
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))
    return path
