"""The variant steps' settings (genotile.settings): built from the schema's defaults only, and exactly the rule's params."""

from __future__ import annotations

import dataclasses

import pytest

from genotile.runtime.provenance import RULE_SETTINGS, RUNTIME_ONLY, rule_settings
from genotile.settings import MergeSettings, NormalizeSettings, ScoreSettings, ShardSettings, SummarizeSettings, schema_default, schema_defaults, setting_keys

STEPS = {"normalize_variants": NormalizeSettings, "shard_variants": ShardSettings, "score_shard": ScoreSettings,
         "merge_scores": MergeSettings, "summarize_variants": SummarizeSettings}
CONFIG = {"organism": schema_default("organism"), "variants": schema_defaults("variants"),
          "model": {"checkpoint": None, "size": "tiny", "seed": 0, "metadata": None, "precision": "float32"}}


@pytest.mark.parametrize("rule", sorted(STEPS))
def test_each_rule_passes_exactly_its_steps_settings(rule):
    settings = STEPS[rule]
    keys = settings.CONFIG_KEYS
    assert keys == setting_keys(settings, "variants")  # the dataclass fields, as config keys
    assert set(keys) <= set(RULE_SETTINGS[rule])
    extra = set(RULE_SETTINGS[rule]) - set(keys)
    assert all(k.startswith("model.") or k == "organism" for k in extra), extra  # score_shard: the predictor's keys
    assert not set(RULE_SETTINGS[rule]) & set(RUNTIME_ONLY)  # speed knobs re-run nothing
    built = settings.from_config(rule_settings(CONFIG, rule))  # what the rule script builds from its params
    assert built == settings.from_config(CONFIG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.organism = "mouse" if hasattr(built, "organism") else None  # type: ignore[misc]


def test_defaults_live_in_the_schema_only():
    """A key the config lacks is an error, not a default of the code (the schema validation fills them)."""
    for settings in STEPS.values():
        for field in dataclasses.fields(settings):
            config = {**CONFIG, "variants": {k: v for k, v in CONFIG["variants"].items() if k != field.name}}
            if field.name == "organism":
                config = {k: v for k, v in CONFIG.items() if k != "organism"}
            with pytest.raises(KeyError):
                settings.from_config(config)
    assert NormalizeSettings.from_config(CONFIG) == NormalizeSettings(50, 0.1, False, None)
