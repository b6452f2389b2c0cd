"""Tracks added by fine-tuning: a new head per output type beside the original one, which is kept unchanged.

Why a second head rather than a wider one: the original head's parameters stay exactly the checkpoint's
(so the original tracks predict bit for bit what the base model predicts, and a delta checkpoint can
hold the new head alone), while consumers of outputs see one head whose channels are the original
tracks followed by the new ones (new track i of ``head`` is channel ``cfg.base_tracks(head) + i``).

The new tracks are described by a table (:data:`NEW_TRACK_COLUMNS`, one row per track, in channel order
within each head) that travels with the model (``LoadedModel.new_tracks``, ``genotile.json``): it
gives the tracks their names (selectable in ``tracks:`` like any other), their ``nonzero_mean`` scale,
the organism they were trained for (the other organism's rows predict NaN, like padding tracks) and
their strand partners (swapped under reverse complement, paired as ``prepare_targets`` pairs them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genotile.model.config import GENOME_TRACK_RESOLUTIONS, ModelConfig, new_head_scope

if TYPE_CHECKING:
    from genotile.model.checkpoints import LoadedModel

#: The new-track table's columns. ``strand_partner``: the new-track index (within the head) of the other
#: strand's track (itself for ``.``); ``organism``: 0 human, 1 mouse.
NEW_TRACK_COLUMNS = ("head", "name", "strand", "nonzero_mean", "biosample_name", "assay_title", "organism", "strand_partner")


class NewTracksError(ValueError):
    """A new-track table the model cannot use, with the fix."""


def _pair_by_name(rows: pd.DataFrame) -> np.ndarray:
    """prepare_targets' pairing: two rows of one head with the same name are each other's strand partner."""
    partner = np.arange(len(rows), dtype=np.int64)
    for _, group in rows.reset_index(drop=True).groupby("name", sort=False):
        if len(group) == 2:
            i, j = group.index
            partner[i], partner[j] = j, i
    return partner


def validate_new_tracks(table: pd.DataFrame) -> pd.DataFrame:
    """The table in its canonical form: rows grouped by head in model order (each head's rows in the
    given order), the columns :data:`NEW_TRACK_COLUMNS` with fixed types, ``strand_partner`` filled in
    (by name, as ``prepare_targets`` pairs) when absent. Stops with a message on a bad table."""
    missing = [c for c in NEW_TRACK_COLUMNS if c not in table.columns and c != "strand_partner"]
    if missing:
        raise NewTracksError(f"new-track table lacks column(s) {missing}; it needs {', '.join(NEW_TRACK_COLUMNS)}")
    if len(table) == 0:
        raise NewTracksError("new-track table has no rows")
    heads = table["head"].astype(str)
    bad = sorted(set(heads) - set(GENOME_TRACK_RESOLUTIONS))
    if bad:
        raise NewTracksError(f"new tracks for {bad}: only genome-track heads take new tracks ({', '.join(GENOME_TRACK_RESOLUTIONS)})")
    strands = set(table["strand"].astype(str))
    if strands - {"+", "-", "."}:
        raise NewTracksError(f"new-track strand(s) {sorted(strands - {'+', '-', '.'})}: use '+', '-' or '.'")
    parts = []
    for head in GENOME_TRACK_RESOLUTIONS:
        rows = table[heads == head].reset_index(drop=True).copy()
        if not len(rows):
            continue
        if "strand_partner" not in rows or rows["strand_partner"].isna().any():
            rows["strand_partner"] = _pair_by_name(rows)
        partner = rows["strand_partner"].astype(np.int64).to_numpy()
        if ((partner < 0) | (partner >= len(rows))).any() or not np.array_equal(partner[partner], np.arange(len(rows))):
            raise NewTracksError(f"new {head} tracks: strand_partner {partner.tolist()} is not a pairing of the rows")
        parts.append(rows)
    out = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame({
        "head": out["head"].astype(str),
        "name": out["name"].astype(str),
        "strand": out["strand"].astype(str),
        "nonzero_mean": out["nonzero_mean"].astype(np.float64),
        "biosample_name": out["biosample_name"].astype(object).where(out["biosample_name"].notna(), None),
        "assay_title": out["assay_title"].astype(object).where(out["assay_title"].notna(), None),
        "organism": out["organism"].astype(np.int64),
        "strand_partner": out["strand_partner"].astype(np.int64),
    })
    if not ((out["organism"] >= 0) & (out["organism"] < 2)).all():
        raise NewTracksError(f"new-track organism {sorted(set(out['organism']))}: 0 (human) or 1 (mouse)")
    return out


def new_tracks_config(table: pd.DataFrame) -> tuple[tuple[str, int], ...]:
    """``ModelConfig.new_tracks`` for a table: ``(head, count)`` in model head order."""
    counts = table["head"].astype(str).value_counts()
    return tuple((h, int(counts[h])) for h in GENOME_TRACK_RESOLUTIONS if h in counts)


def head_rows(table: pd.DataFrame, head: str) -> pd.DataFrame:
    """One head's new tracks, in channel order (row i is new track i)."""
    return table[table["head"] == head].reset_index(drop=True)


def check_matches(cfg: ModelConfig, table: pd.DataFrame | None, where: str = "the model") -> None:
    """Stop when the table's counts are not the config's new heads (a table from another fine-tune)."""
    found = () if table is None else new_tracks_config(table)
    if found != tuple(cfg.new_tracks):
        raise NewTracksError(f"{where}: the new-track table gives {dict(found)} but the model's new heads are "
                             f"{dict(cfg.new_tracks)}; the table belongs to another fine-tuned model")


def new_tracks_from_targets(tracks: pd.DataFrame, organism: int | str) -> pd.DataFrame:
    """The new-track table of ``prepare_targets``' ``train/tracks.tsv`` (columns head, channel, name, strand,
    biosample, assay, nonzero_mean, strand_partner) for a fine-tune on ``organism``."""
    from genotile.model.metadata import organism_index

    missing = [c for c in ("head", "name", "strand", "nonzero_mean") if c not in tracks.columns]
    if missing:
        raise NewTracksError(f"tracks table lacks column(s) {missing}: is it prepare_targets' train/tracks.tsv?")
    rows = tracks.copy()
    if "channel" in rows:  # channel order within each head
        rows = rows.sort_values(["channel"], kind="stable")
        rows = pd.concat([rows[rows["head"] == h] for h in dict.fromkeys(tracks["head"])], ignore_index=True)
    table = pd.DataFrame({
        "head": rows["head"].astype(str),
        "name": rows["name"].astype(str),
        "strand": rows["strand"].astype(str),
        "nonzero_mean": rows["nonzero_mean"].astype(np.float64),
        "biosample_name": rows["biosample"] if "biosample" in rows else None,
        "assay_title": rows["assay"] if "assay" in rows else None,
        "organism": organism_index(organism),
    })
    if "strand_partner" in rows:
        table["strand_partner"] = rows["strand_partner"].astype(np.int64).to_numpy()
    return validate_new_tracks(table)


def new_track_means(cfg: ModelConfig, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{head: [num_organisms, n_new]}``: each track's ``nonzero_mean`` for its organism, NaN for the other
    (those channels predict NaN, as padding tracks do)."""
    means = {}
    for head, count in cfg.new_tracks:
        rows = head_rows(table, head)
        values = np.full((cfg.num_organisms, count), np.nan, np.float32)
        values[rows["organism"].to_numpy(np.int64), np.arange(count)] = rows["nonzero_mean"].to_numpy(np.float32)
        means[head] = values
    return means


def new_track_reindexing(cfg: ModelConfig, table: pd.DataFrame, head: str) -> np.ndarray:
    """The new tracks' strand re-indexing under reverse complement, in head channels (``base + partner``)."""
    return cfg.base_tracks(head) + head_rows(table, head)["strand_partner"].to_numpy(np.int64)


def new_track_target_reindexing(table: pd.DataFrame, head: str, num_organisms: int = 2) -> tuple[tuple[int, ...], ...]:
    """Per organism, the re-indexing of the new tracks' *targets* (channel i = new track i): for
    ``genotile.train.augment.TargetSpec.reindexing``."""
    partner = tuple(int(p) for p in head_rows(table, head)["strand_partner"])
    return tuple(partner for _ in range(num_organisms))


def new_track_frame(cfg: ModelConfig, table: pd.DataFrame, head: str, organism: int) -> pd.DataFrame:
    """Metadata-style rows (``index``, ``name``, ``strand``, ``padding``, ``nonzero_mean``, ...) for a head's
    new tracks, indexed as head channels; rows of the other organism are marked padding."""
    rows = head_rows(table, head)
    frame = pd.DataFrame({
        "index": np.arange(len(rows), dtype=np.int64) + cfg.base_tracks(head),
        "name": rows["name"].astype(object),
        "strand": rows["strand"].astype(object),
        "padding": (rows["organism"] != organism).to_numpy(bool),
        "assay_title": rows["assay_title"],
        "biosample_name": rows["biosample_name"],
        "nonzero_mean": rows["nonzero_mean"].astype(np.float64).where(rows["organism"] == organism, np.nan),
    })
    return frame


def extend_frame(frame: pd.DataFrame, cfg: ModelConfig, table: pd.DataFrame | None, head: str, organism: int) -> pd.DataFrame:
    """A head's track frame (metadata's or the model's channel list) followed by its new tracks' rows."""
    if table is None or not cfg.added_tracks(head):
        return frame
    extra = new_track_frame(cfg, table, head, organism)
    out = pd.concat([frame, extra.reindex(columns=frame.columns)], ignore_index=True)
    out["index"] = out["index"].astype(np.int64)
    out["padding"] = out["padding"].astype(bool)
    out.attrs.update(frame.attrs)
    return out


def init_new_heads(model: "LoadedModel", cfg: ModelConfig, seed: int) -> dict[str, Any]:
    """Freshly initialised ``head/<head>_new`` parameters (the model's own initialisers for a genome-track
    head), one head at a time: no forward pass of the whole model is needed."""
    import jax
    import jax.numpy as jnp

    from genotile.model.heads import GenomeTracksHead

    params = model.variables["params"]["head"]
    new = {}
    for k, (head, count) in enumerate(cfg.new_tracks):
        resolutions = GENOME_TRACK_RESOLUTIONS[head]
        widths = {r: params[head][f"resolution_{r}"]["multi_organism_linear"]["w"].shape[1] for r in resolutions}
        module = GenomeTracksHead(head, count, cfg.num_organisms)
        embeddings = {r: jnp.zeros((1, 1, d), jnp.float32) for r, d in widths.items()}
        means = jnp.ones((cfg.num_organisms, count), jnp.float32)
        rng = jax.random.fold_in(jax.random.PRNGKey(seed), k)
        variables = module.init(rng, embeddings, jnp.zeros((1,), jnp.int32), means, resolutions)
        new[new_head_scope(head)] = jax.tree.map(np.asarray, variables["params"])
    return new


def add_new_tracks(model: "LoadedModel", table: pd.DataFrame, *, seed: int) -> "LoadedModel":
    """The same weights plus freshly initialised new heads for ``table``'s tracks (config with ``new_tracks``,
    ``LoadedModel.new_tracks`` = the canonical table). The original heads are not touched."""
    if model.config.new_tracks:
        raise NewTracksError(f"{model.identity} already has new tracks {dict(model.config.new_tracks)}; "
                             "add tracks to its base model instead")
    table = validate_new_tracks(table)
    cfg = dataclasses.replace(model.config, new_tracks=new_tracks_config(table))
    heads = dict(model.variables["params"]["head"])
    heads.update(init_new_heads(model, cfg, seed))
    params = {**model.variables["params"], "head": heads}
    variables = {**model.variables, "params": params}
    return dataclasses.replace(model, config=cfg, variables=variables, new_tracks=table)


def table_to_json(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows for ``genotile.json`` (NaN means become null)."""
    rows = []
    for row in validate_new_tracks(table).to_dict("records"):
        row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        rows.append({k: (int(v) if isinstance(v, np.integer) else v) for k, v in row.items()})
    return rows


def table_from_json(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    if "nonzero_mean" in frame:
        frame["nonzero_mean"] = pd.to_numeric(frame["nonzero_mean"]).astype(np.float64)
    return validate_new_tracks(frame)
