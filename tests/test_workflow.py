"""The Snakemake workflow end to end: a real run, dry run, lint, and config validation.

Each test copies Snakefile, workflow/, config/ and envs/ into its own tmp folder (so ``.snakemake/`` and
outputs never land in the repository) and runs ``snakemake`` with the venv's bin first on PATH, so the
rules' ``genotile`` is this checkout's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genotile.prediction_io import read_predictions

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())


def _snakemake_available() -> bool:
    return (BIN / "snakemake").exists() and (BIN / "genotile").exists()


if not _snakemake_available():  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)


@pytest.fixture
def workdir(tmp_path) -> Path:
    work = tmp_path / "wf"
    work.mkdir()
    shutil.copy2(ROOT / "Snakefile", work / "Snakefile")
    for folder in ("workflow", "config", "envs"):
        shutil.copytree(ROOT / folder, work / folder)
    return work


def snakemake(workdir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"


def test_lint_is_clean(workdir):
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, _report(result)
    assert "Lints for" not in result.stdout + result.stderr, _report(result)


def test_run_then_dry_run(workdir, tmp_path):
    results = tmp_path / "results"
    config = ["--config", f"results={results}"]

    dry = snakemake(workdir, "-n", *config)
    assert dry.returncode == 0, _report(dry)
    assert "predict_window" in dry.stdout + dry.stderr

    run = snakemake(workdir, "--cores", "2", *config)
    assert run.returncode == 0, _report(run)

    zarr_path = results / "prediction.zarr"
    assert zarr_path.is_dir()
    outputs, attrs = read_predictions(zarr_path)
    assert {name.split("/")[0] for name in outputs} == set(CONFIG["outputs"])
    length = 16_384
    assert CONFIG["region"] == f"demo1:1-{length}"
    assert attrs["region"] == CONFIG["region"]
    assert attrs["model"] == f"synthetic:{CONFIG['model']['size']}:seed={CONFIG['model']['seed']}"
    assert outputs["atac/predictions_1bp"].shape == (1, length, 256)
    assert outputs["rna_seq/predictions_128bp"].shape == (1, length // 128, 768)
    assert outputs["chip_histone/predictions_128bp"].shape == (1, length // 128, 1152)
    assert outputs["contact_maps/predictions"].shape == (1, length // 2048, length // 2048, 28)
    assert "splice_sites_junction/predictions" in outputs
    assert (results / "genome.fa").is_file()
    assert (results / "logs" / "predict_window.log").is_file()
    # Nothing was written into the repository copy except snakemake's own bookkeeping.
    assert sorted(p.name for p in workdir.iterdir()) == [".snakemake", "Snakefile", "config", "envs", "workflow"]

    again = snakemake(workdir, "-n", *config)
    assert again.returncode == 0, _report(again)
    assert "Nothing to be done" in again.stdout + again.stderr, _report(again)


def test_failing_rule_reports_the_genotile_error(workdir, tmp_path):
    results = tmp_path / "results"
    run = snakemake(workdir, "--cores", "2", "--config", f"results={results}", "region=demo1:1-4000",
                    "outputs=[contact_maps]")  # fmt: skip
    assert run.returncode != 0, _report(run)
    log = (results / "logs" / "predict_window.log").read_text()
    assert "genotile: error:" in log and "2,048" in log, log
    assert "Traceback" not in log, log
    assert not (results / "prediction.zarr").exists()


@pytest.mark.parametrize(
    "config_text, expected",
    [
        ("colour: red\n", ["colour", "Additional properties"]),
        ("model: {size: tiny, seed: 0, colour: red}\n", ["colour", "model"]),
        ("model: {size: huge, seed: 0}\n", ["huge", "size", "model"]),
        ("model: {size: tiny, seed: 'seven'}\n", ["seven", "seed", "integer"]),
        ("outputs: [atac, nonsense_head]\n", ["nonsense_head", "outputs"]),
        ("demo_genome: {seed: 1.5}\n", ["1.5", "seed", "demo_genome"]),
    ],
    ids=["unknown-key", "unknown-nested-key", "bad-size", "string-seed", "unknown-head", "float-seed"],
)
def test_bad_config_stops_naming_the_key(workdir, tmp_path, config_text, expected):
    extra = tmp_path / "extra.yaml"
    extra.write_text(config_text)
    results = tmp_path / "results"
    result = snakemake(workdir, "-n", "--configfile", str(extra), "--config", f"results={results}")
    text = result.stdout + result.stderr
    assert result.returncode != 0, _report(result)
    assert "Error validating config file" in text, _report(result)
    for word in expected:
        assert word in text, (word, _report(result))
    assert not results.exists()
