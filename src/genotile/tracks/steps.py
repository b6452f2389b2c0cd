"""The track stage's steps: one function per Snakemake rule, of the rule's name (the rule scripts only call these).

plan_windows     genome + settings -> windows table (window, batch, padding), the resolved track
                 selection (track_selection.tsv) and the storage report
init_store       -> an empty, pre-allocated track store (and contact-map store) for that selection
predict_batch    one batch of windows -> their owned regions written into the store, a done-file
finalize_store   all done-files -> a summary that marks the store complete
export_bigwig    the store -> one bigWig per track and resolution, listed in a done-file
merge_junctions  the batches' junction tables -> one Parquet and one BED file

Steps take frozen settings (:mod:`genotile.settings`) built once from the schema-validated config;
speed settings (``windows_per_pass``) are plain arguments, as they change no output byte. Each step
writes its outputs atomically (temporary name, then rename), so a killed job never leaves a file that
looks complete; a batch's done-file is written only after all of its windows are in the store, so a
rerun redoes exactly the batches that did not finish.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genotile import __version__
from genotile.model.loading import load_predictor
from genotile.outputs import CONTACT_MAPS, SPLICE_JUNCTIONS
from genotile.runtime.atomic import write_table, write_text
from genotile.runtime.progress import Progress as ProgressReporter
from genotile.runtime.progress import say
from genotile.runtime.tables import read_parquet, read_tsv
from genotile.sequence.encoding import reverse_complement_one_hot
from genotile.sequence.fasta import Genome
from genotile.settings import InitStoreSettings, PlanWindowsSettings, PredictBatchSettings, SelectionSettings, TilingSettings
from genotile.tracks.n_runs import unknown_bases
from genotile.tracks.store import plural
from genotile.tracks.tiling import Window, read_bed, select_contigs, tile_windows, windows_table

Progress = Callable[[str], None]


def log(message: str) -> None:
    """A timestamped line to the job's log and to the terminal Snakemake shows (genotile.runtime.progress.say)."""
    say(message)




# ------------------------------------------------------------------------------------------- selection


def resolve_track_selection(settings: SelectionSettings, new_tracks=None):
    """Resolve the ``tracks:`` entries from the settings and the track metadata alone (no weights are
    needed to size the store). Called once per run, by :func:`plan_windows` (and by the config checks
    before a run starts); later steps read the result back with :func:`read_track_selection`."""
    from genotile.tracks.selection import resolve_selection

    cfg, metadata, organism, new_tracks = _selection_source(settings, new_tracks)
    return resolve_selection(settings.track_entries(), cfg, metadata, organism, dtype=settings.dtype,
                             new_tracks=new_tracks)


def read_track_selection(path: str, settings: SelectionSettings):
    """The selection plan_windows resolved and wrote to ``path`` (``<run>/track_selection.tsv``)."""
    from genotile.tracks.selection import read_selection

    cfg, metadata, organism, new_tracks = _selection_source(settings)
    return read_selection(path, cfg, metadata, organism, dtype=settings.dtype, new_tracks=new_tracks)


def _selection_source(settings: SelectionSettings, new_tracks=None):
    """The model configuration, the track metadata (or None), the organism index and the model's new
    (fine-tuned) tracks (or None) a selection refers to.

    The new tracks come from the genotile checkpoint's ``genotile.json`` (no weights are read), or are given:
    for ``model.checkpoint: finetuned`` before training has run, ``config_checks`` passes the tracks sheet's
    (the channels the trained model will have).
    """
    import dataclasses
    from pathlib import Path

    from genotile.model.checkpoints import CONFIG_FILE, read_checkpoint_config
    from genotile.model.config import get_config
    from genotile.model.metadata import organism_index
    from genotile.model.new_tracks import new_tracks_config
    from genotile.model.predictor import TrackMetadata

    metadata = TrackMetadata.from_folder(settings.metadata) if settings.metadata else None
    cfg = get_config(settings.model_size)
    if new_tracks is not None:
        cfg = dataclasses.replace(cfg, new_tracks=new_tracks_config(new_tracks))
    elif settings.checkpoint and (Path(settings.checkpoint) / CONFIG_FILE).is_file():
        cfg, new_tracks = read_checkpoint_config(settings.checkpoint)
    return cfg, metadata, organism_index(settings.organism), new_tracks


def _contigs(genome: Genome, tiling: TilingSettings) -> dict[str, int]:
    return select_contigs(genome.contigs, list(tiling.contigs) or None, tiling.contig_regex or None)


# -------------------------------------------------------------------------------------------- plan


def plan_windows(settings: PlanWindowsSettings, fasta: str, windows_tsv: str, report_txt: str,
                 selection_tsv: str) -> pd.DataFrame:
    """Tile the selected contigs, resolve the track selection once, and write the windows table, the
    selection (``selection_tsv``, read by every later step) and the storage report."""
    from genotile.tracks.selection import write_selection

    genome = Genome(fasta)
    tiling = settings.tiling
    contigs = _contigs(genome, tiling)
    regions = read_bed(tiling.regions_bed) if tiling.regions_bed else None
    windows = tile_windows(contigs, tiling.window_bp, tiling.owned_bp, regions)
    table = windows_table(windows, genome.contigs, tiling.windows_per_batch)
    table["all_n"] = [_all_n(genome, w) for w in windows]
    selection = resolve_track_selection(settings.selection)
    write_table(table, windows_tsv, sep="\t", index=False)
    write_selection(selection, selection_tsv)
    report = storage_report(selection, settings.selection.model_size, contigs, windows)
    text = plan_summary(table, contigs, tiling.window_bp, tiling.owned_bp) + "\n\n" + report
    write_text(report_txt, text + "\n")
    log("storage the selection will need:\n" + text)  # to the log and the terminal: the size up front
    return table


def plan_summary(table: pd.DataFrame, contigs: Mapping[str, int], window_bp: int, owned_bp: int) -> str:
    """One line on the tiling: windows, their real owned sizes (a contig's last window, or the one window
    of a contig shorter than a window, owns less or more than ``owned_bp``), batches, all-N windows."""
    owned = (table["own_end"] - table["own_start"]).astype(int)
    other = sorted(set(owned) - {owned_bp})
    if len(owned) == 0:
        sizes = "none owned"
    elif not other:
        sizes = f"owned {owned_bp:,} bp{' each' if len(owned) > 1 else ''}"
    else:
        ends = f"{other[0]:,} bp" if len(other) == 1 else f"{other[0]:,}-{other[-1]:,} bp"
        n_other = int((owned != owned_bp).sum())
        sizes = (f"owned {owned_bp:,} bp, {plural(n_other, 'window')} at contig ends {ends}"
                 if n_other < len(owned) else f"owned {ends}")
    skipped = int(table["all_n"].sum())
    return (
        f"{plural(len(table), 'window')} of {window_bp:,} bp ({sizes}) over {plural(len(contigs), 'contig')}, "
        f"{plural(int(table['batch'].nunique()), 'batch', 'batches')}; {plural(skipped, 'all-N window')} will be skipped"
    )


def _all_n(genome: Genome, window: Window) -> bool:
    sequence = genome.sequence(window.contig, window.start, window.end)
    return sequence.count("N") == len(sequence)


def storage_report(selection, model_size: str, contigs: Mapping[str, int], windows: list[Window] | None = None) -> str:
    """The storage report of ``selection``: the track store, and with ``windows`` the per-window contact
    maps and junction tables. (The junction threshold is not a plan_windows setting, so the junction
    tables are sized before thresholding.)"""
    from genotile.model.config import get_config
    from genotile.tracks.store import format_storage_report

    return format_storage_report(
        contigs, selection.tracksets, windows=windows,
        contact_tracks=0 if selection.contact_tracks is None else len(selection.contact_tracks),
        junction_tissues=0 if selection.junction_tissues is None else len(selection.junction_tissues),
        num_splice_sites=get_config(model_size).num_splice_sites,
        junction_min_value=None,
    )


# -------------------------------------------------------------------------------------------- init


def store_provenance(settings: InitStoreSettings, fasta: str, fasta_name: str | None = None) -> dict[str, Any]:
    """What a store was made from. ``fasta_name`` is the genome as configured; ``fasta`` may be a
    job-local copy (object storage), whose path says nothing about the run and would change the bytes."""
    import jax

    predictor = settings.predictor
    return {
        "config": settings.recorded_config(),
        "genome": {"fasta": str(fasta_name or fasta), "checksum": Genome(fasta).checksum()},
        "weights": predictor.weights(),
        "weights_note": None if predictor.checkpoint else "seeded synthetic weights: NOT biologically meaningful",
        "versions": {"genotile": __version__, "jax": jax.__version__, "python": platform.python_version(),
                     "numpy": np.__version__, "pandas": pd.__version__},
    }


def init_store(settings: InitStoreSettings, fasta: str, selection_tsv: str, tracks_zarr: str, contacts_zarr: str,
               marker: str, fasta_name: str | None = None, *, n_runs_bed: str | None = None,
               junction_outputs: tuple[str, ...] = ()) -> None:
    """Pre-allocate the track store (and the per-window contact store when contact maps are selected)
    for the selection plan_windows wrote to ``selection_tsv``.

    ``fasta_name`` is the genome path as configured, recorded in the stores' provenance. The track
    store gets the selected contigs' N runs as its ``n_mask`` group, and ``n_runs_bed`` (when given)
    the same runs as BED3; ``store.mask_n_runs`` is recorded in the store. A store the selection no
    longer asks for is removed, and so are the run's junction tables (``junction_outputs``) when it
    has no junctions (merge_junctions rewrites them when it has): a run leaves exactly what its
    config asks for.
    """
    from genotile.tracks.contact_maps import create_contact_store, remove_contact_store
    from genotile.tracks.n_runs import genome_n_runs, runs_by_contig, write_n_runs_bed
    from genotile.tracks.store import create_store, remove_store

    selection = read_track_selection(selection_tsv, settings.selection)
    genome = Genome(fasta)
    contigs = _contigs(genome, settings.tiling)
    attrs = store_provenance(settings, fasta, fasta_name)
    runs = genome_n_runs(genome, contigs)
    if n_runs_bed is not None:
        write_n_runs_bed(runs, n_runs_bed)
    if selection.tracksets:
        create_store(tracks_zarr, contigs, selection.tracksets, settings.chunk_bp, attrs,
                     owned_bp=settings.tiling.owned_bp, n_runs=runs_by_contig(runs), mask_n_runs=settings.mask_n_runs)
    else:
        remove_store(tracks_zarr)
    if selection.contact_tracks is not None:
        create_contact_store(contacts_zarr, selection.contact_tracks, attrs)
    else:
        remove_contact_store(contacts_zarr)
    if selection.junction_tissues is None:
        for path in junction_outputs:
            Path(path).unlink(missing_ok=True)
    write_text(marker, json.dumps({"tracks": tracks_zarr, "contacts": contacts_zarr}) + "\n")


# ----------------------------------------------------------------------------------------- predict


def predict_batch(
    settings: PredictBatchSettings,
    fasta: str,
    windows_tsv: str,
    selection_tsv: str,
    batch: int,
    tracks_zarr: str,
    contacts_zarr: str,
    junctions_parquet: str,
    done: str,
    windows_per_pass: int = 1,
) -> None:
    """Predict one batch of windows and write their owned regions; the done-file is written last.

    The selection is the one plan_windows wrote to ``selection_tsv``; ``windows_per_pass`` changes
    speed and memory, never the bytes written. With ``store.mask_n_runs`` bins made only of N bases
    are written as NaN.
    """
    from genotile.model.metadata import organism_index
    from genotile.tracks.store import write_window

    t0 = time.perf_counter()
    table = read_tsv(windows_tsv)  # contig names stay text: '20' is not 20
    rows = table[(table["batch"] == batch) & ~table["all_n"]]
    skipped = table[(table["batch"] == batch) & table["all_n"]]
    genome = Genome(fasta)
    predictor = load_predictor(settings.predictor.as_model_config())
    selection = read_track_selection(selection_tsv, settings.selection)
    request = selection.request()
    organism = organism_index(settings.selection.organism)
    per_pass = max(1, int(windows_per_pass))
    log(f"batch {batch}: {len(rows)} window(s) to predict, {len(skipped)} all-N skipped; model ready in "
        f"{time.perf_counter() - t0:.1f} s")
    junction_frames = []
    windows = [Window(r.contig, r.start, r.end, r.own_start, r.own_end) for r in rows.itertuples()]
    progress = ProgressReporter(len(windows), "windows", f"batch {batch}", verb="written")
    for first in range(0, len(windows), per_pass):
        group = windows[first : first + per_pass]
        dna = np.stack([genome.fetch_one_hot(w.contig, w.start, w.end) for w in group])
        outputs = predictor.predict(dna, organism, request)
        if settings.average_strands:
            reverse = predictor.predict(reverse_complement_one_hot(dna), organism, request, negative_strand=True)
            outputs = _average_strands(outputs, reverse)
        for row, window in enumerate(group):
            unknown = unknown_bases(dna[row])  # the bases the model saw as N (all-zero rows)
            arrays = selection.extract(outputs, row)  # full-window arrays; write_window crops them to the owned bins
            if settings.mask_n_runs:
                arrays = {key: _nan_over_n(value, key[1], unknown) for key, value in arrays.items()}
            if arrays:
                write_window(tracks_zarr, window, arrays)
            if selection.contact_tracks is not None:
                from genotile.tracks.contact_maps import write_window_contacts

                keep = _contact_columns(request, selection)
                write_window_contacts(contacts_zarr, window, outputs[f"{CONTACT_MAPS.head}/predictions"][row][..., keep])
            if selection.junction_tissues is not None:
                junction_frames.append(_junctions(window, outputs, row, selection, genome, settings.junction_min_value,
                                                  unknown))
        progress.advance(len(group))
    if selection.junction_tissues is not None:
        from genotile.tracks.junctions import write_junctions

        write_junctions(junction_frames, junctions_parquet, None)
    else:
        write_text(junctions_parquet, "")
    # No timings in the done-file: it is an output, and outputs are the same bytes on every run (the log has the time).
    summary = {"batch": batch, "windows": [int(w) for w in rows["window"]], "skipped_all_n": [int(w) for w in skipped["window"]]}
    log(f"batch {batch}: done in {time.perf_counter() - t0:.1f} s")
    write_text(done, json.dumps(summary) + "\n")


def _average_strands(forward: Mapping[str, np.ndarray], reverse: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mean of the forward and mapped-back reverse-complement predictions (junction outputs: forward only)."""
    averaged = dict(forward)
    for name, value in forward.items():
        if not name.startswith(SPLICE_JUNCTIONS.head) and np.issubdtype(value.dtype, np.floating):
            averaged[name] = (value + reverse[name]) / np.float32(2)
    return averaged


def _contact_columns(request, selection) -> np.ndarray:
    computed = request.channels_for(CONTACT_MAPS.head)
    position = {int(c): i for i, c in enumerate(computed)}
    return np.array([position[int(c)] for c in selection.contact_tracks["track_index"]])


def _nan_over_n(full: np.ndarray, res: int, unknown: np.ndarray) -> np.ndarray:
    """``full`` (a full-window prediction at ``res``) with NaN in every bin whose bases are all N.

    The window starts on the bin grid and its padding past a contig end is N, so these are the
    same owned bins as masking after the crop would give.
    """
    from genotile.tracks.n_runs import bin_mask

    masked = bin_mask(unknown, res)
    if not masked.any():
        return full
    result = np.array(full, copy=True)
    result[masked[: len(result)]] = np.nan
    return result


def _junctions(window: Window, outputs, row: int, selection, genome: Genome, min_value: float,
               unknown: np.ndarray | None = None) -> pd.DataFrame:
    from genotile.tracks.junctions import window_junctions

    tissues = selection.junction_tissues
    return window_junctions(
        window,
        outputs[f"{SPLICE_JUNCTIONS.head}/predictions"][row],
        outputs[f"{SPLICE_JUNCTIONS.head}/splice_site_positions"][row],
        tissue_names=list(selection.junction_names),
        tissues=list(tissues["track_index"]),
        min_value=float(min_value),
        contig_length=genome.contigs[window.contig],
        n_mask=unknown,
    )


# ---------------------------------------------------------------------------------------- finalize


def finalize_store(done_files: Sequence[str], summary_json: str, tracks_zarr: str) -> None:
    """Check every batch finished and write the run summary that marks the store complete."""
    batches = [json.loads(Path(f).read_text()) for f in done_files]
    summary = {
        "store": tracks_zarr,
        "windows_predicted": sum(len(b["windows"]) for b in batches),
        "windows_skipped_all_n": sorted(w for b in batches for w in b["skipped_all_n"]),
    }
    write_text(summary_json, json.dumps(summary, indent=2) + "\n")
    log(f"track store complete: {tracks_zarr} ({summary['windows_predicted']} windows, "
        f"{len(summary['windows_skipped_all_n'])} all-N skipped)")


# ------------------------------------------------------------------------------------------ export


def export_bigwig(fasta: str, tracks_zarr: str, folder: str, done: str) -> None:
    """One bigWig per stored track and resolution in ``folder``, listed in the ``done`` file.

    The folder is genotile's output: bigWigs of tracks the run no longer selects, and temporary files
    of an interrupted export, are removed (genotile.tracks.bigwig.write_bigwigs, prune=True). A run
    whose selection has no 1-D tracks (no track store) leaves the folder with no bigWig.
    """
    from genotile.tracks.bigwig import sweep, write_bigwigs

    if Path(tracks_zarr).exists():
        files = write_bigwigs(tracks_zarr, folder, Genome(fasta).contigs, progress=log, prune=True)
    else:
        log(f"no track store ({tracks_zarr}): the selection has no 1-D tracks to export")
        files = []
        sweep(folder, keep=[])
    write_text(done, json.dumps({"bigwigs": [f.name for f in files]}, indent=2) + "\n")


def merge_junctions(batch_tables: Sequence[str], parquet: str, bed: str) -> None:
    """The batches' junction tables as one Parquet file and one BED file (an empty batch file: no junctions)."""
    from genotile.tracks.junctions import write_junctions

    frames = [read_parquet(f) for f in batch_tables if os.path.getsize(f) > 0]
    write_junctions(frames, parquet, bed)
