"""One function per training-data rule (``split_windows``, ``prepare_targets``); the rule scripts and the CLI call these.

Why steps: the rules stay one call each (README "Recipes: Add a rule"), and ``genotile train`` can
run the same steps outside Snakemake. Every output is written atomically, so a killed job leaves
nothing under an output's name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from genotile.runtime.atomic import write_table
from genotile.runtime.tables import read_tsv
from genotile.sequence.encoding import GRID_BP
from genotile.sequence.fasta import Genome
from genotile.settings import PrepareTargetsSettings, SplitWindowsSettings
from genotile.tracks.n_runs import unknown_bases
from genotile.tracks.tiling import TilingError, Window, read_bed, select_contigs, tile_windows
from genotile.train.data_errors import TrainingDataError
from genotile.train.splits import assign_splits
from genotile.train.targets import TargetsResult, prepare_targets_store
from genotile.train.tracks_sheet import read_tracks_sheet

__all__ = ["check_split_sizes", "prepare_targets", "split_windows"]

log = logging.getLogger("genotile")

#: The loss's segment (``genotile.train.losses.SEGMENT_BP``, equal by test): not imported, as that pulls in jax
#: and :func:`check_split_sizes` runs in the process Snakemake plans in (``genotile.config_checks``).
LOSS_SEGMENT_BP = 1 << 17


def check_split_sizes(settings: SplitWindowsSettings) -> int:
    """The stride (``stride_bp`` or ``window_bp``) after checking the sizes fit the 2,048-bp grid (config_checks uses it)."""
    window, stride = settings.window_bp, settings.stride_bp or settings.window_bp
    for key, value in (("train.window_bp", window), ("train.stride_bp", stride)):
        if value <= 0 or value % GRID_BP:
            near = max(GRID_BP, value // GRID_BP * GRID_BP)
            raise TrainingDataError(f"{key} = {value:,} must be a positive multiple of {GRID_BP:,} bp (the model's "
                                    f"input grid), e.g. {near:,} or {near + GRID_BP:,}")
    if stride > window or (window - stride) % (2 * GRID_BP):
        fit = window - (window - stride) // (2 * GRID_BP) * 2 * GRID_BP  # the nearest stride that fits
        example = f"{fit:,} or {window:,}" if 0 < fit < window else f"{window:,}"
        raise TrainingDataError(f"train.stride_bp = {stride:,} must be at most train.window_bp = {window:,} and differ "
                                f"from it by a multiple of {2 * GRID_BP:,} bp (the tiling centres each window on its "
                                f"stride), e.g. {example}")
    if window > LOSS_SEGMENT_BP and window % LOSS_SEGMENT_BP:
        near = window // LOSS_SEGMENT_BP * LOSS_SEGMENT_BP
        raise TrainingDataError(f"train.window_bp = {window:,}: a window longer than {LOSS_SEGMENT_BP:,} bp must be a "
                                f"whole number of the loss's {LOSS_SEGMENT_BP:,}-bp segments (the reference's), "
                                f"e.g. {near:,} or {near + LOSS_SEGMENT_BP:,}")
    if settings.max_shift < 0:
        raise TrainingDataError(f"train.max_shift = {settings.max_shift} must be >= 0")
    return stride


def _all_n(genome: Genome, lengths: dict[str, int]) -> Callable[[Window], bool]:
    def check(window: Window) -> bool:
        end = min(window.end, lengths[window.contig])
        return end <= window.start or bool(unknown_bases(genome.sequence(window.contig, window.start, end)).all())

    return check


def split_windows(settings: SplitWindowsSettings, fasta: str | os.PathLike[str],
                  windows_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Tile the training contigs, assign train/validation/test, drop leaking and all-N windows; write the windows TSV."""
    stride = check_split_sizes(settings)
    genome = Genome(fasta)
    try:
        contigs = select_contigs(genome.contigs, settings.contigs, settings.contig_regex)
    except TilingError as exc:
        raise TrainingDataError(f"train.contigs / train.contig_regex: {exc}") from None
    for key, names in (("train.validation_contigs", settings.validation_contigs),
                       ("train.test_contigs", settings.test_contigs)):
        missing = [n for n in names if n not in contigs]
        if missing:
            raise TrainingDataError(f"{key}: contig(s) {missing} are not among the training contigs of {fasta} "
                                    f"({', '.join(list(contigs)[:10])}); name contigs of the FASTA")
    overlap = sorted(set(settings.validation_contigs) & set(settings.test_contigs))
    if overlap:
        raise TrainingDataError(f"train.validation_contigs and train.test_contigs both name {overlap}; hold each out once")
    beds = {}
    for key, bed in (("train.regions_bed", settings.regions_bed), ("train.validation_bed", settings.validation_bed),
                     ("train.test_bed", settings.test_bed)):
        if bed:
            try:
                beds[key] = read_bed(bed)
            except (TilingError, FileNotFoundError) as exc:
                raise TrainingDataError(f"{key}: {exc}") from None
    try:
        windows = tile_windows(contigs, settings.window_bp, stride, beds.get("train.regions_bed"))
    except TilingError as exc:
        raise TrainingDataError(f"train.regions_bed: {exc}") from None
    table = assign_splits(windows, max_shift=settings.max_shift, all_n=_all_n(genome, contigs),
                          validation_contigs=settings.validation_contigs, test_contigs=settings.test_contigs,
                          validation_regions=beds.get("train.validation_bed"), test_regions=beds.get("train.test_bed"))
    counts = table["reason"].value_counts().to_dict()
    summary = ", ".join(f"{counts[r]} {r}" for r in sorted(counts))
    if not (table["split"] == "train").any():
        raise TrainingDataError(
            f"split_windows: the split leaves no training windows ({len(table)} windows of {settings.window_bp:,} bp: "
            f"{summary}); hold out fewer contigs or regions (train.validation_*, train.test_*), use a smaller "
            "train.window_bp, or add training contigs (train.contigs)")
    if not (table["split"] == "validation").any():
        log.warning("split_windows: no validation windows (%s); set train.validation_contigs or train.validation_bed "
                    "to evaluate on held-out data", summary)
    log.info("split_windows: %s", summary)
    write_table(table, windows_path, TrainingDataError, sep="\t", index=False)
    return table


def prepare_targets(settings: PrepareTargetsSettings, fasta: str | os.PathLike[str],
                    windows_path: str | os.PathLike[str], targets_path: str | os.PathLike[str],
                    qc_path: str | os.PathLike[str], tracks_path: str | os.PathLike[str]) -> TargetsResult:
    """Check the sheet and its bigWigs against the FASTA; write the targets store, the QC table and the tracks table."""
    sheet = read_tracks_sheet(settings.tracks_sheet)
    windows = read_tsv(windows_path)
    genome = Genome(fasta)
    provenance = {"fasta": str(fasta), "fasta_checksum": genome.checksum(), "tracks_sheet": settings.tracks_sheet,
                  "windows": str(windows_path)}
    result = prepare_targets_store(sheet, windows, genome.contigs, targets_path, fasta=str(fasta), provenance=provenance)
    write_table(result.qc, qc_path, TrainingDataError, sep="\t", index=False)
    write_table(result.tracks, tracks_path, TrainingDataError, sep="\t", index=False)
    log.info("prepare_targets: %d tracks into %s", len(result.tracks), Path(targets_path))
    return result
