"""Training, validation and test windows from the tiling, with no leakage between them.

Why a leakage rule: the model sees a window's whole context (the window plus the trainer's random
shift on each side), so a training window that overlaps a held-out window trains on the held-out
window's sequence and targets, and held-out scores come out too good. The reference's loader has
no such rule. Here:

1. windows come from :func:`genotile.tracks.tiling.tile_windows` (``stride_bp`` is the tiling's
   owned size: consecutive windows start ``stride_bp`` apart);
2. a window whose real bases are all unknown (N; past the contig end counts as N) is dropped
   (``all_n``): it has no sequence to learn from;
3. a window is ``test`` when its contig is a test contig (``test_contig``) or the window overlaps a
   test BED region (``test_region``), else ``validation`` likewise, else ``train``;
4. a validation window whose context overlaps a test window's context is dropped
   (``overlaps_test``), and a training window whose context overlaps a kept validation or test
   window's context is dropped (``overlaps_test`` / ``overlaps_validation``); ``overlaps_window``
   names the held-out window.

So no two kept windows of different splits share a base of context, and every kept window is in
exactly one split.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from genotile.tracks.tiling import Window

__all__ = ["DROPPED", "SPLITS", "WINDOW_COLUMNS", "assign_splits"]

SPLITS = ("train", "validation", "test")
DROPPED = "dropped"
#: The windows table's columns (``train/windows.tsv``).
WINDOW_COLUMNS = ("window", "contig", "start", "end", "context_start", "context_end", "split", "reason",
                  "overlaps_window")


def _overlaps(regions: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and e > start for s, e in regions)


def _held_out(window: Window, kind: str, contigs: Collection[str],
              regions: Mapping[str, Sequence[tuple[int, int]]] | None) -> str | None:
    if window.contig in contigs:
        return f"{kind}_contig"
    if regions and _overlaps(regions.get(window.contig, ()), window.start, window.end):
        return f"{kind}_region"
    return None


def _first_overlap(frame: pd.DataFrame, held: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame``, the ``window`` id of a ``held`` row whose context overlaps its context (-1 if none)."""
    result = np.full(len(frame), -1, dtype=np.int64)
    for contig, rows in frame.groupby("contig", sort=False):
        other = held[held["contig"] == contig].sort_values("context_start", kind="stable")
        if other.empty:
            continue
        starts = other["context_start"].to_numpy(np.int64)
        ends = other["context_end"].to_numpy(np.int64)
        # the held-out context reaching furthest right among those starting before the query's end
        best = np.maximum.accumulate(ends)
        arg = np.maximum.accumulate(np.where(ends == best, np.arange(len(ends)), 0))  # which row holds it
        ids = other["window"].to_numpy(np.int64)
        n_before = np.searchsorted(starts, rows["context_end"].to_numpy(np.int64), side="left")
        hit = (n_before > 0) & (best[np.maximum(n_before - 1, 0)] > rows["context_start"].to_numpy(np.int64))
        positions = np.flatnonzero(frame.index.isin(rows.index))
        result[positions[hit]] = ids[arg[n_before[hit] - 1]]
    return result


def assign_splits(
    windows: Sequence[Window],
    *,
    max_shift: int,
    all_n: Callable[[Window], bool],
    validation_contigs: Collection[str] = (),
    test_contigs: Collection[str] = (),
    validation_regions: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    test_regions: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> pd.DataFrame:
    """The windows table (:data:`WINDOW_COLUMNS`), one row per window in tiling order (see the module doc)."""
    rows = []
    for i, w in enumerate(windows):
        if all_n(w):
            split, reason = DROPPED, "all_n"
        elif reason := _held_out(w, "test", test_contigs, test_regions):
            split = "test"
        elif reason := _held_out(w, "validation", validation_contigs, validation_regions):
            split = "validation"
        else:
            split, reason = "train", "train"
        rows.append((i, w.contig, w.start, w.end, w.start - max_shift, w.end + max_shift, split, reason, -1))
    frame = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
    frame["contig"] = frame["contig"].astype(str)
    for later, earlier in (("validation", ("test",)), ("train", ("test", "validation"))):
        for held_split in earlier:
            candidates = frame[frame["split"] == later]
            held = frame[frame["split"] == held_split]
            if candidates.empty or held.empty:
                continue
            hit = _first_overlap(candidates, held)
            index = candidates.index[hit >= 0]
            frame.loc[index, "split"] = DROPPED
            frame.loc[index, "reason"] = f"overlaps_{held_split}"
            frame.loc[index, "overlaps_window"] = hit[hit >= 0]
    return frame
