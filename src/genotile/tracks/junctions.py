"""Splice junctions from the junction head's per-window outputs, in long format.

The junction head (``splice_sites_junction``) scores every pair
of up to K = 512 candidate donor and acceptor sites per strand and tissue:
``predictions [K, K, 2T]`` (donor axis, acceptor axis; channels ``[:T]`` + strand, ``[T:]`` -
strand) with ``positions [4, K]`` (rows donor+, acceptor+, donor-, acceptor-; window-relative
0-based positions, ``-1`` = empty slot). Unlike tracks these are not a dense genome-wide
array, so they are kept as tables: one row per (junction, tissue).

Conversion (the reference's ``unstack_junction_predictions``)
----------------------------------------------------------------

* Empty slots (``-1``) are dropped. The reference drops them and then pairs the first
  ``n_valid`` rows/columns of the prediction, which relies on the model putting empties at
  the end of each row; here the prediction is indexed by each valid slot's own index, which
  is the same for the model's output and stays correct if empties sit anywhere.
* + strand, donor ``d``, acceptor ``a``: ``start = d + 1``, ``end = a``;
  - strand: ``start = a + 1``, ``end = d``; both shifted by ``window.start``. So
  ``[start, end)`` is the intron, 0-based half-open (BED convention).
* Kept only when ``start < end`` and ``start > 0`` (the head also scores "backwards" pairs).
* Values are the tissue channels of the junction's strand (softplus counts, >= 0).

Ownership: which window reports a junction
-------------------------------------------

Windows overlap, so one junction may be scored by several windows (with different context
and different candidate sets). A junction is reported only by the window whose *owned*
region contains its midpoint ``(start + end) // 2``. Owned regions partition each contig,
so every junction has exactly one owning window and is reported at most once genome-wide,
without any cross-window bookkeeping. The midpoint (rather than, say, the donor) is used
because the owning window is then the one best centred on the junction: with the default
tiling (1 Mb windows, central 512 kb owned) both of its splice sites are inside the owning
window, hence scored by it, for any junction up to 512 kb long (a donor rule guarantees
only 256 kb) and each site keeps as much flanking context as the tiling allows. A junction
that its owning window does not score (too long, or a site missing from that window's
top-K candidates) is not reported, even when a neighbouring window scored it: taking it
from there would make the result depend on which windows were run.

Junctions reaching past the contig end (into the N padding of a contig's last window) are
dropped when ``contig_length`` is given.

N runs (assembly gaps)
----------------------

The head scores pairs inside N runs like any others (issue 12 counted 1,176 rows inside the
100 kb gap of the GRCh37 chr22 test slice), so each row carries ``touches_n_run``: True when any base from the
junction's first splice site to its last (``min(donor, acceptor)`` to ``max(donor, acceptor)``,
both sites and the intron) is unknown to the model (not A/C/G/T, see ``genotile.tracks.n_runs``). Such
a junction's sites or intron were not seen. Rows are kept, not dropped: filter on the column.
In the BED the name gets the suffix ``|touches_n_run``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genotile.runtime.atomic import write_file, write_table

if TYPE_CHECKING:
    import pandas as pd

    from genotile.tracks.tiling import Window

EMPTY = -1
COLUMNS = ("contig", "start", "end", "strand", "tissue", "value", "donor", "acceptor", "tissue_index", "touches_n_run")
N_RUN_SUFFIX = "|touches_n_run"
_DTYPES = {
    "contig": object,
    "start": np.int64,
    "end": np.int64,
    "strand": object,
    "tissue": object,
    "value": np.float32,
    "donor": np.int64,
    "acceptor": np.int64,
    "tissue_index": np.int64,
    "touches_n_run": bool,
}
PARQUET_DESCRIPTION = (
    "genotile splice junctions: one row per (junction, tissue); [start, end) is the intron, 0-based half-open; "
    "donor/acceptor are the 0-based splice-site positions; value is the junction head's predicted count; "
    "tissue_index is the head channel within the strand's tissue block; touches_n_run: an unknown (N) base lies "
    "between the two splice sites, both included"
)


class JunctionError(ValueError):
    """Junction-head outputs or junction tables that cannot be converted or written."""


def window_junctions(
    window: Window,
    predictions: np.ndarray,
    positions: np.ndarray,
    tissue_names: Sequence[str],
    tissues: Sequence[int] | None = None,
    min_value: float = 0.0,
    *,
    contig_length: int | None = None,
    n_mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """The junctions owned by ``window`` as a long table, one row per (junction, tissue).

    ``predictions [K, K, 2T]`` and ``positions [4, K]`` are the junction head's outputs for
    the whole window (positions relative to ``window.start``); ``tissue_names`` names the
    T tissues. ``tissues`` selects tissue channels (indices into the T; default all), in the
    given order. Rows whose value is not finite or below ``min_value`` are dropped (the
    default 0.0 keeps every scored pair, since counts are >= 0). ``contig_length``, when
    given, drops junctions ending past the contig end (into a last window's N padding).
    ``n_mask`` (per base of the window, True = N, e.g. ``genotile.tracks.n_runs.unknown_bases`` of the
    window's one-hot DNA) sets ``touches_n_run``; without it the column is all False.

    Columns: ``contig, start, end, strand, tissue, value, donor, acceptor, tissue_index, touches_n_run``
    (see the module docstring for the coordinates and the ownership rule). Rows are ordered
    by strand (+ first), donor slot, acceptor slot, then tissue in selection order.
    """
    import pandas as pd

    where = f"window {window.contig}:{window.start:,}-{window.end:,}"
    predictions = np.asarray(predictions)
    positions = np.asarray(positions)
    names = [str(n) for n in tissue_names]
    n_tissues = len(names)
    if predictions.ndim != 3 or predictions.shape[0] != predictions.shape[1]:
        raise JunctionError(f"{where}: predictions must be [K, K, 2T] (donor, acceptor, strand x tissue), got shape {predictions.shape}")
    k = predictions.shape[0]
    if n_tissues == 0 or predictions.shape[2] != 2 * n_tissues:
        raise JunctionError(
            f"{where}: predictions have {predictions.shape[2]} channels but {n_tissues} tissue names were given; "
            f"expected 2 x {n_tissues} (+ strand tissues, then - strand); pass the head's tissue metadata names"
        )
    if predictions.dtype.kind not in "fiu":
        raise JunctionError(f"{where}: predictions must be numeric, got dtype {predictions.dtype}")
    if positions.shape != (4, k) or positions.dtype.kind not in "iu":
        raise JunctionError(
            f"{where}: positions must be an integer array [4, {k}] (donor+, acceptor+, donor-, acceptor-), "
            f"got shape {positions.shape} dtype {positions.dtype}"
        )
    width = window.end - window.start
    bad = (positions != EMPTY) & ((positions < 0) | (positions >= width))
    if bad.any():
        raise JunctionError(
            f"{where}: positions must be window-relative (0 to {width - 1:,}) or {EMPTY} for an empty slot; found "
            f"{positions[bad][:3].tolist()}; pass splice_site_positions as the model returns them, not genomic coordinates"
        )
    chosen = _tissue_selection(where, tissues, n_tissues)
    min_value = float(min_value)
    if np.isnan(min_value):
        raise JunctionError(f"{where}: min_value must be a number, got NaN")
    if contig_length is not None and (isinstance(contig_length, bool) or int(contig_length) <= 0):
        raise JunctionError(f"{where}: contig_length must be a positive integer, got {contig_length!r}")
    n_before = None
    if n_mask is not None:
        n_mask = np.asarray(n_mask, dtype=bool)
        if n_mask.shape != (width,):
            raise JunctionError(f"{where}: n_mask must be one flag per base of the window ({width:,}), got shape {n_mask.shape}")
        n_before = np.concatenate(([0], np.cumsum(n_mask, dtype=np.int64)))  # N bases before each window position

    parts = []
    for strand_no, strand in enumerate("+-"):
        donor_slot = np.flatnonzero(positions[2 * strand_no] != EMPTY)
        acceptor_slot = np.flatnonzero(positions[2 * strand_no + 1] != EMPTY)
        d_slot = np.repeat(donor_slot, len(acceptor_slot))
        a_slot = np.tile(acceptor_slot, len(donor_slot))
        donor = positions[2 * strand_no, d_slot].astype(np.int64) + window.start
        acceptor = positions[2 * strand_no + 1, a_slot].astype(np.int64) + window.start
        if strand == "+":
            start, end = donor + 1, acceptor
        else:
            start, end = acceptor + 1, donor
        mid = (start + end) // 2
        keep = (start < end) & (start > 0) & (mid >= window.own_start) & (mid < window.own_end)
        if contig_length is not None:
            keep &= end <= int(contig_length)
        d_slot, a_slot, start, end, donor, acceptor = (x[keep] for x in (d_slot, a_slot, start, end, donor, acceptor))
        channels = chosen + strand_no * n_tissues
        values = predictions[d_slot[:, None], a_slot[:, None], channels[None, :]].astype(np.float32)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(values) & (values >= min_value)
        pair, tissue = np.nonzero(ok)
        if n_before is None:
            touches = np.zeros(len(pair), dtype=bool)
        else:
            lo = np.minimum(donor[pair], acceptor[pair]) - window.start
            hi = np.maximum(donor[pair], acceptor[pair]) - window.start + 1
            touches = n_before[hi] > n_before[lo]
        parts.append(
            {
                "start": start[pair],
                "end": end[pair],
                "strand": np.full(len(pair), strand, dtype=object),
                "tissue_index": chosen[tissue],
                "value": values[pair, tissue],
                "donor": donor[pair],
                "acceptor": acceptor[pair],
                "touches_n_run": touches,
            }
        )
    data = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    n = len(data["start"])
    name_array = np.array(names, dtype=object)
    frame = pd.DataFrame(
        {
            "contig": np.full(n, window.contig, dtype=object),
            "start": data["start"].astype(np.int64),
            "end": data["end"].astype(np.int64),
            "strand": data["strand"],
            "tissue": name_array[data["tissue_index"]] if n else np.empty(0, dtype=object),
            "value": data["value"].astype(np.float32),
            "donor": data["donor"].astype(np.int64),
            "acceptor": data["acceptor"].astype(np.int64),
            "tissue_index": data["tissue_index"].astype(np.int64),
            "touches_n_run": data["touches_n_run"].astype(bool),
        }
    )
    return frame


def _tissue_selection(where: str, tissues: Sequence[int] | None, n_tissues: int) -> np.ndarray:
    if tissues is None:
        return np.arange(n_tissues, dtype=np.int64)
    chosen = np.asarray(list(tissues))
    if chosen.size == 0:
        raise JunctionError(f"{where}: tissues is empty; select at least one tissue index (or pass None for all)")
    if chosen.dtype.kind not in "iu" or chosen.ndim != 1:
        raise JunctionError(f"{where}: tissues must be integer indices into the {n_tissues} tissues, got {list(tissues)[:5]}")
    out_of_range = chosen[(chosen < 0) | (chosen >= n_tissues)]
    if out_of_range.size:
        raise JunctionError(f"{where}: tissue indices {out_of_range[:5].tolist()} are outside 0..{n_tissues - 1}")
    if len(np.unique(chosen)) != len(chosen):
        raise JunctionError(f"{where}: tissue indices repeat ({chosen.tolist()[:10]}); give each tissue once")
    return chosen.astype(np.int64)


def empty_frame() -> pd.DataFrame:
    """A junction table with no rows and the standard columns and dtypes."""
    import pandas as pd

    return pd.DataFrame({c: np.empty(0, dtype=_DTYPES[c]) for c in COLUMNS})


def write_junctions(
    frames: Iterable[pd.DataFrame],
    parquet_path: str | os.PathLike[str] | None,
    bed_path: str | os.PathLike[str] | None,
    *,
    contig_order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Concatenate per-window junction tables, sort them and write Parquet and/or BED6; returns the table.

    Sort order: contig (``contig_order``, e.g. the FASTA's contigs, or else first seen),
    start, end, strand (+ before -), then tissue in head-channel order (``tissue_index``).

    Parquet (pyarrow): every column of the table; the file's metadata key
    ``genotile_junctions`` describes the coordinates.

    BED6, one line per (junction, tissue) row, no header: ``contig, start, end, name, score,
    strand`` with ``[start, end)`` the intron (0-based, half-open), name = the tissue name
    (whitespace replaced by ``_``, as BED fields may not contain tabs) and score = the
    predicted value as a float (``%.9g``, exact for float32), not BED's 0-1000 integer
    score: fine for bedtools, pandas and pyranges; convert before building a bigBed. Rows with
    ``touches_n_run`` get the name suffix ``|touches_n_run`` (same six columns).

    Both files are written under temporary names in their folders and renamed when
    complete. Pass ``None`` for a format that is not wanted.
    """
    import pandas as pd

    frames = [f for f in frames]
    for i, frame in enumerate(frames):
        if not isinstance(frame, pd.DataFrame):
            raise JunctionError(f"frame {i} is a {type(frame).__name__}, not a pandas DataFrame from window_junctions")
        missing = [c for c in ("contig", "start", "end", "strand", "tissue", "value") if c not in frame.columns]
        if missing:
            raise JunctionError(f"frame {i} lacks column(s) {missing}; pass tables made by window_junctions")
    nonempty = [f for f in frames if len(f)]
    table = pd.concat(nonempty, ignore_index=True) if nonempty else (frames[0].iloc[0:0].copy() if frames else empty_frame())
    seen = list(dict.fromkeys(table["contig"].tolist()))
    if contig_order is not None:
        order = list(dict.fromkeys(str(c) for c in contig_order))
        unknown = [c for c in seen if c not in order]
        if unknown:
            raise JunctionError(
                f"contig(s) {unknown[:5]} of the junctions are not in contig_order; pass the contigs of the FASTA "
                "the junctions were predicted from"
            )
    else:
        order = seen
    bad_strand = sorted(set(table["strand"].tolist()) - {"+", "-"})
    if bad_strand:
        raise JunctionError(f"junction strands must be '+' or '-', found {bad_strand[:5]}")
    rank = {c: i for i, c in enumerate(order)}
    keys = pd.DataFrame(
        {
            "contig": table["contig"].map(rank).to_numpy(dtype=np.int64),
            "start": table["start"].to_numpy(dtype=np.int64),
            "end": table["end"].to_numpy(dtype=np.int64),
            "strand": (table["strand"] == "-").to_numpy(dtype=np.int8),
            "tissue": table["tissue_index"].to_numpy() if "tissue_index" in table.columns else table["tissue"].astype(str),
        }
    )
    order_index = keys.sort_values(list(keys.columns), kind="stable").index.to_numpy()  # positions: keys has a RangeIndex
    table = table.iloc[order_index].reset_index(drop=True)
    if parquet_path is not None:
        _write_parquet(table, Path(parquet_path))
    if bed_path is not None:
        _write_bed(table, Path(bed_path))
    return table


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), b"genotile_junctions": PARQUET_DESCRIPTION.encode()})
    write_file(path, lambda tmp: pq.write_table(arrow, tmp, compression="zstd"), JunctionError)


def _write_bed(table: pd.DataFrame, path: Path) -> None:
    bed = table[["contig", "start", "end", "tissue", "value", "strand"]].copy()
    bed["tissue"] = [re.sub(r"\s+", "_", str(t)) or "." for t in bed["tissue"].tolist()]
    if "touches_n_run" in table.columns:
        flagged = table["touches_n_run"].fillna(False).to_numpy(dtype=bool)
        if flagged.any():
            bed.loc[flagged, "tissue"] = bed.loc[flagged, "tissue"] + N_RUN_SUFFIX
    write_table(bed, path, JunctionError, sep="\t", header=False, index=False, float_format="%.9g", lineterminator="\n")
