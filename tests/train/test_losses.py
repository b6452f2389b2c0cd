"""Unit tests of the reference's losses (genotile.train.losses) on tiny arrays with values worked out by hand.

The golden comparison against the official code is tests/train/test_losses_golden.py (slow); here each
function's maths, masking and padding handling is pinned on cases small enough to compute on paper.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.train import losses as L

LN2, LN3, LN5 = math.log(2), math.log(3), math.log(5)


def a(x, dtype=np.float32):
    return jnp.asarray(np.asarray(x, dtype))


def test_safe_masked_mean_ignores_masked_entries_and_is_zero_when_all_masked():
    x = a([1.0, 2.0, 3.0, 4.0])
    assert float(L.safe_masked_mean(x, a([1, 0, 1, 0], bool))) == 2.0
    assert float(L.safe_masked_mean(x, a([0, 0, 0, 0], bool))) == 0.0
    assert float(L.safe_masked_mean(x)) == 2.5
    # a NaN on a masked entry does not leak (the reference's x * mask would give NaN)
    assert float(L.safe_masked_mean(a([1.0, np.nan]), a([1, 0], bool))) == 1.0


def test_poisson_hand_values():
    # y=2, p=1: (1 - 2 ln 1) - (2 - 2 ln 2) = 2 ln 2 - 1
    assert float(L.poisson(a([2.0]), a([1.0]), a([True], bool))) == pytest.approx(2 * LN2 - 1, rel=1e-5)
    assert float(L.poisson(a([3.0]), a([3.0]), a([True], bool))) == pytest.approx(0.0, abs=1e-5)
    # |y| is used, as in the reference
    assert float(L.poisson(a([-2.0]), a([1.0]), a([True], bool))) == pytest.approx(2 * LN2 - 1, rel=1e-5)


def test_multinomial_poisson_hand_values():
    # one track, 4 bins, 2 segments of 2: targets [1,0 | 2,1], predictions all 1
    t = a([[[1.0], [0.0], [2.0], [1.0]]])
    p = a([[[1.0], [1.0], [1.0], [1.0]]])
    out = L.multinomial_poisson(t, p, a([[[True]]], bool), segment_bins=2)
    seg1 = (2 - LN2) - 1  # totals: true 1, predicted 2
    seg2 = (2 - 3 * LN2) - (3 - 3 * LN3)  # true 3, predicted 2
    expected_total = (seg1 + seg2) / 2 / 2  # mean over 2 segments, / 2 bins per segment
    expected_positional = 4 * LN2 / 4  # share 1/2 everywhere: sum t ln 2 over 4 bins
    assert float(out["loss_total"]) == pytest.approx(expected_total, rel=1e-5)
    assert float(out["loss_positional"]) == pytest.approx(expected_positional, rel=1e-5)
    assert float(out["loss"]) == pytest.approx(expected_total + 5 * expected_positional, rel=1e-5)


def test_multinomial_poisson_padding_track_changes_nothing_even_with_nan():
    t = a([[[1.0], [0.0], [2.0], [1.0]]])
    p = a([[[1.0], [2.0], [1.0], [3.0]]])
    alone = L.multinomial_poisson(t, p, a([[[True]]], bool), segment_bins=2)
    t2 = jnp.concatenate([t, jnp.full_like(t, np.nan)], axis=-1)
    p2 = jnp.concatenate([p, jnp.full_like(p, 7.0)], axis=-1)
    padded = L.multinomial_poisson(t2, p2, a([[[True, False]]], bool), segment_bins=2)
    for key in ("loss", "loss_total", "loss_positional"):
        assert float(padded[key]) == pytest.approx(float(alone[key]), rel=1e-6)


def test_multinomial_negative_targets_count_as_zero():
    p = a([[[1.0], [2.0]]])
    neg = L.multinomial_poisson(a([[[-3.0], [1.0]]]), p, a([[[True]]], bool), segment_bins=2)
    zero = L.multinomial_poisson(a([[[0.0], [1.0]]]), p, a([[[True]]], bool), segment_bins=2)
    assert float(neg["loss"]) == pytest.approx(float(zero["loss"]), rel=1e-6)


def test_length_not_a_whole_segment_is_refused_with_the_fix():
    x = jnp.ones((1, 6, 1))
    with pytest.raises(L.LossInputError, match="multiple of 131,072 bp"):
        L.multinomial_poisson(x, x, jnp.ones((1, 1, 1), bool), segment_bins=4)


def test_scale_targets_mean_resolution_power_and_soft_clip():
    means = a([[2.0, 2.0]])
    t = a([[[4096.0, 256.0 * 4]]])  # / (2 x 128) -> 16 and 4
    rna = L.scale_targets(t, means, 128, squashed=True)
    np.testing.assert_allclose(np.asarray(rna), [[[8.0, 4.0**0.75]]], rtol=1e-6)  # 16^0.75 = 8, below the clip
    plain = L.scale_targets(t, means, 128, squashed=False)
    np.testing.assert_allclose(np.asarray(plain), [[[2 * math.sqrt(160) - 10, 4.0]]], rtol=1e-6)


def test_sum_pool():
    x = a(np.arange(8).reshape(1, 8, 1))
    np.testing.assert_array_equal(np.asarray(L.sum_pool(x, 4))[0, :, 0], [6.0, 22.0])


def test_genome_tracks_loss_pools_targets_and_sums_resolutions():
    rng = np.random.default_rng(0)
    t1 = a(rng.exponential(1.0, (1, 8, 2)))
    p1, p4 = a(rng.exponential(1.0, (1, 8, 2))), a(rng.exponential(1.0, (1, 2, 2)))
    mask, means = a([[[True, True]]], bool), a([[1.0, 1.0]])
    out = L.genome_tracks_loss({1: p1, 4: p4}, {1: t1, 4: L.sum_pool(t1, 4)}, mask, means, squashed=False, segment_bp=8)
    one = L.multinomial_poisson(t1, p1, mask, 8)["loss"]
    four = L.multinomial_poisson(L.scale_targets(L.sum_pool(t1, 4), means, 4, False), p4, mask, 2)["loss"]
    assert float(out["loss"]) == pytest.approx(float(one + four), rel=1e-6)
    assert set(out) >= {"loss_1bp", "loss_total_4bp", "loss_positional_4bp"}


def test_contact_maps_masks_nan_targets_and_padding_tracks():
    pred = a([[[[1.0, 5.0], [2.0, 5.0]]]])  # [1, 1, 2, 2]
    target = a([[[[3.0, 0.0], [np.nan, 0.0]]]])
    out = L.contact_maps_loss(pred, target, a([[[[True, False]]]], bool))
    assert float(out["loss"]) == pytest.approx(4.0)  # only (1 - 3)^2 counts


def test_splice_classification_smoothed_cross_entropy_and_unlabelled_positions():
    logits = jnp.zeros((1, 2, 5))
    labels = a([[[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]], bool)  # second position has no class: masked
    # uniform softmax: -sum(smoothed) ln(1/5) = ln 5 (the smoothed labels sum to 1)
    assert float(L.splice_sites_classification_loss(logits, labels)["loss"]) == pytest.approx(LN5, rel=1e-6)
    logits = a([[[2.0, 0, 0, 0, 0], [9.0, 9, 9, 9, 9]]])
    log_p = 2.0 - math.log(math.exp(2) + 4)
    log_q = -math.log(math.exp(2) + 4)
    expected = -((1 - 1e-7 + 1e-7 / 5) * log_p + 4 * (1e-7 / 5) * log_q)
    assert float(L.splice_sites_classification_loss(logits, labels)["loss"]) == pytest.approx(expected, rel=1e-6)


def test_splice_usage_bce_with_clipped_targets_and_track_mask():
    logits = a([[[2.0, 0.0, 100.0]]])
    targets = a([[[0.0, 0.5, 0.0]]])
    out = L.splice_sites_usage_loss(logits, targets, a([[[True, True, False]]], bool))
    first = 2.0 - 2.0 * 1e-7 + math.log1p(math.exp(-2.0))  # target 0 clipped to 1e-7
    assert float(out["loss"]) == pytest.approx((first + LN2) / 2, rel=1e-6)


def test_splice_junctions_hand_values():
    targets = jnp.ones((1, 2, 2, 1))
    mask = jnp.ones((1, 2, 2, 1), bool)
    # equal shares (1/2) on both axes: CE = ln 2 per row, twice; totals 2 = 2, Poisson 0
    out = L.splice_junctions_loss(targets, mask, targets)
    assert float(out["loss"]) == pytest.approx(2 * LN2, rel=1e-5)
    # totals above 10 are soft-clipped: target rows sum to 40 -> 2 sqrt(400) - 10 = 30 = predicted rows
    out = L.splice_junctions_loss(jnp.full((1, 2, 2, 1), 15.0), mask, jnp.full((1, 2, 2, 1), 20.0))
    assert float(out["loss"]) == pytest.approx(2 * LN2, rel=1e-5)
    # a masked donor slot: only one donor row is left; along donors each column has one entry (CE 0)
    mask = a([[[[True], [True]], [[False], [False]]]], bool)
    preds = a([[[[1.0], [3.0]], [[0.0], [0.0]]]])
    out = L.splice_junctions_loss(preds, mask, a([[[[1.0], [1.0]], [[np.nan], [np.nan]]]]))
    # acceptor-axis CE of the donor row: p_true (1/2, 1/2), p_pred (1/4, 3/4); totals: donor 2 vs 4,
    # acceptors 1 vs 1 and 1 vs 3
    ce = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    donor_total = (4 - 2 * math.log(4)) - (2 - 2 * math.log(2))
    acceptor_total = ((1 - 0) - 1 + (3 - math.log(3)) - 1) / 2
    assert float(out["loss"]) == pytest.approx(ce + 0.2 * (donor_total + acceptor_total), rel=1e-5)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.0, 50.0), min_size=4, max_size=4),
    st.lists(st.floats(0.01, 50.0), min_size=4, max_size=4),
    st.floats(0.1, 10.0),
)
def test_positional_term_invariant_to_scale_and_poisson_minimal_at_targets(targets, preds, scale):
    t = a(np.reshape(targets, (1, 4, 1)))
    p = a(np.reshape(preds, (1, 4, 1)))
    m = jnp.ones((1, 1, 1), bool)
    base = L.multinomial_poisson(t, p, m, segment_bins=4)
    scaled = L.multinomial_poisson(t, p * scale, m, segment_bins=4)
    assert float(scaled["loss_positional"]) == pytest.approx(float(base["loss_positional"]), rel=1e-4, abs=1e-4)
    at_optimum = float(L.poisson(t.sum(), t.sum(), jnp.ones((), bool)))
    assert at_optimum == pytest.approx(0.0, abs=1e-3)
    assert float(L.poisson(t.sum(), p.sum(), jnp.ones((), bool))) >= at_optimum - 1e-3


# --- with genotile's own (tiny) model: the prediction dict's keys are what the losses read ---------------


@pytest.fixture(scope="module")
def tiny():
    from genotile.model.alphagenome import AlphaGenome
    from genotile.model.checkpoints import synthetic_model
    from genotile.model.config import F32 as POLICY

    model = synthetic_model("tiny", 3)
    module = AlphaGenome(model.config, POLICY)
    means = {h: np.full((2, model.config.tracks(h)), 0.5, np.float32) for h in L.GENOME_TRACK_HEADS}
    return model, module, means


def _tiny_batch(cfg, length: int, k: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    batch = {"organism_index": np.array([0], np.int32)}
    for head, resolutions in L.GENOME_TRACK_HEADS.items():
        r = min(resolutions)
        batch[head] = rng.exponential(1.0, (1, length // r, cfg.tracks(head))).astype(np.float32)
    batch["contact_maps"] = rng.normal(size=(1, length // 2048, length // 2048, 28)).astype(np.float32)
    batch["splice_sites"] = np.eye(5, dtype=bool)[rng.integers(0, 5, (1, length))]
    batch["splice_site_usage"] = rng.random((1, length, 734)).astype(np.float32)
    batch["splice_junctions"] = rng.exponential(1.0, (1, k, k, 734)).astype(np.float32)
    return batch


@pytest.mark.slow
def test_total_loss_on_tiny_model_predictions_is_finite_and_differentiable(tiny):
    """The losses read genotile's prediction dict as it is, and give finite gradients w.r.t. every head output."""
    model, module, means = tiny
    cfg, length = model.config, 4096
    dna = np.eye(4, dtype=np.float32)[np.random.default_rng(2).integers(0, 4, (1, length))]
    batch = _tiny_batch(cfg, length, cfg.num_splice_sites)
    masks = {h: np.ones((2, cfg.tracks(h)), bool) for h in ("contact_maps", "splice_sites_usage", *L.GENOME_TRACK_HEADS)}
    masks["rna_seq"][0, :10] = False
    preds = jax.jit(module.apply)(model.variables, jnp.asarray(dna), jnp.asarray(batch["organism_index"]), means)

    floats = jax.tree.map(lambda x: x if jnp.issubdtype(x.dtype, jnp.floating) else None, preds)

    def objective(p):
        merged = jax.tree.map(lambda f, x: x if f is None else f, p, preds, is_leaf=lambda x: x is None)
        return L.total_loss(merged, batch, track_means=means, track_masks=masks, segment_bp=length)

    (total, terms), grads = jax.jit(jax.value_and_grad(objective, has_aux=True))(floats)
    assert set(terms) == set(L.MODEL_HEADS)
    expected = sum(L.LOSS_WEIGHTS[h] * float(terms[h]["loss"]) for h in terms)
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(float(total))
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads) if jnp.issubdtype(g.dtype, jnp.floating))
    rna = np.asarray(grads["rna_seq"]["scaled_predictions_1bp"])
    assert np.abs(rna[..., 10:]).sum() > 0 and not rna[0, :, :10].any()  # masked tracks get no gradient


def test_head_loss_names_what_is_missing():
    preds = {"scaled_predictions_1bp": jnp.ones((1, 128, 2)), "scaled_predictions_128bp": jnp.ones((1, 1, 2))}
    with pytest.raises(L.LossInputError, match="'atac'"):
        L.head_loss("atac", preds, {"organism_index": np.zeros(1, np.int32)})
    with pytest.raises(L.LossInputError, match="track_masks"):
        L.head_loss("atac", preds, {"organism_index": np.zeros(1, np.int32), "atac": np.ones((1, 128, 2))})
    with pytest.raises(L.LossInputError, match="multiple of 128"):
        L.sum_pool(jnp.ones((1, 100, 2)), 128)


def test_distillation_targets_in_model_space_give_zero_poisson_at_the_teacher():
    rng = np.random.default_rng(4)
    teacher = {r: a(rng.exponential(1.0, (1, 256 // r, 3))) for r in (1, 128)}
    batch = {"organism_index": np.zeros(1, np.int32), "atac": teacher[1], "atac_128bp": teacher[128],
             "atac_mask": np.ones((1, 1, 3), bool)}  # fmt: skip
    preds = {f"scaled_predictions_{r}bp": teacher[r] for r in (1, 128)}
    out = L.head_loss("atac", preds, batch, targets_in_model_space=True, segment_bp=256)
    assert float(out["loss_total_1bp"]) == pytest.approx(0.0, abs=1e-5)
    assert float(out["loss_total_128bp"]) == pytest.approx(0.0, abs=1e-5)
