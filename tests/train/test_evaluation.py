"""The held-out evaluation's streaming Pearson accumulator (genotile.train.evaluation)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.train.evaluation import PearsonAccumulator, sample_channels


def _chunked(x, y, cuts, log1p=False):
    acc = PearsonAccumulator(x.shape[1], log1p=log1p)
    bounds = [0, *sorted(set(cuts)), len(x)]
    for a, b in zip(bounds, bounds[1:]):
        acc.update(x[a:b], y[a:b])
    return acc.result()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(3, 200), cuts=st.lists(st.integers(0, 200), max_size=8),
       log1p=st.booleans())
def test_accumulator_equals_corrcoef_of_the_concatenation_for_any_chunking(seed, rows, cuts, log1p):
    rng = np.random.default_rng(seed)
    x = rng.gamma(0.7, 50.0, (rows, 3)).astype(np.float32)
    y = (x * rng.uniform(0, 2, 3) + rng.normal(0, 20, (rows, 3))).astype(np.float32)
    result = _chunked(x, y, [c for c in cuts if c < rows], log1p)
    fx, fy = (np.log1p(np.maximum(v.astype(np.float64), 0)) if log1p else v.astype(np.float64) for v in (x, y))
    expected = [np.corrcoef(fx[:, i], fy[:, i])[0, 1] for i in range(3)]
    np.testing.assert_allclose(result.pearson, expected, rtol=0, atol=1e-12)
    assert result.n.tolist() == [rows] * 3 and result.reason == ("", "", "")


def test_constant_track_is_nan_with_a_reason_and_identical_tracks_are_exactly_one():
    x = np.stack([np.full(50, 3.0), np.arange(50.0)], axis=1)
    result = _chunked(x, np.stack([np.arange(50.0), np.arange(50.0)], axis=1), [7, 20])
    assert np.isnan(result.pearson[0]) and "constant" in result.reason[0]
    assert result.pearson[1] == 1.0 and result.reason[1] == ""


def test_sample_channels_is_deterministic_and_filtered():
    a = sample_channels(np.arange(300), 16, seed=3, keep=lambda c: c % 2 == 0)
    assert np.array_equal(a, sample_channels(np.arange(300), 16, seed=3, keep=lambda c: c % 2 == 0))
    assert len(a) == 16 and (a % 2 == 0).all() and np.all(np.diff(a) > 0)
