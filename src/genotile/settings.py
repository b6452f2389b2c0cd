"""Typed, frozen settings for each step, built once from the schema-validated config.

Why: a step that reads ``config.get(key, default)`` hides a second copy of the defaults (the schema's
are the only ones: ``workflow/schemas/config.schema.yaml``) and lets any key leak into any step. Each
class here names the config keys its step's outputs depend on (``CONFIG_KEYS``, which
:data:`genotile.runtime.provenance.RULE_SETTINGS` uses for the rule's ``params.settings``), and
``from_config`` reads exactly those, with ``[]``: a missing key is a bug, not a default. Speed
settings (batch sizes, ``windows_per_pass``, threads) are not fields: they change no output byte, so
they must not re-run a job, and the rule scripts pass them to the step as plain arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

# ============================================================================== track stage
# (genotile.tracks.steps: plan_windows, init_store, predict_batch; finalize_store, export_bigwig and
# merge_junctions depend on no config key)

#: The model keys that change predicted values ("model.weights" is provenance.weights_identity).
MODEL_KEYS: tuple[str, ...] = ("organism", "model.checkpoint", "model.size", "model.seed", "model.metadata",
                               "model.precision", "model.weights")
#: ... plus the tiling and selection keys that change the stored tracks (not the tiling's job grouping).
TRACK_CONTENT_KEYS: tuple[str, ...] = (
    *MODEL_KEYS,
    "tiling.window_bp", "tiling.owned_bp", "tiling.contigs", "tiling.contig_regex", "tiling.regions_bed",
    "tracks", "store.chunk_bp", "store.dtype", "store.mask_n_runs", "inference.average_strands",
)


def _frozen(value: Any) -> Any:
    """A JSON-like value as nested tuples of (key, value) pairs / tuples, so a settings object stays immutable."""
    if isinstance(value, Mapping):
        return tuple((str(k), _frozen(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class TilingSettings:
    """Where windows go: ``tiling.*`` (``windows_per_batch`` only groups windows into jobs)."""

    window_bp: int
    owned_bp: int
    contigs: tuple[str, ...]
    contig_regex: str | None
    regions_bed: str | None
    windows_per_batch: int | None  # None where the step does not batch (init_store)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TilingSettings":
        tiling = config["tiling"]
        return cls(int(tiling["window_bp"]), int(tiling["owned_bp"]), tuple(tiling["contigs"] or ()),
                   tiling["contig_regex"], tiling["regions_bed"],
                   int(tiling["windows_per_batch"]) if "windows_per_batch" in tiling else None)


@dataclass(frozen=True)
class SelectionSettings:
    """What resolves the ``tracks:`` entries without weights: the organism, model size, metadata folder, store dtype."""

    organism: str
    model_size: str
    metadata: str | None
    tracks: tuple  # the tracks: entries, frozen (see track_entries)
    dtype: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SelectionSettings":
        return cls(config["organism"], config["model"]["size"], config["model"]["metadata"] or None,
                   _frozen(config["tracks"]), config["store"]["dtype"])

    def track_entries(self) -> list[dict[str, Any]]:
        """The ``tracks:`` entries as dicts, in the config's order."""
        return [{k: list(v) if isinstance(v, tuple) else v for k, v in entry} for entry in self.tracks]


@dataclass(frozen=True)
class PlanWindowsSettings:
    """plan_windows: the tiling and the selection (for the storage report and track_selection.tsv)."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ("organism", "model.size", "model.metadata", "tiling", "tracks", "store.dtype")
    tiling: TilingSettings
    selection: SelectionSettings

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PlanWindowsSettings":
        return cls(TilingSettings.from_config(config), SelectionSettings.from_config(config))


@dataclass(frozen=True)
class PredictorSettings:
    """The weights: a checkpoint, or the synthetic model's size and seed; the metadata folder; the precision."""

    checkpoint: str | None
    size: str
    seed: int
    metadata: str | None
    precision: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PredictorSettings":
        model = config["model"]
        return cls(model["checkpoint"] or None, model["size"], int(model["seed"]), model["metadata"] or None,
                   model["precision"])

    def as_model_config(self) -> dict[str, Any]:
        """The ``model:`` mapping genotile.model.loading.load_predictor takes."""
        return {"checkpoint": self.checkpoint, "size": self.size, "seed": self.seed, "metadata": self.metadata,
                "precision": self.precision}

    def weights(self) -> str:
        """The weights as recorded in a store's provenance."""
        return self.checkpoint or f"synthetic:{self.size}:seed={self.seed}"


@dataclass(frozen=True)
class InitStoreSettings:
    """init_store: the store layout (tiling, chunks, dtype, N masking) and what the stores record as their config."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = TRACK_CONTENT_KEYS
    tiling: TilingSettings
    selection: SelectionSettings
    predictor: PredictorSettings
    chunk_bp: int
    mask_n_runs: bool
    recorded: str  # the rule's settings as JSON: the "config" the stores' provenance records, unchanged

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "InitStoreSettings":
        return cls(TilingSettings.from_config(config), SelectionSettings.from_config(config),
                   PredictorSettings.from_config(config), int(config["store"]["chunk_bp"]),
                   bool(config["store"]["mask_n_runs"]), json.dumps(config, default=str))

    def recorded_config(self) -> dict[str, Any]:
        return json.loads(self.recorded)


@dataclass(frozen=True)
class PredictBatchSettings:
    """predict_batch: the weights, the selection's source, strand averaging, N masking, the junction threshold."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (*TRACK_CONTENT_KEYS, "export.junction_min_value")
    selection: SelectionSettings
    predictor: PredictorSettings
    average_strands: bool
    mask_n_runs: bool
    junction_min_value: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PredictBatchSettings":
        return cls(SelectionSettings.from_config(config), PredictorSettings.from_config(config),
                   bool(config["inference"]["average_strands"]), bool(config["store"]["mask_n_runs"]),
                   float(config["export"]["junction_min_value"]))
