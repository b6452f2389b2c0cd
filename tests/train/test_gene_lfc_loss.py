"""The optional cross-track gene-level term of the genome-track loss (``genotile.train.losses.gene_cross_track_loss``).

Golden: ``tests/golden/reference_gene_lfc.npz`` holds the official code's values on small seeded inputs
(``tests/golden/losses_README.md``, section "Gene-level loss"): ``small/`` is the reference's
``GenomeTracksHead._compute_cross_track_loss`` called directly, ``head/`` its whole RNA-seq head loss
at 2^17 bp with the term on (weight 0.7) and off. The rest pins the hand case of the reference's own
test, weight 0 = today's loss, NaN padding and the error messages.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genotile.train import losses as L

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "reference_gene_lfc.npz"
RTOL = 1e-5


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as z:
        return {k: z[k] for k in z.files}


def _strands(g, part):
    return np.stack([g[f"{part}/strand_h"], g[f"{part}/strand_m"]])


def _head_inputs(g):
    predictions = {"scaled_predictions_1bp": g["head/scaled_predictions_1bp"], "scaled_predictions_128bp": g["head/scaled_predictions_128bp"]}
    batch = {
        "organism_index": g["head/organism_index"],
        "rna_seq": g["head/rna_seq"],
        "rna_seq_mask": g["head/rna_seq_mask"],
        "gene_mask": g["head/gene_mask"],
    }
    kwargs = {"track_means": {"rna_seq": g["head/nonzero_mean"]}, "track_strands": {"rna_seq": _strands(g, "head")}}
    return predictions, batch, kwargs


def test_cross_track_loss_matches_the_reference_function(golden):
    g = golden
    strand = jnp.asarray(L.strand_channel_mask(_strands(g, "small")))[g["small/organism_index"]]
    out = L.gene_cross_track_loss(
        g["small/scaled_targets"], g["small/scaled_predictions"], g["small/targets_mask"], g["small/gene_mask"],
        strand, float(g["small/gene_cross_track_weight"]),
    )  # fmt: skip
    for key in ("loss", "gene_loss_total_count", "gene_loss_positional"):
        assert out[key].dtype == jnp.float32
        np.testing.assert_allclose(float(out[key]), g[f"small/{key}"], rtol=RTOL, err_msg=key)


def test_rna_seq_head_loss_with_the_gene_term_matches_the_reference(golden):
    predictions, batch, kwargs = _head_inputs(golden)
    weight = float(golden["head/gene_loss_weight"])
    out = L.head_loss("rna_seq", predictions, batch, gene_loss_weights={"rna_seq": weight}, **kwargs)
    assert {"gene_loss_total_count_1bp", "gene_loss_positional_1bp"} <= set(out)
    for key, value in out.items():
        np.testing.assert_allclose(float(value), golden[f"head/on/{key}"], rtol=RTOL, err_msg=key)


def test_weight_zero_is_exactly_todays_loss_and_the_reference_off_values(golden):
    predictions, batch, kwargs = _head_inputs(golden)
    without = {k: v for k, v in batch.items() if k != "gene_mask"}
    today = L.head_loss("rna_seq", predictions, without, track_means=kwargs["track_means"])
    for weights in (None, {"rna_seq": 0.0}, {"cage": 1.0}):
        out = L.head_loss("rna_seq", predictions, batch, gene_loss_weights=weights, **kwargs)
        assert set(out) == set(today)
        for key in today:
            assert float(out[key]) == float(today[key]), key  # bit for bit
    direct = L.genome_tracks_loss(
        {1: predictions["scaled_predictions_1bp"]}, {1: batch["rna_seq"]}, batch["rna_seq_mask"],
        jnp.asarray(golden["head/nonzero_mean"], jnp.float32)[batch["organism_index"]], squashed=True,
        gene_mask=batch["gene_mask"], strand_mask=None, gene_loss_weight=0.0,
    )  # fmt: skip
    assert float(direct["loss_1bp"]) == float(today["loss_1bp"])
    for key in today:
        np.testing.assert_allclose(float(today[key]), golden[f"head/off/{key}"], rtol=RTOL, err_msg=key)


def _poisson(y, p):
    return (p - y * math.log(p + 1e-7)) - (y - y * math.log(y + 1e-7))


def test_strand_filtering_hand_case():
    """The reference's own strand test: tracks (+, -, .), predictions 1, targets (1, 2, 3), one gene per strand."""
    s, c = 200, 3
    preds = jnp.ones((1, s, c), jnp.float32)
    targets = jnp.broadcast_to(jnp.asarray([1.0, 2.0, 3.0], jnp.float32), (1, s, c))
    genes = np.zeros((1, s, 2, 2), bool)
    genes[:, 10:20, 0, 0] = True
    genes[:, 100:110, 1, 1] = True
    strand = jnp.asarray(L.strand_channel_mask(np.array([["+", "-", "."]])))[jnp.zeros(1, int)]
    out = L.gene_cross_track_loss(targets, preds, jnp.ones((1, 1, c), bool), genes, strand)
    # gene 0 reads tracks + and . (pred 2, target 4), gene 1 tracks - and . (pred 2, target 5); 2 tracks each
    total = (_poisson(4.0, 2.0) + _poisson(5.0, 2.0)) / 2 / 2
    assert float(out["gene_loss_total_count"]) == pytest.approx(total, rel=1e-5)
    # each counted (gene, track) has share 1/2: mean of -y log(1/2 + 1e-7) over y = 1, 3, 2, 3
    positional = -(1 + 3 + 2 + 3) / 4 * math.log(0.5 + 1e-7)
    assert float(out["gene_loss_positional"]) == pytest.approx(positional, rel=1e-5)
    assert float(out["loss"]) == pytest.approx(total + 5 * positional, rel=1e-5)


def test_masked_nan_track_and_empty_genes_do_not_leak():
    rng = np.random.default_rng(0)
    preds = rng.uniform(0.1, 2.0, (1, 64, 3)).astype(np.float32)
    targets = rng.uniform(0.0, 2.0, (1, 64, 3)).astype(np.float32)
    genes = np.zeros((1, 64, 2, 3), bool)
    genes[0, 5:30, 0, 0] = True  # gene 2 is empty on both strands
    genes[0, 20:60, 1, 1] = True
    strand = jnp.asarray(L.strand_channel_mask(np.array([[".", ".", "+"]])))[jnp.zeros(1, int)]
    mask = np.array([[[True, True, False]]])
    clean = L.gene_cross_track_loss(targets, preds, mask, genes, strand)
    targets[..., 2] = np.nan
    preds[..., 2] = np.nan
    dirty = L.gene_cross_track_loss(targets, preds, mask, genes, strand)
    for key in clean:
        assert np.isfinite(float(dirty[key])) and float(dirty[key]) == pytest.approx(float(clean[key]), rel=1e-6)


def test_gene_term_is_differentiable_under_jit():
    rng = np.random.default_rng(1)
    targets = jnp.asarray(rng.uniform(0.0, 2.0, (2, 32, 4)), jnp.float32)
    genes = jnp.asarray(rng.random((2, 32, 2, 2)) < 0.3)
    strand = jnp.asarray(L.strand_channel_mask(np.array([["+", "-", ".", "."], ["-", "+", ".", "+"]])))[jnp.asarray([0, 1])]

    def f(p):
        return L.gene_cross_track_loss(targets, p, None, genes, strand)["loss"]

    grad = jax.jit(jax.grad(f))(jnp.asarray(rng.uniform(0.1, 2.0, (2, 32, 4)), jnp.float32))
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).sum()) > 0


def test_errors_name_what_is_missing(golden):
    predictions, batch, kwargs = _head_inputs(golden)
    without = {k: v for k, v in batch.items() if k != "gene_mask"}
    with pytest.raises(L.LossInputError, match="gene_mask"):
        L.head_loss("rna_seq", predictions, without, gene_loss_weights={"rna_seq": 1.0}, **kwargs)
    with pytest.raises(L.LossInputError, match="track_strands"):
        L.head_loss("rna_seq", predictions, batch, gene_loss_weights={"rna_seq": 1.0}, track_means=kwargs["track_means"])
    with pytest.raises(L.LossInputError, match="'\\+', '-' or '.'"):
        L.strand_channel_mask(np.array([["+", "x"]]))
    with pytest.raises(L.LossInputError, match="gene_mask must be"):
        L.gene_cross_track_loss(np.ones((1, 8, 2)), np.ones((1, 8, 2)), None, np.ones((1, 8, 2), bool), np.ones((1, 2, 1, 2), bool))
