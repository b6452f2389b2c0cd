"""Genome-wide predicted tracks: the Zarr v3 store, pre-allocation, stitching windows into it, reading it back.

The store's format (its layout, version, names and root-attribute reader) is
:mod:`genotile.tracks.store_format`; this module creates, writes and reads stores in it.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genotile.runtime.atomic import remove_aside, swap_into_place, temporary_sibling
from genotile.runtime.wording import format_bytes, plural  # noqa: F401 - re-exported (messages of this module)
from genotile.sequence.encoding import GRID_BP
from genotile.tracks.store_format import (  # noqa: F401 - re-exported: the format's names, read and written here
    _RESERVED_ATTRS,
    DATA_NAME,
    LAYOUT,
    N_MASK_GROUP,
    N_MASK_NAME,
    STORE_VERSION,
    TARGET_CHUNK_BYTES,
    ZSTD_LEVEL,
    StoreError,
    TrackSet,
    _check_node_name,
    has_root_attribute,
    n_bins,
    store_info,
)

if TYPE_CHECKING:  # kept light: ``import genotile`` imports this module (pandas, zarr, xarray load on use)

    from genotile.tracks.tiling import Window

# ---------------------------------------------------------------------------------------------
# sizes


def estimate_bytes(contigs: Mapping[str, int], tracksets: Sequence[TrackSet]) -> dict[tuple[str, int], int]:
    """Uncompressed size in bytes of each (head, resolution) array set over ``contigs``."""
    sizes: dict[tuple[str, int], int] = {}
    for ts in tracksets:
        bins = sum(n_bins(length, ts.resolution) for length in contigs.values())
        sizes[ts.key] = bins * ts.n_tracks * np.dtype(ts.dtype).itemsize
    return sizes


def format_storage_report(
    contigs: Mapping[str, int],
    tracksets: Sequence[TrackSet],
    *,
    windows: Sequence[Window] | None = None,
    contact_tracks: int = 0,
    junction_tissues: int = 0,
    num_splice_sites: int = 512,
    junction_min_value: float | None = None,
) -> str:
    """A table of what a run will write, uncompressed: the track store per output and resolution,
    and (given the ``windows``) the per-window outputs the track store does not hold: contact maps
    (``contact_tracks`` channels, a ``[P, P, C]`` float32 map per window) and splice-junction
    tables (``junction_tissues``; an upper bound, since only values >= ``junction_min_value`` are kept).
    """
    sizes = estimate_bytes(contigs, tracksets)
    genome_bp = sum(int(v) for v in contigs.values())
    rows = [("output", "res", "tracks", "dtype", "bins", "size")]
    for ts in tracksets:
        bins = sum(n_bins(length, ts.resolution) for length in contigs.values())
        rows.append((ts.head, f"{ts.resolution} bp", f"{ts.n_tracks:,}", ts.dtype, f"{bins:,}", format_bytes(sizes[ts.key])))
    total = sum(sizes.values())
    rows.append(("total", "", f"{sum(ts.n_tracks for ts in tracksets):,}", "", "", format_bytes(total)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    align = ["<", ">", ">", "<", ">", ">"]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(rows[0]), rule, *(line(r) for r in rows[1:-1]), rule, line(rows[-1])]
    header = (
        f"Track store size before compression ({plural(len(contigs), 'contig')}, {genome_bp:,} bp; "
        f"zstd usually saves little on dense float predictions):"
    )
    if not tracksets:
        body = ["(no 1-D tracks selected: no track store)"]
    text = [header, *body, f"total bytes: {total:,}"]
    if windows is not None and (contact_tracks or junction_tissues):
        text += ["", *_per_window_report(windows, contact_tracks, junction_tissues, num_splice_sites, junction_min_value)]
    return "\n".join(text)


#: Bytes per junction-table row before compression (contig, strand, tissue dictionary-coded; 5 int64, 1 float32).
JUNCTION_ROW_BYTES = 48


def _per_window_report(
    windows: Sequence[Window], contact_tracks: int, junction_tissues: int, num_splice_sites: int,
    junction_min_value: float | None,
) -> list[str]:
    """Lines sizing the outputs kept per window (contact maps, junction tables), which the track store omits."""
    lines = [f"Per-window outputs ({plural(len(windows), 'window')}; not in the track store):"]
    if contact_tracks:
        pairs = sum(((w.end - w.start) // GRID_BP) ** 2 for w in windows)
        size = pairs * int(contact_tracks) * 4
        bins = sorted({(w.end - w.start) // GRID_BP for w in windows})
        lines.append(
            f"  contact maps (contact_maps.zarr): {' or '.join(f'{b:,} x {b:,}' for b in bins)} bins of {GRID_BP:,} bp x "
            f"{plural(int(contact_tracks), 'track')}, float32: {format_bytes(size)} ({size:,} bytes)"
        )
    if junction_tissues:
        rows = len(windows) * 2 * num_splice_sites**2 * int(junction_tissues)
        kept = f">= {junction_min_value:g}" if junction_min_value is not None else "above export.junction_min_value"
        lines.append(
            f"  splice junctions (junctions.parquet): at most {rows:,} rows ({num_splice_sites} x {num_splice_sites} "
            f"site pairs x 2 strands x {plural(int(junction_tissues), 'tissue')} per window), "
            f"{format_bytes(rows * JUNCTION_ROW_BYTES)} before compression; only values {kept} are kept, "
            "usually a small fraction"
        )
    return lines


# ---------------------------------------------------------------------------------------------
# creation


def create_store(
    path: str | os.PathLike[str],
    contigs: Mapping[str, int],
    tracksets: Sequence[TrackSet],
    chunk_bp: int,
    attrs: Mapping[str, Any],
    *,
    owned_bp: int | None = None,
    track_chunk: int | None = None,
    n_runs: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    mask_n_runs: bool = False,
) -> None:
    """Pre-allocate the store at ``path`` for ``contigs`` x ``tracksets`` (metadata only; no data written).

    ``n_runs`` (``{contig: (starts, ends)}``, e.g. ``genotile.tracks.n_runs.runs_by_contig``) adds the
    ``n_mask`` group: the N bases as a 1-bp boolean mask (see the layout); ``mask_n_runs`` records
    that the predictions written into the store are NaN over those runs (the writer does it).

    Built at a temporary sibling ``<path>.tmp-XXXX`` and renamed into place, so a crashed
    creation never looks complete. An existing genotile store at ``path`` is replaced; any
    other existing file or non-empty folder is refused.

    ``chunk_bp`` (a multiple of 2,048) must divide the tiling's owned size; pass ``owned_bp``
    to have that checked now rather than at the first ``write_window``. ``track_chunk``
    (default: as many tracks as fit in about 16 MiB per chunk) is the chunk size along
    ``track``. ``attrs`` (provenance) must be JSON-serialisable; other values are stored as
    their ``str``.
    """
    path = Path(path)
    chunk_bp = _check_chunk_bp(chunk_bp)
    if owned_bp is not None and (owned_bp <= 0 or owned_bp % chunk_bp):
        raise StoreError(
            f"chunk_bp = {chunk_bp:,} does not divide owned_bp = {owned_bp:,}: owned regions would share chunks; "
            f"use a chunk_bp that divides {owned_bp:,} (e.g. {owned_bp:,} itself)"
        )
    if track_chunk is not None and (isinstance(track_chunk, bool) or int(track_chunk) < 1):
        raise StoreError(f"track_chunk must be a positive integer, got {track_chunk!r}")
    contigs = _check_contigs(contigs)
    tracksets = list(tracksets)
    if not tracksets:
        raise StoreError("no track sets given: select at least one output type and resolution to store")
    seen: set[tuple[str, int]] = set()
    for ts in tracksets:
        if not isinstance(ts, TrackSet):
            raise StoreError(f"tracksets must be TrackSet objects, got {type(ts).__name__}")
        if ts.key in seen:
            raise StoreError(f"{ts.group} is given twice")
        seen.add(ts.key)
        clash = sorted(set(contigs) & set(map(str, ts.tracks.columns)))
        if clash:
            raise StoreError(f"{ts.group}: contig name(s) {clash} equal track metadata column names; rename the column(s)")
    try:
        user_attrs = json.loads(json.dumps(dict(attrs), default=str))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"attrs (provenance) must be a JSON-like mapping with string keys: {exc}") from None
    reserved = [k for k in _RESERVED_ATTRS if k in user_attrs]
    if reserved:
        raise StoreError(f"attrs keys {reserved} are reserved for genotile; rename them")

    _check_replaceable(path)
    tmp = temporary_sibling(path, "tmp", StoreError)
    try:
        _build(tmp, contigs, tracksets, chunk_bp, user_attrs, track_chunk)
        if n_runs is not None:
            _write_n_mask(tmp, contigs, chunk_bp, n_runs, bool(mask_n_runs))
        swap_into_place(tmp, path, StoreError)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _build(
    root_path: Path,
    contigs: dict[str, int],
    tracksets: list[TrackSet],
    chunk_bp: int,
    user_attrs: dict[str, Any],
    track_chunk: int | None,
) -> None:
    import zarr
    from zarr.core.group import GroupMetadata

    store = zarr.storage.LocalStore(str(root_path))
    chunks = {ts.key: _track_chunk(ts, chunk_bp, track_chunk) for ts in tracksets}
    root_attrs = {
        "genotile_open": how_to_open(tracksets, contigs),  # first: what `xr.open_zarr(root)` shows at the top
        **user_attrs,
        "genotile_store_version": STORE_VERSION,
        "genotile_layout": LAYOUT,
        "genotile_store": {
            "chunk_bp": chunk_bp,
            "contigs": contigs,
            "tracksets": [
                {
                    "head": ts.head,
                    "resolution": ts.resolution,
                    "group": ts.group,
                    "n_tracks": ts.n_tracks,
                    "dtype": ts.dtype,
                    "track_chunk": chunks[ts.key],
                }
                for ts in tracksets
            ],
        },
    }
    nodes: dict[str, Any] = {"": GroupMetadata(attributes=root_attrs, zarr_format=3)}
    coord_values: dict[str, np.ndarray] = {}
    for ts in tracksets:
        columns = {str(c): _column_values(ts, c) for c in ts.tracks.columns}
        order = ["track_index", "name", *(c for c in columns if c not in ("track_index", "name"))]
        nodes[ts.head] = GroupMetadata(attributes={"head": ts.head}, zarr_format=3)
        nodes[ts.group] = GroupMetadata(
            attributes={
                "head": ts.head,
                "resolution": ts.resolution,
                "n_tracks": ts.n_tracks,
                "dtype": ts.dtype,
                "coordinates": " ".join(order),
            },
            zarr_format=3,
        )
        for column in order:
            values = columns[column]
            coord_values[f"{ts.group}/{column}"] = values
            nodes[f"{ts.group}/{column}"] = _array_metadata(
                shape=(ts.n_tracks,), dtype=values.dtype, chunks=(ts.n_tracks,), dims=("track",)
            )
        rows = chunk_bp // ts.resolution
        for contig, length in contigs.items():
            nodes[f"{ts.group}/{contig}"] = GroupMetadata(
                attributes={"contig": contig, "length": length, "resolution": ts.resolution}, zarr_format=3
            )
            nodes[f"{ts.group}/{contig}/{DATA_NAME}"] = _array_metadata(
                shape=(n_bins(length, ts.resolution), ts.n_tracks),
                dtype=np.dtype(ts.dtype),
                chunks=(rows, chunks[ts.key]),
                dims=("position", "track"),
            )
    try:
        for _ in zarr.create_hierarchy(store=store, nodes=nodes):
            pass
        for name, values in coord_values.items():
            zarr.open_array(store, path=name, mode="r+")[...] = values
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            zarr.consolidate_metadata(store)
    except OSError as exc:
        raise StoreError(f"{root_path}: cannot write the store ({exc})") from None


def _write_n_mask(
    root_path: Path, contigs: dict[str, int], chunk_bp: int, n_runs: Mapping[str, tuple[np.ndarray, np.ndarray]], masked: bool
) -> None:
    """Add ``n_mask/<contig>/mask`` (1 bp, True = N) to a freshly built store and record it in the root attrs.

    Only chunks holding an N are written (the fill value is False), so a genome's mask costs a
    few bytes per assembly gap.
    """
    import zarr
    from zarr.core.group import GroupMetadata

    unknown = sorted(set(map(str, n_runs)) - set(contigs))
    if unknown:
        raise StoreError(f"N runs given for contig(s) {unknown[:5]} that the store does not have (it has {_preview(contigs)})")
    checked = {contig: _check_runs(contig, length, *n_runs.get(contig, (np.empty(0), np.empty(0))))
               for contig, length in contigs.items()}
    store = zarr.storage.LocalStore(str(root_path))
    nodes: dict[str, Any] = {N_MASK_GROUP: GroupMetadata(attributes={"resolution": 1, "meaning": "True = not A/C/G/T (N)"},
                                                          zarr_format=3)}
    for contig, length in contigs.items():
        nodes[f"{N_MASK_GROUP}/{contig}"] = GroupMetadata(attributes={"contig": contig, "length": length, "resolution": 1},
                                                          zarr_format=3)
        nodes[f"{N_MASK_GROUP}/{contig}/{N_MASK_NAME}"] = _array_metadata(
            shape=(length,), dtype=np.dtype(bool), chunks=(chunk_bp,), dims=("position",)
        )
    try:
        for _ in zarr.create_hierarchy(store=store, nodes=nodes):
            pass
        for contig, (starts, ends) in checked.items():
            if len(starts):
                _write_mask_chunks(zarr.open_array(store, path=f"{N_MASK_GROUP}/{contig}/{N_MASK_NAME}", mode="r+"),
                                   contigs[contig], chunk_bp, starts, ends)
        root = zarr.open_group(store, mode="r+")
        info = dict(root.attrs["genotile_store"])
        info["n_mask"] = {"group": N_MASK_GROUP, "resolution": 1, "n_runs": int(sum(len(s) for s, _ in checked.values())),
                          "masked": masked}
        root.attrs["genotile_store"] = info
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            zarr.consolidate_metadata(store)
    except OSError as exc:
        raise StoreError(f"{root_path}: cannot write the N mask ({exc})") from None


def _check_runs(contig: str, length: int, starts: Any, ends: Any) -> tuple[np.ndarray, np.ndarray]:
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    ok = (starts.shape == ends.shape and starts.ndim == 1 and bool(np.all(starts < ends))
          and bool(np.all(starts[1:] >= ends[:-1])) and (len(starts) == 0 or (starts[0] >= 0 and ends[-1] <= length)))
    if not ok:
        raise StoreError(f"N runs of {contig} must be sorted, disjoint, non-empty [start, end) intervals inside 0-{length:,}")
    return starts, ends


def _write_mask_chunks(array: Any, length: int, chunk_bp: int, starts: np.ndarray, ends: np.ndarray) -> None:
    """Write each chunk that holds an N once (whole chunks: no read-modify-write)."""
    first, last = starts // chunk_bp, (ends - 1) // chunk_bp
    chunk_ids = np.unique(np.concatenate([np.arange(lo, hi + 1) for lo, hi in zip(first.tolist(), last.tolist())]))
    for c in chunk_ids.tolist():
        c0, c1 = c * chunk_bp, min((c + 1) * chunk_bp, length)
        buffer = np.zeros(c1 - c0, dtype=bool)
        i0, i1 = np.searchsorted(ends, c0, side="right"), np.searchsorted(starts, c1, side="left")
        for s, e in zip(starts[i0:i1].tolist(), ends[i0:i1].tolist()):
            buffer[max(s, c0) - c0 : min(e, c1) - c0] = True
        array[c0:c1] = buffer


def read_n_mask(path: str | os.PathLike[str], contig: str, start: int = 0, end: int | None = None) -> np.ndarray:
    """The 1-bp N mask of ``contig[start:end]`` from a store (True = not A/C/G/T); see the layout."""
    import zarr

    path = Path(path)
    info = store_info(path)
    if not info.get("n_mask"):
        raise StoreError(f"{path}: the store has no N mask (created without the genome's N runs); recreate it with the workflow")
    if contig not in info["contigs"]:
        raise StoreError(f"{path}: no contig {contig!r} in the store (it has {_preview(info['contigs'])})")
    array = zarr.open_array(zarr.storage.LocalStore(str(path), read_only=True), path=f"{N_MASK_GROUP}/{contig}/{N_MASK_NAME}",
                            mode="r")
    return np.asarray(array[start:end], dtype=bool)


def _array_metadata(shape: tuple[int, ...], dtype: np.dtype, chunks: tuple[int, ...], dims: tuple[str, ...]) -> Any:
    """Zarr v3 array metadata: regular chunks, '/'-separated chunk keys, bytes+zstd codecs."""
    from zarr.core.metadata.v3 import ArrayV3Metadata

    if dtype.kind == "T":
        data_type, fill, codecs = "string", "", [{"name": "vlen-utf8", "configuration": {}}]
    elif dtype.kind == "b":
        data_type, fill, codecs = "bool", False, [{"name": "bytes"}]
    elif dtype.kind == "f":
        data_type, fill, codecs = dtype.name, "NaN", [{"name": "bytes", "configuration": {"endian": "little"}}]
    else:
        data_type, fill, codecs = dtype.name, 0, [{"name": "bytes", "configuration": {"endian": "little"}}]
    codecs.append({"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}})
    return ArrayV3Metadata.from_dict(
        {
            "zarr_format": 3,
            "node_type": "array",
            "shape": list(shape),
            "data_type": data_type,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": fill,
            "codecs": codecs,
            "attributes": {},
            "dimension_names": list(dims),
            "storage_transformers": [],
        }
    )


def _column_values(ts: TrackSet, column: Any) -> np.ndarray:
    """A metadata column as a storable 1-D array: bool, int64, float64 (NaN = missing) or strings ('' = missing)."""
    import pandas as pd

    series = ts.tracks[column]
    if pd.api.types.is_bool_dtype(series) and not series.isna().any():
        return series.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(series) and not series.isna().any():
        return series.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    strings = ["" if _is_missing(v) else str(v) for v in series.tolist()]
    return np.array(strings, dtype=np.dtypes.StringDType())


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _track_chunk(ts: TrackSet, chunk_bp: int, track_chunk: int | None) -> int:
    if track_chunk is not None:
        return min(int(track_chunk), ts.n_tracks)
    row_bytes = (chunk_bp // ts.resolution) * np.dtype(ts.dtype).itemsize
    return max(1, min(ts.n_tracks, TARGET_CHUNK_BYTES // row_bytes))


def _check_chunk_bp(chunk_bp: Any) -> int:
    if isinstance(chunk_bp, bool) or not isinstance(chunk_bp, (int, np.integer)) or chunk_bp <= 0 or chunk_bp % GRID_BP:
        raise StoreError(
            f"chunk_bp = {chunk_bp!r} must be a positive multiple of {GRID_BP:,} bp that divides the owned size "
            f"(e.g. the owned size itself, 524,288)"
        )
    return int(chunk_bp)


def _check_contigs(contigs: Mapping[str, int]) -> dict[str, int]:
    if not contigs:
        raise StoreError("no contigs given")
    checked: dict[str, int] = {}
    for name, length in contigs.items():
        _check_node_name(name, "contig name")
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length <= 0:
            raise StoreError(f"contig {name!r}: length must be a positive integer, got {length!r}")
        checked[name] = int(length)
    return checked


def _is_store(path: Path) -> bool:
    return has_root_attribute(path, "genotile_store_version")


def _check_replaceable(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink() and (_is_store(path) or not any(path.iterdir())):
        return
    raise StoreError(
        f"{path} exists and is not a genotile track store; remove it or choose another path (refusing to overwrite it)"
    )


def remove_store(path: str | os.PathLike[str]) -> bool:
    """Remove the genotile track store at ``path`` (when a run's selection no longer has 1-D tracks).

    Moved aside first, then deleted, so a reader never sees half a store. Anything at ``path`` that is
    not a genotile track store is left alone. Returns whether a store was removed.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir() or not _is_store(path):
        return False
    remove_aside(path, StoreError)
    return True


# ---------------------------------------------------------------------------------------------
# writing


def crop_to_owned(window: Window, array_full_window: np.ndarray, res: int) -> np.ndarray:
    """The owned bins of a full-window prediction ``[window_bp / res, C]``.

    Returns ``array[(own_start - start) / res : ceil((own_end - start) / res)]`` (a view).
    At a contig end that is not a multiple of ``res`` the last owned bin is kept whole: it
    also covers bases past the contig end, which the model saw as N padding, and is stored
    as the contig's last (partial) bin.
    """
    res = int(res)
    if res <= 0 or GRID_BP % res:
        raise StoreError(f"resolution {res} bp must divide {GRID_BP:,}")
    if (window.start % res) or (window.own_start % res) or (window.end - window.start) % res:
        raise StoreError(f"{_describe(window)} is not aligned to {res}-bp bins")
    expected = (window.end - window.start) // res
    if np.ndim(array_full_window) < 1 or np.shape(array_full_window)[0] != expected:
        raise StoreError(
            f"{_describe(window)}: expected a full-window prediction with {expected:,} bins of {res} bp "
            f"on axis 0, got shape {np.shape(array_full_window)}"
        )
    first = (window.own_start - window.start) // res
    last = -(-(window.own_end - window.start) // res)
    return array_full_window[first:last]


def write_window(path: str | os.PathLike[str], window: Window, outputs: Mapping[tuple[str, int], np.ndarray]) -> None:
    """Write one window's predictions into the store at ``path``: only the bins the window owns.

    ``outputs[(head, res)]`` is what the predictor returns for the window, ``[window_bp / res,
    n_tracks]`` sliced to the stored tracks (``Selection.extract``). Its owned bins
    (:func:`crop_to_owned`) are written to bins ``[own_start / res, ceil(own_end / res))`` of the
    contig's array with a plain Zarr slice assignment, cast to the stored dtype.

    Concurrency: windows of a tiling own disjoint regions whose edges are multiples of the
    owned size (or the contig end), and ``chunk_bp`` divides the owned size, so the owned
    region is exactly a run of whole chunks (the last may be the array's final, partial
    chunk, which no other window touches). Every chunk is its own file, written atomically
    (temporary file + rename) by Zarr, and this function never changes metadata. So windows
    may be written in any order, from any number of processes, with no locking; the result
    is byte-identical. The alignment is checked and a misaligned window is refused.
    """
    import zarr

    path = Path(path)
    info = store_info(path)
    contigs: dict[str, int] = info["contigs"]
    chunk_bp: int = info["chunk_bp"]
    tracksets = {(t["head"], int(t["resolution"])): t for t in info["tracksets"]}
    if window.contig not in contigs:
        raise StoreError(f"{path}: {_describe(window)} is on contig {window.contig!r}, which the store does not have "
                         f"(it has {_preview(contigs)}); was the store created for another genome or contig selection?")
    length = contigs[window.contig]
    if not 0 <= window.own_start < window.own_end <= length:
        raise StoreError(f"{path}: {_describe(window)} owns bases outside contig {window.contig} of length {length:,} in the store "
                         f"(genome mismatch?)")
    if window.own_start % chunk_bp or (window.own_end % chunk_bp and window.own_end != length):
        raise StoreError(
            f"{path}: {_describe(window)} is not aligned to the store's chunks of chunk_bp = {chunk_bp:,} bp: own_start must "
            f"be a multiple of chunk_bp and own_end a multiple of chunk_bp or the contig end ({length:,}). Create the store "
            f"with a chunk_bp that divides the owned size (e.g. the owned size itself)."
        )
    prepared = []
    for key, array in outputs.items():
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str)):
            raise StoreError(f"{path}: output keys must be (head, resolution) tuples such as ('dnase', 128), got {key!r}")
        head, res = key[0], int(key[1])
        if (head, res) not in tracksets:
            raise StoreError(f"{path}: output {head}/{res}bp is not in the store (it has "
                             f"{', '.join(t['group'] for t in info['tracksets'])}); add it when creating the store")
        ts = tracksets[(head, res)]
        first = window.own_start // res
        last = n_bins(window.own_end, res)
        expected = ((window.end - window.start) // res, int(ts["n_tracks"]))
        array = np.asarray(array)
        if array.shape != expected:
            hint = ""
            if array.ndim == 2 and array.shape[0] == last - first:
                hint = " (already cropped to the owned bins? pass the full-window prediction: write_window crops it)"
            elif array.ndim == 2 and array.shape[0] == expected[0]:
                hint = " (slice it to the stored tracks, in the store's track order)"
            raise StoreError(
                f"{path}: {ts['group']} for {_describe(window)}: expected shape {expected} "
                f"(full-window bins, stored tracks), got {array.shape}{hint}"
            )
        array = crop_to_owned(window, array, res)
        prepared.append((f"{ts['group']}/{window.contig}/{DATA_NAME}", first, last, np.asarray(array, dtype=ts["dtype"])))
    store = zarr.storage.LocalStore(str(path))
    for name, first, last, array in prepared:
        target = zarr.open_array(store, path=name, mode="r+")
        rows = target.chunks[0]
        if first % rows or (last % rows and last != target.shape[0]):  # guaranteed by the checks above
            raise StoreError(f"{path}: {name} rows [{first}, {last}) are not aligned to its {rows}-row chunks")
        target[first:last] = array


def _describe(window: Window) -> str:
    return f"window {window.contig}:{window.start:,}-{window.end:,} (owned {window.own_start:,}-{window.own_end:,})"


def _preview(names: Mapping[str, Any] | Sequence[str], n: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f", ... ({len(names):,} in all)" if len(names) > n else "")


# ---------------------------------------------------------------------------------------------
# reading


def how_to_open(tracksets: Sequence[TrackSet], contigs: Mapping[str, int]) -> str:
    """The root attribute that tells a reader where the arrays are: the root itself holds none, so a
    plain ``xr.open_zarr(path)`` returns a Dataset with only attributes (this one shown first)."""
    groups = ", ".join(ts.group for ts in tracksets)
    first = f"{tracksets[0].group}/{next(iter(contigs))}" if tracksets and contigs else "<head>/<res>bp/<contig>"
    return (
        "genotile track store: the root holds no arrays. Open it with genotile.open_tracks(path) (an xarray.DataTree "
        f"of every group) or xr.open_datatree(path, engine='zarr'); one array with xr.open_zarr(path, group='{first}'). "
        f"Groups: {groups}, each with one subgroup per contig."
    )



def open_tracks(path: str | os.PathLike[str]) -> Any:
    """The whole store as a lazy (dask-backed) ``xarray.DataTree``.

    Nodes ``<head>/<res>bp/<contig>`` hold ``predictions`` (position, track) with the
    track metadata coordinates (copied from ``<head>/<res>bp``; ``track_index`` is indexed,
    so ``.sel(track_index=...)`` works) and a lazy ``position`` coordinate (bin start, bp).
    Root attributes are the provenance.
    """
    import xarray as xr

    path = Path(path)
    info = store_info(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        tree = xr.open_datatree(str(path), engine="zarr", chunks={}, consolidated=True)
    for ts in info["tracksets"]:
        group = ts["group"]
        coords = _track_coords(tree[group].to_dataset(inherit=False))
        for contig in info["contigs"]:
            node = tree[f"{group}/{contig}"]
            node.dataset = _decorate(node.to_dataset(inherit=False), coords, int(ts["resolution"]))
    return tree


def open_track_array(path: str | os.PathLike[str], head: str, res: int, contig: str) -> Any:
    """One contig's predictions for one output and resolution as a lazy ``xarray.DataArray`` (position, track)."""
    import xarray as xr

    path = Path(path)
    info = store_info(path)
    groups = {(t["head"], int(t["resolution"])): t["group"] for t in info["tracksets"]}
    if (head, int(res)) not in groups:
        raise StoreError(f"{path}: no {head}/{res}bp in the store (it has {', '.join(groups.values())})")
    if contig not in info["contigs"]:
        raise StoreError(f"{path}: no contig {contig!r} in the store (it has {_preview(info['contigs'])})")
    group = groups[(head, int(res))]
    track_ds = xr.open_zarr(str(path), group=group, chunks={}, consolidated=False)
    data = xr.open_zarr(str(path), group=f"{group}/{contig}", chunks={}, consolidated=False)
    return _decorate(data, _track_coords(track_ds), int(res))[DATA_NAME]


def _track_coords(ds: Any) -> Any:
    """Track coordinates in memory (strings as object arrays, pandas-friendly), ``track_index`` indexed."""
    import xarray as xr

    coords = {}
    for name, var in ds.coords.items():
        if var.dims != ("track",):
            continue
        values = np.asarray(var.values)
        if values.dtype.kind in "TUS":
            values = values.astype(object)
        coords[name] = ("track", values)
    return xr.Dataset(coords=coords).set_xindex("track_index").coords


def _decorate(ds: Any, track_coords: Any, res: int) -> Any:
    import pandas as pd
    import xarray as xr

    n = ds.sizes["position"]
    # a pandas RangeIndex is never materialised, and gives label selection (inclusive slices)
    position = xr.Coordinates({"position": pd.RangeIndex(0, n * res, res, name="position")})
    return ds.assign_coords(track_coords).assign_coords(position)
