"""The rule entry point (genotile.runtime.rule): the log, one-line errors; and the track rules' contract:
each rule's script has the rule's name and calls the step of that name."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from genotile.runtime.rule import rule_context

ROOT = Path(__file__).resolve().parents[2]
TRACK_RULES = ("plan_windows", "init_store", "predict_batch", "finalize_store", "export_bigwig", "merge_junctions")


def test_rule_context_logs_and_turns_an_input_error_into_one_line(tmp_path, capsys, monkeypatch):
    log = tmp_path / "rule.log"
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # restored after the test (rule_context redirects it)
    with pytest.raises(SystemExit) as exit_info, rule_context(SimpleNamespace(log=[str(log)])):
        print("progress", file=sys.stderr)
        raise ValueError("x.vcf: line 3: bad record; fix: drop it")
    assert exit_info.value.code == 1
    assert log.read_text() == "progress\ngenotile: error: x.vcf: line 3: bad record; fix: drop it\n"


@pytest.mark.parametrize("rule", TRACK_RULES)
def test_each_track_rule_runs_its_own_script_and_step(rule):
    import genotile.tracks.steps as steps

    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    body = re.search(rf"(?:rule|checkpoint) {rule}:\n(.*?)(?=\n(?:rule|checkpoint) |\Z)", rules, re.S).group(1)
    assert f'"../../scripts/{rule}.py"' in body
    script = (ROOT / "scripts" / f"{rule}.py").read_text()
    assert f"from genotile.tracks.steps import {rule}\n" in script and "from genotile.runtime.rule import rule_context" in script
    assert callable(getattr(steps, rule))
