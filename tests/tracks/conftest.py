"""Shared by the track-step tests: each step's settings as the workflow builds them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def settings_for(config: Mapping[str, Any], rule: str):
    """``rule``'s settings from ``config`` as a run builds them: the schema's defaults filled in (the
    Snakefile's validate), then the rule's ``params.settings`` (rule_settings), then ``from_config``,
    so a step reading a key its rule does not pass fails here."""
    from snakemake.utils import validate

    from genotile.runtime.provenance import rule_settings
    from genotile.settings import InitStoreSettings, PlanWindowsSettings, PredictBatchSettings

    full = copy.deepcopy(dict(config))
    validate(full, str(SCHEMA))
    cls = {"plan_windows": PlanWindowsSettings, "init_store": InitStoreSettings, "predict_batch": PredictBatchSettings}[rule]
    return cls.from_config(rule_settings(full, rule))


@pytest.fixture(scope="session")
def step_settings():
    """:func:`settings_for` (``step_settings(config, "init_store")``)."""
    return settings_for
