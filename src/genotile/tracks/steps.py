"""The track-generation workflow's steps as plain functions (the Snakemake rules only call these).

plan      genome + config -> windows table (window, batch, padding) and the storage report
init      -> an empty, pre-allocated track store (and contact-map store)
predict   one batch of windows -> their owned regions written into the store, a done-file
finalize  all done-files -> a summary that marks the store complete

Each step writes its outputs atomically (temporary name, then rename), so a
killed job never leaves a file that looks complete; a batch's done-file is
written only after all of its windows are in the store, so a rerun redoes
exactly the batches that did not finish.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genotile import __version__
from genotile.model.loading import load_predictor
from genotile.runtime.atomic import write_text
from genotile.sequence.fasta import Genome
from genotile.sequence.encoding import reverse_complement_one_hot
from genotile.tracks.n_runs import unknown_bases
from genotile.runtime.progress import Progress as ProgressReporter
from genotile.runtime.progress import say
from genotile.tracks.store import plural
from genotile.runtime.tables import read_tsv
from genotile.tracks.tiling import Window, plan_windows, read_bed, select_contigs, windows_table
from genotile.outputs import CONTACT_MAPS, SPLICE_JUNCTIONS

Progress = Callable[[str], None]


def log(message: str) -> None:
    """A timestamped line to the job's log and to the terminal Snakemake shows (genotile.runtime.progress.say)."""
    say(message)


write_atomically = write_text  # re-exported for the rule scripts


# ------------------------------------------------------------------------------------------- model


def selection_for(config: Mapping[str, Any], predictor):
    from genotile.model.metadata import organism_index
    from genotile.tracks.selection import resolve_selection

    return resolve_selection(
        config["tracks"],
        predictor.config,
        predictor.metadata,
        organism_index(config.get("organism", "human")),
        dtype=config["store"].get("dtype", "float32"),
    )


# -------------------------------------------------------------------------------------------- plan


def plan(config: Mapping[str, Any], fasta: str, windows_tsv: str, report_txt: str) -> pd.DataFrame:
    """Tile the selected contigs and write the windows table and the storage report."""
    genome = Genome(fasta)
    tiling = config["tiling"]
    contigs = select_contigs(genome.contigs, tiling.get("contigs") or None, tiling.get("contig_regex") or None)
    regions = read_bed(tiling["regions_bed"]) if tiling.get("regions_bed") else None
    windows = plan_windows(contigs, tiling["window_bp"], tiling["owned_bp"], regions)
    table = windows_table(windows, genome.contigs, tiling["windows_per_batch"])
    table["all_n"] = [_all_n(genome, w) for w in windows]
    table.to_csv(windows_tsv + ".tmp", sep="\t", index=False)
    os.replace(windows_tsv + ".tmp", windows_tsv)
    report = storage_report(config, contigs, windows)
    text = plan_summary(table, contigs, tiling["window_bp"], tiling["owned_bp"]) + "\n\n" + report
    write_atomically(report_txt, text + "\n")
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


def storage_report(config: Mapping[str, Any], contigs: Mapping[str, int], windows: list[Window] | None = None) -> str:
    """The storage report: the track store, and with ``windows`` the per-window contact maps and junction tables."""
    from genotile.model.config import get_config
    from genotile.tracks.store import format_storage_report

    selection = _selection_without_weights(config)
    return format_storage_report(
        contigs, selection.tracksets, windows=windows,
        contact_tracks=0 if selection.contact_tracks is None else len(selection.contact_tracks),
        junction_tissues=0 if selection.junction_tissues is None else len(selection.junction_tissues),
        num_splice_sites=get_config(config["model"].get("size", "tiny")).num_splice_sites,
        junction_min_value=(config.get("export") or {}).get("junction_min_value"),
    )


def _selection_without_weights(config: Mapping[str, Any]):
    """Resolve the track selection from config and metadata alone (no weights needed to size the store)."""
    from genotile.model.predictor import TrackMetadata
    from genotile.model.config import get_config
    from genotile.model.metadata import organism_index
    from genotile.tracks.selection import resolve_selection

    model = config["model"]
    metadata = TrackMetadata.from_folder(model["metadata"]) if model.get("metadata") else None
    return resolve_selection(
        config["tracks"],
        get_config(model.get("size", "tiny")),
        metadata,
        organism_index(config.get("organism", "human")),
        dtype=config["store"].get("dtype", "float32"),
    )


# -------------------------------------------------------------------------------------------- init


def provenance(config: Mapping[str, Any], fasta: str, fasta_name: str | None = None) -> dict[str, Any]:
    """What a store was made from. ``fasta_name`` is the genome as configured; ``fasta`` may be a
    job-local copy (object storage), whose path says nothing about the run and would change the bytes."""
    import jax

    model = config["model"]
    weights = model.get("checkpoint") or f"synthetic:{model.get('size', 'tiny')}:seed={model.get('seed', 0)}"
    return {
        "config": json.loads(json.dumps(config, default=str)),
        "genome": {"fasta": str(fasta_name or fasta), "checksum": Genome(fasta).checksum()},
        "weights": weights,
        "weights_note": None if model.get("checkpoint") else "seeded synthetic weights: NOT biologically meaningful",
        "versions": {"genotile": __version__, "jax": jax.__version__, "python": platform.python_version(),
                     "numpy": np.__version__, "pandas": pd.__version__},
    }


def init_stores(config: Mapping[str, Any], fasta: str, tracks_zarr: str, contacts_zarr: str, marker: str,
                fasta_name: str | None = None, *, n_runs_bed: str | None = None, mask_n_runs: bool | None = None,
                junction_outputs: tuple[str, ...] = ()) -> None:
    """Pre-allocate the track store (and the per-window contact store when contact maps are selected).

    ``fasta_name`` is the genome path as configured, recorded in the stores' provenance. The track
    store gets the selected contigs' N runs as its ``n_mask`` group, and ``n_runs_bed`` (when given)
    the same runs as BED3. ``mask_n_runs`` (None: the config's ``store.mask_n_runs``) is recorded in
    the store. A store the selection no longer asks for is removed, and so are the run's junction
    tables (``junction_outputs``) when it has no junctions (merge_junctions rewrites them when it
    has): a run leaves exactly what its config asks for.
    """
    from genotile.tracks.n_runs import genome_n_runs, runs_by_contig, write_n_runs_bed
    from genotile.tracks.store import create_store, remove_store

    selection = _selection_without_weights(config)
    genome = Genome(fasta)
    tiling = config["tiling"]
    contigs = select_contigs(genome.contigs, tiling.get("contigs") or None, tiling.get("contig_regex") or None)
    attrs = provenance(config, fasta, fasta_name)
    runs = genome_n_runs(genome, contigs)
    if n_runs_bed is not None:
        write_n_runs_bed(runs, n_runs_bed)
    mask = _mask_n_runs(config, mask_n_runs)
    if selection.tracksets:
        create_store(tracks_zarr, contigs, selection.tracksets, config["store"]["chunk_bp"], attrs, owned_bp=tiling["owned_bp"],
                     n_runs=runs_by_contig(runs), mask_n_runs=mask)
    else:
        remove_store(tracks_zarr)
    from genotile.tracks.contact_maps import create_contact_store, remove_contact_store

    if selection.contact_tracks is not None:
        create_contact_store(contacts_zarr, selection.contact_tracks, attrs)
    else:
        remove_contact_store(contacts_zarr)
    if selection.junction_tissues is None:
        for path in junction_outputs:
            Path(path).unlink(missing_ok=True)
    write_atomically(marker, json.dumps({"tracks": tracks_zarr, "contacts": contacts_zarr}) + "\n")


# ----------------------------------------------------------------------------------------- predict


def predict_batch(
    config: Mapping[str, Any],
    fasta: str,
    windows_tsv: str,
    batch: int,
    tracks_zarr: str,
    contacts_zarr: str,
    junctions_parquet: str,
    done: str,
    windows_per_pass: int = 1,
    mask_n_runs: bool | None = None,
) -> None:
    """Predict one batch of windows and write their owned regions; the done-file is written last.

    ``config`` needs only the settings the values depend on (:func:`genotile.runtime.provenance.rule_settings`);
    ``windows_per_pass`` changes speed and memory, never the bytes written. ``mask_n_runs`` (None:
    the config's ``store.mask_n_runs``, default false) writes NaN over bins made only of N bases.
    """
    from genotile.model.metadata import organism_index
    from genotile.tracks.store import crop_to_owned, write_window

    t0 = time.perf_counter()
    table = read_tsv(windows_tsv)  # contig names stay text: '20' is not 20
    rows = table[(table["batch"] == batch) & ~table["all_n"]]
    skipped = table[(table["batch"] == batch) & table["all_n"]]
    genome = Genome(fasta)
    predictor = load_predictor(config["model"])
    selection = selection_for(config, predictor)
    request = selection.request()
    organism = organism_index(config.get("organism", "human"))
    per_pass = max(1, int(windows_per_pass))
    average = bool(config["inference"].get("average_strands", False))
    mask_n = _mask_n_runs(config, mask_n_runs)
    log(f"batch {batch}: {len(rows)} window(s) to predict, {len(skipped)} all-N skipped; model ready in "
        f"{time.perf_counter() - t0:.1f} s")
    junction_frames = []
    windows = [Window(r.contig, r.start, r.end, r.own_start, r.own_end) for r in rows.itertuples()]
    progress = ProgressReporter(len(windows), "windows", f"batch {batch}", verb="written")
    for first in range(0, len(windows), per_pass):
        group = windows[first : first + per_pass]
        dna = np.stack([genome.fetch_one_hot(w.contig, w.start, w.end) for w in group])
        outputs = predictor.predict(dna, organism, request)
        if average:
            reverse = predictor.predict(reverse_complement_one_hot(dna), organism, request, negative_strand=True)
            outputs = _average_strands(outputs, reverse)
        for row, window in enumerate(group):
            unknown = unknown_bases(dna[row])  # the bases the model saw as N (all-zero rows)
            arrays = selection.extract(outputs, row)
            owned = {key: crop_to_owned(window, value, key[1]) for key, value in arrays.items()}
            if mask_n:
                owned = {key: _nan_over_n(window, value, key[1], unknown) for key, value in owned.items()}
            if owned:
                write_window(tracks_zarr, window, owned)
            if selection.contact_tracks is not None:
                from genotile.tracks.contact_maps import write_window_contacts

                keep = _contact_columns(request, selection)
                write_window_contacts(contacts_zarr, window, outputs[f"{CONTACT_MAPS.head}/predictions"][row][..., keep])
            if selection.junction_tissues is not None:
                junction_frames.append(_junctions(window, outputs, row, selection, genome, config, unknown))
        progress.advance(len(group))
    if selection.junction_tissues is not None:
        from genotile.tracks.junctions import write_junctions

        write_junctions(junction_frames, junctions_parquet, None)
    else:
        write_atomically(junctions_parquet, "")
    # No timings in the done-file: it is an output, and outputs are the same bytes on every run (the log has the time).
    summary = {"batch": batch, "windows": [int(w) for w in rows["window"]], "skipped_all_n": [int(w) for w in skipped["window"]]}
    log(f"batch {batch}: done in {time.perf_counter() - t0:.1f} s")
    write_atomically(done, json.dumps(summary) + "\n")


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


def _mask_n_runs(config: Mapping[str, Any], mask_n_runs: bool | None) -> bool:
    """The caller's choice, else the config's ``store.mask_n_runs`` (default false: predictions unchanged)."""
    return bool((config.get("store") or {}).get("mask_n_runs", False)) if mask_n_runs is None else bool(mask_n_runs)


def _nan_over_n(window: Window, owned: np.ndarray, res: int, unknown: np.ndarray) -> np.ndarray:
    """``owned`` (the window's owned bins at ``res``) with NaN in every bin whose bases are all N."""
    from genotile.tracks.n_runs import bin_mask

    masked = bin_mask(unknown[window.own_start - window.start : window.own_end - window.start], res)
    if not masked.any():
        return owned
    result = np.array(owned, copy=True)
    result[masked[: len(result)]] = np.nan
    return result


def _junctions(window: Window, outputs, row: int, selection, genome: Genome, config: Mapping[str, Any],
               unknown: np.ndarray | None = None) -> pd.DataFrame:
    from genotile.tracks.junctions import window_junctions

    tissues = selection.junction_tissues
    return window_junctions(
        window,
        outputs[f"{SPLICE_JUNCTIONS.head}/predictions"][row],
        outputs[f"{SPLICE_JUNCTIONS.head}/splice_site_positions"][row],
        tissue_names=list(selection.junction_names),
        tissues=list(tissues["track_index"]),
        min_value=float(config["export"]["junction_min_value"]),
        contig_length=genome.contigs[window.contig],
        n_mask=unknown,
    )


# ---------------------------------------------------------------------------------------- finalize


def finalize(done_files: list[str], summary_json: str, tracks_zarr: str) -> None:
    """Check every batch finished and write the run summary that marks the store complete."""
    batches = [json.loads(Path(f).read_text()) for f in done_files]
    summary = {
        "store": tracks_zarr,
        "windows_predicted": sum(len(b["windows"]) for b in batches),
        "windows_skipped_all_n": sorted(w for b in batches for w in b["skipped_all_n"]),
    }
    write_atomically(summary_json, json.dumps(summary, indent=2) + "\n")
    log(f"track store complete: {tracks_zarr} ({summary['windows_predicted']} windows, "
        f"{len(summary['windows_skipped_all_n'])} all-N skipped)")
