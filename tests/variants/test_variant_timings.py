"""A scoring run says where its time went: forward, reductions and other add up to the whole, none negative."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from genotile.model.checkpoints import synthetic_model
from genotile.model.predictor import Predictor
from genotile.sequence.demo import write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants
from genotile.variants.outputs import write_shard
from genotile.variants.predict import VariantModel
from genotile.variants.timings import ScoreTimings

WINDOW = 8_192


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    genome = Genome(write_demo_genome(tmp_path_factory.mktemp("timings") / "demo.fa"))
    specs = parse_scorers([{"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_LOG2_SUM"},
                           {"scorer": "ContactMap", "output": "CONTACT_MAPS"}])
    model = VariantModel(Predictor(synthetic_model("tiny", 0), None, precision="float32"), {s.output for s in specs})
    flip = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows = []
    for pos0 in (3_000, 3_500, 9_000):
        ref = genome.sequence("demo1", pos0, pos0 + 1).upper()
        rows.append({"variant_id": f"v{pos0}", "chrom": "demo1", "pos": pos0 + 1, "ref": ref, "alt": flip[ref]})
    return genome, specs, model, pd.DataFrame(rows)


@pytest.mark.parametrize("mode", ["centered", "tiled"])
def test_time_shares_are_non_negative_and_sum_to_one(setup, mode, tmp_path):
    genome, specs, model, variants = setup
    result = score_variants(model, genome, variants, specs, ScoringOptions(mode, WINDOW, batch_size=2))
    t = result.timings
    assert result.failures.empty
    assert t.total_s > 0 and t.forward_s > 0
    assert t.reductions_s == 0  # both scorers reduce on the device, inside the forward passes
    assert 0 <= t.forward_device_s <= t.forward_s
    assert t.forward_s + t.reductions_s <= t.total_s + 1e-6  # disjoint parts of the run
    shares = t.shares()
    assert set(shares) == {"forward", "reductions", "other"}
    assert all(v >= 0 for v in shares.values()) and math.isclose(sum(shares.values()), 1.0, abs_tol=1e-9)
    assert t.reductions_by_scorer == {}  # only host scorers are timed per scorer
    assert math.isclose(sum(t.reductions_by_scorer.values()), t.reductions_s, rel_tol=1e-9)
    assert t.peak_rss_gib > 0.05  # the tiny model alone is more than that
    line = t.summary(len(variants))
    assert line.startswith("3 variants in ") and "forward " in line and "reductions " in line and "peak RSS " in line
    stats = json.loads((write_shard(result, tmp_path / "shard") / "stats.json").read_text())  # the shard's record
    assert stats["forward_seconds"] == t.forward_s and math.isclose(
        stats["forward_share"] + stats["reductions_share"] + stats["other_share"], 1.0, abs_tol=1e-9)


def test_empty_run_has_zero_shares():
    assert ScoreTimings().shares() == {"forward": 0.0, "reductions": 0.0, "other": 0.0}
    assert ScoreTimings(total_s=1.0, forward_s=0.7, reductions_s=0.4).other_s == 0.0  # rounding never goes negative
