"""genotile.variants.device_intervals: blocked interval reductions equal the plain ones (max bit for bit)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.variants.device_intervals import BLOCK, interval_max_jax, interval_sum_jax

S = 4 * BLOCK


@functools.cache
def _jitted(kind: str, max_length: int | None = None):
    import jax

    if kind == "max":
        return jax.jit(interval_max_jax)
    return jax.jit(functools.partial(interval_sum_jax, max_length=max_length))


intervals_st = st.lists(st.tuples(st.integers(0, S), st.integers(0, S)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(intervals_st, st.integers(0, 2**31 - 1))
def test_interval_max_and_sum_equal_the_plain_reductions(pairs, seed):
    x = np.random.default_rng(seed).normal(size=(S, 3)).astype(np.float32)
    iv = np.asarray([(min(a, b), max(a, b)) for a, b in pairs], np.int32)
    got_max = np.asarray(_jitted("max")(x, iv))
    got_sum = np.asarray(_jitted("sum")(x, iv))
    got_count = np.asarray(_jitted("sum")((x > 0).astype(np.int32), iv))
    for k, (lo, hi) in enumerate(iv.tolist()):
        if hi > lo:
            np.testing.assert_array_equal(got_max[k], x[lo:hi].max(axis=0))
        else:
            assert np.all(got_max[k] == -np.inf)
        np.testing.assert_allclose(got_sum[k], x[lo:hi].sum(axis=0, dtype=np.float32), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got_count[k], (x[lo:hi] > 0).sum(axis=0))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, S - 1), st.integers(0, 400), st.integers(0, 2**31 - 1))
def test_short_interval_sums_gather_only_the_blocks_that_fit(lo, length, seed):
    x = np.random.default_rng(seed).normal(size=(S, 2)).astype(np.float32)
    hi = min(lo + length, S)
    got = np.asarray(_jitted("sum", 400)(x, np.asarray([[lo, hi]], np.int32)))[0]
    np.testing.assert_allclose(got, x[lo:hi].sum(axis=0, dtype=np.float32), rtol=1e-5, atol=1e-5)


def test_a_window_of_partial_blocks_is_refused():
    with pytest.raises(ValueError, match="whole 128-bp blocks"):
        interval_max_jax(np.zeros((BLOCK + 1, 1), np.float32), np.zeros((1, 2), np.int32))


def test_nan_inside_an_interval_is_its_maximum():
    x = np.zeros((S, 1), np.float32)
    x[200] = np.nan
    got = np.asarray(_jitted("max")(x, np.asarray([[150, 250], [300, 400]], np.int32)))
    assert np.isnan(got[0, 0]) and got[1, 0] == 0


@functools.cache
def _splicing(genes: int):
    import jax

    from genotile.variants.scorers.gene_mask_splicing import gene_mask_splicing_jax

    return jax.jit(functools.partial(gene_mask_splicing_jax, genes=genes))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.integers(0, S), st.integers(1, 200)), min_size=1, max_size=2), min_size=1, max_size=3),
    st.sampled_from([None, "nan", "inf"]), st.integers(0, S - 1), st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_gene_mask_splicing_on_intervals_equals_the_host_on_masks(genes, poison, at, seed):
    """Bit for bit, the reference's NaN * 0 and inf * 0 included (an infinite |A - R| outside a body is NaN)."""
    from genotile.variants.scorers.gene_mask_splicing import gene_mask_splicing

    rng = np.random.default_rng(seed)
    ref, alt = rng.normal(size=(2, S, 3)).astype(np.float32)
    if poison:
        alt[at, 1] = np.nan if poison == "nan" else np.inf
    masks = np.zeros((S, len(genes)), bool)
    intervals, owners = [], []
    for g, spans in enumerate(genes):
        for lo, length in spans:
            masks[lo : lo + length, g] = True
        edges = np.flatnonzero(np.diff(np.concatenate([[0], masks[:, g].astype(np.int8), [0]])))  # disjoint runs
        intervals += edges.reshape(-1, 2).tolist()
        owners += [g] * (len(edges) // 2)
    intervals += [[0, 0]] * 3  # padding
    owners += [0] * 3
    want = gene_mask_splicing(ref, alt, masks)
    got = np.asarray(_splicing(len(genes) + 1)(ref, alt, np.asarray(intervals, np.int32), np.asarray(owners, np.int32)))
    np.testing.assert_array_equal(got[: len(genes)], want)  # values exact, NaN where the host has NaN (any sign)


@functools.cache
def _polyadenylation():
    import jax

    from genotile.variants.scorers.polyadenylation import polyadenylation_score_jax

    return jax.jit(polyadenylation_score_jax)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.integers(-300, S + 300), st.sampled_from("+-")), min_size=0, max_size=5), min_size=1, max_size=3),
    st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_polyadenylation_on_intervals_equals_the_host_on_masks(genes, seed):
    """PAS windows clipped at the window edges, empty slots, padded genes and slots; sums agree to float32 rounding."""
    from genotile.variants.scorers.polyadenylation import MAX_PAS, pas_window_intervals, pas_window_masks, polyadenylation_score

    rng = np.random.default_rng(seed)
    ref, alt = rng.gamma(2.0, size=(2, S, 3)).astype(np.float32)
    masks = np.zeros((S, len(genes), MAX_PAS), bool)
    intervals = np.zeros((len(genes) + 1, 8, 2), np.int32)  # one padded gene, padded slots
    for g, sites in enumerate(genes):
        strand = sites[0][1] if sites else "+"
        starts = [p for p, _ in sites]
        masks[:, g, : len(starts)] = pas_window_masks(starts, strand, 0, S)
        intervals[g, : len(starts)] = pas_window_intervals(starts, strand, 0, S)
    want = polyadenylation_score(ref, alt, masks)
    got = np.asarray(_polyadenylation()(ref, alt, intervals))
    np.testing.assert_allclose(got[: len(genes)], want, rtol=2e-5, atol=2e-5)
    assert np.all(got[len(genes)] == 0)
