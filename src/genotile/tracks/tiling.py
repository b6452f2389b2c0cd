"""Tiling a genome into overlapping prediction windows whose owned regions partition it.

A window is what the model sees (``window_bp``, default 1,048,576); its
*owned* region (default the central 524,288 bp) is the part whose
predictions are kept, so every base gets the model's prediction with about
a quarter-window of context on both sides. The owned regions of a contig
are consecutive blocks ``[k * owned_bp, (k + 1) * owned_bp)`` cut at the
contig end, so every base is owned exactly once by construction.

Contig ends. A window is centred on its owned block, then:

* if the contig is at least one window long, the window is *shifted inward*
  so it never starts before 0 and ends at most 2,047 bp past the contig end
  (its start must stay on the 2,048 grid; those few bases are N-padded);
* if the contig is shorter than a window, the single window ``[0, window_bp)``
  owns the whole contig and is N-padded past its end, the only place where
  substantial padding is unavoidable.

Consecutive blocks whose windows coincide after shifting are merged, so no
window is predicted twice.

Alignment. Window starts and owned-region edges lie on multiples of 2,048
(owned edges may also be the contig end), so 1-bp, 128-bp and 2,048-bp
outputs bin identically everywhere and stitched chunks never straddle two
windows.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from genotile.sequence.encoding import GRID_BP

DEFAULT_WINDOW_BP = 1_048_576
DEFAULT_OWNED_BP = 524_288


class TilingError(ValueError):
    """Tiling parameters or a contig/region selection that cannot be used."""


@dataclasses.dataclass(frozen=True, order=True)
class Window:
    """One prediction window: model input ``[start, end)`` and kept region ``[own_start, own_end)``, 0-based."""

    contig: str
    start: int
    end: int
    own_start: int
    own_end: int


def validate_sizes(window_bp: int, owned_bp: int) -> None:
    """Window and owned sizes must keep every edge on the 2,048-bp grid."""
    for name, value in (("window_bp", window_bp), ("owned_bp", owned_bp)):
        if value <= 0 or value % GRID_BP:
            raise TilingError(
                f"{name} = {value:,} must be a positive multiple of {GRID_BP:,} bp "
                f"(e.g. {max(GRID_BP, value // GRID_BP * GRID_BP):,} or {(value // GRID_BP + 1) * GRID_BP:,})"
            )
    if owned_bp > window_bp:
        raise TilingError(f"owned_bp = {owned_bp:,} is larger than window_bp = {window_bp:,}")
    if (window_bp - owned_bp) % (2 * GRID_BP):
        raise TilingError(
            f"window_bp - owned_bp = {window_bp - owned_bp:,} must be a multiple of {2 * GRID_BP:,} bp so the owned "
            "region can be centred on the 2,048-bp grid"
        )


def tile_contig(contig: str, length: int, window_bp: int = DEFAULT_WINDOW_BP, owned_bp: int = DEFAULT_OWNED_BP) -> list[Window]:
    """Windows of one contig; their owned regions partition ``[0, length)``."""
    validate_sizes(window_bp, owned_bp)
    if length <= 0:
        return []
    if length <= window_bp:
        return [Window(contig, 0, window_bp, 0, length)]
    margin = (window_bp - owned_bp) // 2
    last_start = math.ceil((length - window_bp) / GRID_BP) * GRID_BP
    windows: list[Window] = []
    for own_start in range(0, length, owned_bp):
        own_end = min(own_start + owned_bp, length)
        start = min(max(own_start - margin, 0), last_start)
        if windows and windows[-1].start == start:
            windows[-1] = dataclasses.replace(windows[-1], own_end=own_end)
        else:
            windows.append(Window(contig, start, start + window_bp, own_start, own_end))
    return windows


def select_contigs(
    contigs: Mapping[str, int],
    names: Sequence[str] | None = None,
    regex: str | None = None,
) -> dict[str, int]:
    """Contigs to tile, in FASTA order: by explicit names and/or a full-match regex (all when neither is given)."""
    chosen = dict(contigs)
    if names:
        missing = [n for n in names if n not in contigs]
        if missing:
            available = ", ".join(list(contigs)[:10])
            raise TilingError(f"contig(s) {missing} not in the FASTA (it has: {available}{' ...' if len(contigs) > 10 else ''})")
        chosen = {n: contigs[n] for n in contigs if n in set(names)}
    if regex:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise TilingError(f"contig regex {regex!r} is not a valid regular expression: {exc}") from None
        chosen = {n: length for n, length in chosen.items() if pattern.fullmatch(n)}
    if not chosen:
        raise TilingError(f"the contig selection (names={names}, regex={regex!r}) matches no contig of the FASTA")
    return chosen


def restrict_to_regions(windows: Iterable[Window], regions: Mapping[str, Sequence[tuple[int, int]]]) -> list[Window]:
    """Keep the windows whose owned region overlaps a region (whole owned regions are kept, not clipped)."""
    kept = []
    for w in windows:
        if any(s < w.own_end and e > w.own_start for s, e in regions.get(w.contig, ())):
            kept.append(w)
    return kept


def read_bed(path: str) -> dict[str, list[tuple[int, int]]]:
    """Regions of a BED file (0-based half-open; first three columns; track/browser/# lines ignored)."""
    regions: dict[str, list[tuple[int, int]]] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            try:
                contig, start, end = fields[0], int(fields[1]), int(fields[2])
            except (IndexError, ValueError):
                raise TilingError(f"{path}, line {number}: expected 'contig<TAB>start<TAB>end', got {line.strip()!r}") from None
            if start < 0 or end <= start:
                raise TilingError(f"{path}, line {number}: start {start} must be >= 0 and < end {end}")
            regions.setdefault(contig, []).append((start, end))
    if not regions:
        raise TilingError(f"{path}: no regions found")
    return regions


def tile_windows(
    contigs: Mapping[str, int],
    window_bp: int = DEFAULT_WINDOW_BP,
    owned_bp: int = DEFAULT_OWNED_BP,
    regions: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> list[Window]:
    """All windows of the selected contigs, in contig then position order."""
    validate_sizes(window_bp, owned_bp)
    windows = [w for name, length in contigs.items() for w in tile_contig(name, length, window_bp, owned_bp)]
    if regions is not None:
        unknown = sorted(set(regions) - set(contigs))
        if unknown:
            raise TilingError(f"BED regions on contig(s) {unknown[:5]} that are not selected / not in the FASTA")
        windows = restrict_to_regions(windows, regions)
    return windows


def windows_table(windows: Sequence[Window], contig_lengths: Mapping[str, int], windows_per_batch: int) -> pd.DataFrame:
    """The windows as a table with a window id, a batch id and the N padding each window needs."""
    if windows_per_batch < 1:
        raise TilingError(f"windows_per_batch must be at least 1, got {windows_per_batch}")
    frame = pd.DataFrame([dataclasses.asdict(w) for w in windows], columns=["contig", "start", "end", "own_start", "own_end"])
    frame.insert(0, "window", range(len(frame)))
    frame["pad_right"] = [max(0, w.end - contig_lengths[w.contig]) for w in windows]
    frame["batch"] = frame["window"] // windows_per_batch
    return frame
