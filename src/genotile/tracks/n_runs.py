"""Runs of unknown bases (assembly gaps): where the model saw no sequence.

The model's one-hot encoding (the reference's) turns every base other than A, C, G, T (either
case) into an all-zero row: ``N``, ``n`` and IUPAC codes alike. Predictions there are ordinary
finite numbers, computed from context only, so users need to know where they are. This module
finds those bases, as maximal runs ("N runs"), directly on the FASTA's bytes with numpy:

* :func:`unknown_bases` - a boolean mask of a sequence (True = the model sees no base there);
* :func:`mask_runs` - the maximal runs of True in a mask, as half-open ``[start, end)`` arrays;
* :func:`contig_n_runs` / :func:`genome_n_runs` - the runs of whole contigs, read in blocks;
* :func:`write_n_runs_bed` - BED3 (``contig, start, end``, 0-based half-open, sorted);
* :func:`bin_mask` - which bins of a resolution lie entirely on unknown bases (what
  ``store.mask_n_runs`` writes NaN over);
* :func:`span_touches` - whether intervals overlap a run (junctions' ``touches_n_run``).

The runs cover exactly the unknown bases: no base of a run is A/C/G/T and every unknown base is
in one run; runs never touch (they are maximal).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from genotile.sequence.fasta import Genome

#: Bases read from the FASTA per block: bounded memory on any contig, one pyfaidx read per block.
BLOCK_BP = 8_388_608
BED_COLUMNS = ("contig", "start", "end")


@functools.cache
def _known_table() -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for base in b"ACGTacgt":
        table[base] = True
    table.setflags(write=False)
    return table


def unknown_bases(sequence: str | bytes | np.ndarray) -> np.ndarray:
    """Boolean mask, True where the model's one-hot row is all zero (anything but A, C, G, T in either case).

    ``sequence`` is text, bytes or a uint8 array of byte values; a one-hot array ``[S, 4]`` also
    works (True where a row sums to 0), so a window's encoded DNA gives the same mask as its text.
    """
    if isinstance(sequence, np.ndarray) and sequence.ndim == 2:
        return ~np.any(sequence != 0, axis=-1)
    if isinstance(sequence, str):
        codes = np.frombuffer(sequence.encode("latin-1", errors="replace"), dtype=np.uint8)
    elif isinstance(sequence, (bytes, bytearray, memoryview)):
        codes = np.frombuffer(sequence, dtype=np.uint8)
    else:
        codes = np.asarray(sequence, dtype=np.uint8)
    return ~_known_table()[codes]


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The maximal runs of True in a 1-D mask: ``(starts, ends)``, int64, half-open, ascending."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 1:
        raise ValueError(f"mask_runs needs a 1-D mask, got shape {mask.shape}")
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return edges[::2].astype(np.int64), edges[1::2].astype(np.int64)


def contig_n_runs(genome: Genome, contig: str, block_bp: int = BLOCK_BP) -> tuple[np.ndarray, np.ndarray]:
    """The N runs of one contig, read in blocks of ``block_bp`` bases (runs crossing blocks are joined)."""
    length = genome.length(contig)
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    for a in range(0, length, int(block_bp)):
        b = min(a + int(block_bp), length)
        s, e = mask_runs(unknown_bases(genome.sequence(contig, a, b)))
        starts.append(s + a)
        ends.append(e + a)
    start = np.concatenate(starts) if starts else np.empty(0, np.int64)
    end = np.concatenate(ends) if ends else np.empty(0, np.int64)
    if len(start) > 1:  # a run ending at a block edge continues in the next block when the next starts there
        keep_start = np.concatenate(([True], start[1:] != end[:-1]))
        keep_end = np.concatenate((start[1:] != end[:-1], [True]))
        start, end = start[keep_start], end[keep_end]
    return start, end


def genome_n_runs(genome: Genome, contigs: Iterable[str], block_bp: int = BLOCK_BP) -> pd.DataFrame:
    """The N runs of ``contigs`` (in the given order) as a table ``contig, start, end`` (0-based, half-open)."""
    import pandas as pd

    frames = []
    for contig in contigs:
        start, end = contig_n_runs(genome, contig, block_bp)
        frames.append(pd.DataFrame({"contig": np.full(len(start), contig, dtype=object), "start": start, "end": end}))
    return pd.concat(frames, ignore_index=True) if frames else _empty_table()


def _empty_table() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"contig": np.empty(0, object), "start": np.empty(0, np.int64), "end": np.empty(0, np.int64)})


def runs_by_contig(table: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{contig: (starts, ends)}`` from a runs table (the form :func:`genotile.tracks.store.create_store` takes)."""
    return {
        str(contig): (group["start"].to_numpy(np.int64), group["end"].to_numpy(np.int64))
        for contig, group in table.groupby("contig", sort=False)
    }


def write_n_runs_bed(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the runs as BED3 (tab-separated, no header), atomically."""
    from genotile.runtime.atomic import write_text

    lines = [f"{c}\t{s}\t{e}\n" for c, s, e in zip(table["contig"], table["start"].tolist(), table["end"].tolist())]
    write_text(Path(path), "".join(lines))


def read_n_runs_bed(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a BED3 of N runs written by :func:`write_n_runs_bed` (an empty file is no runs)."""
    import pandas as pd

    path = Path(path)
    if path.stat().st_size == 0:
        return _empty_table()
    return pd.read_csv(path, sep="\t", header=None, names=list(BED_COLUMNS), usecols=[0, 1, 2],
                       dtype={"contig": object, "start": np.int64, "end": np.int64})


def bin_mask(unknown: np.ndarray, res: int) -> np.ndarray:
    """Per bin of ``res`` bases, True when every base of the bin is unknown.

    ``unknown`` is a per-base mask starting on a bin edge; a last partial bin is judged on the
    bases it has (the rest is past the contig end, which the model also sees as N). A bin with any
    real base keeps its value: it was predicted from sequence.
    """
    unknown = np.asarray(unknown, dtype=bool)
    res = int(res)
    if res == 1:
        return unknown.copy()
    pad = -len(unknown) % res
    padded = np.concatenate((unknown, np.ones(pad, dtype=bool))) if pad else unknown
    return padded.reshape(-1, res).all(axis=1)


def span_touches(starts: np.ndarray, ends: np.ndarray, run_starts: np.ndarray, run_ends: np.ndarray) -> np.ndarray:
    """For each interval ``[starts[i], ends[i])``, whether it overlaps any run (runs sorted, disjoint)."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    run_starts = np.asarray(run_starts, dtype=np.int64)
    run_ends = np.asarray(run_ends, dtype=np.int64)
    if len(run_starts) == 0 or len(starts) == 0:
        return np.zeros(len(starts), dtype=bool)
    # the first run ending after the interval's start overlaps it when it also starts before the interval's end
    first = np.searchsorted(run_ends, starts, side="right")
    inside = first < len(run_starts)
    touches = np.zeros(len(starts), dtype=bool)
    touches[inside] = run_starts[first[inside]] < ends[inside]
    return touches


def contig_runs_in(runs: Mapping[str, tuple[np.ndarray, np.ndarray]], contig: str) -> tuple[np.ndarray, np.ndarray]:
    """The runs of one contig from :func:`runs_by_contig` (none when the contig has no N)."""
    empty = np.empty(0, np.int64)
    return runs.get(contig, (empty, empty))
