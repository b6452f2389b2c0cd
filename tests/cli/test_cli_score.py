"""`genotile score` and `genotile demo-cohort`: outputs, and bad input exiting 2 with one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genotile.cli.main import main, parse_scorer_option
from genotile.sequence.demo import write_demo_genome


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    fasta = write_demo_genome(folder / "demo.fa")
    assert main(["demo-cohort", "--fasta", str(fasta), "--vcf", str(folder / "demo.vcf"),
                 "--gtf", str(folder / "demo.gtf"), "--pas", str(folder / "pas.tsv")]) == 0
    return folder


@pytest.mark.slow
def test_score_a_vcf_end_to_end(cohort, capsys):
    out = cohort / "scored"
    code = main(["score", "--vcf", str(cohort / "demo.vcf"), "--fasta", str(cohort / "demo.fa"), "--out", str(out),
                 "--gtf", str(cohort / "demo.gtf"), "--window-bp", "16384", "--mode", "tiled", "--include-values",
                 "--scorer", "CenterMask:DNASE:501:DIFF_MEAN", "--scorer", "GeneMaskLFC:RNA_SEQ"])
    assert code == 0
    text = capsys.readouterr().out
    assert "CenterMask.DNASE.501.DIFF_MEAN" in text and "scored 32 variants" in text
    variants = pd.read_parquet(out / "variants.parquet")
    rejects = pd.read_parquet(out / "rejects.parquet")
    assert sorted(rejects["reason"].unique()) == ["contig_not_in_fasta", "ref_mismatch", "symbolic_allele"]
    dnase = pd.read_parquet(out / "scores" / "CenterMask.DNASE.501.DIFF_MEAN.parquet")
    assert len(dnase) == len(variants) * 384 and {"ref_value", "alt_value"} <= set(dnase.columns)
    np.testing.assert_allclose(dnase["score"], dnase["alt_value"] - dnase["ref_value"], rtol=1e-4, atol=1e-5)
    assert (out / "scores.zarr").is_dir() and pd.read_parquet(out / "failures.parquet").empty


def test_scorer_option_parsing():
    assert parse_scorer_option("recommended") == "recommended"
    assert parse_scorer_option("CenterMask:ATAC:all:DIFF_SUM") == {"scorer": "CenterMask", "output": "ATAC", "width": None,
                                                                   "aggregation": "DIFF_SUM"}
    with pytest.raises(ValueError, match="width"):
        parse_scorer_option("CenterMask:ATAC:wide:DIFF_SUM")


@pytest.mark.parametrize("extra, message", [
    (["--scorer", "GeneMaskLFC:RNA_SEQ"], "annotation"),
    (["--scorer", "Nope:DNASE"], "unknown scorer"),
    (["--scorer", "CenterMask"], "KIND:OUTPUT"),
    (["--gtf", "/nonexistent.gtf", "--scorer", "GeneMaskLFC:RNA_SEQ"], "does not exist"),
], ids=["gene-scorer-without-gtf", "unknown-scorer", "malformed-scorer", "missing-gtf"])
def test_score_bad_input_exits_2(cohort, tmp_path, capsys, extra, message):
    code = main(["score", "--vcf", str(cohort / "demo.vcf"), "--fasta", str(cohort / "demo.fa"),
                 "--out", str(tmp_path / "o"), "--window-bp", "16384", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_score_variants_table_must_be_normalised(cohort, tmp_path, capsys):
    bad = tmp_path / "v.parquet"
    pd.DataFrame({"chrom": ["demo1"], "pos": [5]}).to_parquet(bad)
    code = main(["score", "--variants", str(bad), "--fasta", str(cohort / "demo.fa"), "--out", str(tmp_path / "o")])
    assert code == 2 and "genotile vcf normalize" in capsys.readouterr().err


def test_demo_cohort_needs_its_inputs(capsys):
    assert main(["demo-cohort", "--vcf", "x.vcf"]) == 2
    assert "--fasta" in capsys.readouterr().err
