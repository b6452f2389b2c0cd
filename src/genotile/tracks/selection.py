"""From the workflow's ``tracks:`` config to what is computed and what is stored.

A user asks for tracks the way they think about them ("DNase in GM12878 at
128 bp" is one entry: ``{output: dnase, resolutions: [128], biosample_name:
GM12878}``); this module resolves each entry against the track metadata into
head channels, and derives the one ``OutputRequest`` that computes exactly
those (heads not asked for are never run, a 128-bp-only selection skips the
decoder, and head weights are sliced to the chosen channels before the
matmul). Without metadata (the tiny demo model) channels are chosen by index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from genotile.model.alphagenome import OutputRequest
from genotile.model.config import GENOME_TRACK_RESOLUTIONS, ModelConfig
from genotile.model.metadata import canonical_output_type, select_tracks
from genotile.model.new_tracks import extend_frame
from genotile.model.predictor import TrackMetadata
from genotile.outputs import CONTACT_MAPS, HEAD_OF_OUTPUT_TYPE, OUTPUT_TYPES, SLICEABLE_HEADS, SPLICE_JUNCTIONS, SPLICE_SITES, by_head
from genotile.tracks.store import TrackSet

FILTER_KEYS = ("ontology_curie", "biosample_name", "assay", "strand", "name_regex")
SPLICE_CLASS_NAMES = ("donor+", "acceptor+", "donor-", "acceptor-", "none")
CONTACT_RESOLUTION = CONTACT_MAPS.scored_resolution
SLICEABLE = SLICEABLE_HEADS


class TrackSelectionError(ValueError):
    """A ``tracks:`` entry that cannot be resolved, with what would work instead."""


@dataclasses.dataclass(frozen=True)
class Selection:
    """Everything a prediction job needs to know about which outputs to keep."""

    tracksets: tuple[TrackSet, ...]  # stored in the genome-wide track store
    contact_tracks: pd.DataFrame | None = None  # contact-map channels, stored per window
    junction_tissues: pd.DataFrame | None = None  # tissues of splice junctions, stored as lists
    junction_names: tuple[str, ...] = ()  # names of all the junction head's tissues (channel order)

    def request(self) -> OutputRequest:
        """The single model request that computes every selected output and nothing else."""
        heads: dict[str, set[int]] = {}
        resolutions: set[int] = set()
        for ts in self.tracksets:
            heads.setdefault(ts.head, set()).update(ts.tracks["track_index"].tolist())
            if ts.head in GENOME_TRACK_RESOLUTIONS:
                resolutions.add(ts.resolution)
        if self.contact_tracks is not None:
            heads.setdefault(CONTACT_MAPS.head, set()).update(self.contact_tracks["track_index"].tolist())
        if self.junction_tissues is not None:
            heads.setdefault(SPLICE_JUNCTIONS.head, set())
        channels = tuple((h, tuple(sorted(c))) for h, c in heads.items() if h in SLICEABLE)
        return OutputRequest(heads=tuple(heads), resolutions=tuple(sorted(resolutions)) or (128,), channels=channels)

    def extract(self, outputs: Mapping[str, np.ndarray], row: int) -> dict[tuple[str, int], np.ndarray]:
        """One window's full-window arrays ``[S / res, n]`` per stored track set, from a batch of predictions."""
        request = self.request()
        result = {}
        for ts in self.tracksets:
            name = _output_name(ts.head, ts.resolution)
            values = outputs[name][row]
            computed = request.channels_for(ts.head)
            wanted = ts.tracks["track_index"].to_numpy()
            if computed is not None:
                position = {int(c): i for i, c in enumerate(computed)}
                wanted = np.array([position[int(c)] for c in wanted])
            result[ts.key] = np.ascontiguousarray(values[..., wanted], dtype=np.float32)
        return result


def _output_name(head: str, resolution: int) -> str:
    if head in GENOME_TRACK_RESOLUTIONS:
        return f"{head}/predictions_{resolution}bp"
    return f"{head}/predictions"


def _head_of(entry: Mapping[str, Any]) -> str:
    output = entry.get("output")
    if not output:
        raise TrackSelectionError(f"tracks entry {dict(entry)} has no 'output' (e.g. output: dnase)")
    try:
        return HEAD_OF_OUTPUT_TYPE[canonical_output_type(str(output))]
    except (KeyError, ValueError):
        raise TrackSelectionError(
            f"tracks entry output {output!r} is not an output type; choose one of: {', '.join(OUTPUT_TYPES)}"
        ) from None


def _resolutions(head: str, entry: Mapping[str, Any]) -> tuple[int, ...]:
    allowed = by_head(head).resolutions
    asked = tuple(int(r) for r in entry.get("resolutions", allowed))
    bad = sorted(set(asked) - set(allowed))
    if bad or not asked:
        raise TrackSelectionError(
            f"tracks entry for {head}: resolution(s) {bad or asked} not available; {head} is predicted at "
            f"{', '.join(f'{r} bp' for r in allowed)}"
        )
    return asked


def _frame_without_metadata(head: str, cfg: ModelConfig, new_tracks: pd.DataFrame | None = None,
                            organism: int = 0) -> pd.DataFrame:
    """The model's channel list when there is no metadata: ``track_i`` for the original tracks, then a
    fine-tuned model's new tracks under their own names."""
    n = cfg.base_tracks(head)
    if head == SPLICE_SITES.head:
        names = list(SPLICE_CLASS_NAMES)
    else:
        names = [f"track_{i}" for i in range(n)]
    frame = pd.DataFrame({"index": np.arange(n), "name": names, "padding": False})
    return extend_frame(frame, cfg, new_tracks, head, organism)


def _head_frame(head: str, cfg: ModelConfig, metadata: TrackMetadata | None, organism: int,
                new_tracks: pd.DataFrame | None) -> pd.DataFrame:
    if metadata is not None:
        return metadata.frame(organism, head)
    return _frame_without_metadata(head, cfg, new_tracks, organism)


def _with_new_tracks(cfg: ModelConfig, metadata: TrackMetadata | None,
                     new_tracks: pd.DataFrame | None) -> TrackMetadata | None:
    """Metadata whose frames list the new tracks too (a Predictor's metadata already does)."""
    if metadata is None or new_tracks is None or metadata.new_tracks is not None:
        return metadata
    return metadata.with_new_tracks(cfg, new_tracks)


def _choose(head: str, entry: Mapping[str, Any], frame: pd.DataFrame, has_metadata: bool) -> pd.DataFrame:
    filters = {k: entry[k] for k in entry if k in FILTER_KEYS and entry[k] is not None}  # in the entry's order
    indices = entry.get("indices")
    if indices is not None and filters:
        raise TrackSelectionError(f"tracks entry for {head}: give either 'indices' or metadata filters, not both")
    if indices is not None and indices != "all":
        chosen = [int(i) for i in indices]
        bad = [i for i in chosen if not 0 <= i < len(frame)]
        if bad:
            raise TrackSelectionError(f"tracks entry for {head}: indices {bad} outside 0..{len(frame) - 1}")
        return frame.iloc[chosen]
    if set(filters) - {"name_regex"} and not has_metadata:  # names exist without metadata: track_i, new tracks
        raise TrackSelectionError(
            f"tracks entry for {head} filters by {sorted(filters)}, which needs the track metadata "
            "(set model.metadata to the folder of OutputMetadataResponse_ORGANISM_*.textproto), or use 'indices'"
        )
    if head == SPLICE_SITES.head:
        return frame  # the five classes are not tracks in the metadata sense (the fifth is named Padding)
    index = select_tracks(frame, **filters)
    if len(index) == 0:
        raise TrackSelectionError(_why_nothing_matches(head, filters, frame))
    return frame.iloc[index]


_FILTER_COLUMNS = {"ontology_curie": "ontology_curie", "biosample_name": "biosample_name", "assay": "assay_title",
                   "strand": "strand", "name_regex": "name"}


def _why_nothing_matches(head: str, filters: Mapping[str, Any], frame: pd.DataFrame) -> str:
    """Name the filter that emptied the selection, with close matches among the tracks the others left.

    Why: the filters are ANDed, so "matches no track" alone sends the user to the wrong filter (a
    wrong-case ``name_regex`` next to a valid biosample is not a biosample problem). They are applied
    one by one in the entry's order; the first that leaves nothing is the one reported.
    """
    applied: dict[str, Any] = {}
    for key, wanted in filters.items():
        before = frame.iloc[np.flatnonzero(np.isin(frame["index"], select_tracks(frame, **applied)))]
        applied[key] = wanted
        if len(select_tracks(frame, **applied)) == 0:
            after = f" left by {_describe(applied, key)}" if len(applied) > 1 else ""
            return (f"tracks entry for {head}: {key}={wanted!r} matches none of the {len(before):,} {head} tracks{after}"
                    f"{_close_matches(key, wanted, before)}")
    return f"tracks entry for {head} with {dict(filters)} matches no track"  # pragma: no cover (some filter empties it)


def _describe(applied: Mapping[str, Any], last: str) -> str:
    return " and ".join(f"{k}={v!r}" for k, v in applied.items() if k != last)


def _close_matches(key: str, wanted: Any, rows: pd.DataFrame) -> str:
    """Suggestions for a filter value that matched nothing: case-insensitive hits, else similar values."""
    import difflib
    import re

    column = _FILTER_COLUMNS[key]
    values = sorted(rows[column].dropna().astype(str).unique()) if column in rows else []
    wanted_list = [wanted] if isinstance(wanted, str) else list(wanted)
    if key == "name_regex":
        hits = []
        for pattern in wanted_list:
            try:
                folded = re.compile(str(pattern), re.IGNORECASE)
            except re.error:
                continue
            hits += [v for v in values if folded.search(v)]
        if hits:
            shown = ", ".join(map(repr, sorted(set(hits))[:5]))
            return (f". name_regex is case-sensitive; ignoring case it matches {len(set(hits)):,} track(s), e.g. {shown}. "
                    "Fix: correct the case, or start the pattern with (?i)")
        return f". Track names look like: {', '.join(map(repr, values[:5]))}" if values else ""
    lower = {v.lower(): v for v in values}
    folded_hits = sorted({lower[str(w).lower()] for w in wanted_list if str(w).lower() in lower})
    if folded_hits:
        return f". Values are case-sensitive; did you mean {', '.join(map(repr, folded_hits))}?"
    similar = list(dict.fromkeys(m for w in wanted_list for m in difflib.get_close_matches(str(w), values, n=5, cutoff=0.6)))
    if similar:
        return f". Close matches: {', '.join(map(repr, similar))}"
    return f". Values include: {', '.join(map(repr, values[:8]))}{' ...' if len(values) > 8 else ''}" if values else ""


def _tracks_table(chosen: pd.DataFrame) -> pd.DataFrame:
    table = chosen.rename(columns={"index": "track_index"}).drop(columns=["padding"], errors="ignore")
    table["track_index"] = table["track_index"].astype(np.int64)
    keep = [c for c in table.columns if c in ("track_index", "name", "strand", "assay_title", "ontology_curie",
                                              "biosample_name", "biosample_type", "data_source", "nonzero_mean",
                                              "gtex_tissue", "histone_mark", "transcription_factor")]
    return table[keep].reset_index(drop=True)


def resolve_selection(
    entries: Sequence[Mapping[str, Any]],
    cfg: ModelConfig,
    metadata: TrackMetadata | None,
    organism: int,
    dtype: str = "float32",
    new_tracks: pd.DataFrame | None = None,
) -> Selection:
    """Resolve the config's ``tracks:`` entries into stored track sets and per-window outputs.

    ``new_tracks``: a fine-tuned model's new-track table (``cfg.new_tracks`` set); its tracks are chosen
    by name, metadata filters or index like any other (indices past the original channels)."""
    metadata = _with_new_tracks(cfg, metadata, new_tracks)
    if not entries:
        raise TrackSelectionError("the 'tracks' list is empty: select at least one output")
    tables: dict[tuple[str, int], list[pd.DataFrame]] = {}
    contact: list[pd.DataFrame] = []
    tissues: list[pd.DataFrame] = []
    junction_names: tuple[str, ...] = ()
    for entry in entries:
        head = _head_of(entry)
        resolutions = _resolutions(head, entry)
        frame = _head_frame(head, cfg, metadata, organism, new_tracks)
        chosen = _tracks_table(_choose(head, entry, frame, metadata is not None))
        if head == CONTACT_MAPS.head:
            contact.append(chosen)
        elif head == SPLICE_JUNCTIONS.head:
            tissues.append(chosen)
            junction_names = tuple(frame["name"].astype(str))
        else:
            for r in resolutions:
                tables.setdefault((head, r), []).append(chosen)
    tracksets = tuple(
        TrackSet(head, r, pd.concat(parts).drop_duplicates("track_index").sort_values("track_index"), dtype=dtype)
        for (head, r), parts in tables.items()
    )
    merge = lambda parts: pd.concat(parts).drop_duplicates("track_index").sort_values("track_index").reset_index(drop=True)
    return Selection(
        tracksets, merge(contact) if contact else None, merge(tissues) if tissues else None, junction_names
    )


# ------------------------------------------------------------------ the run's selection, resolved once

#: The columns of ``<run>/track_selection.tsv`` the steps read back (the other columns describe the tracks).
SELECTION_KEY_COLUMNS = ("head", "resolution", "track_index")


def write_selection(selection: Selection, path: str) -> None:
    """Write the resolved selection as a table: one row per stored track (head, resolution, track_index,
    then the track's name and metadata), track sets in store order, then contact maps and junction tissues.

    Why a file: plan_windows resolves the ``tracks:`` entries once (filters, regexes, indices); init_store
    and predict_batch read which tracks were chosen from here (:func:`read_selection`) instead of
    resolving again, so the store, its predictions and the storage report cannot disagree.
    """
    from genotile.runtime.atomic import write_text

    parts = [(ts.head, ts.resolution, ts.tracks) for ts in selection.tracksets]
    if selection.contact_tracks is not None:
        parts.append((CONTACT_MAPS.head, CONTACT_RESOLUTION, selection.contact_tracks))
    if selection.junction_tissues is not None:
        parts.append((SPLICE_JUNCTIONS.head, 1, selection.junction_tissues))
    frames = [table.assign(head=head, resolution=int(res)) for head, res, table in parts]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(SELECTION_KEY_COLUMNS))
    columns = [*SELECTION_KEY_COLUMNS, *(c for c in table.columns if c not in SELECTION_KEY_COLUMNS)]
    write_text(path, table[columns].to_csv(sep="\t", index=False))


def read_selection(path: str, cfg: ModelConfig, metadata: TrackMetadata | None, organism: int,
                   dtype: str = "float32", new_tracks: pd.DataFrame | None = None) -> Selection:
    """The selection :func:`write_selection` wrote, with each track's metadata row taken from ``metadata``
    (or the model's channel list) by its ``track_index``: no filter is applied again, and the tables
    keep the metadata's exact types (which the store records)."""
    from genotile.runtime.tables import read_tsv

    metadata = _with_new_tracks(cfg, metadata, new_tracks)
    table = read_tsv(path, usecols=list(SELECTION_KEY_COLUMNS), dtype={"head": str})
    groups = {key: part["track_index"].astype(np.int64).tolist()
              for key, part in table.groupby(["head", "resolution"], sort=False)}
    tracksets, contact, tissues, junction_names = [], None, None, ()
    for (head, res), indices in groups.items():
        frame = _head_frame(head, cfg, metadata, organism, new_tracks)
        missing = sorted(set(indices) - set(frame["index"].astype(np.int64)))
        if missing:
            raise TrackSelectionError(
                f"{path}: {head} track_index {missing} is not in the model's {head} tracks (the metadata or model "
                "changed after plan_windows); fix: re-run plan_windows (snakemake -R plan_windows)")
        chosen = _tracks_table(frame[frame["index"].isin(indices)]).sort_values("track_index").reset_index(drop=True)
        if head == CONTACT_MAPS.head:
            contact = chosen
        elif head == SPLICE_JUNCTIONS.head:
            tissues, junction_names = chosen, tuple(frame["name"].astype(str))
        else:
            tracksets.append(TrackSet(head, int(res), chosen, dtype=dtype))
    return Selection(tuple(tracksets), contact, tissues, junction_names)
