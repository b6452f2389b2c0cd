"""Typed, frozen settings for each step, built once from the schema-validated config.

Why: a step that reads ``config.get(key, default)`` hides a second copy of the defaults (the schema's
are the only ones: ``workflow/schemas/config.schema.yaml``) and lets any key leak into any step. Each
class here names the config keys its step's outputs depend on (``CONFIG_KEYS``, which
:data:`genotile.runtime.provenance.RULE_SETTINGS` uses for the rule's ``params.settings``), and
``from_config`` reads exactly those, with ``[]``: a missing key is a bug, not a default. Speed
settings (batch sizes, ``windows_per_pass``, threads) are not fields: they change no output byte, so
they must not re-run a job, and the rule scripts pass them to the step as plain arguments.

Defaults live only in the schema, which Snakemake's ``validate`` fills in before any rule runs; callers
without a workflow config (the CLI) fill theirs from the same schema (:func:`schema_defaults`).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import yaml

#: The workflow's config schema (the one home of every default).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def _schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's default of every key of top-level ``section`` (for callers without a workflow config: the CLI)."""
    properties = _schema()["properties"][section]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}


def schema_default(key: str) -> Any:
    """The schema's default of the top-level ``key`` (e.g. ``organism``)."""
    return copy.deepcopy(_schema()["properties"][key]["default"])


def setting_keys(settings: type, section: str) -> tuple[str, ...]:
    """``settings``' fields as dotted config keys of ``section`` (``organism`` is top level)."""
    return tuple(f.name if f.name == "organism" else f"{section}.{f.name}" for f in fields(settings))


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
    #: A genotile checkpoint whose new (fine-tuned) tracks can be selected (``finetuned`` in the raw config:
    #: ``genotile.runtime.finetuned``; the rules get its path).
    checkpoint: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SelectionSettings":
        return cls(config["organism"], config["model"]["size"], config["model"]["metadata"] or None,
                   _frozen(config["tracks"]), config["store"]["dtype"], config["model"].get("checkpoint") or None)

    def track_entries(self) -> list[dict[str, Any]]:
        """The ``tracks:`` entries as dicts, in the config's order."""
        return [{k: list(v) if isinstance(v, tuple) else v for k, v in entry} for entry in self.tracks]


@dataclass(frozen=True)
class PlanWindowsSettings:
    """plan_windows: the tiling and the selection (for the storage report and track_selection.tsv)."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ("organism", "model.size", "model.metadata", "model.checkpoint", "tiling",
                                              "tracks", "store.dtype")
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



# ---------------------------------------------------------------------------------------------- variants
# One class per variant rule that reads settings (``bgzip_vcf`` reads none). ``config`` is the whole
# schema-validated config, or the part of it ``provenance.rule_settings`` passes the rule as ``params``.


@dataclass(frozen=True)
class NormalizeSettings:
    """``normalize_variants``: which records and alleles are kept (``genotile vcf normalize`` flags)."""

    max_indel_length: int
    max_ref_mismatch_fraction: float
    rename_chr_prefix: bool
    region: str | None

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "NormalizeSettings":
        v = config["variants"]
        return cls(int(v["max_indel_length"]), float(v["max_ref_mismatch_fraction"]), bool(v["rename_chr_prefix"]),
                   v["region"])


@dataclass(frozen=True)
class ShardSettings:
    """``shard_variants``: the tiles (``window_bp``, ``tile_owned_bp``) shards are cut between, and their size."""

    window_bp: int
    tile_owned_bp: int | None
    variants_per_shard: int

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ShardSettings":
        v = config["variants"]
        return cls(int(v["window_bp"]), v["tile_owned_bp"], int(v["variants_per_shard"]))


@dataclass(frozen=True)
class ScoreSettings:
    """``score_shard``: what is scored and how (the model enters as the predictor the step is given)."""

    organism: str
    scorers: tuple[Any, ...]
    mode: str
    window_bp: int
    tile_owned_bp: int | None
    include_values: bool
    local_encoder: bool

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ScoreSettings":
        v = config["variants"]
        return cls(config["organism"], tuple(v["scorers"]), v["mode"], int(v["window_bp"]), v["tile_owned_bp"],
                   bool(v["include_values"]), bool(v["local_encoder"]))


@dataclass(frozen=True)
class MergeSettings:
    """``merge_scores``: the scorers the shards must hold (as ``score_shard`` kept them) and their columns."""

    organism: str
    scorers: tuple[Any, ...]
    include_values: bool

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "MergeSettings":
        v = config["variants"]
        return cls(config["organism"], tuple(v["scorers"]), bool(v["include_values"]))


@dataclass(frozen=True)
class SummarizeSettings:
    """``summarize_variants``: the genotypes read (``region``) and what counts as a top or high-effect variant."""

    top_k: int
    high_effect_quantile: float
    high_effect_thresholds: Mapping[str, float]
    region: str | None

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SummarizeSettings":
        v = config["variants"]
        return cls(int(v["top_k"]), float(v["high_effect_quantile"]), dict(v["high_effect_thresholds"]), v["region"])


for _settings in (NormalizeSettings, ShardSettings, ScoreSettings, MergeSettings, SummarizeSettings):
    _settings.CONFIG_KEYS = setting_keys(_settings, "variants")


@dataclass(frozen=True)
class IsmSettings:
    """``ism``: what every SNV of a region is scored with, in which window, and how many strongest effects are listed.

    The region itself is not a field: each ISM job gets its own (``ism.regions.<name>``), so a changed region
    re-runs that job only.
    """

    organism: str
    scorers: tuple[Any, ...]
    window_bp: int
    top_n: int

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ("organism", "ism.scorers", "ism.window_bp", "ism.top_n")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "IsmSettings":
        i = config["ism"]
        return cls(config["organism"], tuple(i["scorers"]), int(i["window_bp"]), int(i["top_n"]))


# ---------------------------------------------------------------------------------------------- training data
# (genotile.train.steps: split_windows, prepare_targets)


@dataclass(frozen=True)
class SplitWindowsSettings:
    """``split_windows``: the training tiling, the held-out contigs / regions, and the trainer's shift (the context)."""

    window_bp: int
    stride_bp: int | None  # None: window_bp (windows side by side)
    contigs: tuple[str, ...]
    contig_regex: str | None
    regions_bed: str | None
    validation_contigs: tuple[str, ...]
    test_contigs: tuple[str, ...]
    validation_bed: str | None
    test_bed: str | None
    max_shift: int

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SplitWindowsSettings":
        t = config["train"]
        return cls(int(t["window_bp"]), None if t["stride_bp"] is None else int(t["stride_bp"]),
                   tuple(t["contigs"] or ()), t["contig_regex"], t["regions_bed"], tuple(t["validation_contigs"] or ()),
                   tuple(t["test_contigs"] or ()), t["validation_bed"], t["test_bed"], int(t["max_shift"]))


@dataclass(frozen=True)
class PrepareTargetsSettings:
    """``prepare_targets``: the tracks sheet (the windows come from split_windows' table, the bigWigs are inputs)."""

    tracks_sheet: str

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PrepareTargetsSettings":
        sheet = config["train"]["tracks_sheet"]
        if not sheet:
            raise ValueError("train.tracks_sheet is not set: give the TSV of the tracks to train on (config/README.md)")
        return cls(str(sheet))


class _ReadsBaseModel:
    """Settings of a rule that reads a fine-tune's base model: ``model`` holds its ``model:`` mapping."""

    model: tuple

    def base_model(self) -> dict[str, Any]:
        """The base model's ``model:`` mapping, for ``genotile.model.loading.load_predictor``."""
        return dict(self.model)


@dataclass(frozen=True)
class TrainModelSettings(_ReadsBaseModel):
    """``train_model``: what trains, for how long and how fast it learns, on which base model.

    ``model`` is the base model's ``model:`` mapping, with its weights' identity, so a changed base re-runs
    training: ``genotile.runtime.provenance.rule_settings(config, "train_model")`` puts it there
    (``train.base_checkpoint`` when the run predicts with ``model.checkpoint: finetuned``); build these
    settings from that, not from the raw config.
    """

    mode: str
    steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    weight_decay: float
    clip_norm: float | None
    unfreeze_last_blocks: int
    lora_rank: int
    lora_alpha: float
    lora_targets: tuple[str, ...]
    dropout_rate: float
    remat: bool
    accumulate: int
    validate_every: int
    seed: int
    shuffle_targets: bool
    window_bp: int
    max_shift: int
    gene_loss_weight: float  # the RNA-seq head's gene-level loss term (0: off); above 0 the rule reads annotation.gtf
    organism: str
    model: tuple  # the base model mapping, frozen

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (
        "organism", "train.mode", "train.steps", "train.batch_size", "train.learning_rate", "train.warmup_steps",
        "train.weight_decay", "train.clip_norm", "train.unfreeze_last_blocks", "train.lora_rank", "train.lora_alpha",
        "train.lora_targets", "train.dropout_rate", "train.remat", "train.accumulate", "train.validate_every",
        "train.seed", "train.shuffle_targets", "train.window_bp", "train.max_shift", "train.gene_loss_weight",
        "train.base_checkpoint", *MODEL_KEYS)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TrainModelSettings":
        t = config["train"]
        return cls(str(t["mode"]), int(t["steps"]), int(t["batch_size"]), float(t["learning_rate"]),
                   int(t["warmup_steps"]), float(t["weight_decay"]),
                   None if t["clip_norm"] is None else float(t["clip_norm"]), int(t["unfreeze_last_blocks"]),
                   int(t["lora_rank"]), float(t["lora_alpha"]), tuple(t["lora_targets"]), float(t["dropout_rate"]),
                   bool(t["remat"]), int(t["accumulate"]), int(t["validate_every"]),
                   int(t["seed"]), bool(t["shuffle_targets"]), int(t["window_bp"]), int(t["max_shift"]),
                   float(t["gene_loss_weight"]), str(config["organism"]), _frozen(dict(config["model"])))


@dataclass(frozen=True)
class EvaluateModelSettings(_ReadsBaseModel):
    """``evaluate_model``: which held-out split, how many original tracks to check, on which base model.

    ``model`` is the base model's ``model:`` mapping as for :class:`TrainModelSettings` (the untrained
    model is the base with the same seeded new heads training started from); build these settings from
    ``rule_settings(config, "evaluate_model")``.
    """

    split: str
    original_tracks: int
    seed: int
    window_bp: int
    organism: str
    model: tuple  # the base model mapping, frozen
    gene_loss_weight: float = 0.0  # above 0: the loss table gains the gene-level term's row (the rule reads annotation.gtf)

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (
        "organism", "train.evaluate_split", "train.evaluate_original_tracks", "train.seed", "train.window_bp",
        "train.gene_loss_weight", "train.base_checkpoint", *MODEL_KEYS)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "EvaluateModelSettings":
        t = config["train"]
        return cls(str(t["evaluate_split"]), int(t["evaluate_original_tracks"]), int(t["seed"]), int(t["window_bp"]),
                   str(config["organism"]), _frozen(dict(config["model"])), float(t["gene_loss_weight"]))


for _settings in (SplitWindowsSettings, PrepareTargetsSettings):
    _settings.CONFIG_KEYS = setting_keys(_settings, "train")
