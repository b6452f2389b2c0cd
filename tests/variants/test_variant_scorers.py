"""Unit tests for genotile.variants.scorers (hand-computed / independent numpy values)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genotile.variants import scorers as sc
from genotile.variants.scorers import Aggregation as Agg

# ------------------------------------------------------------------ center_mask_bins


def test_center_mask_bins_basic_1bp() -> None:
    # variant at offset 10, width 5 -> w=5, c=10, [8, 13)
    assert sc.center_mask_bins(110, 100, 5, 1, 64) == (8, 13)
    # even width 4 -> [10-2, 10-2+4) = [8, 12)
    assert sc.center_mask_bins(110, 100, 4, 1, 64) == (8, 12)


def test_center_mask_bins_resolution_and_clipping() -> None:
    # res 128, width 501 -> w = ceil(501/128) = 4; offset 300 -> c = 2; [0, 4)
    assert sc.center_mask_bins(1300, 1000, 501, 128, 16) == (0, 4)
    # near the left edge: c=0 -> [max(-2,0), 2)
    assert sc.center_mask_bins(1000, 1000, 501, 128, 16) == (0, 2)
    # near the right edge: c = 15 -> [13, min(17, 16))
    assert sc.center_mask_bins(1000 + 15 * 128 + 5, 1000, 501, 128, 16) == (13, 16)


def test_center_mask_bins_none_and_outside() -> None:
    assert sc.center_mask_bins(150, 100, None, 1, 64) == (0, 64)
    assert sc.center_mask_bins(99, 100, None, 1, 64) == (0, 0)
    assert sc.center_mask_bins(164, 100, 5, 1, 64) == (0, 0)  # interval end is exclusive
    assert sc.center_mask_bins(163, 100, 5, 1, 64) == (61, 64)
    m = sc.center_mask(61, 64, 64)
    assert m.sum() == 3 and m[61:].all()


# ------------------------------------------------------------------ center_mask_score

REF = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0], [7.0, 1.0]], dtype=np.float32)
ALT = np.array([[1.0, 1.0], [5.0, 0.0], [2.0, 4.0], [9.0, 9.0]], dtype=np.float32)
# mask bins [1, 3): ref rows [3,2],[0,4] ; alt rows [5,0],[2,4]
HAND = {
    Agg.DIFF_MEAN: [(5 + 2) / 2 - (3 + 0) / 2, (0 + 4) / 2 - (2 + 4) / 2],  # [2, -1]
    Agg.DIFF_SUM: [7 - 3, 4 - 6],
    Agg.ACTIVE_MEAN: [3.5, 3.0],
    Agg.ACTIVE_SUM: [7.0, 6.0],
    Agg.L2_DIFF: [math.sqrt(4 + 4), math.sqrt(4 + 0)],
    Agg.L2_DIFF_LOG1P: [
        math.sqrt((math.log(6) - math.log(4)) ** 2 + (math.log(3) - math.log(1)) ** 2),
        math.sqrt((math.log(1) - math.log(3)) ** 2),
    ],
    Agg.DIFF_SUM_LOG2: [
        math.log2(6) + math.log2(3) - math.log2(4) - math.log2(1),
        math.log2(1) + math.log2(5) - math.log2(3) - math.log2(5),
    ],
    Agg.DIFF_LOG2_SUM: [math.log2(8) - math.log2(4), math.log2(5) - math.log2(7)],
}


@pytest.mark.parametrize("agg", list(Agg))
def test_center_mask_score_hand(agg: Agg) -> None:
    out = sc.center_mask_score(REF, ALT, 1, 3, agg)
    assert out.dtype == np.float32 and out.shape == (2,)
    np.testing.assert_allclose(out, HAND[agg], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("agg", list(Agg))
def test_center_mask_score_empty_mask(agg: Agg) -> None:
    out = sc.center_mask_score(REF, ALT, 0, 0, agg)
    if agg in (Agg.DIFF_MEAN, Agg.ACTIVE_MEAN):
        assert np.isnan(out).all()  # 0/0 like jnp.mean(where=all-False)
    else:
        np.testing.assert_array_equal(out, [0.0, 0.0])


def test_center_mask_score_nan_track_and_string_agg() -> None:
    ref = REF.copy()
    ref[:, 1] = np.nan
    out = sc.center_mask_score(ref, ALT, 0, 4, "ACTIVE_SUM")
    assert out[0] == 17.0 and np.isnan(out[1])  # max(ΣA=17, ΣR=11)


def test_center_mask_score_random_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    r, a = rng.random((50, 3), dtype=np.float32), rng.random((50, 3), dtype=np.float32)
    lo, hi = sc.center_mask_bins(1025, 1000, 11, 1, 50)
    assert (lo, hi) == (20, 31)
    np.testing.assert_allclose(
        sc.center_mask_score(r, a, lo, hi, Agg.DIFF_LOG2_SUM),
        np.log2(1 + a[20:31].sum(0)) - np.log2(1 + r[20:31].sum(0)),
        rtol=1e-5,
    )


# ------------------------------------------------------------------ contact map


def test_contact_map_score() -> None:
    rng = np.random.default_rng(1)
    r = rng.random((4, 4, 2), dtype=np.float32)
    a = rng.random((4, 4, 2), dtype=np.float32)
    # variant at 2048*2 + 7 from the window start -> bin 2
    out = sc.contact_map_score(r, a, 10_000 + 4096 + 7, 10_000)
    np.testing.assert_allclose(out, np.abs(a - r).mean(axis=0)[2], rtol=1e-6)
    assert out.shape == (2,) and out.dtype == np.float32
    # bin_bp parameter
    out2 = sc.contact_map_score(r, a, 10_000 + 3 * 16, 10_000, bin_bp=16)
    np.testing.assert_allclose(out2, np.abs(a - r).mean(axis=0)[3], rtol=1e-6)


def test_contact_map_outside_raises() -> None:
    r = np.zeros((4, 4, 1), dtype=np.float32)
    with pytest.raises(ValueError):
        sc.contact_map_score(r, r, 9_999, 10_000)
    with pytest.raises(ValueError):
        sc.contact_map_score(r, r, 10_000 + 4 * 2048, 10_000)


# ------------------------------------------------------------------ gene masks

GR = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 0.0], [0.0, 0.0]], dtype=np.float32)
GA = np.array([[1.0, 4.0], [1.0, 2.0], [5.0, 3.0], [9.0, 0.0]], dtype=np.float32)
GM = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)  # gene 2 empty


def test_gene_mask_lfc() -> None:
    out = sc.gene_mask_lfc(GR, GA, GM)
    assert out.shape == (3, 2) and out.dtype == np.float32
    # gene0: mean R = [2, 2], mean A = [1, 3]; gene1: mean R = [4, 1], mean A = [3, 2.5]
    exp = np.log(np.array([[1, 3], [3, 2.5]]) + 1e-3) - np.log(np.array([[2, 2], [4, 1]]) + 1e-3)
    np.testing.assert_allclose(out[:2], exp, rtol=1e-5)
    assert np.isnan(out[2]).all()


def test_gene_mask_active() -> None:
    out = sc.gene_mask_active(GR, GA, GM)
    np.testing.assert_allclose(out[:2], [[2, 3], [4, 2.5]], rtol=1e-6)
    assert np.isnan(out[2]).all()


def test_gene_mask_splicing() -> None:
    out = sc.gene_mask_splicing(GR, GA, GM)
    # |A-R| = [[0,2],[2,0],[0,3],[9,0]]
    np.testing.assert_array_equal(out, [[2, 2], [2, 3], [0, 0]])  # empty gene -> 0
    r = GR.copy()
    r[3, 1] = np.nan  # NaN outside gene 0's body still poisons the track (NaN*0)
    out = sc.gene_mask_splicing(r, GA, GM)
    assert np.isnan(out[:, 1]).all() and out[0, 0] == 2


def test_apply_strand_nan() -> None:
    s = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = sc.apply_strand_nan(s, ["+", "-"], ["+", "-", "."])
    exp = np.array([[0, np.nan, 2], [np.nan, 4, 5]], dtype=np.float32)
    np.testing.assert_array_equal(out, exp)


# ------------------------------------------------------------------ polyadenylation


def _pa_independent(ref: np.ndarray, alt: np.ndarray, windows: list[slice]) -> np.ndarray:
    """Straight-loop version of the spec formula for one gene with n contiguous PAS."""
    n = len(windows)
    ratio = []
    for w in windows:
        with np.errstate(divide="ignore", invalid="ignore"):
            x = alt[w].sum(0) / ref[w].sum(0)
        ratio.append(np.where(np.isfinite(x), x, 0.0))
    ratio = np.array(ratio)
    best = np.zeros(ref.shape[1])
    for k in range(n):
        prox, dist = ratio[: k + 1].sum(0), ratio[k + 1 :].sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.abs(np.log2((n - (k + 1)) / (k + 1) * prox / dist))
        best = np.maximum(best, np.where(np.isfinite(s), s, 0.0))
    return best


def test_polyadenylation_hand() -> None:
    # two PAS, windows [0,2) and [2,4); one track
    ref = np.array([[1.0], [1.0], [2.0], [2.0]], dtype=np.float32)
    alt = np.array([[2.0], [2.0], [2.0], [2.0]], dtype=np.float32)
    m = np.zeros((4, 2), dtype=bool)
    m[0:2, 0] = m[2:4, 1] = True
    # ratios [2, 1]; k=0: |log2(1/1 * 2/1)| = 1; k=1: 0*3/0 -> NaN -> 0
    np.testing.assert_allclose(sc.polyadenylation_score(ref, alt, m), [1.0])


def test_polyadenylation_random_and_padding() -> None:
    rng = np.random.default_rng(2)
    ref = rng.random((40, 3), dtype=np.float32)
    alt = rng.random((40, 3), dtype=np.float32)
    ref[:, 2] = 0.0  # ratio inf -> 0 everywhere -> score 0
    windows = [slice(0, 8), slice(8, 20), slice(25, 30), slice(30, 40)]
    m = np.zeros((40, 2, 6), dtype=bool)  # gene 1 and slots 4,5 are padding
    for i, w in enumerate(windows):
        m[w, 0, i] = True
    out = sc.polyadenylation_score(ref, alt, m)
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], _pa_independent(ref, alt, windows), rtol=1e-5)
    assert out[0, 2] == 0 and (out[1] == 0).all()


def test_pas_window_masks_strands_and_quirk() -> None:
    m = sc.pas_window_masks([1500, 1100], "+", 1000, 1000)
    # + strand: slot 0 = [500-399, 501) = [101, 501); slot 1 = [0, 101) clipped
    assert m[:, 0].sum() == 400 and m[101, 0] and m[500, 0] and not m[501, 0]
    assert m[:, 1].sum() == 101 and m[0, 1] and m[100, 1]
    m2 = sc.pas_window_masks([1500, 1100], "+", 1000, 1000, reference_order_quirk=False)
    np.testing.assert_array_equal(m2[:, ::-1], m)  # sorted order swaps the slots
    mm = sc.pas_window_masks([1900], "-", 1000, 1000)
    assert mm[900:, 0].all() and mm[:, 0].sum() == 100


# ------------------------------------------------------------------ junctions


def test_splice_junction_delta() -> None:
    r = np.array([1.0, 0.0, 2.0], dtype=np.float32)
    a = np.array([np.e, 0.0, 1.0], dtype=np.float32)
    d = sc.splice_junction_delta(r, a)
    assert d.dtype == np.float16
    exp = (np.log(a + np.float32(1e-7)) - np.log(r + np.float32(1e-7))).astype(np.float16)
    np.testing.assert_array_equal(d, exp)
    assert abs(float(d[0]) - 1.0) < 1e-3 and d[1] == 0
    assert abs(float(d[2]) + math.log(2)) < 1e-3


def test_unstack_junctions() -> None:
    t = 2
    pred = np.arange(3 * 3 * 2 * t, dtype=np.float32).reshape(3, 3, 2 * t)
    pos = np.array([[10, 50, -1], [30, 5, -1], [40, -1, -1], [20, 45, -1]])
    j = sc.unstack_junctions(pred, pos, interval_start=100)
    # + pairs (donor, acceptor): (10,30) ok, (10,5) dropped, (50,30) dropped, (50,5) dropped
    # - pairs (donor 40; acceptors 20, 45): start = acc+1, end = donor: (21,40) ok, (46,40) no
    np.testing.assert_array_equal(j.starts, [111, 121])
    np.testing.assert_array_equal(j.ends, [130, 140])
    np.testing.assert_array_equal(j.strands, ["+", "-"])
    np.testing.assert_array_equal(j.values[0], pred[0, 0, :t])
    np.testing.assert_array_equal(j.values[1], pred[0, 0, t:])
    # max_sites truncation keeps only the first site per class
    j1 = sc.unstack_junctions(pred, pos, interval_start=100, max_sites=1)
    np.testing.assert_array_equal(j1.starts, [111, 121])


def test_junction_max_per_gene() -> None:
    vals = np.array([[1.0, 0.5], [3.0, 0.1], [0.2, 0.9], [9.0, 9.0], [5.0, 5.0]], np.float32)
    starts = [110, 120, 130, 100, 150]
    ends = [200, 180, 190, 190, 170]
    strands = ["+", "+", "+", "+", "-"]
    # gene 0 (+, 100..300): junction 3 excluded (Start == gene Start); gene 1 (-): j4
    gi, ji, v = sc.junction_max_per_gene(
        vals, starts, ends, strands, [100, 140, 0], [300, 175, 50], ["+", "-", "+"]
    )
    np.testing.assert_array_equal(gi, [0, 0, 1])
    np.testing.assert_array_equal(ji, [1, 2, 4])
    np.testing.assert_array_equal(v, vals[[1, 2, 4]])
    gi, ji, v = sc.junction_max_per_gene(vals, starts, ends, strands, [0], [50], ["+"])
    assert gi.size == 0 and v.shape == (0, 2)


# ------------------------------------------------------------------ recommended


def test_recommended_set() -> None:
    names = [(s.scorer, s.output, s.width, s.aggregation) for s in sc.RECOMMENDED]
    assert ("CenterMask", "CHIP_HISTONE", 2001, "DIFF_LOG2_SUM") in names
    assert ("CenterMask", "ATAC", 501, "ACTIVE_SUM") in names
    assert sum(s.scorer == "CenterMask" for s in sc.RECOMMENDED) == 12
    assert {s.output for s in sc.RECOMMENDED if s.scorer == "GeneMaskSplicing"} == {
        "SPLICE_SITES", "SPLICE_SITE_USAGE"
    }
    assert len(sc.RECOMMENDED) == 19
    mouse = sc.recommended_scorers("mouse")
    assert len(mouse) == 18 and all(s.scorer != "Polyadenylation" for s in mouse)
    assert sc.resolution_for_output("chip_tf") == 128
    assert sc.resolution_for_output("CONTACT_MAPS") == 2048
    assert sc.resolution_for_output("RNA_SEQ") == 1
