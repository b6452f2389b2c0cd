"""The executor profiles: each parses with its real plugin, and only the model rules ask for GPUs."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import BIN, ROOT, WORKFLOW_INSTALLED, copy_workflow, report, snakemake

PROFILES = ROOT / "workflow" / "profiles"
GPU_RULES = {"predict_batch", "score_shard", "train_model", "evaluate_model", "ism"}
TRAINING_RULES = {"train_model", "evaluate_model"}  # not in the demo's DAG (config/finetune_demo.yaml has them)
GPU_KEYS = {"gpu", "gpu_model", "gpu_manufacturer", "nvidia_gpu", "gres"}
CLOUD_OFFLINE = {"googlebatch": ["--default-storage-provider", "none"]}  # the GCS plugin wants credentials at start


def _profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


@pytest.mark.parametrize("name", ["default", "slurm", "slurm-local", "kubernetes", "googlebatch"])
def test_profile_requests_gpus_for_the_model_rules_only(name):
    profile = _profile(name)
    assert profile.get("rerun-incomplete") is True  # killed jobs are redone, never taken as complete
    assert not GPU_KEYS & set(profile.get("default-resources") or {}), "CPU rules would ask for a GPU"
    per_rule = profile.get("set-resources") or {}
    assert not {rule for rule, res in per_rule.items() if GPU_KEYS & set(res)} - GPU_RULES
    if name != "default":
        for rule in GPU_RULES:
            assert GPU_KEYS & set(per_rule.get(rule, {})), f"{name}: {rule} requests no GPU"


def test_profiles_say_what_to_edit_and_how_to_run():
    for folder in PROFILES.iterdir():
        header = (folder / "config.yaml").read_text().split("\n\n", 1)[0]
        assert f"--profile workflow/profiles/{folder.name}" in header, folder.name


@pytest.mark.skipif(not WORKFLOW_INSTALLED, reason=f"snakemake/genotile not installed in {BIN}")
@pytest.mark.parametrize("name", ["slurm", "slurm-local", "kubernetes", "googlebatch"])
def test_profile_parses_with_its_executor_plugin(name, tmp_path):
    """``--list-rules`` loads the profile through the executor plugin (unknown option -> error), offline."""
    workdir = copy_workflow(tmp_path / "wf")
    listed = snakemake(workdir, "--profile", f"workflow/profiles/{name}", *CLOUD_OFFLINE.get(name, []), "--list-rules")
    assert listed.returncode == 0, report(listed)
    assert "predict_batch" in listed.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["slurm", "slurm-local"])
def test_slurm_dry_run_gives_gpus_to_the_model_jobs_only(demo_run, name):
    """Every job of the demo DAG with the resources Slurm would be asked for (dry runs of a finished run)."""
    workdir, _, _ = demo_run
    resources: dict[str, str] = {}
    for forced in (["init_store", "score_shard"], ["demo_genome", "demo_annotation"]):  # both sides of the checkpoints
        dry = snakemake(workdir, "--profile", f"workflow/profiles/{name}", "--dry-run", "--forcerun", *forced)
        assert dry.returncode == 0, report(dry)
        for rule, line in re.findall(r"^(?:rule|checkpoint) (\w+):\n(?:    .*\n)*?    resources: (.*)$", dry.stdout, re.M):
            resources[rule] = line
    assert set(resources) - {"all"} >= GPU_RULES - TRAINING_RULES | {"plan_windows", "init_store", "export_bigwig", "normalize_variants",
                                                    "shard_variants", "merge_scores", "summarize_variants"}
    for rule, line in resources.items():
        assert ("gpu=1" in line) == (rule in GPU_RULES), (rule, line)
