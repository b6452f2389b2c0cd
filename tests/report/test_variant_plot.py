"""The report's REF vs ALT plot (genotile.report.variant_plot): which variant, the engine's passes, one PNG per cohort."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from genotile.report.track_plot import Region
from genotile.report.variant_plot import Hit, RefAlt, plot_ref_alt, plot_variant, predict_ref_alt, strongest_variant

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VARIANTS = pd.DataFrame({"variant_id": ["v1", "v2", "v3"], "chrom": ["demo1"] * 3, "pos": [100, 5_000, 9_000],
                         "ref": ["A", "C", "G"], "alt": ["T", "G", "GA"]})


def _summary(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({"variant_id": [r[0] for r in rows], "scorer": [r[1] for r in rows],
                         "track_name": "track_0", "score": [r[2] for r in rows]})


def test_the_strongest_variant_is_the_largest_centre_mask_score_on_a_track_output():
    summary = _summary([
        ("v1", "CenterMask|DNASE|501|DIFF_LOG2_SUM", 0.5),
        ("v2", "CenterMask|RNA_SEQ|501|DIFF_LOG2_SUM", -2.0),  # largest |score|
        ("v3", "GeneMaskLFC|RNA_SEQ||", 9.0),  # not a centre mask
        ("v3", "CenterMask|CONTACT_MAPS|||", 7.0),  # not a 1-D track
        ("v3", "CenterMask|DNASE|501|ACTIVE_SUM", 8.0),  # activity, not an effect
        ("v1", "CenterMask|DNASE|501|DIFF_LOG2_SUM", float("nan")),
    ])
    hit = strongest_variant(summary, VARIANTS)
    assert (hit.variant.variant_id, hit.output, hit.score) == ("v2", "RNA_SEQ", -2.0)
    assert strongest_variant(summary[summary["scorer"].str.startswith("Gene")], VARIANTS) is None
    assert strongest_variant(summary.iloc[:0], VARIANTS) is None


def test_the_plot_has_ref_and_alt_per_track_their_difference_and_the_gene_lane():
    variant = next(VARIANTS.itertuples(index=False))
    hit = Hit(variant, "CenterMask|DNASE|501|DIFF_LOG2_SUM", "DNASE", "b", 1.5)
    ref = np.zeros((64, 4), np.float32)
    pair = RefAlt(Region("demo1", 0, 64, "v1"), ref, ref + 1, ["a", "b", "c", "d"], 1)
    fig = plot_ref_alt(pair, hit)
    top, diff, genes = fig.axes
    assert len(top.get_legend().get_texts()) == 6  # three tracks (the hit's first), REF and ALT each
    assert top.get_legend().get_texts()[0].get_text() == "b REF"
    assert np.allclose(diff.lines[0].get_ydata(), 1.0)
    assert genes.get_xlim() == (0, 64)


def test_a_cohort_without_centre_mask_scores_still_gets_a_figure(tmp_path):
    variants, summary, out = tmp_path / "variants.parquet", tmp_path / "summary.parquet", tmp_path / "ref_alt.png"
    VARIANTS.to_parquet(variants)
    _summary([]).to_parquet(summary)
    assert plot_variant({}, "unused.fa", str(variants), str(summary), str(out), 16_384) is None
    assert out.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.slow
def test_the_passes_are_the_scoring_engines(tmp_path):
    """REF/ALT of the plot are VariantModel's passes of the variant's centred window (tiny model, demo genome)."""
    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.sequence.demo import write_demo_annotation, write_demo_genome
    from genotile.sequence.fasta import Genome

    fasta = write_demo_genome(tmp_path / "demo.fa")
    gtf, _ = write_demo_annotation(tmp_path / "demo.gtf", tmp_path / "pas.tsv")
    genome = Genome(fasta)
    ref = genome.sequence("demo1", 7_999, 8_000)
    variant = SimpleNamespace(variant_id="demo1:8000", chrom="demo1", pos=8_000, ref=ref, alt="T" if ref != "T" else "A")
    predictor = Predictor(synthetic_model("tiny", 0), None, precision="float32")
    hit = Hit(variant, "CenterMask|DNASE|501|DIFF_LOG2_SUM", "DNASE", "track_0", 1.0)
    pair = predict_ref_alt(predictor, genome, hit, 16_384)
    assert pair.region.end - pair.region.start == 16_384 and pair.region.start <= 7_999 < pair.region.end
    assert pair.ref.shape == pair.alt.shape and pair.ref.shape[0] == 16_384
    assert not np.array_equal(pair.ref, pair.alt)  # the SNV changes the prediction
    variants, summary, out = tmp_path / "variants.parquet", tmp_path / "summary.parquet", tmp_path / "ref_alt.png"
    pd.DataFrame([vars(variant)]).to_parquet(variants)
    _summary([("demo1:8000", hit.scorer, 1.0)]).to_parquet(summary)
    found = plot_variant({}, str(fasta), str(variants), str(summary), str(out), 16_384, gtf=str(gtf), predictor=predictor)
    assert found is not None and found.variant.variant_id == "demo1:8000"
    assert out.read_bytes().startswith(PNG_MAGIC)
