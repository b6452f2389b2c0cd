"""Typed settings of the workflow's steps: frozen dataclasses built once from the schema-validated config.

Why: a step reads exactly the settings its outputs depend on, under names a reader can follow, and
never a default of its own. Defaults live only in the schema (``workflow/schemas/config.schema.yaml``),
which Snakemake's ``validate`` fills in before any rule runs; the CLI fills its config from the same
schema (:func:`schema_defaults`). ``from_config`` therefore indexes keys and never ``.get(key, default)``.
``genotile.runtime.provenance.RULE_SETTINGS`` lists these fields (as config keys) for each rule, so
Snakemake re-runs a job exactly when one of them changes. Speed knobs (``variants.batch_size``) are
not settings: they are passed separately and re-run nothing.
"""

from __future__ import annotations

import copy
import functools
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

    CONFIG_KEYS: ClassVar[tuple[str, ...]]  # the fields as dotted config keys (set below the class)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ScoreSettings":
        v = config["variants"]
        return cls(config["organism"], tuple(v["scorers"]), v["mode"], int(v["window_bp"]), v["tile_owned_bp"],
                   bool(v["include_values"]))


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
