"""bigWig export of a genotile track store: one file per stored track.

Genome browsers and most downstream tools (deepTools, IGV, UCSC, pyBigWig) read bigWig, not
Zarr, so a run's tracks are exported track by track::

    from genotile.tracks.bigwig import write_bigwigs
    from genotile.sequence.fasta import Genome
    write_bigwigs("results/run/tracks.zarr", "results/run/bigwig", Genome(fa).contigs)

What a file holds
-----------------

* Header: the chromosome sizes given by the caller, in the given order (pass the FASTA's
  contigs so every file shares one header, whatever subset of contigs was predicted).
* Entries: for every contig of the store, every run of consecutive *finite* bins is one
  fixed-step block (``span = step = res``), values as stored (float32; a float16 store is
  widened exactly). NaN bins (never written, e.g. skipped all-N windows or a partial run)
  and +-inf (float16 overflow) are omitted, so they read back as "no data" (NaN from
  ``values()``) rather than as a misleading number.
* The last bin of a contig whose length is not a multiple of ``res`` is clipped at the
  contig end: a bigWig entry must not pass the chromosome end (the store keeps the whole
  bin, whose tail the model saw as N padding).
* Name: ``<head>.<res>bp.<track_index:04d>.<sanitised track name>[.plus|.minus].bw``
  (``bigwig_name``), unique per (head, resolution, head channel). Stranded tracks (metadata
  strand ``+``/``-``, or a genotile name ending in ``+``/``-`` such as the splice-site classes
  ``donor+`` of a run without metadata) carry the strand as the last field: the official
  metadata gives both strands of a track the same name (``donor`` on ``+`` and on ``-``).
* Padding channels (the metadata's ``Padding`` tracks, and the fifth splice-site class, which
  the metadata calls Padding) are not exported: they hold no data.

Files are written under temporary names (``.<name>.XXXX.tmp``) in ``out_dir`` and renamed when
complete, so a crashed export never leaves a truncated file under a final name; the next export
into the folder removes such leftovers first. With ``prune=True`` (what the workflow does:
``<run>/bigwig/`` is genotile's output folder) every other ``*.bw`` in the folder, i.e. files of
tracks the run no longer selects, is removed too, so the folder holds exactly the run's tracks.
Files that are neither bigWigs nor genotile's temporary files are never touched.

Memory and open files: each contig is read in blocks of positions (``block_bp`` bases,
a few million, aligned to the store's chunks) for a batch of tracks at once, since reading
one track at a time would decode every Zarr chunk once per track; at most ``max_open``
bigWig writers are open at once (each holds a file descriptor and buffers), so groups with
thousands of tracks are exported in several passes over the store.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genotile.outputs import SPLICE_SITES
from genotile.runtime.atomic import writing
from genotile.tracks.store_format import DATA_NAME, store_info

DEFAULT_BLOCK_BP = 4_194_304
DEFAULT_MAX_OPEN = 256
MAX_BLOCK_BYTES = 256 * 2**20
_MAX_NAME_CHARS = 120  # keeps file names well below the usual 255-byte limit


class ExportError(ValueError):
    """A track store or an export request that cannot be turned into bigWig files."""


STRAND_FIELDS = {"+": "plus", "-": "minus"}
PADDING_NAME = "padding"  # the official metadata names its padding channels "Padding"
SPLICE_CLASSES_HEAD, SPLICE_PADDING_CLASS = SPLICE_SITES.head, 4


def bigwig_name(head: str, res: int, track_index: int, name: str, strand: str | None = None) -> str:
    """File name of one track's bigWig, e.g. ``dnase.128bp.0042.EFO_0002784_DNase-seq.bw``.

    Track names hold characters that are unsafe or awkward in file names (``:``, ``/``,
    spaces); every run of characters other than letters, digits, ``.``, ``_`` and ``-`` becomes
    one ``_``. The head channel (``track_index``) keeps names unique even when two sanitised
    track names coincide. A stranded track (``strand`` ``+``/``-``, or no strand and a name
    ending in ``+``/``-``) ends in ``.plus``/``.minus``:
    ``splice_sites_classification.1bp.0002.donor.minus.bw``.
    """
    if isinstance(track_index, bool) or int(track_index) != track_index or track_index < 0:
        raise ExportError(f"track_index must be a non-negative integer, got {track_index!r}")
    name = str(name)
    if strand not in STRAND_FIELDS and name.strip()[-1:] in STRAND_FIELDS:
        name, strand = name.strip()[:-1], name.strip()[-1]
    suffix = f".{STRAND_FIELDS[strand]}" if strand in STRAND_FIELDS else ""
    return f"{_sanitise(str(head), 'output')}.{int(res)}bp.{int(track_index):04d}.{_sanitise(name, 'track')}{suffix}.bw"


def is_padding(head: str, track_index: int, name: str) -> bool:
    """Whether a stored channel is padding (no data): the metadata's ``Padding`` tracks, the fifth splice class."""
    return str(name).strip().lower() == PADDING_NAME or (head == SPLICE_CLASSES_HEAD and int(track_index) == SPLICE_PADDING_CLASS)


def is_temporary(name: str) -> bool:
    """Whether a file name is one of the export's temporary files (``.<file>.bw.XXXX.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp") and ".bw." in name


def sweep(out_dir: str | os.PathLike[str], keep: Sequence[str] | None = None, of: Sequence[str] | None = None) -> list[str]:
    """Remove the export's leftover temporary files in ``out_dir``; with ``keep``, also every ``*.bw`` not in it.

    ``of`` limits the temporary files to those of the given final names. Returns the removed
    names. Other files are left alone.
    """
    folder = Path(out_dir)
    if not folder.is_dir():
        return []
    kept = None if keep is None else set(keep)
    prefixes = None if of is None else tuple(f".{name}." for name in of)
    removed = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        temporary = is_temporary(entry.name) and (prefixes is None or entry.name.startswith(prefixes))
        stale_bw = kept is not None and entry.name.endswith(".bw") and entry.name not in kept
        if (temporary or stale_bw) and (entry.is_file() or entry.is_symlink()):
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def _sanitise(text: str, fallback: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return safe[:_MAX_NAME_CHARS].rstrip("._-") or fallback


def write_bigwigs(
    store_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    chrom_sizes: Mapping[str, int],
    groups: Sequence[tuple[str, int]] | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    block_bp: int = DEFAULT_BLOCK_BP,
    max_open: int = DEFAULT_MAX_OPEN,
    prune: bool = False,
) -> list[Path]:
    """Export every stored track of the chosen (head, resolution) groups as a bigWig in ``out_dir``.

    ``chrom_sizes`` is the header, in order (e.g. ``genotile.sequence.fasta.Genome(fa).contigs``);
    it must contain every contig of the store with the same length (a mismatch means the
    store was made from another genome). ``groups`` defaults to all groups of the store.
    ``progress`` receives one message per group and contig. Returns the written paths, in
    group order then stored-track order (padding channels are skipped). Existing files of the same
    names are replaced; leftover temporary files of an interrupted export are removed first.
    ``prune=True`` also removes every other ``*.bw`` in ``out_dir`` (the folder then holds exactly
    this export); only for a folder that belongs to the export, as ``<run>/bigwig`` does.
    """
    import pyBigWig
    import zarr

    store_path = Path(store_path)
    out_dir = Path(out_dir)
    info = store_info(store_path, ExportError, "check the path (run the prediction first)")
    store_contigs: dict[str, int] = {str(k): int(v) for k, v in info["contigs"].items()}
    header = _check_header(store_path, chrom_sizes, store_contigs)
    tracksets = {(str(t["head"]), int(t["resolution"])): t for t in info["tracksets"]}
    chosen = _choose_groups(store_path, tracksets, groups)
    if isinstance(block_bp, bool) or int(block_bp) <= 0:
        raise ExportError(f"block_bp must be a positive number of bases, got {block_bp!r}")
    if isinstance(max_open, bool) or int(max_open) <= 0:
        raise ExportError(f"max_open must be a positive number of files, got {max_open!r}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc}); choose a writable folder") from None
    say = progress or (lambda message: None)
    if prune:  # the folder is the export's own: every leftover temporary file goes
        _say_swept(say, out_dir, sweep(out_dir))
    root = zarr.open_group(zarr.storage.LocalStore(str(store_path), read_only=True), mode="r")
    # contigs in header order: bigWig entries must follow the header's chromosome order
    contigs = [c for c in header if c in store_contigs]

    written: list[Path] = []
    for key in chosen:
        ts = tracksets[key]
        group = str(ts["group"])
        res = key[1]
        indices, names, strands = _track_table(store_path, root, group, int(ts["n_tracks"]))
        columns = [j for j, (i, n) in enumerate(zip(indices, names)) if not is_padding(key[0], i, n)]
        if len(columns) < len(indices):
            say(f"{group}: {len(indices) - len(columns)} padding channel(s) not exported")
        paths = [out_dir / bigwig_name(key[0], res, indices[j], names[j], strands[j]) for j in columns]
        if not prune:  # a shared folder: only the leftovers of the files about to be written
            _say_swept(say, out_dir, sweep(out_dir, of=[p.name for p in paths]))
        if not paths:
            continue
        clash = [name for name, n in Counter(p.name for p in paths).items() if n > 1]
        if clash:
            raise ExportError(f"{store_path}: {group} has duplicate track_index values ({sorted(clash)[:3]}); the store is damaged")
        arrays = {c: root[f"{group}/{c}/{DATA_NAME}"] for c in contigs}
        track_chunk = int(ts.get("track_chunk") or len(paths))
        batch = _batch_size(len(paths), int(max_open), track_chunk)
        say(f"{group}: exporting {len(paths):,} track(s) over {len(contigs):,} contig(s) to {out_dir}")
        for first in range(0, len(paths), batch):
            last = min(first + batch, len(paths))
            if len(paths) > batch:
                say(f"{group}: tracks {first + 1:,}-{last:,} of {len(paths):,}")
            _export_batch(pyBigWig, store_path, group, res, header, contigs, store_contigs, arrays,
                          columns[first:last], paths[first:last], int(block_bp), say)
        written.extend(paths)
    if prune:
        stale = sweep(out_dir, keep=[p.name for p in written])
        if stale:
            say(f"removed {len(stale):,} bigWig(s) of tracks no longer selected from {out_dir}: {', '.join(stale[:5])}"
                + (" ..." if len(stale) > 5 else ""))
    return written


def _say_swept(say: Callable[[str], None], out_dir: Path, removed: list[str]) -> None:
    if removed:
        say(f"removed {len(removed):,} temporary file(s) of an interrupted export from {out_dir}")


def _export_batch(
    pyBigWig: Any,
    store_path: Path,
    group: str,
    res: int,
    header: dict[str, int],
    contigs: list[str],
    store_contigs: dict[str, int],
    arrays: dict[str, Any],
    columns: list[int],
    paths: list[Path],
    block_bp: int,
    say: Callable[[str], None],
) -> None:
    """Write the tracks at store ``columns`` of a group: one pass over the store, all files open at once."""
    handles: list[Any] = []
    try:
        with contextlib.ExitStack() as files:  # every file renamed into place only when all are complete
            for path in paths:
                name = str(files.enter_context(writing(path)))
                handle = pyBigWig.open(name, "w")
                if handle is None:
                    raise ExportError(f"{name}: pyBigWig cannot open the file for writing; check the folder's permissions and free space")
                handles.append(handle)
                handle.addHeader(list(header.items()))
            for contig in contigs:
                say(f"{group}: {contig}")
                array = arrays[contig]
                length = store_contigs[contig]
                n_rows = int(array.shape[0])
                first, last = columns[0], columns[-1] + 1  # a contiguous read; padding columns inside are dropped
                rows = _block_rows(block_bp, res, int(array.chunks[0]), last - first, array.dtype.itemsize)
                for r0 in range(0, n_rows, rows):
                    r1 = min(r0 + rows, n_rows)
                    block = np.asarray(array[r0:r1, first:last])[:, [c - first for c in columns]]
                    # float32 per track, contiguous: what pyBigWig stores, exactly
                    block = np.ascontiguousarray(block.T, dtype=np.float32)
                    for handle, values in zip(handles, block):
                        _add_runs(handle, contig, length, res, r0, values)
            for handle in handles:
                handle.close()
            handles.clear()
    except OSError as exc:
        raise ExportError(f"{store_path}: exporting {group} to {paths[0].parent} failed ({exc}); check free space and permissions") from None
    finally:
        for handle in handles:
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - already failing; writing() removes the temporary file
                pass


def _add_runs(handle: Any, contig: str, length: int, res: int, row0: int, values: np.ndarray) -> None:
    """Add each run of finite values (bins ``row0 + i``) as fixed-step entries, clipping at the contig end."""
    finite = np.isfinite(values)
    if not finite.any():
        return
    edges = np.flatnonzero(np.diff(np.concatenate(([False], finite, [False])).astype(np.int8)))
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
        start = (row0 + a) * res
        end = (row0 + b) * res
        if end > length:  # the contig's last, partial bin: its own entry with a shorter span
            if b - 1 > a:
                handle.addEntries(contig, start, values=values[a : b - 1], span=res, step=res)
            tail = (row0 + b - 1) * res
            handle.addEntries(contig, tail, values=values[b - 1 : b], span=length - tail, step=length - tail)
        else:
            handle.addEntries(contig, start, values=values[a:b], span=res, step=res)


def _block_rows(block_bp: int, res: int, chunk_rows: int, n_tracks: int, itemsize: int) -> int:
    """Rows per read: about ``block_bp`` bases, at most MAX_BLOCK_BYTES, a multiple of the chunk rows."""
    rows = max(1, block_bp // res)
    rows = min(rows, max(1, MAX_BLOCK_BYTES // max(1, n_tracks * max(itemsize, 4))))
    return max(chunk_rows, rows // chunk_rows * chunk_rows)


def _batch_size(n_tracks: int, max_open: int, track_chunk: int) -> int:
    """Tracks per pass: at most ``max_open``, a multiple of the track chunk when that fits (no chunk decoded twice)."""
    if n_tracks <= max_open:
        return n_tracks
    if track_chunk <= max_open:
        return max_open // track_chunk * track_chunk
    return max_open


def _check_header(store_path: Path, chrom_sizes: Mapping[str, int], store_contigs: dict[str, int]) -> dict[str, int]:
    if not chrom_sizes:
        raise ExportError("chrom_sizes is empty; pass the FASTA's contigs, e.g. genotile.sequence.fasta.Genome(fasta).contigs")
    header: dict[str, int] = {}
    for name, size in chrom_sizes.items():
        if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
            raise ExportError(f"chrom_sizes: {name!r} is not a usable chromosome name (non-empty, no whitespace)")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise ExportError(f"chrom_sizes: {name} has size {size!r}; sizes must be positive integers")
        header[name] = int(size)
    missing = [c for c in store_contigs if c not in header]
    if missing:
        raise ExportError(
            f"{store_path}: contig(s) {missing[:5]} of the store are not in chrom_sizes; pass the sizes of the FASTA the "
            f"store was predicted from (genotile.sequence.fasta.Genome(fasta).contigs)"
        )
    wrong = [f"{c} ({store_contigs[c]:,} in the store, {header[c]:,} given)" for c in store_contigs if header[c] != store_contigs[c]]
    if wrong:
        raise ExportError(f"{store_path}: contig lengths differ from chrom_sizes: {', '.join(wrong[:5])}; wrong genome?")
    return header


def _choose_groups(
    store_path: Path, tracksets: dict[tuple[str, int], Any], groups: Sequence[tuple[str, int]] | None
) -> list[tuple[str, int]]:
    if groups is None:
        return list(tracksets)
    chosen: list[tuple[str, int]] = []
    available = ", ".join(f"({h!r}, {r})" for h, r in tracksets)
    for item in groups:
        try:
            head, res = item
            key = (str(head), int(res))
        except (TypeError, ValueError):
            raise ExportError(f"groups must be (head, resolution) pairs such as ('dnase', 128), got {item!r}") from None
        if key not in tracksets:
            raise ExportError(f"{store_path}: no {key[0]}/{key[1]}bp in the store; it has {available}")
        if key not in chosen:
            chosen.append(key)
    return chosen


def _track_table(store_path: Path, root: Any, group: str, n_tracks: int) -> tuple[list[int], list[str], list[str | None]]:
    try:
        indices = [int(i) for i in np.asarray(root[f"{group}/track_index"][...]).tolist()]
        names = [str(n) for n in np.asarray(root[f"{group}/name"][...]).tolist()]
    except KeyError:
        raise ExportError(f"{store_path}: {group} lacks its track_index/name arrays; the store is damaged, recreate it") from None
    if len(indices) != n_tracks or len(names) != n_tracks:
        raise ExportError(f"{store_path}: {group} track table has {len(indices)} entries, expected {n_tracks}; the store is damaged")
    try:
        strands: list[str | None] = [str(s) for s in np.asarray(root[f"{group}/strand"][...]).tolist()]
    except KeyError:  # no metadata: no strand column
        strands = [None] * n_tracks
    return indices, names, strands
