"""In-silico mutagenesis (ISM): every alternative base at every position of a region, in one window.

Why one window: the region (up to :data:`MAX_REGION_BP`) is scored in the single window of
``window_bp`` centred on it (:func:`ism_window`), so the REF pass is run once and kept on the device,
and each of the ``3 x length`` SNVs costs only its ALT pass, with the exact local encoder
recomputation (:func:`genotile.variants.engine.score_variants` with ``window=...``). The values are
the engine's, unchanged: this module only builds the SNV table and reshapes the tidy score rows.

The results per scorer are an array ``[position, alt, track]`` (alt in ``A, C, G, T``; NaN where the
alt is the REF base, and at positions whose REF base is not A/C/G/T, which are not mutated), and a
table of the strongest effects. Gene- and junction-level scorers give one row per gene/junction;
their array cell holds the signed score of largest ``|score|`` among them, as ``scores.zarr`` does
(:func:`genotile.variants.outputs.strongest_per_track`).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from genotile.runtime.atomic import replace_path
from genotile.sequence.fasta import Genome, parse_region
from genotile.variants.engine import ScoringOptions, ScoringResult, score_variants
from genotile.variants.outputs import scorer_slug, strongest_per_track

__all__ = [
    "ALTS", "MAX_REGION_BP", "IsmError", "IsmRegion", "IsmResult", "ism_arrays", "ism_window", "parse_ism_region",
    "position_effect", "run_ism", "snv_table", "strongest_effects", "write_ism_zarr",
]  # fmt: skip

#: The alternative bases, in the order of the arrays' ``alt`` axis.
ALTS: Final = ("A", "C", "G", "T")
#: The longest region one ISM job mutates (3 ALT passes per base: 10 kb is 30,000 passes).
MAX_REGION_BP: Final = 10_000
#: Columns of the strongest-effects table.
STRONGEST_COLUMNS: Final = (
    "scorer", "rank", "chrom", "pos", "ref", "alt", "track_index", "track_name", "track_strand", "gene_id", "gene_name",
    "score",
)  # fmt: skip

_REGION_SYNTAX: Final = re.compile(r"^\S+:[0-9][0-9,]*-[0-9][0-9,]*$")


class IsmError(ValueError):
    """An ISM request that cannot run (bad region, a contig shorter than the window); the message names the fix."""


@dataclass(frozen=True)
class IsmRegion:
    """The mutated region, 0-based half-open ``[start, end)`` on ``contig``."""

    contig: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def text(self) -> str:
        """As users write it: 1-based inclusive ``contig:start-end``."""
        return f"{self.contig}:{self.start + 1}-{self.end}"


def parse_ism_region(text: Any, key: str, window_bp: int, contigs: Mapping[str, int] | None = None,
                     max_bp: int = MAX_REGION_BP) -> IsmRegion:
    """``'chr1:1000-1100'`` (1-based inclusive) -> an :class:`IsmRegion`, checked; ``key`` names the setting in errors.

    ``contigs`` (name -> length, e.g. ``Genome.contigs``): when given, the contig must be in it, the region
    inside it and the contig at least ``window_bp`` long. Without it (a config checked before the genome
    exists) only the syntax and the lengths are checked.
    """
    example = "e.g. 'chr1:1,000-1,100' (1-based, both ends included)"
    if not isinstance(text, str) or not _REGION_SYNTAX.match(text.strip()):
        raise IsmError(f"{key}: {text!r} is not a region; write contig:start-end, {example}")
    try:
        contig, start, end = parse_region(text)
    except ValueError as exc:
        raise IsmError(f"{key}: {exc}") from None
    assert end is not None  # the syntax above always has an end
    region = IsmRegion(contig, start, end)
    if region.length > max_bp:
        raise IsmError(f"{key}: {text!r} is {region.length:,} bp; ISM takes at most {max_bp:,} bp per region "
                       f"(3 ALT passes per base): split it into several regions")
    if region.length > window_bp:
        raise IsmError(f"{key}: {text!r} is {region.length:,} bp, longer than the {window_bp:,}-bp window it is scored "
                       "in; use a larger window_bp or a shorter region")
    if contigs is not None:
        if contig not in contigs:
            shown = ", ".join(map(repr, list(contigs)[:8])) + (", ..." if len(contigs) > 8 else "")
            raise IsmError(f"{key}: contig {contig!r} of {text!r} is not in the FASTA (it has {shown}); "
                           "use the FASTA's contig names")
        length = int(contigs[contig])
        if end > length:
            raise IsmError(f"{key}: {text!r} ends past the end of {contig} ({length:,} bp); check the coordinates")
        if length < window_bp:
            raise IsmError(f"{key}: contig {contig} is {length:,} bp, shorter than the {window_bp:,}-bp scoring "
                           "window; use a smaller window_bp (a multiple of 2,048) or a region on a longer contig")
    return region


def ism_window(region: IsmRegion, window_bp: int, contig_length: int) -> tuple[str, int, int]:
    """The window of ``window_bp`` centred on the region, shifted inward to stay inside the contig.

    Why inside: a window past the contig end would be N-padded, which the model sees as sequence of
    its own; the region keeps real context on both sides wherever the contig allows it.
    """
    if contig_length < window_bp:
        raise IsmError(f"contig {region.contig} is {contig_length:,} bp, shorter than the {window_bp:,}-bp scoring window; "
                       "use a smaller window_bp or a region on a longer contig")
    centre = (region.start + region.end) // 2
    start = min(max(0, centre - window_bp // 2), contig_length - window_bp)
    if not (start <= region.start and region.end <= start + window_bp):
        raise IsmError(f"region {region.text} does not fit in the {window_bp:,}-bp window {region.contig}:{start}-"
                       f"{start + window_bp}; use a shorter region or a larger window_bp")
    return region.contig, start, start + window_bp


def snv_table(genome: Genome, region: IsmRegion) -> pd.DataFrame:
    """Every SNV of the region: 3 alternatives per position (``ALTS`` order), positions whose base is not A/C/G/T skipped."""
    bases = genome.sequence(region.contig, region.start, region.end)
    rows = [(f"{region.contig}:{region.start + i + 1}:{ref}>{alt}", region.contig, region.start + i + 1, ref, alt)
            for i, ref in enumerate(bases) if ref in ALTS for alt in ALTS if alt != ref]
    frame = pd.DataFrame(rows, columns=["variant_id", "chrom", "pos", "ref", "alt"])
    return frame.astype({"pos": np.int64})


def ism_arrays(result: ScoringResult, region: IsmRegion) -> dict[str, np.ndarray]:
    """Each scorer's tidy rows as a float32 ``[position, alt, track]`` array (NaN where alt == REF or not scored).

    ``track`` follows ``result.tracks[scorer]`` (its ``track_index`` order).
    """
    arrays = {}
    alt_of = {a: i for i, a in enumerate(ALTS)}
    for name, table in result.scores.items():
        tracks = result.tracks[name]["track_index"].to_numpy(np.int64)
        array = np.full((region.length, len(ALTS), len(tracks)), np.nan, np.float32)
        rows = strongest_per_track(table[["pos", "alt", "variant_id", "track_index", "score"]])
        if len(rows):
            position = rows["pos"].to_numpy(np.int64) - 1 - region.start
            alt = rows["alt"].map(alt_of).to_numpy(np.int64)
            track = pd.Index(tracks).get_indexer(rows["track_index"])
            array[position, alt, track] = rows["score"].to_numpy(np.float32)
        arrays[name] = array
    return arrays


def strongest_effects(result: ScoringResult, top_n: int) -> pd.DataFrame:
    """Per scorer, the ``top_n`` (SNV, track) pairs of largest ``|score|`` (ties by position, alt, track)."""
    parts = []
    for name in sorted(result.scores):
        table = strongest_per_track(result.scores[name])
        if table.empty:
            continue
        ranked = (table.assign(_abs=table["score"].abs())
                  .dropna(subset=["_abs"])
                  .sort_values(["_abs", "pos", "alt", "track_index"], ascending=[False, True, True, True], kind="stable")
                  .head(int(top_n)))
        parts.append(ranked.assign(scorer=name, rank=np.arange(1, len(ranked) + 1, dtype=np.int64)).drop(columns="_abs"))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=np.float32 if c == "score" else np.int64 if c in ("rank", "pos", "track_index")
                                          else object) for c in STRONGEST_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(STRONGEST_COLUMNS)]


def position_effect(array: np.ndarray) -> tuple[np.ndarray, int]:
    """The per-position effect the logo draws, and the track it is of.

    The track is the one with the largest mean ``|score|`` over the region (the most affected one); the
    effect at a position is the mean of its 3 ALT scores on that track (signed; NaN where nothing was scored).
    """
    if array.size == 0 or np.isnan(array).all():
        return np.full(array.shape[0], np.nan, np.float32), -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN positions / tracks
        per_track = np.nanmean(np.abs(array), axis=(0, 1))
        track = int(np.nanargmax(np.where(np.isnan(per_track), -np.inf, per_track)))
        return np.nanmean(array[:, :, track], axis=1).astype(np.float32), track


@dataclass
class IsmResult:
    """One ISM run: the region, its window, the SNVs, the engine's result and the arrays per scorer."""

    region: IsmRegion
    window: tuple[str, int, int]
    snvs: pd.DataFrame
    scoring: ScoringResult
    arrays: dict[str, np.ndarray]

    @property
    def positions_per_second(self) -> float:
        seconds = self.scoring.stats.get("seconds", float("nan"))
        return self.region.length / seconds if seconds > 0 else float("nan")


def run_ism(model: Any, genome: Genome, region: IsmRegion, specs: Sequence[Any], options: ScoringOptions,
            annotation: Any = None, pas: Any = None, progress_label: str = "ism") -> IsmResult:
    """Score every SNV of ``region`` in its one window (:func:`ism_window`) with ``specs``; see the module docstring."""
    window = ism_window(region, options.window_bp, genome.length(region.contig))
    snvs = snv_table(genome, region)
    scoring = score_variants(model, genome, snvs, specs, options, annotation, pas, progress_label=progress_label,
                             window=window)
    return IsmResult(region, window, snvs, scoring, ism_arrays(scoring, region))


def write_ism_zarr(result: IsmResult, genome: Genome, path: str | os.PathLike[str], attrs: Mapping[str, Any],
                   chunk_positions: int = 1024) -> Path:
    """``ism.zarr`` (Zarr v3): per scorer a group ``<slug>`` holding ``score`` float32 ``[position, alt, track]``.

    Coordinates: ``position`` (1-based genomic), ``alt`` (``A, C, G, T``), ``track`` (names) with ``track_index``,
    ``ref`` (the REF base per position). Attributes (root and group): the region, the window, ``attrs`` (the
    model's identity). The store is built under a temporary name and renamed, so it is whole or absent.
    """
    import xarray as xr
    import zarr

    region = result.region
    contig, start, end = result.window
    positions = np.arange(region.start + 1, region.end + 1, dtype=np.int64)
    ref = np.array(list(genome.sequence(region.contig, region.start, region.end)), dtype=str)
    common = {"region": region.text, "window": f"{contig}:{start + 1}-{end}", "window_bp": end - start,
              **{k: v for k, v in attrs.items()}}

    def build(tmp: Path) -> None:
        root = zarr.open_group(str(tmp), mode="w")
        root.attrs.update({**common, "scorers": sorted(result.arrays), "groups": sorted(map(scorer_slug, result.arrays)),
                           "layout": "one group per scorer slug: score [position, alt, track]"})
        for name in sorted(result.arrays):
            tracks = result.scoring.tracks[name]
            data = xr.DataArray(
                result.arrays[name], dims=("position", "alt", "track"),
                coords={"position": positions, "alt": np.array(ALTS, dtype=str), "ref": ("position", ref),
                        "track": tracks["name"].astype(str).to_numpy(),
                        "track_index": ("track", tracks["track_index"].to_numpy(np.int64))},
                name="score",
                attrs={**common, "scorer": name,
                       "reduction": "NaN where alt is the REF base; gene/junction scorers: largest |score| over genes"},
            )
            chunks = {"position": min(chunk_positions, max(1, len(positions))), "alt": len(ALTS),
                      "track": max(1, data.sizes["track"])}
            dataset = data.to_dataset()
            dataset.attrs.update(data.attrs)  # the group's attributes too (xr.open_zarr(..., group=...).attrs)
            dataset.chunk(chunks).to_zarr(tmp, group=scorer_slug(name), mode="a", consolidated=False)
        with warnings.catch_warnings():  # consolidated metadata is an xarray convention outside the v3 spec
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(tmp))

    return replace_path(path, build)


def ism_record(result: IsmResult, files: Sequence[str]) -> str:
    """The done-file's JSON: what the ISM folder holds (no timings: those are in ``stats.json``, a run record)."""
    return json.dumps({
        "region": result.region.text, "window": f"{result.window[0]}:{result.window[1] + 1}-{result.window[2]}",
        "positions": result.region.length, "snvs": len(result.snvs), "scorers": sorted(result.arrays),
        "groups": sorted(map(scorer_slug, result.arrays)), "failures": len(result.scoring.failures),
        "forward_passes": int(result.scoring.stats.get("forward_passes", 0)), "files": sorted(files),
    }, indent=1) + "\n"


def ism_stats(result: IsmResult) -> str:
    """``stats.json``: the engine's timings plus ISM positions/s (left out of run digests, as shards' stats are)."""
    return json.dumps({**result.scoring.stats, "positions": result.region.length,
                       "positions_per_second": result.positions_per_second}, indent=1) + "\n"
