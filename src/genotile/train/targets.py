"""Measured bigWig tracks as training targets: a chunked Zarr v3 store at 1 bp and 128 bp, a QC table, the scales.

Why a store and not bigWig reads in the training loop: the trainer reads thousands of windows ×
tracks per epoch; a Zarr chunk read is a fraction of a pyBigWig query, and checking the tracks
(build, contig names, empty or all-zero tracks) once up front turns a silent bad fine-tune into
one message before the first step.

Values are read as the reference's fine-tuning loader reads them (spec §9): pyBigWig's per-base
values, NaN (no data) → 0, zero past the contig ends. 128-bp targets are sums of the 1-bp values
(the reference's sum pooling); ChIP outputs (128 bp only) store only those.

Layout (genotile_targets_version 1)
-----------------------------------
::

    targets.zarr/                        root group
      attrs: genotile_targets_version (1), genotile_targets {chunk_bp, contigs {name: length},
             tracksets [{head, output_type, resolution, group, n_tracks}]}, genotile_layout (this text),
             genotile_provenance {fasta, fasta_checksum, tracks_sheet, windows}
      <head>/<res>bp/                    e.g. dnase/1bp, dnase/128bp, chip_histone/128bp
        attrs: head, output_type, resolution, n_tracks, coordinates
        name, strand, biosample, assay,  1-D arrays along dim "track" (str, str, str, str, str,
        file_path, nonzero_mean,         float64, int64): the channel's track; strand_partner is
        strand_partner                   the channel of the other strand (itself for strand .)
        <contig>/targets                 float32, dims ("position", "track"),
                                         shape (ceil(length / res), n_tracks), chunks (chunk_bp / res, n_tracks),
                                         zstd level 3; bin i = sum over bases [i*res, (i+1)*res)
                                         (the last bin sums the bases the contig has); NaN = not prepared
                                         (no kept window's context touches that chunk)

      splice_junctions/                  only when the sheet has splice_junctions rows (STAR SJ.out.tab files)
        attrs: samples [{name, biosample, assay, file_path, channel}] (channel: the sample's junction channel)
        contig, start, end, strand,      1-D arrays along dim "junction" (str, int64, int64, str, int64, int64):
        channel, unique_reads            the stranded junctions with unique reads on the kept contigs, intron
                                         [start, end) 0-based (genotile.train.splice_junctions), per sample
        splice_site_usage/               only when the sheet has splice_site_usage rows (raw coverage bigWigs)
          attrs: samples [{name, channel, usage_channel, strand, file_path}] (channel: the sample's junction
                 channel; usage_channel k: its + strand usage target channel, m + k the - strand one)
          contig, position, class_index, 1-D arrays along dim "site" (str, int64, int64, int64, float64 x 4,
          sample, alpha, beta1, beta2,   bool): per usage sample k, its splice sites inside the kept windows'
          usage, no_coverage             contexts and their usage (genotile.train.splice_usage)

Channels are in the tracks sheet's order within each output type (``train/tracks.tsv`` lists them
with their ``channel``). :func:`read_targets` reads a window (zero past the contig ends).

``nonzero_mean`` (the per-track scale the losses divide by) is the sheet's value, else computed as
the reference's notebook does: the mean of the non-zero 1-bp values, here over the bases of the
training windows (held-out windows do not enter it), and for a strand pair the mean of the two.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genotile.outputs import by_output_type
from genotile.runtime.atomic import replace_path
from genotile.train.data_errors import TrainingDataError
from genotile.train.splice_junctions import read_sj_out_tab
from genotile.train.splice_targets import SiteUsage, SpliceJunctions
from genotile.train.splice_usage import USAGE_COLUMNS, site_usage
from genotile.train.tracks_sheet import SPLICE_OUTPUT_TYPE, SPLICE_ROW_TYPES, USAGE_OUTPUT_TYPE, is_missing

__all__ = ["CHUNK_BP", "DATA_NAME", "QC_COLUMNS", "SPLICE_GROUP", "TARGETS_VERSION", "TargetsResult", "TargetsStore",
           "prepare_targets_store", "read_targets", "targets_info"]

log = logging.getLogger("genotile")

TARGETS_VERSION = 1
#: Positions per chunk (bp): a multiple of 2,048 (the window grid) and of 128.
CHUNK_BP = 131_072
DATA_NAME = "targets"
#: The group of the splice samples' junctions (named as the tracks sheet's output type).
SPLICE_GROUP = SPLICE_OUTPUT_TYPE
#: The subgroup (of :data:`SPLICE_GROUP`) of the usage samples' per-site usage.
USAGE_GROUP = USAGE_OUTPUT_TYPE
SPLICE_COLUMNS = ("contig", "start", "end", "strand", "channel", "unique_reads")
COORDINATES = ("name", "strand", "biosample", "assay", "file_path", "nonzero_mean", "strand_partner")
QC_COLUMNS = ("output_type", "name", "strand", "channel", "file_path", "contigs", "bases", "nan_fraction",
              "coverage", "sum", "max", "train_bases", "train_nonzero_bases", "nonzero_mean", "nonzero_mean_source")
LAYOUT = __doc__.split("Layout (genotile_targets_version 1)", 1)[1].split("Channels are", 1)[0].strip("-\n ")


def _open_bigwig(path: str) -> Any:
    import pyBigWig

    try:
        handle = pyBigWig.open(str(path))
    except (RuntimeError, OSError):
        handle = None
    if handle is None or not handle.isBigWig():
        raise TrainingDataError(f"{path}: not a readable bigWig file; give a bigWig (.bw) in the tracks sheet's file_path")
    return handle


def _other_name(contig: str, chroms: Mapping[str, int]) -> str | None:
    """The bigWig's spelling of ``contig`` under the other naming convention (chr1 vs 1, chrM vs MT)."""
    aliases = {"chrM": "MT", "MT": "chrM", "chrMT": "MT", "M": "chrM"}
    candidates = [contig[3:] if contig.startswith("chr") else f"chr{contig}", aliases.get(contig, "")]
    return next((c for c in candidates if c and c in chroms), None)


def check_contigs(path: str, chroms: Mapping[str, int], contigs: Mapping[str, int], fasta: str) -> None:
    """Every trained contig is in the bigWig under the FASTA's name and with the FASTA's length (else: why, and the fix)."""
    for contig, length in contigs.items():
        if contig in chroms:
            if int(chroms[contig]) != int(length):
                raise TrainingDataError(
                    f"{path}: contig {contig} is {int(chroms[contig]):,} bp in the bigWig but {int(length):,} bp in the "
                    f"FASTA {fasta}: the bigWig is of another genome build; use the track mapped to the FASTA's build "
                    "(or the FASTA it was mapped to)")
            continue
        other = _other_name(contig, chroms)
        if other is not None:
            raise TrainingDataError(
                f"{path}: has no contig {contig} but has {other} ({int(chroms[other]):,} bp; FASTA {fasta}: "
                f"{int(length):,} bp): the files name contigs differently; rename the bigWig's contigs to the "
                "FASTA's names (e.g. bigWigToBedGraph, sed, bedGraphToBigWig) or use a FASTA named like the bigWig")
        have = ", ".join(list(chroms)[:8]) + (" ..." if len(chroms) > 8 else "")
        raise TrainingDataError(
            f"{path}: has no contig {contig}, which the training windows use (the bigWig has: {have}); give a bigWig "
            "covering every trained contig, or leave the contig out of train.contigs")


@dataclass
class _TrackStats:
    bases: int = 0
    nan: int = 0
    nonzero: int = 0
    total: float = 0.0
    peak: float = 0.0
    train_bases: int = 0
    train_nonzero: int = 0
    train_total: float = 0.0
    contigs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TargetsResult:
    """What :func:`prepare_targets_store` made: the tracks (with channel and resolved ``nonzero_mean``) and the QC table."""

    tracks: pd.DataFrame
    qc: pd.DataFrame


def _spans(windows: pd.DataFrame, contig: str, length: int, splits: tuple[str, ...], column: str) -> list[tuple[int, int]]:
    rows = windows[(windows["contig"] == contig) & windows["split"].isin(splits)]
    a = np.clip(rows[f"{column}start"].to_numpy(np.int64), 0, length)
    b = np.clip(rows[f"{column}end"].to_numpy(np.int64), 0, length)
    return [(int(s), int(e)) for s, e in zip(a, b) if e > s]


def _mask(spans: list[tuple[int, int]], c0: int, c1: int) -> np.ndarray:
    mask = np.zeros(c1 - c0, dtype=bool)
    for s, e in spans:
        if s < c1 and e > c0:
            mask[max(s, c0) - c0 : min(e, c1) - c0] = True
    return mask


def _chunks(spans: list[tuple[int, int]], length: int, chunk_bp: int) -> list[int]:
    ids: set[int] = set()
    for s, e in spans:
        ids.update(range(s // chunk_bp, (e - 1) // chunk_bp + 1))
    return sorted(i for i in ids if i * chunk_bp < length)


def _strand_partners(tracks: pd.DataFrame) -> np.ndarray:
    partner = np.arange(len(tracks), dtype=np.int64)
    for _, group in tracks.groupby("name", sort=False):
        if len(group) == 2:
            i, j = group.index
            partner[i], partner[j] = j, i
    return partner


def sheet_channels(sheet: pd.DataFrame) -> pd.DataFrame:
    """The sheet as model channels: head, channel (within its output type), strand partner: the order of tracks.tsv."""
    tracks = sheet.copy()
    tracks.insert(0, "head", [by_output_type(t).head for t in tracks["output_type"]])
    tracks.insert(1, "channel", tracks.groupby("output_type", sort=False).cumcount().astype(np.int64))
    tracks["strand_partner"] = -1
    for _, group in tracks.groupby("output_type", sort=False):
        local = group.reset_index(drop=True)
        tracks.loc[group.index, "strand_partner"] = _strand_partners(local)
    tracks["strand_partner"] = tracks["strand_partner"].astype(np.int64)
    return tracks


def _bin_sums(values: np.ndarray, res: int) -> np.ndarray:
    if res == 1:
        return values
    pad = -len(values) % res
    if pad:
        values = np.concatenate([values, np.zeros((pad, values.shape[1]), values.dtype)])
    return values.reshape(-1, res, values.shape[1]).sum(axis=1, dtype=np.float64).astype(np.float32)


def _create_arrays(root: Any, tracks: pd.DataFrame, contigs: Mapping[str, int], chunk_bp: int) -> dict[tuple[str, int, str], Any]:
    from zarr.codecs import ZstdCodec

    arrays: dict[tuple[str, int, str], Any] = {}
    for output_type, group in tracks.groupby("output_type", sort=False):
        output = by_output_type(str(output_type))
        n = len(group)
        for res in output.resolutions:
            name = f"{output.head}/{res}bp"
            node = root.create_group(name, attributes={"head": output.head, "output_type": output.output_type,
                                                       "resolution": res, "n_tracks": n,
                                                       "coordinates": " ".join(COORDINATES)})
            for column in COORDINATES:
                values = group[column].to_numpy()
                if column == "nonzero_mean":
                    data = values.astype(np.float64)
                elif column == "strand_partner":
                    data = values.astype(np.int64)
                else:
                    data = np.array([str(v) for v in values], dtype=np.dtypes.StringDType())
                node.create_array(column, data=data, chunks=(n,), dimension_names=("track",))
            for contig, length in contigs.items():
                sub = node.create_group(contig, attributes={"contig": contig, "length": length, "resolution": res})
                arrays[(str(output_type), res, contig)] = sub.create_array(
                    DATA_NAME, shape=(-(-length // res), n), chunks=(chunk_bp // res, n), dtype="float32",
                    fill_value=np.nan, compressors=ZstdCodec(level=3), dimension_names=("position", "track"))
    return arrays


def _read_block(handle: Any, contig: str, c0: int, c1: int) -> np.ndarray:
    """pyBigWig's per-base values of ``[c0, c1)`` (NaN = no data); a bigWig without any data gives all NaN."""
    try:
        values = np.asarray(handle.values(contig, c0, c1, numpy=True), dtype=np.float32)
    except RuntimeError:  # pyBigWig's answer for a file without data blocks
        values = np.empty(0, np.float32)
    return values if values.shape == (c1 - c0,) else np.full(c1 - c0, np.nan, np.float32)


def prepare_targets_store(
    sheet: pd.DataFrame,
    windows: pd.DataFrame,
    contig_lengths: Mapping[str, int],
    path: str | os.PathLike[str],
    *,
    fasta: str = "the FASTA",
    chunk_bp: int = CHUNK_BP,
    provenance: Mapping[str, Any] | None = None,
) -> TargetsResult:
    """Write the targets store at ``path`` (atomically) for the kept windows' contexts; the tracks and QC tables.

    ``sheet``: :func:`genotile.train.tracks_sheet.read_tracks_sheet`. ``windows``: the windows table of
    :func:`genotile.train.splits.assign_splits` (dropped windows get no targets). ``contig_lengths``: the
    FASTA's. Stops (nothing written) on a bigWig of another build or with other contig names, and on
    a track that is empty / all-NaN or all zero over the kept windows or zero over the training windows.
    ``provenance`` (JSON-like: the FASTA, its checksum, the sheet, ...) is stored as the root's
    ``genotile_provenance`` attribute.
    """
    if chunk_bp % 2048:
        raise TrainingDataError(f"chunk_bp = {chunk_bp:,} must be a multiple of 2,048")
    kept = windows[windows["split"].isin(("train", "validation", "test"))]
    contigs = {c: int(contig_lengths[c]) for c in dict.fromkeys(kept["contig"].astype(str))}
    if not contigs:
        raise TrainingDataError("the windows table keeps no window; nothing to prepare targets for (see split_windows)")
    channels = sheet_channels(sheet.reset_index(drop=True))
    splice_rows = channels[channels["output_type"] == SPLICE_OUTPUT_TYPE].reset_index(drop=True)
    usage_rows = channels[channels["output_type"] == USAGE_OUTPUT_TYPE].reset_index(drop=True)
    tracks = channels[~channels["output_type"].isin(SPLICE_ROW_TYPES)].reset_index(drop=True)
    junctions = _read_splice_samples(splice_rows, contig_lengths, contigs)
    splice_qc = _splice_qc(splice_rows, junctions, kept)
    usage = _usage_samples(splice_rows, usage_rows, junctions, kept, contigs, fasta) if len(usage_rows) else None
    if usage is not None:
        splice_qc = pd.concat([splice_qc, usage.qc], ignore_index=True)
    stats = [_TrackStats() for _ in range(len(tracks))]
    handles = [_open_bigwig(p) for p in tracks["file_path"]]
    try:
        for handle, file_path in zip(handles, tracks["file_path"]):
            check_contigs(str(file_path), handle.chroms(), contigs, fasta)

        def build(target: Path) -> None:
            import zarr

            root = zarr.open_group(str(target), mode="w", zarr_format=3)
            arrays = _create_arrays(root, tracks, contigs, chunk_bp)
            for contig, length in contigs.items():
                context = _spans(kept, contig, length, ("train", "validation", "test"), "context_")
                bases = _spans(kept, contig, length, ("train", "validation", "test"), "")
                train = _spans(kept, contig, length, ("train",), "")
                for chunk in _chunks(context, length, chunk_bp):
                    c0, c1 = chunk * chunk_bp, min((chunk + 1) * chunk_bp, length)
                    in_window, in_train = _mask(bases, c0, c1), _mask(train, c0, c1)
                    for output_type, group in tracks.groupby("output_type", sort=False):
                        block = np.empty((c1 - c0, len(group)), dtype=np.float32)
                        for column, i in enumerate(group.index):
                            raw = _read_block(handles[i], contig, c0, c1)
                            _account(stats[i], raw, in_window, in_train, contig)
                            block[:, column] = np.nan_to_num(raw, nan=0.0)
                        for res in by_output_type(str(output_type)).resolutions:
                            arrays[(str(output_type), res, contig)][c0 // res : -(-c1 // res)] = _bin_sums(block, res)
            _check_stats(tracks, stats)
            _resolve_nonzero_means(tracks, stats)
            for output_type, group in tracks.groupby("output_type", sort=False):
                for res in by_output_type(str(output_type)).resolutions:
                    node = root[f"{by_output_type(str(output_type)).head}/{res}bp/nonzero_mean"]
                    node[...] = group["nonzero_mean"].to_numpy(np.float64)
            if len(splice_rows):
                _write_splice(root, splice_rows, junctions)
            if usage is not None:
                _write_usage(root, usage)
            root.attrs.update({
                "genotile_targets_version": TARGETS_VERSION,
                "genotile_targets": {
                    "chunk_bp": chunk_bp, "contigs": contigs,
                    "tracksets": [{"head": by_output_type(t).head, "output_type": t, "resolution": r,
                                   "group": f"{by_output_type(t).head}/{r}bp",
                                   "n_tracks": int((tracks["output_type"] == t).sum())}
                                  for t in dict.fromkeys(tracks["output_type"]) for r in by_output_type(t).resolutions],
                },
                "genotile_layout": LAYOUT,
                "genotile_provenance": dict(provenance or {}),
            })
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
                zarr.consolidate_metadata(str(target))

        replace_path(path, build, TrainingDataError)
    finally:
        for handle in handles:
            handle.close()
    qc = _qc_table(tracks, stats)
    if len(splice_qc):
        qc = pd.concat([qc, splice_qc], ignore_index=True) if len(qc) else splice_qc
    return TargetsResult(tracks.drop(columns=["row"]), qc)


def _read_splice_samples(rows: pd.DataFrame, contig_lengths: Mapping[str, int], kept: Mapping[str, int]) -> pd.DataFrame:
    """The junctions of every splice row (:data:`SPLICE_COLUMNS`) on the kept contigs, with the row's channel.

    Each SJ.out.tab is checked against the whole FASTA (a contig of another build stops here, with the line);
    only the kept contigs' stranded junctions with unique reads are stored."""
    parts = []
    for row in rows.itertuples():
        table = read_sj_out_tab(row.file_path, contig_lengths)
        table = table[table["contig"].isin(list(kept)) & table["strand"].isin(("+", "-")) & (table["unique_reads"] > 0)]
        parts.append(table.assign(channel=int(row.channel))[list(SPLICE_COLUMNS)])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("contig", "strand") else np.int64) for c in SPLICE_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _inside(junctions: pd.DataFrame, windows: pd.DataFrame) -> np.ndarray:
    """Whether each junction's two sites (the exon bases flanking the intron) lie in one of ``windows``."""
    inside = np.zeros(len(junctions), bool)
    for contig, rows in windows.groupby("contig", sort=False):
        on = np.flatnonzero((junctions["contig"] == contig).to_numpy())
        if not len(on):
            continue
        lo = junctions["start"].to_numpy(np.int64)[on] - 1
        hi = junctions["end"].to_numpy(np.int64)[on]
        for s, e in zip(rows["start"].to_numpy(np.int64), rows["end"].to_numpy(np.int64)):
            inside[on[(lo >= s) & (hi < e)]] = True
    return inside


def _splice_qc(rows: pd.DataFrame, junctions: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """QC rows of the splice samples: ``bases`` = junctions in the kept windows, ``sum`` / ``max`` = their unique
    reads, ``train_bases`` = junctions in the training windows. Stops on a sample without any."""
    inside = _inside(junctions, kept)
    train = _inside(junctions, kept[kept["split"] == "train"])
    out = []
    for row in rows.itertuples():
        mine = (junctions["channel"] == row.channel).to_numpy()
        reads = junctions["unique_reads"].to_numpy(np.int64)[mine & inside]
        if not len(reads):
            raise TrainingDataError(
                f"tracks sheet line {row.row}, {row.file_path}: no stranded junction with unique reads inside the kept "
                f"windows (contigs {', '.join(dict.fromkeys(kept['contig'].astype(str)))}); check the SJ.out.tab is of "
                "this genome and these contigs, or drop its row")
        out.append({"output_type": row.output_type, "name": row.name, "strand": row.strand, "channel": row.channel,
                    "file_path": row.file_path,
                    "contigs": ",".join(dict.fromkeys(junctions.loc[mine & inside, "contig"].astype(str))),
                    "bases": int(len(reads)), "nan_fraction": 0.0, "coverage": np.nan, "sum": float(reads.sum()),
                    "max": float(reads.max()), "train_bases": int((mine & train).sum()),
                    "train_nonzero_bases": int((mine & train).sum()), "nonzero_mean": np.nan,
                    "nonzero_mean_source": "splice junctions"})
    return pd.DataFrame(out, columns=list(QC_COLUMNS))


@dataclass(frozen=True)
class _Usage:
    """The usage samples (attrs of the store's usage group), their sites' usage and their QC rows."""

    samples: list[dict[str, Any]]
    sites: pd.DataFrame
    qc: pd.DataFrame


def _values_at(handle: Any, contig: str, positions: np.ndarray) -> np.ndarray:
    """pyBigWig's value at each 0-based position (NaN = no data)."""
    out = np.full(len(positions), np.nan)
    for i, position in enumerate(positions.tolist()):
        try:
            out[i] = handle.values(contig, int(position), int(position) + 1)[0]
        except RuntimeError:  # a file without data blocks
            pass
    return out


def _usage_label(row: Any) -> str:
    return (f"tracks sheet line {row.row}, {row.file_path} (splice_site_usage track {row.name!r}, strand "
            f"{row.strand})")


def _check_coverage(row: Any, handle: Any, values: np.ndarray | None = None) -> None:
    """Raw coverage counts reads: a negative value (a log ratio, a difference track) is not coverage."""
    low = float(handle.header().get("minVal", 0.0)) if values is None else float(np.nanmin(values, initial=0.0))
    if low < 0:
        raise TrainingDataError(
            f"{_usage_label(row)}: has negative values (down to {low:g}), so it is not read coverage; give the "
            "sample's raw RNA-seq coverage (read counts per base, e.g. STAR --outWigType bedGraph --outWigNorm None "
            "then bedGraphToBigWig, or bamCoverage --normalizeUsing None --binSize 1)")


def _in_spans(sites: pd.DataFrame, windows: pd.DataFrame, column: str) -> np.ndarray:
    """Whether each site's position lies in one of ``windows``' ``[<column>start, <column>end)``."""
    inside = np.zeros(len(sites), bool)
    for contig, rows in windows.groupby("contig", sort=False):
        on = np.flatnonzero((sites["contig"] == contig).to_numpy())
        position = sites["position"].to_numpy(np.int64)[on]
        for s, e in zip(rows[f"{column}start"].to_numpy(np.int64), rows[f"{column}end"].to_numpy(np.int64)):
            inside[on[(position >= s) & (position < e)]] = True
    return inside


def _usage_samples(splice_rows: pd.DataFrame, usage_rows: pd.DataFrame, junctions: pd.DataFrame,
                   kept: pd.DataFrame, contigs: Mapping[str, int], fasta: str) -> _Usage:
    """Each usage sample's site usage (:func:`genotile.train.splice_usage.site_usage`) from its junctions and its
    coverage bigWig(s), in junction-channel order (usage sample k = the k-th splice sample with coverage).

    Stops on a bigWig of another build or with other contig names, with negative values, or without
    coverage at any site's intronic neighbour (the wrong file, or another sample's)."""
    samples, tables, qc = [], [], []
    for sample in splice_rows[splice_rows["name"].isin(set(usage_rows["name"]))].itertuples():
        rows = {r.strand: r for r in usage_rows[usage_rows["name"] == sample.name].itertuples()}
        handles = {strand: _open_bigwig(r.file_path) for strand, r in rows.items()}
        try:
            for strand, row in rows.items():
                check_contigs(str(row.file_path), handles[strand].chroms(), contigs, fasta)
                _check_coverage(row, handles[strand])
            values: list[np.ndarray] = []

            def coverage(contig: str, strand: str, positions: np.ndarray) -> np.ndarray:
                key = strand if strand in handles else "."
                found = _values_at(handles[key], contig, positions)
                _check_coverage(rows[key], handles[key], found)
                values.append(found)
                return found

            table = site_usage(junctions[junctions["channel"] == sample.channel], coverage)
        finally:
            for handle in handles.values():
                handle.close()
        table = table[_in_spans(table, kept, "context_")].reset_index(drop=True)
        first = next(iter(rows.values()))
        label = f"tracks sheet line(s) {', '.join(str(r.row) for r in rows.values())}, " + ", ".join(
            str(r.file_path) for r in rows.values())
        if not (table["beta1"] > 0).any():
            raise TrainingDataError(
                f"{label} (splice_site_usage track {sample.name!r}): no coverage at the intronic neighbour of any of "
                f"the sample's {len(table):,} splice sites in the kept windows; give the coverage bigWig of this "
                "sample and build (its unspliced reads), or drop the rows")
        found = np.concatenate(values) if values else np.empty(0)
        finite = found[np.isfinite(found)]
        if len(finite) and not np.allclose(finite, np.round(finite)):
            log.warning(
                "prepare_targets: %s: fractional coverage values; usage compares coverage with junction read counts, "
                "so it needs raw read counts (not RPM/CPM-normalised coverage)", label)
        k = len(samples)
        samples.append({"name": str(sample.name), "channel": int(sample.channel), "usage_channel": k,
                        "strand": ",".join(rows), "file_path": ",".join(str(r.file_path) for r in rows.values())})
        tables.append(table.assign(sample=k))
        windows = _in_spans(table, kept, "")
        train = _in_spans(table, kept[kept["split"] == "train"], "")
        used = table[windows]
        qc.append({"output_type": first.output_type, "name": str(sample.name), "strand": ",".join(rows),
                   "channel": int(sample.channel), "file_path": samples[-1]["file_path"],
                   "contigs": ",".join(dict.fromkeys(used["contig"].astype(str))), "bases": int(len(used)),
                   "nan_fraction": float(used["no_coverage"].mean()) if len(used) else 0.0,
                   "coverage": float((used["beta1"] > 0).mean()) if len(used) else 0.0,
                   "sum": float(used["usage"].sum()), "max": float(used["usage"].to_numpy().max(initial=0.0)),
                   "train_bases": int(train.sum()), "train_nonzero_bases": int(train.sum()),
                   "nonzero_mean": float(used["usage"].mean()) if len(used) else np.nan,
                   "nonzero_mean_source": "splice site usage (mean over sites)"})
    sites = pd.concat(tables, ignore_index=True)
    return _Usage(samples, sites, pd.DataFrame(qc, columns=list(QC_COLUMNS)))


def _write_usage(root: Any, usage: _Usage) -> None:
    columns = (*USAGE_COLUMNS, "sample")
    group = root[SPLICE_GROUP].create_group(USAGE_GROUP, attributes={"samples": usage.samples,
                                                                     "columns": " ".join(columns)})
    for column in columns:
        values = usage.sites[column].to_numpy()
        if column == "contig":
            data = np.array([str(v) for v in values], dtype=np.dtypes.StringDType())
        elif column == "no_coverage":
            data = values.astype(bool)
        elif column in ("position", "class_index", "sample"):
            data = values.astype(np.int64)
        else:
            data = values.astype(np.float64)
        group.create_array(column, data=data, chunks=(max(len(data), 1),), dimension_names=("site",))


def _write_splice(root: Any, rows: pd.DataFrame, junctions: pd.DataFrame) -> None:
    samples = [{"name": str(r.name), "biosample": str(r.biosample), "assay": str(r.assay),
                "file_path": str(r.file_path), "channel": int(r.channel)} for r in rows.itertuples()]
    group = root.create_group(SPLICE_GROUP, attributes={"samples": samples, "columns": " ".join(SPLICE_COLUMNS)})
    for column in SPLICE_COLUMNS:
        values = junctions[column].to_numpy()
        data = (np.array([str(v) for v in values], dtype=np.dtypes.StringDType()) if column in ("contig", "strand")
                else values.astype(np.int64))
        group.create_array(column, data=data, chunks=(max(len(data), 1),), dimension_names=("junction",))


def _account(stats: _TrackStats, raw: np.ndarray, in_window: np.ndarray, in_train: np.ndarray, contig: str) -> None:
    if contig not in stats.contigs:
        stats.contigs.append(contig)
    values = raw[in_window]
    finite = np.nan_to_num(values, nan=0.0)
    stats.bases += int(values.size)
    stats.nan += int(np.isnan(values).sum())
    stats.nonzero += int(np.count_nonzero(finite))
    stats.total += float(finite.sum(dtype=np.float64))
    stats.peak = max(stats.peak, float(finite.max(initial=0.0)))
    train = np.nan_to_num(raw[in_train], nan=0.0)
    stats.train_bases += int(train.size)
    stats.train_nonzero += int(np.count_nonzero(train))
    stats.train_total += float(train.sum(dtype=np.float64))


def _label(row: Any) -> str:
    return f"track {row['name']!r} ({row['output_type']}, strand {row['strand']}; tracks sheet line {row['row']}, {row['file_path']})"


def _check_stats(tracks: pd.DataFrame, stats: list[_TrackStats]) -> None:
    for (_, row), s in zip(tracks.iterrows(), stats):
        if s.bases and s.nan == s.bases:
            raise TrainingDataError(f"{_label(row)}: empty, no value (all NaN) over the {s.bases:,} bases of the kept "
                                    "windows; check the file is the right track and build, or drop its row")
        if s.nonzero == 0:
            raise TrainingDataError(f"{_label(row)}: all zero over the {s.bases:,} bases of the kept windows; a track "
                                    "without signal cannot be trained on: check the file, or drop its row")
        if s.train_nonzero == 0 and is_missing(row["nonzero_mean"]):
            raise TrainingDataError(f"{_label(row)}: all zero over the training windows, so its nonzero_mean cannot be "
                                    "computed; give nonzero_mean in the sheet or hold out fewer regions")


def _resolve_nonzero_means(tracks: pd.DataFrame, stats: list[_TrackStats]) -> None:
    computed = np.array([s.train_total / max(s.train_nonzero, 1) for s in stats])
    given = tracks["nonzero_mean"].to_numpy(np.float64)
    source = np.where(np.isnan(given), "computed", "sheet")
    values = np.where(np.isnan(given), computed, given)
    for _, group in tracks.groupby(["output_type", "name"], sort=False):
        index = group.index.to_numpy()
        if len(index) == 2 and (source[index] == "computed").any():
            values[index] = values[index].mean()  # the reference averages a strand pair's scales
    tracks["nonzero_mean"] = values
    tracks["nonzero_mean_source"] = source


def _qc_table(tracks: pd.DataFrame, stats: list[_TrackStats]) -> pd.DataFrame:
    rows = []
    for (_, row), s in zip(tracks.iterrows(), stats):
        rows.append({
            "output_type": row["output_type"], "name": row["name"], "strand": row["strand"], "channel": row["channel"],
            "file_path": row["file_path"], "contigs": ",".join(s.contigs), "bases": s.bases,
            "nan_fraction": s.nan / max(s.bases, 1), "coverage": s.nonzero / max(s.bases, 1), "sum": s.total,
            "max": s.peak, "train_bases": s.train_bases, "train_nonzero_bases": s.train_nonzero,
            "nonzero_mean": row["nonzero_mean"], "nonzero_mean_source": row["nonzero_mean_source"],
        })
    return pd.DataFrame(rows, columns=list(QC_COLUMNS))


def targets_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The store's ``genotile_targets`` attributes (chunk_bp, contigs, tracksets); stops on anything else."""
    return dict(TargetsStore(path).info)


class TargetsStore:
    """A targets store opened once for many window reads (the trainer's reader): arrays and attributes cached."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import zarr

        self.path = Path(path)
        try:
            self._root = zarr.open_group(str(self.path), mode="r")
        except (FileNotFoundError, zarr.errors.GroupNotFoundError):
            raise TrainingDataError(f"{path}: no targets store here; run the prepare_targets rule first") from None
        if self._root.attrs.get("genotile_targets_version") != TARGETS_VERSION:
            raise TrainingDataError(f"{path}: not a genotile targets store of version {TARGETS_VERSION}; re-run "
                                    "prepare_targets")
        self.info: dict[str, Any] = dict(self._root.attrs["genotile_targets"])
        #: What the store was made from (the FASTA and its checksum, the tracks sheet, the windows table).
        self.provenance: dict[str, Any] = dict(self._root.attrs.get("genotile_provenance", {}))
        self._arrays: dict[tuple[str, int, str], Any] = {}

    def splice_samples(self) -> pd.DataFrame:
        """The splice samples (name, biosample, assay, file_path, channel); empty when the sheet had none."""
        if SPLICE_GROUP not in self._root:
            return pd.DataFrame(columns=["name", "biosample", "assay", "file_path", "channel"])
        return pd.DataFrame(list(self._root[SPLICE_GROUP].attrs["samples"]))

    def usage_samples(self) -> pd.DataFrame:
        """The usage samples (name, channel: the junction channel, usage_channel, strand, file_path); empty when none."""
        columns = ["name", "channel", "usage_channel", "strand", "file_path"]
        if SPLICE_GROUP not in self._root or USAGE_GROUP not in self._root[SPLICE_GROUP]:
            return pd.DataFrame(columns=columns)
        return pd.DataFrame(list(self._root[SPLICE_GROUP][USAGE_GROUP].attrs["samples"]), columns=columns)

    def site_usage(self) -> SiteUsage:
        """The usage samples' site usage, per contig (:class:`genotile.train.splice_targets.SiteUsage`)."""
        samples = self.usage_samples()
        if not len(samples):
            raise TrainingDataError(f"{self.path}: no splice-site usage (the tracks sheet had no splice_site_usage row)")
        group = self._root[SPLICE_GROUP][USAGE_GROUP]
        frame = pd.DataFrame({c: np.asarray(group[c][:]) for c in ("contig", "position", "class_index", "sample", "usage")})
        frame["contig"] = frame["contig"].astype(str)
        return SiteUsage.from_frame(frame, len(samples))

    def splice_junctions(self) -> SpliceJunctions:
        """The splice samples' junctions, per contig (:class:`genotile.train.splice_targets.SpliceJunctions`)."""
        samples = self.splice_samples()
        if not len(samples):
            raise TrainingDataError(f"{self.path}: no splice junctions (the tracks sheet had no splice_junctions row)")
        group = self._root[SPLICE_GROUP]
        frame = pd.DataFrame({c: np.asarray(group[c][:]) for c in SPLICE_COLUMNS})
        frame["contig"], frame["strand"] = frame["contig"].astype(str), frame["strand"].astype(str)
        return SpliceJunctions.from_frame(frame, len(samples))

    def tracks(self, head: str, resolution: int) -> pd.DataFrame:
        """The channels of ``<head>/<resolution>bp``: name, strand, biosample, assay, file_path, nonzero_mean, strand_partner."""
        group = self._group(head, resolution)
        return pd.DataFrame({c: np.asarray(group[c][:]) for c in COORDINATES})

    def _group(self, head: str, resolution: int) -> Any:
        name = f"{head}/{resolution}bp"
        if name not in [t["group"] for t in self.info["tracksets"]]:
            have = ", ".join(t["group"] for t in self.info["tracksets"])
            raise TrainingDataError(f"{self.path}: no targets {name} (it has {have})")
        return self._root[name]

    def _array(self, head: str, resolution: int, contig: str) -> Any:
        key = (head, int(resolution), contig)
        if key not in self._arrays:
            if contig not in self.info["contigs"]:
                raise TrainingDataError(f"{self.path}: no targets for contig {contig!r} (it has "
                                        f"{', '.join(self.info['contigs'])})")
            self._arrays[key] = self._group(head, resolution)[f"{contig}/{DATA_NAME}"]
        return self._arrays[key]

    def read(self, head: str, resolution: int, contig: str, start: int, end: int) -> np.ndarray:
        """Targets ``[(end - start) // resolution, n_tracks]`` float32 of bases ``[start, end)``, zero outside the contig.

        ``start`` and ``end`` must lie on the resolution's grid. Stops when the range reaches a chunk no
        kept window's context touched (NaN: not prepared), so a trainer never learns from missing data.
        """
        if start % resolution or end % resolution or end <= start:
            raise TrainingDataError(f"read_targets: [{start}, {end}) must be a non-empty range on the {resolution}-bp grid")
        array = self._array(head, resolution, contig)
        n_bins = array.shape[0]
        a, b = start // resolution, end // resolution
        out = np.zeros((b - a, array.shape[1]), dtype=np.float32)
        lo, hi = max(a, 0), min(b, n_bins)
        if hi > lo:
            out[lo - a : hi - a] = array[lo:hi]
        if np.isnan(out).any():
            raise TrainingDataError(f"{self.path}: {head} targets of {contig}:{start:,}-{end:,} were not prepared (no "
                                    "kept window's context covers them); read only the windows of train/windows.tsv")
        return out


def read_targets(path: str | os.PathLike[str], head: str, resolution: int, contig: str, start: int, end: int) -> np.ndarray:
    """One window's targets (:meth:`TargetsStore.read`); open a :class:`TargetsStore` once to read many."""
    return TargetsStore(path).read(head, resolution, contig, start, end)
