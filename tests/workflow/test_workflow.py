"""The Snakemake workflow end to end on the demo config (slow: real snakemake runs of the tiny model).

Each test copies Snakefile, workflow/, config/, envs/ and scripts/ into its own tmp folder (so
``.snakemake/`` and outputs never land in the repository) and runs ``snakemake`` with the venv's bin
first on PATH.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BIN, DEMO_CONFIG, ROOT, WORKFLOW_INSTALLED, copy_workflow, report, snakemake

pytestmark = pytest.mark.slow

CONFIG = DEMO_CONFIG
BAD_VCF = ROOT.parent / "shared/realdata/bad_inputs/vcf/test-invalid-header.vcf"

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)

_report = report


@pytest.fixture
def workdir(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


def chunk_digest(store: Path) -> dict[str, str]:
    """Digest of every data chunk of a store (metadata files excluded: they carry the run's config)."""
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file() and p.name != "zarr.json"
    }


def test_lint_and_dry_run_are_clean(workdir):
    lint = snakemake(workdir, "--lint")
    assert lint.returncode == 0 and "Lints for" not in lint.stdout + lint.stderr, _report(lint)
    dry = snakemake(workdir, "-n")
    assert dry.returncode == 0, _report(dry)
    assert "plan_windows" in dry.stdout


def test_demo_outputs(demo_run):
    _, run_dir, result = demo_run
    summary = json.loads((run_dir / "tracks.summary.json").read_text())
    windows = pd.read_csv(run_dir / "windows.tsv", sep="\t")
    assert summary["windows_predicted"] + len(summary["windows_skipped_all_n"]) == len(windows)
    assert summary["windows_skipped_all_n"] == windows.index[windows["all_n"]].tolist() != []
    assert "storage the selection will need" in (run_dir / "logs" / "plan_windows.log").read_text()
    assert (run_dir / "junctions.parquet").is_file() and (run_dir / "junctions.bed").is_file()
    bigwigs = json.loads((run_dir / "bigwig" / "done.json").read_text())["bigwigs"]
    assert len(bigwigs) == 4 + 4 + 6 + 2 + 4  # the fifth splice-site class is padding: not exported
    assert "splice_sites_classification.1bp.0002.donor.minus.bw" in bigwigs  # splice classes carry their strand
    assert sorted(p.name for p in (run_dir / "bigwig").iterdir()) == sorted([*bigwigs, "done.json"])  # nothing else


def test_variant_scoring_outputs(demo_run):
    """The demo cohort: bad records rejected with reasons, shards merged, every scorer written, summaries."""
    import xarray as xr

    from genotile.variants.engine import parse_scorers, scorer_name
    from genotile.variants.outputs import scorer_slug

    _, run_dir, _ = demo_run
    cohort = run_dir / "variants" / "demo"
    assert (cohort / "input" / "cohort.vcf.gz.tbi").is_file()  # the plain demo VCF was bgzipped and indexed
    variants = pd.read_parquet(cohort / "variants.parquet")
    rejects = pd.read_parquet(cohort / "rejects.parquet")
    assert rejects["reason"].value_counts().to_dict() == {"ref_mismatch": 2, "contig_not_in_fasta": 2, "symbolic_allele": 1}
    assert (variants["allele_index"] == 2).any() and (variants["ref"].str.len() > 1).any() and (variants["alt"].str.len() > 1).any()
    assert len(pd.read_csv(cohort / "shards.tsv", sep="\t")) >= 2
    merged = json.loads((cohort / "scores.done.json").read_text())
    for spec in parse_scorers(["recommended"]):
        slug = scorer_slug(scorer_name(spec))
        assert merged["rows_per_scorer"][slug] > 0, slug
        table = pd.read_parquet(cohort / "scores" / f"{slug}.parquet")
        assert set(table["variant_id"]) <= set(variants["variant_id"])
        matrix = xr.open_zarr(cohort / "scores.zarr", group=slug)
        assert matrix.sizes["variant"] == len(variants)
    dnase = pd.read_parquet(cohort / "scores" / "CenterMask.DNASE.501.DIFF_LOG2_SUM.parquet")
    assert set(dnase["variant_id"]) == set(variants["variant_id"])  # every variant scored, in one shard or another
    summaries = cohort / "summaries"
    per_sample = pd.read_parquet(summaries / "summary_samples.parquet")
    assert set(per_sample["sample"]) <= {f"S0{i}" for i in range(1, 7)} and len(per_sample) > 0
    assert (summaries / "figures" / "sample_burden.png").is_file()
    assert len(pd.read_parquet(summaries / "summary_genes.parquet")) > 0


def test_ism_outputs(demo_run):
    """The demo's ISM region (ism.regions.demo): one job, every SNV in one window, the store, table and logo."""
    import xarray as xr

    from genotile.variants.outputs import scorer_slug

    _, run_dir, _ = demo_run
    folder = run_dir / "ism" / "demo"
    done = json.loads((folder / "done.json").read_text())
    length = CONFIG["ism"]["regions"]["demo"]
    assert done["region"] == length and done["positions"] == 32 and done["snvs"] == 96 and done["failures"] == 0
    assert done["forward_passes"] == 97 and len(done["scorers"]) == len(CONFIG["ism"]["scorers"])
    for name in done["scorers"]:
        data = xr.open_zarr(folder / "ism.zarr", group=scorer_slug(name))
        assert data["score"].dims == ("position", "alt", "track") and data["score"].shape[:2] == (32, 4)
        assert int(np.isnan(data["score"].values).any(axis=2).sum()) == 32  # exactly the REF cell of each position
    top = pd.read_parquet(folder / "strongest.parquet")
    assert (top.groupby("scorer").size() == CONFIG["ism"]["top_n"]).all()
    assert (folder / "ism_logo.png").read_bytes()[:4] == b"\x89PNG"
    assert "positions/s" in (run_dir / "logs" / "ism_demo.log").read_text()


def test_stitched_store_equals_direct_predictions_of_owning_windows(demo_run):
    """Every stored value equals, bit for bit, its owning window's own prediction; all-N windows read NaN."""
    from genotile.model.loading import load_predictor
    from genotile.sequence.fasta import Genome
    from genotile.settings import SelectionSettings
    from genotile.tracks.steps import read_track_selection
    from genotile.tracks.store import crop_to_owned, open_track_array
    from genotile.tracks.tiling import Window

    workdir, run_dir, _ = demo_run
    config = dict(CONFIG, results=str(run_dir.parent))
    predictor = load_predictor(config["model"])
    selection = read_track_selection(str(run_dir / "track_selection.tsv"), SelectionSettings.from_config(config))
    genome = Genome(run_dir / "genome" / "demo.fa")
    windows = pd.read_csv(run_dir / "windows.tsv", sep="\t")
    arrays = {}
    for row in windows.itertuples():
        window = Window(row.contig, row.start, row.end, row.own_start, row.own_end)
        for ts in selection.tracksets:
            key = (ts.head, ts.resolution, row.contig)
            if key not in arrays:
                arrays[key] = open_track_array(run_dir / "tracks.zarr", ts.head, ts.resolution, row.contig).values
            res = ts.resolution
            stored = arrays[key][row.own_start // res : -(-row.own_end // res)]
            if row.all_n:
                assert np.isnan(stored).all()
                continue
        if row.all_n:
            continue
        outputs = predictor.predict(genome.fetch_one_hot(row.contig, row.start, row.end)[None], 0, selection.request())
        for key, value in selection.extract(outputs, 0).items():
            direct = crop_to_owned(window, value, key[1])
            stored = arrays[(key[0], key[1], row.contig)][row.own_start // key[1] : -(-row.own_end // key[1])]
            np.testing.assert_array_equal(stored, direct, err_msg=f"{key} window {row.window}")


def test_bigwig_matches_store(demo_run):
    import pyBigWig

    from genotile.tracks.store import open_track_array

    _, run_dir, _ = demo_run
    stored = open_track_array(run_dir / "tracks.zarr", "dnase", 128, "demo1").values[:, 2]
    with pyBigWig.open(str(run_dir / "bigwig" / "dnase.128bp.0002.track_2.bw")) as bw:
        values = np.array([bw.values("demo1", i * 128, i * 128 + 1)[0] for i in range(len(stored))], np.float32)
    np.testing.assert_array_equal(values, stored)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("tiling: {contigs: [chrZ]}", ["chrZ", "not in the FASTA"]),
        ("tracks: [{output: dnase, biosample_name: GM12878}]", ["needs the track metadata", "indices"]),
        ("tracks: [{output: dnase, indices: [999]}]", ["999", "outside"]),
        ("tracks: [{output: chip_tf, resolutions: [1]}]", ["chip_tf", "128 bp"]),
        ("variants: {cohorts: {bad: " + str(BAD_VCF) + "}}", ["cannot parse the header"]),
        ("variants: {cohorts: {x: /nonexistent/cohort.vcf.gz}}", ["/nonexistent/cohort.vcf.gz"]),
        ("model: {checkpoint: /nonexistent/weights}", ["model.checkpoint", "/nonexistent/weights"]),
        ("genome: {fasta: /nonexistent/genome.fa}", ["genome.fasta", "/nonexistent/genome.fa does not exist"]),
        ("annotation: {gtf: 'https://example.org/x.gtf'}", ["annotation.gtf", "https://example.org/x.gtf", "s3://"]),
    ],
    ids=["missing-contig", "filter-without-metadata", "index-out-of-range", "bad-resolution", "bad-vcf-header",
         "missing-vcf", "missing-checkpoint", "missing-genome", "unsupported-url"],
)
def test_bad_input_stops_with_a_clear_message(workdir, tmp_path, override, expected):
    if str(BAD_VCF) in override and not BAD_VCF.exists():
        pytest.skip("../shared/realdata not present")
    results = tmp_path / "results"
    extra = tmp_path / "bad.yaml"
    extra.write_text(override + "\n")
    run = snakemake(workdir, "--cores", "1", "--configfile", str(extra), "--config", f"results={results}")
    assert run.returncode != 0, _report(run)
    text = run.stdout + run.stderr
    assert "genotile: error:" in text, _report(run)
    for word in expected:
        assert word in text, (word, _report(run))


def test_window_not_multiple_of_2048_is_refused_by_the_schema(workdir, tmp_path):
    extra = tmp_path / "bad.yaml"
    extra.write_text("tiling: {window_bp: 1000000}\n")
    run = snakemake(workdir, "-n", "--configfile", str(extra), "--config", f"results={tmp_path}")
    assert run.returncode != 0 and "multiple of 2048" in run.stdout + run.stderr, _report(run)


def test_unwritable_results_folder(workdir, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    run = snakemake(workdir, "--cores", "1", "--config", f"results={blocker}/results")
    assert run.returncode != 0, _report(run)
    assert "afile" in run.stdout + run.stderr


@pytest.mark.parametrize(
    "config_text, expected",
    [
        ("colour: red\n", ["colour", "Additional properties"]),
        ("model: {size: tiny, seed: 0, colour: red}\n", ["colour", "model"]),
        ("model: {size: huge, seed: 0}\n", ["huge", "size", "model"]),
        ("model: {size: tiny, seed: 'seven'}\n", ["seven", "seed", "integer"]),
        ("tracks: [{output: nonsense_head}]\n", ["nonsense_head", "output"]),
        ("genome: {fasta: null, demo_seed: 1.5}\n", ["1.5", "demo_seed", "genome"]),
    ],
    ids=["unknown-key", "unknown-nested-key", "bad-size", "string-seed", "unknown-output", "float-seed"],
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
