"""In-silico mutagenesis (``ism``): region checks, the window, the SNV table, the pivot, and the step / CLI end to end.

The model tests share one ISM run of an 8-bp region (tiny model, 16,384-bp window, two device scorers) across an
N-gap edge of the demo genome, so they also cover the skipped N positions.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genotile.cli.main import main
from genotile.sequence.demo import write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.variants.engine import ScoringOptions, ScoringResult, parse_scorers, score_variants, scorer_name
from genotile.variants.ism import (
    ALTS,
    IsmError,
    IsmRegion,
    ism_arrays,
    ism_window,
    parse_ism_region,
    position_effect,
    snv_table,
    strongest_effects,
)
from genotile.variants.outputs import scorer_slug

WINDOW = 16_384
CONTIGS = {"chr1": 100_000, "short": 12_000}
#: demo3 holds an N gap from 0-based 8,000: the region's last two bases are N.
REGION = "demo3:7995-8002"
SCORERS = ["CenterMask:DNASE:501:DIFF_LOG2_SUM", "ContactMap:CONTACT_MAPS"]


# ------------------------------------------------------------------ regions and windows (no model)


def test_a_region_is_read_1_based_inclusive():
    region = parse_ism_region("chr1:1,001-1,016", "--region", WINDOW, CONTIGS)
    assert region == IsmRegion("chr1", 1000, 1016) and region.length == 16 and region.text == "chr1:1001-1016"


@pytest.mark.parametrize("text, message", [
    ("chr1", "is not a region; write contig:start-end"),
    ("chr1:100", "is not a region"),
    ("chr1:0-10", "1-based"),
    ("chr1:200-100", "is before start"),
    ("chr1:1-10001", "at most 10,000 bp"),
    ("nope:1-10", "contig 'nope' of 'nope:1-10' is not in the FASTA"),
    ("chr1:99990-100010", "ends past the end of chr1"),
    ("short:1-10", "contig short is 12,000 bp, shorter than the 16,384-bp scoring window"),
])  # fmt: skip
def test_a_bad_region_is_named_with_its_key(text, message):
    with pytest.raises(IsmError, match="ism.regions.x: ") as err:
        parse_ism_region(text, "ism.regions.x", WINDOW, CONTIGS)
    assert message in str(err.value)


def test_a_region_longer_than_the_window_and_checks_without_a_genome():
    with pytest.raises(IsmError, match="longer than the 4,096-bp window"):
        parse_ism_region("chr1:1-5000", "--region", 4096)
    assert parse_ism_region("anything:1-10", "--region", WINDOW).contig == "anything"  # no FASTA yet: syntax only


@given(st.integers(0, 99_000), st.integers(1, 1000))
def test_the_window_is_centred_and_kept_inside_the_contig(start, length):
    region = IsmRegion("chr1", start, min(start + length, 100_000))
    contig, w0, w1 = ism_window(region, WINDOW, 100_000)
    assert contig == "chr1" and w1 - w0 == WINDOW and 0 <= w0 and w1 <= 100_000
    assert w0 <= region.start and region.end <= w1
    if WINDOW // 2 <= (region.start + region.end) // 2 <= 100_000 - WINDOW // 2:
        assert w0 == (region.start + region.end) // 2 - WINDOW // 2  # centred where the contig allows it


def test_a_contig_shorter_than_the_window_is_named():
    with pytest.raises(IsmError, match="contig short is 12,000 bp, shorter than the 16,384-bp"):
        ism_window(IsmRegion("short", 10, 20), WINDOW, 12_000)


# ------------------------------------------------------------------ SNV table and pivot (no model)


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return Genome(write_demo_genome(tmp_path_factory.mktemp("ism_genome") / "demo.fa"))


def test_the_snv_table_has_3_alts_per_base_and_skips_n(genome):
    region = parse_ism_region(REGION, "--region", WINDOW, genome.contigs)
    bases = genome.sequence("demo3", region.start, region.end)
    assert bases.endswith("NN") and "N" not in bases[:-2]
    snvs = snv_table(genome, region)
    assert len(snvs) == 3 * 6 and (snvs["ref"] != snvs["alt"]).all()
    assert list(snvs.columns) == ["variant_id", "chrom", "pos", "ref", "alt"]
    assert snvs["pos"].tolist() == [p for p in range(7995, 8001) for _ in range(3)]
    assert snvs["variant_id"].iloc[0] == f"demo3:7995:{bases[0]}>{snvs['alt'].iloc[0]}"


def _fake_result(region: IsmRegion, ref: str) -> ScoringResult:
    """A gene scorer's tidy rows: two genes per SNV and track (the array keeps the larger |score|)."""
    tracks = pd.DataFrame({"track_index": [5, 7], "name": ["t5", "t7"], "strand": [".", "."]})
    rows = []
    for i, base in enumerate(ref):
        for alt in ALTS:
            if alt == base:
                continue
            for t in (5, 7):
                for gene, sign in (("G1", 1.0), ("G2", -2.0)):
                    rows.append({"variant_id": f"x:{region.start + i + 1}:{base}>{alt}", "chrom": "x",
                                 "pos": region.start + i + 1, "ref": base, "alt": alt, "gene_id": gene, "gene_name": gene,
                                 "track_index": t, "track_name": f"t{t}", "track_strand": ".",
                                 "score": np.float32(sign * (i + 1 + t / 10))})
    return ScoringResult({"GeneMaskLFC|RNA_SEQ||": pd.DataFrame(rows)}, pd.DataFrame(), {}, {"GeneMaskLFC|RNA_SEQ||": tracks})


def test_the_pivot_is_position_alt_track_with_nan_at_ref():
    region, ref = IsmRegion("x", 100, 104), "ACGT"
    result = _fake_result(region, ref)
    (array,) = ism_arrays(result, region).values()
    assert array.shape == (4, 4, 2) and array.dtype == np.float32
    for i, base in enumerate(ref):
        assert np.isnan(array[i, ALTS.index(base)]).all()
        others = [a for a in range(4) if ALTS[a] != base]
        np.testing.assert_array_equal(array[i, others, 1], np.float32(-2.0 * (i + 1 + 0.7)))  # the larger |score| gene
    assert np.isnan(array).sum() == 4 * 2
    effect, track = position_effect(array)
    assert track == 1 and effect.shape == (4,)
    np.testing.assert_allclose(effect, [-2.0 * (i + 1 + 0.7) for i in range(4)], rtol=1e-6)
    top = strongest_effects(result, 3)
    assert len(top) == 3 and top["rank"].tolist() == [1, 2, 3]
    assert (top["pos"] == 104).all() and (top["track_index"] == 7).all() and (top["gene_name"] == "G2").all()
    assert top["score"].abs().is_monotonic_decreasing


# ------------------------------------------------------------------ the step and the CLI (tiny model)


@pytest.fixture(scope="module")
def ism_run(tmp_path_factory, genome):
    """``genotile ism`` on the demo genome: (output folder, captured stdout)."""
    out = tmp_path_factory.mktemp("ism_cli") / "out"
    args = ["ism", "--region", REGION, "--fasta", str(genome.path), "--out", str(out), "--window-bp", str(WINDOW),
            "--top-n", "5", "--batch-size", "4"]
    for spec in SCORERS:
        args += ["--scorer", spec]
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(args) == 0
    return out, printed.getvalue()


@pytest.mark.slow
def test_the_cli_writes_the_store_table_figure_and_done_file(ism_run, genome):
    import xarray as xr

    out, printed = ism_run
    assert "positions/s" in printed.splitlines()[-1]
    done = json.loads((out / "done.json").read_text())
    assert done["region"] == REGION and done["snvs"] == 18 and done["positions"] == 8 and done["failures"] == 0
    assert done["forward_passes"] == 19  # one REF pass shared by the 18 ALT passes
    assert sorted(done["files"]) == sorted(["ism.zarr", "strongest.parquet", "failures.parquet", "ism_logo.png"])
    assert (out / "ism_logo.png").read_bytes()[:4] == b"\x89PNG"
    for name in done["scorers"]:
        data = xr.open_zarr(out / "ism.zarr", group=scorer_slug(name))
        score = data["score"].values
        assert score.shape[:2] == (8, 4) and data["alt"].values.tolist() == list(ALTS)
        assert data["position"].values.tolist() == list(range(7995, 8003))
        assert data.attrs["region"] == REGION and data.attrs["model"] == "synthetic:tiny:seed=0"
        ref = "".join(data["ref"].values)
        assert ref == genome.sequence("demo3", 7994, 8002)
        for i, base in enumerate(ref):
            if base == "N":
                assert np.isnan(score[i]).all()  # not mutated
            else:
                assert np.isnan(score[i, ALTS.index(base)]).all() and np.isfinite(np.delete(score[i], ALTS.index(base), 0)).all()
    top = pd.read_parquet(out / "strongest.parquet")
    assert sorted(top["scorer"].unique()) == sorted(done["scorers"]) and (top.groupby("scorer").size() == 5).all()
    dnase = xr.open_zarr(out / "ism.zarr", group=scorer_slug(SCORER_DNASE))["score"].values
    assert np.isclose(top.loc[top["scorer"] == SCORER_DNASE, "score"].abs().max(), np.nanmax(np.abs(dnase)))


SCORER_DNASE = "CenterMask|DNASE|501|DIFF_LOG2_SUM"


@pytest.mark.slow
def test_the_ism_values_are_the_engines_scores_of_the_same_snvs_in_the_same_window(ism_run, genome):
    """A few SNVs scored on their own (another batch size) in the ISM's window give the ISM cells bit for bit."""
    import xarray as xr

    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.variants.predict import VariantModel

    out, _ = ism_run
    region = parse_ism_region(REGION, "--region", WINDOW, genome.contigs)
    window = ism_window(region, WINDOW, genome.length("demo3"))
    assert json.loads((out / "done.json").read_text())["window"] == f"demo3:{window[1] + 1}-{window[2]}"
    specs = parse_scorers([{"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_LOG2_SUM"},
                           {"scorer": "ContactMap", "output": "CONTACT_MAPS"}])
    model = VariantModel(Predictor(synthetic_model("tiny", 0), None, precision="float32"), {s.output for s in specs})
    some = snv_table(genome, region).iloc[[0, 4, 8, 17]]
    alone = score_variants(model, genome, some, specs, ScoringOptions(window_bp=WINDOW, batch_size=1), window=window)
    for spec in specs:
        name = scorer_name(spec)
        data = xr.open_zarr(out / "ism.zarr", group=scorer_slug(name))
        table = alone.scores[name]
        assert len(table) == 4 * data.sizes["track"]
        column = pd.Index(data["track_index"].values).get_indexer(table["track_index"])
        cells = data["score"].values[table["pos"].to_numpy() - 1 - region.start, [ALTS.index(a) for a in table["alt"]],
                                     column]
        np.testing.assert_array_equal(cells, table["score"].to_numpy(np.float32), err_msg=name)


def test_the_cli_stops_on_a_bad_region_before_loading_the_model(genome, tmp_path, capsys):
    for region, message in (("demo1:10-5", "is before start"), ("demo2:1-10", "demo2 is 12,000 bp, shorter than"),
                            ("demo1:1-20000", "at most 10,000 bp")):
        code = main(["ism", "--region", region, "--fasta", str(genome.path), "--out", str(tmp_path / "o"),
                     "--window-bp", str(WINDOW)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("genotile: error: --region: ") and message in err, err
    assert not (tmp_path / "o").exists()
