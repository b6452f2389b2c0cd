"""Contact maps, kept per window in a Zarr v3 group.

The contact-map head predicts a ``[P, P, C]`` map of 2,048-bp bin pairs over the whole
window (P = window_bp / 2,048, C = 28 tracks for human). Pairs do not stitch into one
genome-wide array the way 1-D tracks do (a pair of bins in different windows was never
predicted), so each window's full map is stored as is; the owned region is recorded so
readers can crop or choose windows.

Layout (genotile_contacts_version 1)
------------------------------------

::

    contacts.zarr/                    root group (no consolidated metadata: windows are added
                                      at any time, and a consolidated listing would go stale)
      attrs: the run's provenance as given by the caller, plus
             genotile_contacts_version  (1)
             genotile_contacts_layout   (this description)
             genotile_contacts          {bin_bp: 2048, n_tracks, tracks: {column: [values]}}
      <contig>/                       group, made by the first window written on the contig
        <window.start>/               array [P, P, C] float32, dims (bin_i, bin_j, track),
                                      fill NaN, codecs bytes + zstd,
                                      attrs contig, start, end, own_start, own_end, bin_bp

* Bin ``i`` of a window covers ``[start + i * bin_bp, start + (i + 1) * bin_bp)``; bins past the
  contig end (a contig's last window is N-padded) are kept, as the model predicted them.
* The track table (``tracks``: at least ``track_index`` and ``name``, one row per stored
  channel, in array order) is a JSON attribute: a few dozen rows, read with the maps.

Atomic windows
--------------

A window's array is built complete (metadata and every chunk) in a temporary folder next
to the store and then renamed into ``<contig>/<start>`` in one ``rename``, so a reader
never sees a half-written window and a crashed writer leaves nothing under the store
(only a ``<store>.tmp-*`` folder beside it). A rename needs no "complete" flag that every
reader would have to check, and windows are independent files, so any number of
processes may write different windows concurrently without locking. Rewriting an existing
window moves the old array aside first; in that short gap readers see no window there,
never a mixture.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genotile.runtime.atomic import remove_aside, swap_into_place, temporary_sibling, write_text
from genotile.sequence.encoding import GRID_BP
from genotile.tracks.store_format import has_root_attribute, root_info

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from genotile.tracks.tiling import Window

BIN_BP = GRID_BP  # one contact-map bin: the pair representation's resolution
CONTACTS_VERSION = 1
ZSTD_LEVEL = 3
TARGET_CHUNK_BYTES = 4 * 2**20
DIMS = ("bin_i", "bin_j", "track")
_RESERVED_ATTRS = ("genotile_contacts_version", "genotile_contacts_layout", "genotile_contacts")
_RESERVED_COLUMNS = DIMS

_doc = __doc__ or ""
LAYOUT = _doc[_doc.find("Layout (") : _doc.find("Atomic windows")].strip() if "Layout (" in _doc else "see genotile.tracks.contact_maps"


class ContactMapError(ValueError):
    """A contact-map store that cannot be created, written or read as asked."""


def create_contact_store(path: str | os.PathLike[str], tracks: pd.DataFrame, attrs: Mapping[str, Any]) -> None:
    """Create an empty contact-map store at ``path`` for the channels in ``tracks``.

    ``tracks`` has one row per stored channel, in the order of the arrays' last axis, with
    at least ``track_index`` (the head channel) and ``name``; other columns are kept as
    metadata. ``attrs`` (provenance) must be JSON-like. Built next to ``path`` and renamed
    into place; an existing contact store at ``path`` is replaced, any other existing file
    or non-empty folder is refused.
    """
    import zarr

    path = Path(path)
    columns = _check_tracks(tracks)
    try:
        user_attrs = json.loads(json.dumps(dict(attrs), default=str))
    except (TypeError, ValueError) as exc:
        raise ContactMapError(f"attrs (provenance) must be a JSON-like mapping with string keys: {exc}") from None
    reserved = [k for k in _RESERVED_ATTRS if k in user_attrs]
    if reserved:
        raise ContactMapError(f"attrs keys {reserved} are reserved for genotile; rename them")
    if path.is_symlink() or (path.exists() and not (path.is_dir() and (_is_contact_store(path) or not any(path.iterdir())))):
        raise ContactMapError(f"{path} exists and is not a genotile contact-map store; remove it or choose another path")
    root_attrs = {
        **user_attrs,
        "genotile_contacts_version": CONTACTS_VERSION,
        "genotile_contacts_layout": LAYOUT,
        "genotile_contacts": {"bin_bp": BIN_BP, "n_tracks": len(tracks), "tracks": columns},
    }
    tmp = temporary_sibling(path, "tmp", ContactMapError)
    try:
        try:
            zarr.open_group(zarr.storage.LocalStore(str(tmp)), mode="w", zarr_format=3, attributes=root_attrs)
        except OSError as exc:
            raise ContactMapError(f"{path}: cannot write the store ({exc})") from None
        swap_into_place(tmp, path, ContactMapError)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_contact_store(path: str | os.PathLike[str]) -> bool:
    """Remove the contact-map store at ``path`` (when a run's selection no longer has contact maps).

    Moved aside first, then deleted; anything at ``path`` that is not a genotile contact-map store is
    left alone. Returns whether a store was removed. (``create_contact_store`` replaces a whole
    existing store, so windows of an earlier selection never survive a new one.)
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir() or not _is_contact_store(path):
        return False
    remove_aside(path, ContactMapError)
    return True


def write_window_contacts(path: str | os.PathLike[str], window: Window, array: np.ndarray) -> None:
    """Store one window's full contact map ``[P, P, C]`` at ``<contig>/<window.start>`` (atomically, see module doc).

    ``P = (window.end - window.start) / 2048`` and ``C`` the number of stored tracks (select
    the channels in the store's track order first). Values are cast to float32.
    """
    import zarr

    path = Path(path)
    info = _store_info(path)
    where = f"{path}: window {window.contig}:{window.start:,}-{window.end:,}"
    bin_bp = int(info["bin_bp"])
    if not window.contig or "/" in window.contig or window.contig.startswith((".", "__")):
        raise ContactMapError(f"{where}: contig name {window.contig!r} cannot name a Zarr group")
    if window.start < 0 or window.start % bin_bp or (window.end - window.start) % bin_bp or window.end <= window.start:
        raise ContactMapError(f"{where}: the window must start and end on the {bin_bp:,}-bp grid (genotile.tracks.tiling windows do)")
    if not window.start <= window.own_start < window.own_end <= window.end:
        raise ContactMapError(f"{where}: owned region {window.own_start:,}-{window.own_end:,} is not inside the window")
    n_bins = (window.end - window.start) // bin_bp
    expected = (n_bins, n_bins, int(info["n_tracks"]))
    array = np.asarray(array)
    if array.shape != expected:
        hint = ""
        if array.ndim == 4 and array.shape[1:] == expected:
            hint = " (drop the batch axis)"
        elif array.ndim == 3 and array.shape[:2] == expected[:2]:
            hint = " (slice it to the stored tracks, in the store's track order)"
        raise ContactMapError(f"{where}: expected a contact map of shape {expected} (bins, bins, stored tracks), got {array.shape}{hint}")
    if array.dtype.kind not in "fiu":
        raise ContactMapError(f"{where}: the contact map must be numeric, got dtype {array.dtype}")
    array = np.asarray(array, dtype=np.float32)
    track_chunk = max(1, min(expected[2], TARGET_CHUNK_BYTES // (n_bins * n_bins * 4)))
    attrs = {
        "contig": window.contig,
        "start": int(window.start),
        "end": int(window.end),
        "own_start": int(window.own_start),
        "own_end": int(window.own_end),
        "bin_bp": bin_bp,
    }
    target = path / window.contig / str(int(window.start))
    tmp = temporary_sibling(path, "tmp", ContactMapError)
    try:
        try:
            z = zarr.create_array(
                zarr.storage.LocalStore(str(tmp / "array")),
                shape=expected,
                chunks=(n_bins, n_bins, track_chunk),
                dtype="float32",
                fill_value=math.nan,
                compressors=[zarr.codecs.ZstdCodec(level=ZSTD_LEVEL)],
                dimension_names=DIMS,
                attributes=attrs,
                zarr_format=3,
            )
            z[...] = array
            _ensure_contig_group(path, window.contig)
            swap_into_place(tmp / "array", target, ContactMapError)
        except OSError as exc:
            raise ContactMapError(f"{where}: cannot write the contact map ({exc.strerror or exc}); check free space and permissions") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_contact_maps(path: str | os.PathLike[str], contig: str) -> list[xr.DataArray]:
    """The contact maps of ``contig``'s windows, by window start, as lazy (dask) ``xarray.DataArray`` s.

    Dims ``(bin_i, bin_j, track)``; ``bin_i``/``bin_j`` are the genomic starts (bp) of the
    bins, ``track`` carries the track table as coordinates (``track_index`` indexed, so
    ``.sel(track_index=...)`` works). ``attrs`` hold contig, start, end, own_start, own_end
    and bin_bp; ``.sel(bin_i=slice(own_start, own_end - 1))`` keeps the owned rows.
    """
    import dask.array as da
    import xarray as xr
    import zarr

    path = Path(path)
    info = _store_info(path)
    folder = path / contig
    if not contig or "/" in contig or not (folder / "zarr.json").is_file():
        have = sorted(p.name for p in path.iterdir() if (p / "zarr.json").is_file())
        raise ContactMapError(
            f"{path}: no contact maps for contig {contig!r} (it has {', '.join(have[:8]) or 'none'}"
            f"{', ...' if len(have) > 8 else ''}); were its windows run, or skipped?"
        )
    starts = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "zarr.json").is_file())
    track_coords = _track_coords(info)
    store = zarr.storage.LocalStore(str(path), read_only=True)
    maps = []
    for start in starts:
        z = zarr.open_array(store, path=f"{contig}/{start}", mode="r")
        attrs = dict(z.attrs)
        bin_bp = int(attrs.get("bin_bp", info["bin_bp"]))
        bins = int(attrs["start"]) + bin_bp * np.arange(z.shape[0], dtype=np.int64)
        data = xr.DataArray(
            da.from_zarr(z),
            dims=DIMS,
            coords={"bin_i": bins, "bin_j": bins.copy(), **track_coords},
            attrs=attrs,
            name="contacts",
        )
        maps.append(data.set_xindex("track_index"))
    return maps


# ---------------------------------------------------------------------------------------------
# helpers


def _check_tracks(tracks: Any) -> dict[str, list[Any]]:
    """The track table as JSON-ready columns (NaN/None -> null)."""
    import pandas as pd

    if not isinstance(tracks, pd.DataFrame):
        raise ContactMapError(f"tracks must be a pandas DataFrame, got {type(tracks).__name__}")
    missing = [c for c in ("track_index", "name") if c not in tracks.columns]
    if missing:
        raise ContactMapError(f"the tracks table lacks column(s) {missing} (has {list(tracks.columns)})")
    if len(tracks) == 0:
        raise ContactMapError("the tracks table is empty; select at least one contact-map track")
    index = tracks["track_index"]
    if not pd.api.types.is_integer_dtype(index) or (index < 0).any() or index.duplicated().any():
        raise ContactMapError("track_index must hold distinct non-negative integers (head channels)")
    columns: dict[str, list[Any]] = {}
    for column in tracks.columns:
        if not isinstance(column, str) or column in _RESERVED_COLUMNS:
            raise ContactMapError(f"track metadata column {column!r} must be a string other than {list(_RESERVED_COLUMNS)}")
        values = []
        for v in tracks[column].tolist():
            if isinstance(v, (np.generic,)):
                v = v.item()
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                v = None
            elif not isinstance(v, (bool, int, float, str)):
                v = str(v)
            values.append(v)
        columns[column] = values
    return columns


def _track_coords(info: Mapping[str, Any]) -> dict[str, tuple[str, np.ndarray]]:
    coords = {}
    for column, values in info["tracks"].items():
        present = [v for v in values if v is not None]
        if column == "track_index" or (present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) and len(present) == len(values)):
            array = np.asarray(values, dtype=np.int64)
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
        else:  # strings; missing as '' (as in the track store), which xarray and pandas keep as is
            array = np.asarray(["" if v is None else str(v) for v in values], dtype=object)
        coords[column] = ("track", array)
    return coords


def _is_contact_store(path: Path) -> bool:
    return has_root_attribute(path, "genotile_contacts_version")


def _store_info(path: Path) -> dict[str, Any]:
    return root_info(path, "genotile_contacts_version", "genotile_contacts", CONTACTS_VERSION, ("bin_bp", "n_tracks", "tracks"),
                     ContactMapError, "contact-map store", "create it first (genotile.tracks.contact_maps.create_contact_store)")


def _ensure_contig_group(path: Path, contig: str) -> None:
    """Create ``<contig>/zarr.json`` if missing; concurrent writers write identical bytes, each by an atomic rename."""
    meta = path / contig / "zarr.json"
    if meta.is_file():
        return
    meta.parent.mkdir(exist_ok=True)
    body = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {"contig": contig}}, indent=2)
    write_text(meta, body)
