"""Per-rule settings and the weights identity (what makes a changed setting re-run only its jobs)."""

from __future__ import annotations

import os

import pytest
import yaml
from conftest import ROOT

from genotile.runtime.provenance import RULE_SETTINGS, RUNTIME_ONLY, rule_settings, weights_identity

CONFIG = yaml.safe_load((ROOT / "config/demo.yaml").read_text())


def test_speed_settings_are_in_no_rule_settings():
    for rule in RULE_SETTINGS:
        settings = rule_settings(CONFIG, rule)
        for dotted in RUNTIME_ONLY:
            section, key = dotted.split(".")
            if rule == "plan_windows" and dotted == "tiling.windows_per_batch":
                continue  # it decides the batches plan_windows writes
            assert key not in settings.get(section, {}), (rule, dotted)


def test_settings_are_the_declared_keys_only():
    predict = rule_settings(CONFIG, "predict_batch")
    assert set(predict) == {"organism", "model", "tiling", "tracks", "store", "inference", "export"}
    assert predict["inference"] == {"average_strands": False}
    assert predict["model"]["weights"] == "synthetic:tiny:seed=0"
    assert rule_settings(CONFIG, "summarize_variants")["variants"]["top_k"] is None  # absent: None, still a key
    with pytest.raises(KeyError, match="RULE_SETTINGS"):
        rule_settings(CONFIG, "no_such_rule")


def test_weights_identity_follows_the_checkpoint_files(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "params.msgpack").write_bytes(b"1234")
    first = weights_identity({"checkpoint": str(folder)})
    assert first == weights_identity({"checkpoint": str(folder)})
    os.utime(folder / "params.msgpack", ns=(1, 1))
    second = weights_identity({"checkpoint": str(folder)})
    assert second != first
    (folder / "extra").write_text("x")
    assert weights_identity({"checkpoint": str(folder)}) != second
    assert weights_identity({"size": "tiny", "seed": 3}) == "synthetic:tiny:seed=3"
    with pytest.raises(FileNotFoundError, match="model.checkpoint"):
        weights_identity({"checkpoint": str(tmp_path / "missing")})
