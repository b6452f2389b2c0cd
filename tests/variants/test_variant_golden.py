"""Variant scores against golden scores of the official implementation (full-size seeded model, float32).

``tests/golden/reference_variant_scores.parquet`` holds the official ``score_variant`` output for an
SNV, an insertion and a deletion in NOC2L (hg38 chr1) on every recommended scorer plus extra
centre-mask settings, on the same seeded full-size weights as the model parity test
(``tests/golden/variant_scores_README.md`` says how it was made). genotile scores the same variants
in ``centered`` mode and must produce the same rows (same genes, junctions, tracks, NaN pattern) and
the same values to float32 reduction-order rounding.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import MEMORY_HEAVY

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "reference_variant_scores.parquet"
PAS = ROOT / "tests" / "golden" / "variant_scoring_pas.tsv"
REAL = ROOT.parent / "shared" / "realdata" / "hg38_chr1_1Mb"
FASTA = REAL / "hg38_1m.fa.gz"
GTF = REAL / "gencode_v29_chr1_first1.5Mb.gtf.gz"
METADATA = ROOT.parent / "shared" / "alphagenome" / "metadata"
SYNTHETIC_SHA256 = "6d7b2bd4b1440447c85ccb5db3a4046ae125eedcd4de0bff3dc81ed5191b306f"
KEYS = ["variant_id", "scorer", "gene_id", "junction_start", "junction_end", "track_index"]

pytestmark = [
    pytest.mark.slow,
    MEMORY_HEAVY,  # one worker, one at a time (tests/conftest.py)
    pytest.mark.skipif(not (FASTA.exists() and GTF.exists() and METADATA.is_dir()), reason="../shared data not present"),
]


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.read_parquet(GOLDEN)


@pytest.fixture(scope="module")
def ours(golden) -> pd.DataFrame:
    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.sequence.fasta import Genome
    from genotile.variants.annotation import read_gtf, read_pas_table
    from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants
    from genotile.variants.predict import VariantModel

    assert hashlib.sha256((ROOT / "src/genotile/model/synthetic.py").read_bytes()).hexdigest() == SYNTHETIC_SHA256
    variants = golden[["variant_id", "chrom", "pos", "ref", "alt"]].drop_duplicates().reset_index(drop=True)
    entries = []
    for name in golden["scorer"].unique():
        kind, output, width, aggregation = name.split("|")
        entry = {"scorer": kind, "output": output}
        if kind == "CenterMask":
            entry.update(width=int(width) if width else None, aggregation=aggregation)
        entries.append(entry)
    specs = parse_scorers(entries)
    genome = Genome(FASTA)
    predictor = Predictor(synthetic_model("full", 2026), METADATA, precision="float32")
    model = VariantModel(predictor, {s.output for s in specs}, "human")
    from genotile.variants.device_pass import device_passes

    # every scorer kind reduces on the device (issue 15), so this golden test checks the device reductions
    assert set(device_passes(model, specs, 16_384).device_specs) == set(specs)
    result = score_variants(model, genome, variants, specs, ScoringOptions("centered", 16_384, batch_size=2),
                            read_gtf(GTF, contigs=["chr1"]), read_pas_table(PAS))
    assert result.failures.empty, result.failures.to_string()
    return pd.concat(result.scores.values(), ignore_index=True)


def test_windows_are_the_reference_intervals(golden):
    from genotile.variants.sequences import variant_window

    for row in golden.drop_duplicates("variant_id").itertuples():
        assert variant_window(row.chrom, row.pos, row.ref, row.alt, 16_384) == (row.interval_start, row.interval_end)


def test_same_rows_as_the_reference(golden, ours):
    for scorer, expected in golden.groupby("scorer"):
        got = ours[ours["scorer"] == scorer]
        assert len(got) == len(expected), scorer
        assert set(map(tuple, got[KEYS].astype(str).values)) == set(map(tuple, expected[KEYS].astype(str).values)), scorer


def test_scores_equal_the_reference(golden, ours):
    merged = golden.merge(ours, on=KEYS, suffixes=("_ref", "_ours"), validate="one_to_one")
    assert len(merged) == len(golden)
    worst = []
    for scorer, rows in merged.groupby("scorer"):
        ref = rows["score_ref"].to_numpy(np.float64)
        got = rows["score_ours"].to_numpy(np.float64)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{scorer}: NaN pattern")
        ok = ~np.isnan(ref)
        scale = max(float(np.abs(ref[ok]).max(initial=0.0)), 1e-6)
        err = float(np.abs(got[ok] - ref[ok]).max(initial=0.0)) / scale
        worst.append((err, scorer))
        # f32 model outputs agree to ~3e-6 relative (test_parity_reference); scores add reduction-order
        # rounding, and the junction deltas are float16 as in the reference.
        # Two scores are differences of nearly equal float32 sums and so carry reduction-order rounding
        # of the sums themselves: the whole-window DIFF_MEAN (two means over 16,384 positions) and the
        # polyadenylation log-ratio of PAS coverage (largest score ~0.01). Measured: 6.8e-4 and 4.2e-4.
        loose = ("SpliceJunction", "SPLICE_SITE_USAGE", "CenterMask|ATAC||DIFF_MEAN", "Polyadenylation")
        limit = 2e-3 if any(k in scorer for k in loose) else 1e-4
        worst[-1] = (err, scorer, limit)
    print("\n".join(f"{e:.2e} {s} {limit}" for e, s, limit in sorted(worst)))
    bad = [(s, e) for e, s, limit in worst if e > limit]
    assert not bad, bad


def test_gene_labels_match(golden, ours):
    merged = golden.merge(ours, on=KEYS, suffixes=("_ref", "_ours"))
    genes = merged[merged["gene_id"] != ""]
    assert (genes["gene_name_ref"] == genes["gene_name_ours"]).all()
    assert (genes["gene_strand_ref"] == genes["gene_strand_ours"]).all()
