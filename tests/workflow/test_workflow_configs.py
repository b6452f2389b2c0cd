"""A user's config is the whole config: no demo value or demo job comes along (dry runs and a plan).

Each test names its config with ``--configfile`` alone (``demo=False``), as the README tells users to.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import BIN, ROOT, WORKFLOW_INSTALLED, copy_workflow, planned_jobs, report, snakemake

pytestmark = pytest.mark.slow

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)

CHR20 = ROOT.parent / "shared" / "realdata" / "grch37_chr20_1Mb"
HG38 = ROOT.parent / "shared" / "realdata" / "hg38_chr1_1Mb"
CHR22 = ROOT.parent / "shared" / "realdata" / "grch37_chr22_20-21Mb"
DEMO_RULES = {"demo_genome", "demo_cohort", "demo_annotation"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("configs") / "wf")


def _write(path: Path, config: dict) -> str:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


@pytest.mark.skipif(not CHR20.is_dir(), reason="needs ../shared/realdata/grch37_chr20_1Mb")
def test_a_user_config_alone_tiles_at_1mb_with_numeric_contigs_and_no_demo_jobs(workdir, tmp_path):
    """GRCh37 chr20 (contig ``20``) with only run, genome, tracks and a cohort: schema defaults apply."""
    config = _write(tmp_path / "chr20.yaml", {
        "run": "chr20", "results": str(tmp_path / "results"),
        "genome": {"fasta": str(CHR20 / "chr20_b37_0-2M.fa")},
        "tracks": [{"output": "dnase", "resolutions": [128], "indices": [0]}],
        "variants": {"cohorts": {"ref300": str(CHR20 / "ref300.chr20_1-2M.vcf.gz")}},
    })
    dry = snakemake(workdir, "-n", "--configfile", config, demo=False)
    assert dry.returncode == 0, report(dry)
    jobs = planned_jobs(dry)
    assert not DEMO_RULES & set(jobs) and {"plan_windows", "normalize_variants"} <= set(jobs), jobs
    assert "no gene annotation (annotation.gtf)" in dry.stderr  # the recommended set says what it skips
    windows_tsv = tmp_path / "results" / "chr20" / "windows.tsv"
    plan = snakemake(workdir, str(windows_tsv), "--cores", "1", "--configfile", config, demo=False)
    assert plan.returncode == 0, report(plan)
    windows = pd.read_csv(windows_tsv, sep="\t", dtype={"contig": str})
    assert set(windows["contig"]) == {"20"}
    assert set(windows["end"] - windows["start"]) == {1_048_576} and (windows["own_end"] - windows["own_start"]).max() == 524_288
    assert len(windows) == 4  # 2 Mb in owned regions of 512 kb (the demo's 16 kb tiling would give 246)


def test_a_variants_only_config_schedules_no_track_job(workdir, tmp_path):
    config = _write(tmp_path / "variants.yaml", {
        "run": "vonly", "results": str(tmp_path / "results"),
        "genome": {"fasta": str(tmp_path / "genome.fa")},
        "variants": {"cohorts": {"demo": None}, "window_bp": 16384},
    })
    (tmp_path / "genome.fa").write_text(">1\n" + "ACGT" * 5000 + "\n")
    dry = snakemake(workdir, "-n", "--configfile", config, demo=False)
    assert dry.returncode == 0, report(dry)
    jobs = planned_jobs(dry)
    assert {"normalize_variants", "shard_variants", "merge_scores", "summarize_variants"} <= set(jobs), jobs
    assert not {"plan_windows", "init_store", "finalize_store", "export_bigwig", "demo_genome"} & set(jobs), jobs


@pytest.mark.skipif(not HG38.is_dir(), reason="needs ../shared/realdata/hg38_chr1_1Mb")
def test_the_readme_hg38_config_is_complete_on_its_own(workdir, tmp_path):
    text = (ROOT / "config" / "hg38_chr1.yaml").read_text().replace("../shared/", f"{ROOT.parent / 'shared'}/")
    config = tmp_path / "hg38_chr1.yaml"  # its paths are relative to the repository, the copy is elsewhere
    config.write_text(text)
    dry = snakemake(workdir, "-n", "--configfile", str(config), demo=False)
    assert dry.returncode == 0, report(dry)
    jobs = planned_jobs(dry)
    assert not DEMO_RULES & set(jobs) and {"plan_windows", "normalize_variants"} <= set(jobs), jobs


def test_no_config_says_how_to_run_the_demo(workdir):
    run = snakemake(workdir, "-n", demo=False)
    assert run.returncode != 0 and "--configfile config/demo.yaml" in run.stdout + run.stderr, report(run)


def test_a_config_problem_stops_before_any_job(workdir, tmp_path):
    config = _write(tmp_path / "float.yaml", {"run": "f", "genome": {"fasta": None},
                                               "tiling": {"window_bp": 16384.0, "owned_bp": 8192},
                                               "tracks": [{"output": "dnase", "indices": [0]}]})
    run = snakemake(workdir, "--cores", "1", "--configfile", config, demo=False)
    text = run.stdout + run.stderr
    assert run.returncode != 0 and "tiling.window_bp: 16384.0 is not an integer (write 16384)" in text, report(run)
    assert "demo_genome" not in text and not (workdir / "results" / "f").exists()


def test_the_finetune_demo_trains_before_it_predicts_and_scores(workdir):
    """model.checkpoint: finetuned: one snakemake call makes the track, trains, then predicts and scores with the result."""
    dry = snakemake(workdir, "-n", "--configfile", str(ROOT / "config" / "finetune_demo.yaml"), demo=False)
    assert dry.returncode == 0, report(dry)
    jobs = planned_jobs(dry)
    # predict_batch and score_shard follow the checkpoints plan_windows and shard_variants (not in a dry run)
    assert {"demo_targets", "split_windows", "prepare_targets", "train_model", "plan_windows",
            "shard_variants"} <= set(jobs), jobs


@pytest.mark.skipif(not CHR22.is_dir(), reason="needs ../shared/realdata/grch37_chr22_20-21Mb")
def test_the_chr22_encode_config_plans_its_training_from_the_shared_data(workdir):
    """config/chr22_encode.yaml as shipped (its paths relative to the checkout, ../shared beside it) plans the
    training rules and nothing of the demo."""
    shared = workdir.parent / "shared"
    if not shared.exists():
        shared.symlink_to(ROOT.parent / "shared")
    dry = snakemake(workdir, "-n", "--configfile", "config/chr22_encode.yaml", demo=False)
    assert dry.returncode == 0, report(dry)
    jobs = planned_jobs(dry)
    assert {"split_windows", "prepare_targets", "train_model", "evaluate_model"} <= set(jobs), jobs
    assert not DEMO_RULES & set(jobs) and "demo_targets" not in jobs


def test_bad_training_inputs_stop_the_dry_run_with_the_keys_named(workdir, tmp_path):
    """A sheet's strand without its partner and a window off the loss's segment: both named, no traceback, no job."""
    sheet = tmp_path / "tracks.tsv"
    sheet.write_text("name\toutput_type\tstrand\tfile_path\tbiosample\tassay\n"
                     "rna\trna_seq\t+\tresults/finetune_demo/train/demo_signal.bw\tx\ty\n")
    config = yaml.safe_load((ROOT / "config" / "finetune_demo.yaml").read_text())
    config["train"].update(tracks_sheet=str(sheet), window_bp=196608)
    run = snakemake(workdir, "-n", "--configfile", _write(tmp_path / "bad.yaml", config), demo=False)
    text = run.stdout + run.stderr
    assert run.returncode != 0 and "genotile: error: the config cannot run:" in text, report(run)
    assert "train: train.window_bp = 196,608: a window longer than 131,072 bp" in text, report(run)
    assert f"train: tracks sheet {sheet}, line 2: track 'rna' (rna_seq) has a + strand file but no - strand partner" in text
    assert "Traceback" not in text and "Job stats:" not in text, report(run)
