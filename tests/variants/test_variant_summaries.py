"""Summaries: missing calls and call rates, figures readable from 6 to thousands of samples, folder outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genotile.settings import SummarizeSettings
from genotile.variants import summaries

SCORERS = [
    *(f"CenterMask|{o}|{w}|{a}" for o, w in (("ATAC", 501), ("DNASE", 501), ("CHIP_TF", 501), ("CHIP_HISTONE", 2001),
                                              ("CAGE", 501), ("PROCAP", 501)) for a in ("DIFF_LOG2_SUM", "ACTIVE_SUM")),
    "ContactMap|CONTACT_MAPS||", "GeneMaskLFC|RNA_SEQ||", "GeneMaskActive|RNA_SEQ||", "GeneMaskSplicing|SPLICE_SITES||",
    "GeneMaskSplicing|SPLICE_SITE_USAGE||", "SpliceJunction|SPLICE_JUNCTIONS||", "Polyadenylation|RNA_SEQ||",
]  # the recommended set: 19 scorers


def _cohort(n_samples: int, n_variants: int = 60, scorers: list[str] = SCORERS, seed: int = 0):
    """Synthetic effects per scorer, dosages and missing calls for ``n_samples`` samples."""
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"v{i}" for i in range(n_variants)])
    effects = {s: pd.DataFrame({"variant_id": ids, "effect": rng.lognormal(0.0, 1.0, n_variants)}) for s in scorers}
    dosage = rng.binomial(2, 0.2, (n_variants, n_samples)).astype(np.int8)
    missing = rng.random((n_variants, n_samples)) < 0.05
    return ids, dosage, missing, [f"HG{i:05d}" for i in range(n_samples)], effects


def test_missing_calls_add_no_dosage_and_are_not_non_carriers():
    """Item 14: ``./1`` (missing allele) is a missing call, not a carrier; ``./.`` is not a 0/0 non-carrier."""
    ids = pd.Series(["v1", "v2"])
    dosage = np.array([[1, 1, 0], [2, 0, 0]], np.int8)  # samples a, b, c
    missing = np.array([[False, True, False], [False, False, True]])  # b: ./1 at v1; c: ./. at v2
    effects = {"cm": pd.DataFrame({"variant_id": ["v1", "v2"], "effect": [5.0, 6.0]})}
    carried, per_sample = summaries.per_sample(ids, dosage, ["a", "b", "c"], effects, {"cm": 1.0}, missing=missing)
    assert carried.values.tolist() == [["a", "v1", 1], ["a", "v2", 2]]  # b's half call at v1 is not listed
    assert per_sample[["sample", "n_high_effect", "called_variants", "dosage_sum"]].values.tolist() == [["a", 2, 2, 3]]
    assert per_sample["call_rate"].tolist() == [1.0]

    by_sample, by_variant = summaries.call_rates(ids, dosage, missing, ["a", "b", "c"])
    assert by_sample[["called_variants", "missing_calls", "carried_variants", "alt_copies"]].values.tolist() == [
        [2, 0, 2, 3], [1, 1, 0, 0], [1, 1, 0, 0]]
    np.testing.assert_allclose(by_sample["call_rate"], [1.0, 0.5, 0.5])
    assert by_variant[["called_samples", "missing_samples", "carriers", "alt_copies"]].values.tolist() == [[2, 1, 1, 1], [2, 1, 1, 2]]
    np.testing.assert_allclose(by_variant["call_rate"], [2 / 3, 2 / 3])
    burden = summaries.sample_burden(ids, dosage, ["a", "b", "c"], effects, {"cm": 1.0}, missing=missing)
    assert burden["cm"].tolist() == [2, 0, 0]


def test_burden_counts_a_gene_scorer_variant_once():
    effects = {"lfc": pd.DataFrame({"variant_id": ["v1", "v1"], "gene_id": ["g1", "g2"], "effect": [5.0, 7.0]})}
    burden = summaries.sample_burden(pd.Series(["v1"]), np.array([[1]], np.int8), ["a"], effects, {"lfc": 1.0})
    assert burden.loc["a", "lfc"] == 1


def test_thirty_scorers_get_thirty_distinct_colours():
    colours = summaries.scorer_colours([f"s{i}" for i in range(30)])
    assert len(set(colours.values())) == 30


def _check_axes(fig, max_ticks: int = 50) -> None:
    for ax in fig.axes:
        assert ax.get_ylabel() and ax.get_xlabel(), ax.get_title()
        assert len(ax.get_xticklabels()) <= max_ticks, ax.get_title()


@pytest.mark.parametrize("n_samples", [6, 1000])
def test_burden_figure_stays_readable(n_samples):
    """Item 6: labelled bars for a few samples; ranked totals, top samples and per-scorer spread for many."""
    ids, dosage, missing, samples, effects = _cohort(n_samples)
    burden = summaries.sample_burden(ids, dosage, samples, effects, missing=missing)
    fig = summaries.sample_burden_figure(burden, summaries.scorer_colours(SCORERS))
    _check_axes(fig)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    scorer_legend = [lg for lg in legends if lg.get_title().get_text() == "scorer"]
    assert len(scorer_legend) == 1 and len(scorer_legend[0].get_texts()) == len(SCORERS)
    handles = scorer_legend[0].legend_handles
    assert len({tuple(h.get_facecolor()) for h in handles}) == len(SCORERS)  # no colour used twice
    width, height = fig.get_size_inches()
    assert 6 <= width <= 22 and 4 <= height <= 16
    bars = [ax for ax in fig.axes if ax.get_xticklabels() and ax.get_xticklabels()[0].get_text().startswith("HG")]
    assert len(bars) == 1 and len(bars[0].get_xticklabels()) == min(n_samples, summaries.TOP_SAMPLES)
    if n_samples > summaries.LABELLED_SAMPLES:
        assert len(fig.axes) == 3 and "ranked" in fig.axes[0].get_xlabel()


def test_effect_figure_labels_every_panel():
    ids, _, _, _, effects = _cohort(6, scorers=SCORERS)
    fig = summaries.effect_distributions_figure(effects)
    panels = fig.axes
    assert len(panels) == len(SCORERS)
    _check_axes(fig)
    assert all(ax.get_ylabel() == "variants" for ax in panels)


def _tables(n_variants: int) -> list[summaries.ScorerTable]:
    from genotile.variants.engine import SCORE_COLUMNS

    rows = [(f"v{i}", "c1", 10 + i, "A", "G", "CenterMask|DNASE|501|DIFF_MEAN", "", "", "", -1, -1, 0, "t0", "+", float(i))
            for i in range(n_variants)]
    table = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    return [summaries.ScorerTable("CenterMask|DNASE|501|DIFF_MEAN", "CenterMask", table, by_gene=False)]


@pytest.mark.parametrize("n_variants", [0, 3])
def test_summaries_of_an_empty_and_a_small_cohort(tmp_path, n_variants):
    """Item 13: an empty cohort gets every table (empty) and figures saying so; nothing crashes."""
    variants = pd.DataFrame({"variant_id": [f"v{i}" for i in range(n_variants)]})
    dosage = np.ones((n_variants, 2), np.int8)
    missing = np.zeros((n_variants, 2), bool)
    files = summaries.write_summaries(_tables(n_variants), variants, dosage, missing, ["a", "b"], tmp_path / "s")
    assert sorted(files) == sorted(p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*") if p.is_file())
    assert {"summary_samples.parquet", "sample_call_rates.parquet", "variant_call_rates.parquet",
            "figures/sample_burden.png", "figures/effect_distributions.png"} <= set(files)
    rates = pd.read_parquet(tmp_path / "s" / "sample_call_rates.parquet")
    assert rates["sample"].tolist() == ["a", "b"] and rates["called_variants"].tolist() == [n_variants] * 2
    top = pd.read_parquet(tmp_path / "s" / "summary_variants.parquet")
    assert len(top) == n_variants and "call_rate" in top


# ------------------------------------------------------------------ the summarize step: done-file in, done-file out
VCF = """##fileformat=VCFv4.2
##contig=<ID=c1,length=1000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb
"""


def _scores_folder(tmp_path: Path, n_variants: int) -> tuple[str, str, str]:
    """A cohort folder as merge_scores leaves it: variants, a VCF, scores/ and scores.done.json."""
    from genotile.variants import outputs

    cohort = tmp_path / "cohort"
    (cohort / "scores").mkdir(parents=True)
    records = [f"c1\t{10 + i}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t./." for i in range(n_variants)]
    (tmp_path / "cohort.vcf").write_text(VCF + "".join(r + "\n" for r in records))
    variants = pd.DataFrame({"variant_id": [f"v{i}" for i in range(n_variants)], "chrom": "c1",
                             "pos": np.arange(10, 10 + n_variants), "record_index": np.arange(n_variants), "allele_index": 1})
    variants.to_parquet(cohort / "variants.parquet")
    table = _tables(n_variants)[0].table
    # Recorded kind: a gene scorer whose slug would not say so (the file name is never parsed).
    name = "GeneMaskLFC|RNA_SEQ||"
    table.assign(scorer=name, gene_id="g1", gene_name="G1").to_parquet(cohort / "scores" / "renamed.parquet")
    record = {**outputs.scorer_record(name), "table": "scores/renamed.parquet"}
    (cohort / "scores.done.json").write_text(json.dumps({"variants": n_variants, "scorers": [record]}))
    table.to_parquet(cohort / "scores" / "CenterMask.DNASE.501.DIFF_MEAN.parquet")  # stale: not listed
    return str(tmp_path / "cohort.vcf"), str(cohort / "variants.parquet"), str(cohort)


@pytest.mark.parametrize("n_variants", [0, 4])
def test_summarize_reads_the_done_file_and_leaves_only_its_own_files(tmp_path, n_variants, capsys):
    """Item 11: only listed tables are summarised, kinds come from the record, stale summary files go."""
    from genotile.variants.steps import summarize_variants

    vcf, variants, cohort = _scores_folder(tmp_path, n_variants)
    out = Path(cohort) / "summaries"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "old_figure.png").write_bytes(b"")
    (out / "stale.parquet").write_bytes(b"")
    settings = SummarizeSettings(top_k=2, high_effect_quantile=0.5, high_effect_thresholds={}, region=None)
    summarize_variants(settings, vcf, variants, cohort, str(out), scores_done=f"{cohort}/scores.done.json", done=str(out / "done.json"))
    done = json.loads((out / "done.json").read_text())
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "done.json")
    assert sorted(done["files"]) == on_disk and "stale.parquet" not in on_disk and "figures/old_figure.png" not in on_disk
    assert done["scorers"] == ["GeneMaskLFC|RNA_SEQ||"]
    top = pd.read_parquet(out / "summary_variants.parquet")
    assert set(top["scorer"]) <= {"GeneMaskLFC|RNA_SEQ||"} and len(top) == n_variants
    genes = pd.read_parquet(out / "summary_genes.parquet")
    assert len(genes) == (1 if n_variants else 0)  # a gene scorer by its recorded kind
    rates = pd.read_parquet(out / "sample_call_rates.parquet")
    assert rates["missing_calls"].tolist() == [0, n_variants]  # sample b is ./. everywhere
    if not n_variants:
        assert "no variants to score" in capsys.readouterr().err


def test_summarize_refuses_a_done_file_without_a_listing(tmp_path):
    from genotile.variants.outputs import MergeError
    from genotile.variants.steps import summarize_variants

    vcf, variants, cohort = _scores_folder(tmp_path, 1)
    Path(cohort, "scores.done.json").write_text(json.dumps({"variants": 1, "rows_per_scorer": {}}))
    with pytest.raises(MergeError, match="re-run the merge_scores job"):
        summarize_variants(SummarizeSettings(5, 0.9, {}, None), vcf, variants, cohort, f"{cohort}/summaries")
