"""Augmentation inside the jit: shift and reverse complement move the targets with the sequence."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from genotile.model.predictor import reverse_complement_output
from genotile.train.augment import AugmentError, AugmentSettings, TargetSpec, augment, check_batch, draw

WINDOW, MARGIN, ROWS = 2048, 64, 6
SWAP = ((1, 0, 2), (1, 0, 2))  # channels 0 and 1 are a strand pair, 2 is unstranded


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    dna = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (ROWS, WINDOW + 2 * MARGIN))]
    # per position: "A on +" , "A on -" (= T on +), "G or C" (the same on both strands)
    motif = np.stack([dna[..., 0], dna[..., 3], dna[..., 1] + dna[..., 2]], axis=-1)
    return {
        "dna": dna,
        "organism": np.array([0, 1] * (ROWS // 2), np.int32),
        "targets": {"motif": motif, "dnase": rng.random((ROWS, WINDOW + 2 * MARGIN, 2)).astype(np.float32)},
        "masks": {"motif": np.array([[[True, False, True]]] * ROWS)},
        "extra": np.arange(ROWS),
    }


SPECS = {"motif": TargetSpec("rna_seq", reindexing=SWAP), "dnase": TargetSpec("dnase")}


@pytest.fixture(scope="module")
def augmented():
    settings = AugmentSettings(max_shift=MARGIN)
    batch = _batch()
    key = jax.random.key(3)
    out = jax.jit(lambda b, k: augment(b, k, settings, SPECS))(batch, key)
    offsets, reverse = draw(key, ROWS, settings)
    return batch, jax.device_get(out), np.asarray(offsets), np.asarray(reverse)


def test_targets_follow_the_sequence(augmented):
    """The motif targets are a function of the sequence: after any shift and strand they still are."""
    _, out, offsets, reverse = augmented
    dna = out["dna"]
    assert dna.shape == (ROWS, WINDOW, 4)
    expected = np.stack([dna[..., 0], dna[..., 3], dna[..., 1] + dna[..., 2]], axis=-1)
    np.testing.assert_array_equal(out["targets"]["motif"], expected)
    assert reverse.any() and not reverse.all(), "the seed should draw both strands"
    assert len(set(offsets.tolist())) > 1 and offsets.min() >= 0 and offsets.max() <= 2 * MARGIN


def test_reverse_complement_is_the_inference_map(augmented):
    """DNase targets: crop, then exactly the predictor's map (reverse, one-base shift) on reversed rows."""
    batch, out, offsets, reverse = augmented
    for b in range(ROWS):
        cropped = batch["targets"]["dnase"][b : b + 1, offsets[b] : offsets[b] + WINDOW]
        want = reverse_complement_output("dnase", "predictions_1bp", cropped.copy(), None, WINDOW) if reverse[b] else cropped
        np.testing.assert_array_equal(out["targets"]["dnase"][b : b + 1], want)


def test_masks_swap_with_strands_and_other_keys_pass(augmented):
    _, out, _, reverse = augmented
    for b in range(ROWS):
        want = [False, True, True] if reverse[b] else [True, False, True]
        assert out["masks"]["motif"][b, 0].tolist() == want
    np.testing.assert_array_equal(out["extra"], np.arange(ROWS))


def test_off_is_the_identity():
    batch = _batch()
    out = augment(batch, jax.random.key(0), AugmentSettings(max_shift=0, reverse_complement=False), {})
    assert out is batch


def test_bad_batches_stop_with_the_fix():
    batch = _batch()
    with pytest.raises(AugmentError, match="not a positive multiple of 2,048"):
        check_batch(batch, AugmentSettings(max_shift=MARGIN + 1), SPECS)
    with pytest.raises(AugmentError, match="has no TargetSpec"):
        check_batch(batch, AugmentSettings(max_shift=MARGIN), {"dnase": SPECS["dnase"]})
    pair = {**batch, "targets": {"maps": np.zeros((ROWS, 1, 1, 2), np.float32)}}
    with pytest.raises(AugmentError, match="max_shift: 0"):
        check_batch(pair, AugmentSettings(max_shift=MARGIN), {"maps": TargetSpec("contact_maps", "predictions")})
    coarse = {**batch, "targets": {"dnase": np.zeros((ROWS, (WINDOW + 2 * MARGIN) // 128, 2), np.float32)}}
    with pytest.raises(AugmentError, match="1-bp targets"):
        check_batch(coarse, AugmentSettings(max_shift=MARGIN), SPECS)


def test_contact_maps_flip_on_both_axes():
    maps = np.arange(2 * 2 * 2 * 1, dtype=np.float32).reshape(2, 2, 2, 1)
    batch = {"dna": np.eye(4, dtype=np.float32)[np.zeros((2, 4096), int)], "organism": np.zeros(2, np.int32),
             "targets": {"maps": maps}, "masks": {}}
    settings = AugmentSettings(max_shift=0)
    spec = {"maps": TargetSpec("contact_maps", "predictions")}
    run = jax.jit(lambda b, k: augment(b, k, settings, spec))
    for seed in range(4):
        key = jax.random.key(seed)
        out = run(batch, key)
        _, reverse = draw(key, 2, settings)
        for b in range(2):
            want = maps[b, ::-1, ::-1] if reverse[b] else maps[b]
            np.testing.assert_array_equal(np.asarray(out["targets"]["maps"][b]), want)
