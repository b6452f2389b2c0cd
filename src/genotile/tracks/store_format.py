"""The format of a genotile track store: its layout, version, names, and the one reader of its root attributes.

Shared by every module that reads or writes a store (:mod:`genotile.tracks.store` creates, writes and
reads one; :mod:`genotile.tracks.bigwig` exports one; :mod:`genotile.tracks.contact_maps` reads its
own store's root attributes with :func:`root_info`), so a format change is made in one place.

Layout (genotile_store_version 1)
---------------------------------

One Zarr v3 group per run, e.g. ``results/<run>/tracks.zarr``, with consolidated metadata::

    tracks.zarr/                      root group
      attrs: the run's provenance as given by the caller (config, genome checksum, weights
             identity, package versions, ...) plus
             genotile_store_version  (1)
             genotile_layout         (this description)
             genotile_store          {chunk_bp, contigs {name: length}, tracksets [{head,
                                      resolution, group, n_tracks, dtype, track_chunk}]}
      <head>/<res>bp/                 one group per output type and resolution, e.g. dnase/128bp,
                                      rna_seq/1bp, chip_tf/128bp, splice_sites_usage/1bp
        attrs: head, resolution, n_tracks, dtype, coordinates
        track_index, name, <meta>...  1-D coordinate arrays along dim "track", one entry per stored
                                      track: the head channel, the track name and every metadata
                                      column given (strand, assay_title, ontology_curie,
                                      biosample_name, nonzero_mean, ...)
        <contig>/                     one group per contig, named by the contig (chr1, chrX, ...)
          attrs: contig, length, resolution
          predictions                 array, dims ("position", "track"),
                                      shape (ceil(length / res), n_tracks)
      n_mask/                         where the model saw no sequence (present when the store was
                                      created with the genome's N runs, as the workflow does)
        <contig>/mask                 bool array, dims ("position",), 1 bp, shape (length,), chunks
                                      (chunk_bp,): True on every base that is not A/C/G/T (N, n,
                                      IUPAC codes: all-zero one-hot rows). Chunks without an N are
                                      never written (fill False), so the mask costs a few bytes per
                                      gap; ``genotile.store.read_n_mask`` reads a range. The same
                                      runs are in ``<run>/n_runs.bed``.

* Position index ``i`` covers bases ``[i * res, (i + 1) * res)`` of the contig (0-based,
  half-open). When the contig length is not a multiple of ``res`` the last bin reaches past
  the contig end: it holds the model's prediction for that bin, whose tail the model saw as
  N padding.
* dtype float32 by default; float16 halves the storage (values beyond +-65,504 become +-inf).
* Fill value NaN: regions never written (windows skipped, e.g. all-N, or not yet run) read
  as missing.
* Chunks ``(chunk_bp / res, track_chunk)``. ``chunk_bp`` is a multiple of 2,048 that divides
  the owned size of the tiling, so every window's owned region is a whole number of chunks
  (the last one may stop at the contig end, where the array ends). Each chunk therefore
  belongs to exactly one window, and windows can be written concurrently from any number
  of processes: no two writers ever touch the same chunk file, and writing a window never
  changes any metadata.
* Compression: zstd (level 3), codecs ``bytes`` + ``zstd``.
* Track metadata follows the xarray Zarr convention (``dimension_names`` on each array, a
  ``coordinates`` group attribute), so ``xarray.open_datatree(path, engine="zarr")`` shows
  them as coordinates of the ``<head>/<res>bp`` node. xarray's DataTree only inherits
  *indexed* coordinates, so ``genotile.store.open_tracks`` copies them onto every contig
  node.
* ``position`` (bin start in bp, ``i * res``) is not stored (at 1 bp it would be as large as
  the data): ``open_tracks`` and ``open_track_array`` add it as an index backed by a
  ``pandas.RangeIndex``, which is never materialised; ``.sel(position=slice(a, b))`` selects
  the bins starting in ``[a, b]`` (label slices include both ends).
* N runs: predictions over N runs are ordinary finite numbers unless the store was written with
  ``mask_n_runs`` (config ``store.mask_n_runs``), which writes NaN over every bin made only of
  N bases (a bin with any real base keeps its value). ``genotile_store.n_mask`` records
  ``{group, resolution, n_runs, masked}``.
* Not in this store: contact maps (2,048-bp pair maps) and splice junctions, which are kept
  per window.

Reading::

    import genotile
    tree = genotile.open_tracks("results/run/tracks.zarr")      # lazy (dask)
    dnase = tree["dnase/128bp/chr1"]["predictions"]             # (position, track)
    dnase.sel(position=slice(1_000_000, 1_999_999)).sel(track_index=[0, 5])
    genotile.store.open_track_array(path, "dnase", 128, "chr1")  # the same DataArray
    dnase["name"]       # track names; ``dnase.name`` is the variable name ("predictions")
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genotile.sequence.encoding import GRID_BP

if TYPE_CHECKING:
    import pandas as pd

STORE_VERSION = 1
DATA_NAME = "predictions"
ZSTD_LEVEL = 3
TARGET_CHUNK_BYTES = 16 * 2**20
_RESERVED_ATTRS = ("genotile_store_version", "genotile_layout", "genotile_store", "genotile_open")
_RESERVED_COLUMNS = (DATA_NAME, "position", "track")

_doc = __doc__ or ""
LAYOUT = _doc[_doc.find("Layout (") :].strip() if "Layout (" in _doc else "see genotile.tracks.store_format"


class StoreError(ValueError):
    """A track store that cannot be created, written or read as asked."""


@dataclasses.dataclass(frozen=True, eq=False)
class TrackSet:
    """The tracks stored for one output type (head) at one resolution.

    ``tracks`` has one row per stored track and at least the columns ``track_index`` (the
    head's output channel) and ``name``; every other column is stored as track metadata.
    """

    head: str
    resolution: int
    tracks: pd.DataFrame = dataclasses.field(repr=False)
    dtype: str = "float32"

    def __post_init__(self) -> None:
        import pandas as pd

        _check_node_name(self.head, "head")
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, (int, np.integer)):
            raise StoreError(f"{self.head}: resolution must be an integer number of bp, got {self.resolution!r}")
        if self.resolution <= 0 or GRID_BP % self.resolution:
            raise StoreError(f"{self.head}: resolution {self.resolution} bp must divide {GRID_BP:,} (e.g. 1, 128 or 2048)")
        object.__setattr__(self, "resolution", int(self.resolution))
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            raise StoreError(f"{self.group}: dtype {self.dtype!r} is not a numpy dtype (use 'float32' or 'float16')") from None
        if dtype.kind != "f":
            raise StoreError(f"{self.group}: dtype {self.dtype!r} must be a floating-point type (NaN marks unwritten regions)")
        object.__setattr__(self, "dtype", dtype.name)
        if not isinstance(self.tracks, pd.DataFrame):
            raise StoreError(f"{self.group}: tracks must be a pandas DataFrame, got {type(self.tracks).__name__}")
        missing = [c for c in ("track_index", "name") if c not in self.tracks.columns]
        if missing:
            raise StoreError(f"{self.group}: the tracks table lacks column(s) {missing} (has {list(self.tracks.columns)})")
        if len(self.tracks) == 0:
            raise StoreError(f"{self.group}: the tracks table is empty; select at least one track")
        for column in self.tracks.columns:
            _check_node_name(str(column), f"{self.group}: track metadata column")
            if column in _RESERVED_COLUMNS:
                raise StoreError(f"{self.group}: track metadata column {column!r} is reserved; rename it")
        index = self.tracks["track_index"]
        if not pd.api.types.is_integer_dtype(index) or (index < 0).any():
            raise StoreError(f"{self.group}: track_index must hold non-negative integers (head channels)")
        duplicated = index[index.duplicated()].tolist()
        if duplicated:
            raise StoreError(f"{self.group}: track_index values {duplicated[:5]} occur more than once")
        object.__setattr__(self, "tracks", self.tracks.reset_index(drop=True))

    @property
    def key(self) -> tuple[str, int]:
        return (self.head, self.resolution)

    @property
    def group(self) -> str:
        return f"{self.head}/{self.resolution}bp"

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    def __repr__(self) -> str:
        return f"TrackSet(head={self.head!r}, resolution={self.resolution}, n_tracks={self.n_tracks}, dtype={self.dtype!r})"


# ---------------------------------------------------------------------------------------------
# names and sizes


def n_bins(length: int, resolution: int) -> int:
    """Bins of a contig of ``length`` bp at ``resolution`` (the last one may be partial)."""
    return -(-int(length) // int(resolution))


N_MASK_GROUP = "n_mask"
N_MASK_NAME = "mask"


def _check_node_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("__") or set(name) == {"."}:
        raise StoreError(f"{what} {name!r} cannot name a Zarr node (must be non-empty, without '/', not starting with '__')")


def has_root_attribute(path: Path, key: str) -> bool:
    """Whether ``path`` is a Zarr v3 group whose root attributes carry ``key`` (how genotile recognises its stores)."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and key in meta.get("attributes", {})


def root_info(
    path: Path, version_key: str, info_key: str, version: int, required: tuple[str, ...],
    error: type[Exception], what: str, fix: str,
) -> dict[str, Any]:
    """The ``info_key`` root attribute of the genotile store ``path`` of kind ``what`` (track store, contact-map store).

    Why one reader: the track store, its bigWig export and the contact-map store recognise a
    store, check its version and report a missing or foreign one the same way. Raises ``error``
    saying what is wrong and ``fix`` (how to get the store) when ``path`` is missing.
    """
    if not path.exists():
        raise error(f"{path}: no such {what}; {fix}")
    try:
        attrs = json.loads((path / "zarr.json").read_text())["attributes"]
        found = attrs[version_key]
        info = attrs[info_key]
        for key in required:
            info[key]
    except (OSError, ValueError, KeyError, TypeError):
        raise error(f"{path} is not a genotile {what} (no {version_key} in its zarr.json)") from None
    if found != version:
        raise error(f"{path}: {what} version {found} is not supported (this genotile reads version {version})")
    return info


def store_info(
    path: str | Path, error: type[Exception] = StoreError, fix: str = "create it first (genotile.tracks.store.create_store)",
) -> dict[str, Any]:
    """The ``genotile_store`` root attribute of the track store ``path`` (``chunk_bp``, ``contigs``, ``tracksets``, ...)."""
    return root_info(Path(path), "genotile_store_version", "genotile_store", STORE_VERSION, ("contigs", "tracksets"),
                     error, "track store", fix)
