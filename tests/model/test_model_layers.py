"""Unit tests of the model building blocks against the AlphaGenome spec.

Every expected value is re-derived here in numpy from the formulas of
``shared/reference/alphagenome-spec.md`` (§2 building blocks, §3
architecture, §4 heads, §8 numerics), not by re-running the code under test.
Block tests use small shapes and take seconds. The whole-model tests (marked
``slow``; ``-m "not slow"`` skips them) use the ``tiny`` config with synthetic
weights and share one compilation per (precision, length, request); they
include an independent numpy forward pass of the whole model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from genotile.model import config, layout, synthetic, tower
from genotile.model.alphagenome import OutputRequest
from genotile.model.heads import unscale_predictions
from genotile.model.layers import (
    LayerNorm,
    MultiOrganismLinear,
    RMSBatchNorm,
    StandardizedConv1D,
    avg_pool,
    gelu_sigmoid,
    gelu_tanh,
    max_pool2,
    standardize_kernel,
)
from genotile.model.splicing import splice_site_positions
from genotile.model.tower import apply_rope, central_mask_features, relative_shift

BF16_NP = ml_dtypes.bfloat16


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _bf16(x) -> np.ndarray:
    """Round to bfloat16 (round-to-nearest-even) and come back as float32."""
    return np.asarray(x, np.float32).astype(BF16_NP).astype(np.float32)


def _set_variables(module: nn.Module, *args, params=None, state=None) -> dict:
    """Init ``module`` to get the tree, then overwrite leaves by name (shape-checked)."""
    variables = jax.tree.map(np.asarray, module.init(jax.random.PRNGKey(0), *args))

    def put(tree, values):
        for name, value in values.items():
            assert name in tree, f"{name} not in {list(tree)}"
            value = np.asarray(value, np.float32)
            assert tree[name].shape == value.shape, (name, tree[name].shape, value.shape)
            tree[name] = value

    if params:
        put(variables["params"], params)
    if state:
        put(variables["state"], state)
    return variables


# ---------------------------------------------------------------------------
# §2: the two GELUs
# ---------------------------------------------------------------------------


def test_gelu_sigmoid_matches_spec():
    x = np.linspace(-8, 8, 1001, dtype=np.float32)
    expected = x.astype(np.float64) / (1.0 + np.exp(-1.702 * x.astype(np.float64)))
    got = np.asarray(gelu_sigmoid(jnp.asarray(x)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


def test_gelu_sigmoid_keeps_bf16():
    x = jnp.asarray(np.linspace(-4, 4, 65), jnp.bfloat16)
    y = gelu_sigmoid(x)
    assert y.dtype == jnp.bfloat16
    xf = np.asarray(x, np.float64)
    np.testing.assert_allclose(np.asarray(y, np.float64), xf / (1 + np.exp(-1.702 * xf)), atol=0.03, rtol=0.02)


def test_gelu_tanh_matches_spec():
    x = np.linspace(-8, 8, 1001, dtype=np.float32).astype(np.float64)
    expected = 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    got = np.asarray(gelu_tanh(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)
    # the two GELUs are different functions (spec §11 item 3)
    assert np.max(np.abs(np.asarray(gelu_sigmoid(jnp.asarray(x, jnp.float32))) - got)) > 1e-3


# ---------------------------------------------------------------------------
# §2: RMSBatchNorm and LayerNorm
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 7, 6), (1, 3, 3, 5)])
def test_rms_batch_norm_uses_stored_variance(shape):
    rng = _rng(1)
    c = shape[-1]
    x = rng.normal(size=shape).astype(np.float32) * 3 + 1
    stat_shape = (1,) * (len(shape) - 1) + (c,)
    scale = rng.uniform(0.5, 2, stat_shape).astype(np.float32)
    offset = rng.normal(size=stat_shape).astype(np.float32)
    var = rng.uniform(0.1, 4, stat_shape).astype(np.float32)
    mod = RMSBatchNorm()
    variables = _set_variables(mod, jnp.asarray(x), params={"scale": scale, "offset": offset}, state={"var_ema": var})
    # parameter / state layout of spec §2 and §5
    assert set(variables) == {"params", "state"}
    assert set(variables["state"]) == {"var_ema"}
    got = np.asarray(mod.apply(variables, jnp.asarray(x)))
    expected = x.astype(np.float64) * (scale / np.sqrt(var.astype(np.float64) + 1e-5)) + offset
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # no statistic of the input: the map is affine in x with fixed coefficients
    got2 = np.asarray(mod.apply(variables, jnp.asarray(10 * x)))
    np.testing.assert_allclose(got2 - offset, 10 * (got - offset), rtol=1e-4, atol=1e-4)


def test_rms_batch_norm_init_values():
    x = jnp.ones((1, 4, 3))
    v = RMSBatchNorm().init(jax.random.PRNGKey(0), x)
    np.testing.assert_array_equal(np.asarray(v["state"]["var_ema"]), np.ones((1, 1, 3)))
    np.testing.assert_array_equal(np.asarray(v["params"]["scale"]), np.ones((1, 1, 3)))
    np.testing.assert_array_equal(np.asarray(v["params"]["offset"]), np.zeros((1, 1, 3)))


@pytest.mark.parametrize("rms", [False, True])
def test_layer_norm(rms):
    rng = _rng(2)
    x = (rng.normal(size=(2, 5, 3, 16)) * 2 + 0.7).astype(np.float32)
    scale = rng.uniform(0.5, 2, 16).astype(np.float32)
    offset = rng.normal(size=16).astype(np.float32)
    mod = LayerNorm(rms=rms)
    variables = _set_variables(mod, jnp.asarray(x), params={"scale": scale, "offset": offset})
    got = np.asarray(mod.apply(variables, jnp.asarray(x)))
    xd = x.astype(np.float64)
    if not rms:
        xd = xd - xd.mean(-1, keepdims=True)
    var = np.mean(xd**2, -1, keepdims=True)
    expected = xd * scale / np.sqrt(var + 1e-5) + offset
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# §2: weight standardisation and the standardised conv
# ---------------------------------------------------------------------------


def _np_standardize(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    w = w.astype(np.float64)
    width, c_in, _ = w.shape
    wc = w - w.mean(axis=(0, 1), keepdims=True)
    v = np.mean(wc**2, axis=(0, 1), keepdims=True)  # population variance
    return wc * scale / np.sqrt(np.maximum(width * c_in * v, 1e-4))


def _np_conv_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """1-D conv, stride 1, SAME: width k pads (k-1)//2 left and k//2 right."""
    k = w.shape[0]
    left, right = (k - 1) // 2, k // 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (left, right), (0, 0)))
    s = x.shape[1]
    return sum(np.einsum("bsi,io->bso", xp[:, j : j + s], w[j]) for j in range(k))


def test_standardize_kernel_matches_spec():
    rng = _rng(3)
    w = rng.normal(0.3, 0.7, (5, 6, 4)).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, (1, 1, 4)).astype(np.float32)
    got = np.asarray(standardize_kernel(jnp.asarray(w), jnp.asarray(scale)))
    np.testing.assert_allclose(got, _np_standardize(w, scale), rtol=1e-5, atol=1e-6)
    # per output channel: zero mean and fan_in * var == scale^2
    np.testing.assert_allclose(got.mean(axis=(0, 1)), 0, atol=1e-6)
    np.testing.assert_allclose(30 * got.var(axis=(0, 1)), scale.ravel() ** 2, rtol=1e-4)


def test_standardize_kernel_floor():
    rng = _rng(4)
    # fan_in * var ~ 30 * 1e-8 << 1e-4: the floor is active
    w = (rng.normal(size=(5, 6, 3)) * 1e-4).astype(np.float32)
    scale = np.ones((1, 1, 3), np.float32)
    got = np.asarray(standardize_kernel(jnp.asarray(w), jnp.asarray(scale)))
    np.testing.assert_allclose(got, _np_standardize(w, scale), rtol=1e-4, atol=1e-9)
    zero = np.asarray(standardize_kernel(jnp.zeros((5, 6, 3)), jnp.asarray(scale)))
    assert np.all(np.isfinite(zero)) and np.all(zero == 0)


def test_standardized_conv1d_same_padding():
    rng = _rng(5)
    x = rng.normal(size=(2, 11, 6)).astype(np.float32)
    w = rng.normal(size=(5, 6, 4)).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, (1, 1, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    mod = StandardizedConv1D(4, 5)
    variables = _set_variables(mod, jnp.asarray(x), params={"w": w, "scale": scale, "bias": bias})
    got = np.asarray(mod.apply(variables, jnp.asarray(x)))
    expected = _np_conv_same(x, _np_standardize(w, scale)) + bias
    assert got.shape == (2, 11, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_standardized_conv1d_zero_init_is_finite():
    x = jnp.asarray(_rng(6).normal(size=(1, 9, 3)), jnp.float32)
    mod = StandardizedConv1D(5, 5)
    variables = mod.init(jax.random.PRNGKey(0), x)
    p = variables["params"]
    assert p["w"].shape == (5, 3, 5) and p["scale"].shape == (1, 1, 5) and p["bias"].shape == (5,)
    np.testing.assert_array_equal(np.asarray(p["w"]), 0)  # spec: init zeros
    y = np.asarray(mod.apply(variables, x))
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y, 0)


# ---------------------------------------------------------------------------
# §2, §8: RoPE
# ---------------------------------------------------------------------------


def _np_rope(x: np.ndarray, positions: np.ndarray, max_position: int) -> np.ndarray:
    x = x.astype(np.float64)
    f = x.shape[-1] // 2
    inv_freq = 1.0 / (np.arange(f) + np.geomspace(1, max_position - f + 1, f))  # WITH endpoint
    theta = positions.astype(np.float64)[:, :, None, None] * inv_freq  # [B, S, 1, F]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * np.cos(theta) - x1 * np.sin(theta)
    out[..., 1::2] = x1 * np.cos(theta) + x0 * np.sin(theta)
    return out


def test_rope_interleaved_small_positions():
    rng = _rng(7)
    x = rng.normal(size=(2, 9, 3, 16)).astype(np.float32)
    pos = np.stack([np.arange(9), rng.integers(0, 40, 9)]).astype(np.int32)
    got = np.asarray(apply_rope(jnp.asarray(x), jnp.asarray(pos), 64))
    np.testing.assert_allclose(got, _np_rope(x, pos, 64), atol=2e-5, rtol=1e-5)
    # the rotation preserves the norm of every (2i, 2i+1) pair
    pair_norm = lambda a: a[..., 0::2] ** 2 + a[..., 1::2] ** 2
    np.testing.assert_allclose(pair_norm(got), pair_norm(x), rtol=1e-4, atol=1e-5)


def test_rope_large_positions_float32():
    rng = _rng(8)
    x = rng.normal(size=(1, 64, 2, 128)).astype(np.float32)
    pos = np.sort(rng.integers(0, 8192, (1, 64))).astype(np.int32)
    got = np.asarray(apply_rope(jnp.asarray(x), jnp.asarray(pos), 8192))
    # theta reaches ~8000 rad; float32 rounding of theta allows ~1e-3 error
    np.testing.assert_allclose(got, _np_rope(x, pos, 8192), atol=5e-3)


def test_rope_endpoint_matters():
    """Sanity check of the test itself: geomspace without endpoint would be detected."""
    x = _rng(9).normal(size=(1, 4, 1, 8)).astype(np.float32)
    pos = np.array([[0, 5, 50, 500]])
    f = 4
    wrong = 1.0 / (np.arange(f) + np.geomspace(1, 1024 - f + 1, f, endpoint=False))
    right = 1.0 / (np.arange(f) + np.geomspace(1, 1024 - f + 1, f))
    assert not np.allclose(wrong, right)
    got = np.asarray(apply_rope(jnp.asarray(x), jnp.asarray(pos), 1024))
    np.testing.assert_allclose(got, _np_rope(x, pos, 1024), atol=1e-4)


def test_bf16_positions_have_897_distinct_values():
    """Spec §8: positions 0..8191 in bf16 take exactly 897 distinct values."""
    p = np.arange(8192).astype(BF16_NP)
    assert len(np.unique(p)) == 897
    assert float(p[257]) == 256.0
    assert all(float(p[i]) == 8192.0 for i in range(8185, 8192))
    # the jax cast agrees
    pj = np.asarray(jnp.arange(8192).astype(jnp.bfloat16).astype(jnp.float32))
    assert len(np.unique(pj)) == 897


def test_rope_bf16_rounds_positions():
    """In bf16, x at position 257 is rotated exactly as at 256, and 8185..8191 as 8192 (spec §8)."""
    rng = _rng(10)
    vec = rng.normal(size=128).astype(np.float32)
    positions = np.array([[256, 257, 8185, 8188, 8191, 8192, 1000, 1001]], np.int32)
    x = np.broadcast_to(vec, (1, positions.shape[1], 1, 128)).copy()
    for pos in (jnp.asarray(positions), jnp.asarray(positions).astype(jnp.bfloat16)):
        out = np.asarray(apply_rope(jnp.asarray(x, jnp.bfloat16), pos, 8192).astype(jnp.float32))
        np.testing.assert_array_equal(out[0, 0], out[0, 1])
        for j in (2, 3, 4):
            np.testing.assert_array_equal(out[0, j], out[0, 5])
        # 1000 and 1001 are distinct bf16 values (1000 = 0b1111101000 needs 7 significant bits)
        assert float(np.asarray(jnp.asarray(1001).astype(jnp.bfloat16), np.float32)) == 1000.0
    # and in float32 the same positions are distinct
    out32 = np.asarray(apply_rope(jnp.asarray(x), jnp.asarray(positions), 8192))
    assert not np.array_equal(out32[0, 0], out32[0, 1])


def test_rope_bf16_matches_bf16_emulation():
    """bf16 inv_freq, bf16 positions, bf16 theta product, bf16 cos/sin (spec §8)."""
    rng = _rng(11)
    x = _bf16(rng.normal(size=(1, 32, 2, 16)))
    pos = np.arange(0, 8192, 256)[None].astype(np.int32)
    f = 8
    denom = _bf16(np.arange(f) + np.geomspace(1, 8192 - f + 1, f))
    inv = _bf16(1.0 / denom)
    theta = _bf16(_bf16(pos)[:, :, None, None] * inv)
    cos, sin = _bf16(np.cos(theta)), _bf16(np.sin(theta))
    x0, x1 = x[..., 0::2], x[..., 1::2]
    expected = np.empty_like(x)
    expected[..., 0::2] = x0 * cos - x1 * sin
    expected[..., 1::2] = x1 * cos + x0 * sin
    got = apply_rope(jnp.asarray(x, jnp.bfloat16), jnp.asarray(pos), 8192)
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), expected, atol=0.05)


@pytest.mark.parametrize("precision", [config.F32, config.BF16])
def test_mha_block_passes_positions_in_compute_dtype(monkeypatch, precision):
    """MHABlock's RoPE positions are 0..T-1 cast to the compute dtype (bf16 -> 897 values at 1 Mb)."""
    seen = []
    real = tower.apply_rope

    def spy(x, positions, max_position):
        seen.append((positions.dtype, positions.shape, x.dtype, max_position))
        return real(x, positions, max_position)

    monkeypatch.setattr(tower, "apply_rope", spy)
    cfg, dt = config.TINY, precision.compute
    block = tower.MHABlock(cfg, dt)
    x = jax.ShapeDtypeStruct((1, 32, cfg.tower_channels), dt)
    bias = jax.ShapeDtypeStruct((1, cfg.num_heads, 2, 2), dt)
    jax.eval_shape(block.init, jax.random.PRNGKey(0), x, bias)
    assert len(seen) == 2  # q and k
    for pos_dtype, pos_shape, x_dtype, max_position in seen:
        assert pos_dtype == dt and x_dtype == dt
        assert pos_shape[-1] == 32
        assert max_position == 8192


# ---------------------------------------------------------------------------
# §2: relative shift and central-mask features
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 2, 3, 5, 8, 16])
def test_relative_shift_is_a_gather(length):
    x = _rng(length).normal(size=(2, 3, length, 2 * length)).astype(np.float32)
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    expected = np.take_along_axis(x, np.broadcast_to(j - i + length, (2, 3, length, length)), axis=-1)
    got = np.asarray(relative_shift(jnp.asarray(x), length))
    assert got.shape == (2, 3, length, length)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("pairs", "features", "length"), [(4, 8, 512), (32, 32, 512), (512, 32, 512), (8, 8, 64)])
def test_central_mask_features(pairs, features, length):
    r = np.arange(-pairs, pairs)
    d = np.abs(r).astype(np.float32)
    widths = np.arange(features) + np.geomspace(1, length - features + 1, features, endpoint=False)
    expected = (widths[None, :] > d[:, None]).astype(np.float32)
    got = np.asarray(central_mask_features(jnp.asarray(d), features, length))
    assert got.shape == (2 * pairs, features)
    np.testing.assert_array_equal(got, expected)
    # with endpoint the widths differ (the spec's trap): make sure this test would see it
    wrong = np.arange(features) + np.geomspace(1, length - features + 1, features)
    assert not np.allclose(wrong, widths)


# ---------------------------------------------------------------------------
# §2: pooling
# ---------------------------------------------------------------------------


def test_max_pool2():
    x = _rng(12).normal(size=(2, 10, 3)).astype(np.float32)
    got = np.asarray(max_pool2(jnp.asarray(x)))
    assert got.shape == (2, 5, 3)
    np.testing.assert_array_equal(got, x.reshape(2, 5, 2, 3).max(axis=2))
    # SAME padding on an odd length: the last window holds one element
    odd = np.asarray(max_pool2(jnp.asarray(x[:, :9])))
    assert odd.shape == (2, 5, 3)
    np.testing.assert_array_equal(odd[:, :4], x[:, :8].reshape(2, 4, 2, 3).max(axis=2))
    np.testing.assert_array_equal(odd[:, 4], x[:, 8])


def test_avg_pool():
    x = _rng(13).normal(size=(2, 48, 5)).astype(np.float32)
    got = np.asarray(avg_pool(jnp.asarray(x), 16))
    assert got.shape == (2, 3, 5)
    np.testing.assert_allclose(got, x.reshape(2, 3, 16, 5).mean(axis=2), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# §4.2: organism-specific linear
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_multi_organism_linear(dtype):
    rng = _rng(14)
    x = rng.normal(size=(3, 4, 6)).astype(np.float32)
    org = np.array([1, 0, 1], np.int32)
    w = rng.normal(size=(2, 6, 5)).astype(np.float32)
    b = rng.normal(size=(2, 5)).astype(np.float32)
    mod = MultiOrganismLinear(5)
    variables = _set_variables(mod, jnp.asarray(x), jnp.asarray(org), params={"w": w, "b": b})
    got = mod.apply(variables, jnp.asarray(x, dtype), jnp.asarray(org))
    assert got.dtype == jnp.float32  # float32 output under every policy
    if dtype == jnp.float32:
        xs, ws, bs = x, w, b
        tol = 1e-5
    else:  # inputs and params rounded to bf16, f32 accumulation
        xs, ws, bs = _bf16(x), _bf16(w), _bf16(b)
        tol = 1e-4
    expected = np.stack([xs[i].astype(np.float64) @ ws[org[i]] + bs[org[i]] for i in range(3)])
    np.testing.assert_allclose(np.asarray(got), expected, rtol=tol, atol=tol)


def test_multi_organism_linear_shapes_pair_input():
    x = jnp.ones((2, 3, 3, 4))
    mod = MultiOrganismLinear(7)
    v = mod.init(jax.random.PRNGKey(0), x, jnp.array([0, 1]))
    assert v["params"]["w"].shape == (2, 4, 7) and v["params"]["b"].shape == (2, 7)
    assert mod.apply(v, x, jnp.array([0, 1])).shape == (2, 3, 3, 7)


# ---------------------------------------------------------------------------
# §4.3: unscaling of genome-track predictions
# ---------------------------------------------------------------------------


def _np_unscale(x, means, resolution, squashed):
    x = x.astype(np.float64)
    x = np.where(x > 10, (x + 10) ** 2 / 40, x)
    if squashed:
        x = x ** (1 / 0.75)
    return x * means[:, None, :] * resolution


@pytest.mark.parametrize("squashed", [False, True])
@pytest.mark.parametrize("resolution", [1, 128])
def test_unscale_predictions(squashed, resolution):
    x = np.array(
        [[[0.0, 0.5, 9.99, 10.0], [10.5, 30.0, 2.0, 100.0]], [[3.0, 11.0, 0.1, 50.0], [7.0, 10.01, 1e-3, 20.0]]],
        np.float32,
    )
    means = np.array([[1.0, 2.0, np.nan, 0.5], [0.25, 4.0, 1.5, np.nan]], np.float32)
    got = np.asarray(unscale_predictions(jnp.asarray(x), jnp.asarray(means), resolution, squashed))
    expected = _np_unscale(x, means, resolution, squashed)
    assert got.shape == x.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isnan(got[0, :, 2]).all() and np.isnan(got[1, :, 3]).all()
    np.testing.assert_allclose(got, expected, rtol=2e-6, equal_nan=True)


def test_unscale_soft_clip_is_inverse_of_target_transform():
    """(y+10)^2/40 inverts t -> 2 sqrt(10 t) - 10 above 10 (spec §4.3 targets_scaling)."""
    t = np.array([10.5, 20.0, 123.0, 1000.0])
    y = 2 * np.sqrt(10 * t) - 10
    means = np.ones((1, 4), np.float32)
    got = np.asarray(unscale_predictions(jnp.asarray(y[None, None], jnp.float32), jnp.asarray(means), 1, False))
    np.testing.assert_allclose(got[0, 0], t, rtol=1e-5)
    t_rna = t ** 0.75
    y = np.where(t_rna > 10, 2 * np.sqrt(10 * t_rna) - 10, t_rna)
    got = np.asarray(unscale_predictions(jnp.asarray(y[None, None], jnp.float32), jnp.asarray(means), 1, True))
    np.testing.assert_allclose(got[0, 0], t, rtol=1e-4)


# ---------------------------------------------------------------------------
# §4.7: splice-site positions
# ---------------------------------------------------------------------------


def _np_splice_positions(p: np.ndarray, k: int, threshold: float) -> np.ndarray:
    b, s, _ = p.shape
    out = np.full((b, 4, k), -1, np.int64)
    for i in range(b):
        for c in range(4):
            top = np.argsort(-p[i, :, c], kind="stable")[:k]
            kept = np.sort(top[p[i, top, c] >= threshold])
            out[i, c, : len(kept)] = kept
    return out


def test_splice_site_positions_crafted():
    s, k = 12, 4
    p = np.zeros((2, s, 5), np.float32)
    p[0, [7, 2, 10, 5], 0] = [0.9, 0.5, 0.3, 0.05]  # 5 falls under the threshold
    p[0, :, 1] = 0.05  # nothing above the threshold
    p[0, [0, 1, 3, 4, 11], 2] = [0.2, 0.3, 0.4, 0.5, 0.6]  # five candidates, top 4 kept
    p[0, [9, 8, 6, 0], 3] = [0.95, 0.15, 0.12, 0.11]
    p[0, :, 4] = 0.99  # the "none" class is never used
    p[1] = p[0, ::-1]
    got = np.asarray(splice_site_positions(jnp.asarray(p), k, 0.1))
    assert got.dtype == np.int32 and got.shape == (2, 4, k)
    expected0 = np.array([[2, 7, 10, -1], [-1, -1, -1, -1], [1, 3, 4, 11], [0, 6, 8, 9]])
    np.testing.assert_array_equal(got[0], expected0)
    mirrored = np.where(expected0 >= 0, s - 1 - expected0, -1)
    expected1 = np.array([np.concatenate([np.sort(r[r >= 0]), r[r < 0]]) for r in mirrored])
    np.testing.assert_array_equal(got[1], expected1)


def test_splice_site_positions_random():
    rng = _rng(15)
    p = rng.uniform(0, 0.2, (2, 64, 5)).astype(np.float32)  # about half below 0.1
    got = np.asarray(splice_site_positions(jnp.asarray(p), 8, 0.1))
    np.testing.assert_array_equal(got, _np_splice_positions(p, 8, 0.1))
    got = np.asarray(splice_site_positions(jnp.asarray(p), 40, 0.1))
    np.testing.assert_array_equal(got, _np_splice_positions(p, 40, 0.1))


# ---------------------------------------------------------------------------
# The whole tiny model (§3, §4) with synthetic weights
# ---------------------------------------------------------------------------

CFG = config.TINY
#: Tests that compile the whole tiny model (a few seconds each on a 2-core CPU); ``-m "not slow"`` skips them.
WHOLE_MODEL = pytest.mark.slow
GENOME_SHAPES = {  # head -> resolutions, spec §4.1
    "atac": (1, 128),
    "dnase": (1, 128),
    "procap": (1, 128),
    "cage": (1, 128),
    "rna_seq": (1, 128),
    "chip_tf": (128,),
    "chip_histone": (128,),
}
SPEC_TRACKS = {
    "atac": 256,
    "dnase": 384,
    "procap": 128,
    "cage": 640,
    "rna_seq": 768,
    "chip_tf": 1664,
    "chip_histone": 1152,
    "contact_maps": 28,
    "splice_sites_classification": 5,
    "splice_sites_usage": 734,
    "splice_sites_junction": 734,
}
NAN_TRACKS = {"atac": 3, "rna_seq": 5}  # set to NaN for organism 1 only


def _compile(fn: Callable, *args):
    """jit + compile with XLA's backend optimisations off: same maths (checked to ~1e-6), about half the compile time."""
    lowered = jax.jit(fn).lower(*args)
    try:
        return lowered.compile(compiler_options={"xla_backend_optimization_level": 0})
    except Exception:  # pragma: no cover - backends without that option
        return lowered.compile()


@pytest.fixture(scope="module")
def tiny_variables():
    params, state = layout.official_shapes(CFG)
    return layout.from_official(synthetic.synthetic_tree(params, 1), synthetic.synthetic_tree(state, 1))


@pytest.fixture(scope="module")
def track_means():
    rng = _rng(16)
    means = {h: rng.uniform(0.5, 2.0, m.shape).astype(np.float32) for h, m in layout.default_track_means(CFG).items()}
    for head, track in NAN_TRACKS.items():
        means[head][1, track] = np.nan
    return means


def _dna(length: int, batch: int = 1, seed: int = 0) -> np.ndarray:
    rng = _rng(seed)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (batch, length))]
    onehot[:, ::97] = 0  # a few N bases
    return onehot


class _ModelRuns:
    """Compiled forward functions, one per (precision, length, request), and their outputs."""

    def __init__(self, variables, means):
        self.variables, self.means = variables, means
        self.compiled: dict = {}
        self.outputs: dict = {}

    def fn(self, precision, length, request=None, batch=1, variables=None):
        request = request or OutputRequest(embeddings=True)
        variables = variables if variables is not None else self.variables
        key = (precision.name, length, request, batch, id(variables))
        if key not in self.compiled:
            model = layout.build_model(CFG, precision)
            f = lambda v, d, o, m: model.apply(v, d, o, m, request)
            dna = jnp.zeros((batch, length, 4), jnp.float32)
            org = jnp.zeros((batch,), jnp.int32)
            self.compiled[key] = _compile(f, variables, dna, org, self.means)
        return lambda dna, org: self.compiled[key](variables, jnp.asarray(dna), jnp.asarray(org, jnp.int32), self.means)

    def run(self, precision, length, organism=1, seed=0):
        key = (precision.name, length, organism, seed)
        if key not in self.outputs:
            out = self.fn(precision, length)(_dna(length, 1, seed), np.array([organism]))
            self.outputs[key] = jax.tree.map(lambda a: np.asarray(a), out)
        return self.outputs[key]


@pytest.fixture(scope="module")
def runs(tiny_variables, track_means):
    return _ModelRuns(tiny_variables, track_means)


def _f32(a):
    return np.asarray(a, np.float32)


# ---------------------------------------------------------------------------
# An independent numpy forward pass of the whole model, written from the spec
# (§2 blocks, §3 architecture, §4 heads) against the official parameter tree
# ``{module_path: {name: array}}`` -- so it also checks module and parameter names.
# ---------------------------------------------------------------------------


def _softplus(x):
    return np.logaddexp(0.0, x)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_gelu_sigmoid(x):
    return x / (1.0 + np.exp(-1.702 * x))


def _np_gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _bf16_64(x):
    return np.asarray(x, np.float32).astype(BF16_NP).astype(np.float64)


class NumpyAlphaGenome:
    """The tiny model in float64 numpy.

    ``bf16_dots``: the attention, row-attention and junction dot products use
    the BF16 x BF16 -> F32 algorithm (spec §3.3, §4.7, §8), emulated here by
    rounding their inputs to bf16. XLA:CPU does not support / honour that
    algorithm (spec §8: "expect CPU test harnesses to need ... default-precision
    dots"), so on the CPU backend the expectation is a plain float32 dot.
    """

    def __init__(self, params, state, cfg, bf16_dots: bool):
        self.p = {m: {n: np.asarray(v, np.float64) for n, v in leaves.items()} for m, leaves in params.items()}
        self.s = {m: {n: np.asarray(v, np.float64) for n, v in leaves.items()} for m, leaves in state.items()}
        self.cfg = cfg
        self.bf16_dots = bf16_dots

    def dot_in(self, x):
        return _bf16_64(x) if self.bf16_dots else x

    # -- blocks ------------------------------------------------------------
    def rmsbn(self, x, path):
        p, s = self.p[path], self.s[path]
        return x * (p["scale"] / np.sqrt(s["var_ema"] + 1e-5)) + p["offset"]

    def ln(self, x, path, rms):
        p = self.p[path]
        if not rms:
            x = x - x.mean(-1, keepdims=True)
        return x * p["scale"] / np.sqrt(np.mean(x**2, -1, keepdims=True) + 1e-5) + p["offset"]

    def linear(self, x, path):
        p = self.p[path]
        return x @ p["w"] + p.get("b", 0.0)

    def conv_block(self, x, path, width):
        h = _np_gelu_sigmoid(self.rmsbn(x, f"{path}/rms_batch_norm"))
        if width == 1:
            return self.linear(h, f"{path}/linear")
        p = self.p[f"{path}/standardized_conv1_d"]
        assert p["w"].shape[0] == width
        return _np_conv_same(h, _np_standardize(p["w"], p["scale"])) + p["bias"]

    @staticmethod
    def max_pool(x):
        return x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2]).max(axis=2)

    # -- encoder / decoder ---------------------------------------------------
    def encoder(self, dna):
        root = "alphagenome/sequence_encoder"
        conv = self.p[f"{root}/dna_embedder/conv1_d"]
        x = _np_conv_same(dna, conv["w"]) + conv["b"]
        x = x + self.conv_block(x, f"{root}/dna_embedder/conv_block", 5)
        skips = {1: x}
        x = self.max_pool(x)
        for i in range(6):
            path = f"{root}/downres_block_{i}"
            out = self.conv_block(x, f"{path}/conv_block", 5)
            out = out + np.pad(x, ((0, 0), (0, 0), (0, out.shape[-1] - x.shape[-1])))
            out = out + self.conv_block(out, f"{path}/conv_block_1", 5)
            skips[2 ** (i + 1)] = out
            x = self.max_pool(out)
        return x, skips

    def decoder(self, x, skips):
        for i, bin_size in enumerate((64, 32, 16, 8, 4, 2, 1)):
            path = "alphagenome/sequence_decoder/" + ("up_res_block" if i == 0 else f"up_res_block_{i}")
            skip = skips[bin_size]
            c = skip.shape[-1]
            out = self.conv_block(x, f"{path}/conv_in", 5) + x[:, :, :c]
            out = np.repeat(out, 2, axis=1) * self.p[path]["residual_scale"]
            out = out + self.conv_block(skip, f"{path}/pointwise_conv_unet_skip", 1)
            x = out + self.conv_block(out, f"{path}/conv_out", 5)
        return x

    # -- tower ----------------------------------------------------------------
    def mha(self, x, bias, path):
        cfg = self.cfg
        b, t, _ = x.shape
        h = self.rmsbn(x, f"{path}/rms_batch_norm")
        q = self.ln((h @ self.p[f"{path}/q_layer"]["w"]).reshape(b, t, cfg.num_heads, cfg.qk_dim), f"{path}/norm_q", False)
        k = self.ln((h @ self.p[f"{path}/k_layer"]["w"]).reshape(b, t, 1, cfg.qk_dim), f"{path}/norm_k", False)
        v = self.ln((h @ self.p[f"{path}/v_layer"]["w"]).reshape(b, t, 1, cfg.v_dim), f"{path}/norm_v", False)
        pos = np.broadcast_to(np.arange(t), (b, t))
        q, k = _np_rope(q, pos, 8192), _np_rope(k, pos, 8192)
        logits = np.einsum("bshc,bSc->bhsS", self.dot_in(q), self.dot_in(k[:, :, 0])) / math.sqrt(cfg.qk_dim)
        logits = logits + np.repeat(np.repeat(bias, 16, axis=2), 16, axis=3)  # bias repeated x16 on both axes
        logits = 5.0 * np.tanh(logits / 5.0)
        w = _softmax(logits)
        y = np.einsum("bhsS,bSc->bshc", self.dot_in(w), self.dot_in(v[:, :, 0])).reshape(b, t, -1)
        return self.rmsbn(self.linear(y, f"{path}/linear_embedding"), f"{path}/rms_batch_norm_1")

    def mlp(self, x, path):
        h = self.rmsbn(x, f"{path}/rms_batch_norm")
        h = self.linear(np.maximum(self.linear(h, f"{path}/linear"), 0), f"{path}/linear_1")
        return self.rmsbn(h, f"{path}/rms_batch_norm_1")

    def seq2pair(self, x, path):
        cfg = self.cfg
        nh, hd, f = cfg.seq2pair_heads, cfg.seq2pair_head_dim, cfg.pair_pos_features
        b, t, d = x.shape
        pn = t // 16
        z = self.ln(x.reshape(b, pn, 16, d).mean(axis=2), f"{path}/norm_seq2pair", True)
        q = (z @ self.p[f"{path}/linear_q"]["w"]).reshape(b, pn, nh, hd)
        k = (z @ self.p[f"{path}/linear_k"]["w"]).reshape(b, pn, nh, hd)
        r = np.arange(-pn, pn)
        widths = np.arange(f) + np.geomspace(1, 512 - f + 1, f, endpoint=False)  # fixed L = 512
        m = (widths[None, :] > np.abs(r)[:, None]).astype(np.float64)
        feats = np.concatenate([m, np.sign(r)[:, None] * m], axis=-1)
        e = self.linear(feats, f"{path}/linear_pos_features").reshape(2 * pn, nh, hd)
        qrb = self.p[path]["q_r_bias"][0, 0]
        krb = self.p[path]["k_r_bias"][0, 0]
        i = np.arange(pn)[:, None]
        j = np.arange(pn)[None, :]
        e_qk = e[j - i + pn]  # [i, j, h, c] = E[(j - i) + P]
        e_kq = e[i - j + pn]  # [i, j, h, c] = E[(i - j) + P]
        rq = np.einsum("bihc,ijhc->bijh", q + qrb, e_qk)
        rk = np.einsum("bjhc,ijhc->bijh", k + krb, e_kq)
        a = np.einsum("bihc,bjhc->bijh", q, k) + 0.5 * (rq + rk)
        y_q = _np_gelu_tanh(z) @ self.p[f"{path}/linear_y_q"]["w"]
        y_k = _np_gelu_tanh(z) @ self.p[f"{path}/linear_y_k"]["w"]
        return self.linear(a, f"{path}/linear_pair") + y_q[:, :, None, :] + y_k[:, None, :, :]

    def row_attention(self, pair, path):
        u = self.ln(pair, f"{path}/layer_norm", True)
        q = u @ self.p[f"{path}/linear_q"]["w"]
        k = u @ self.p[f"{path}/linear_k"]["w"]
        v = self.linear(u, f"{path}/linear_v")
        logits = np.einsum("bijf,bilf->bijl", self.dot_in(q), self.dot_in(k)) / math.sqrt(pair.shape[-1])
        return np.einsum("bijl,bilf->bijf", self.dot_in(_softmax(logits)), self.dot_in(v))

    def pair_mlp(self, pair, path):
        h = self.ln(pair, f"{path}/layer_norm", True)
        return self.linear(np.maximum(self.linear(h, f"{path}/linear"), 0), f"{path}/linear_1")

    def attention_bias(self, pair, path):
        h = _np_gelu_tanh(self.rmsbn(pair, f"{path}/rms_batch_norm")) @ self.p[f"{path}/linear"]["w"]
        return np.moveaxis(h, 3, 1)  # [B, H, P, P]

    def tower(self, x):
        root = "alphagenome/transformer_tower"
        name = lambda base, i: f"{root}/{base}" if i == 0 else f"{root}/{base}_{i}"
        pair = None
        for i in range(self.cfg.tower_layers):
            if i % 2 == 0:
                path = name("pair_update_block", i // 2)
                y = self.seq2pair(x, f"{path}/sequence_to_pair_block")
                pair = y if pair is None else pair + y
                pair = pair + self.row_attention(pair, f"{path}/row_attention_block")
                pair = pair + self.pair_mlp(pair, f"{path}/pair_mlp_block")
            bias = self.attention_bias(pair, name("attention_bias_block", i))
            x = x + self.mha(x, bias, name("mha_block", i))
            x = x + self.mlp(x, name("mlp_block", i))
        return x, pair

    # -- embedders and heads ---------------------------------------------------
    def org_linear(self, x, path, org):
        p = self.p[f"{path}/multi_organism_linear"]
        return x @ p["w"][org] + p["b"][org]

    def forward(self, dna, org, means):
        """One sequence (batch 1) and one organism index."""
        root = "alphagenome"
        trunk, skips = self.encoder(dna)
        trunk = trunk + self.p[f"{root}/embed"]["embeddings"][org]
        x, pair = self.tower(trunk)

        e128 = self.rmsbn(self.linear(x, f"{root}/output_embedder/linear"), f"{root}/output_embedder/rms_batch_norm")
        e128 = _np_gelu_sigmoid(e128 + self.p[f"{root}/output_embedder/embed"]["embeddings"][org])
        dec = self.decoder(x, skips)
        e1 = self.linear(dec, f"{root}/output_embedder_1/linear")
        e1 = e1 + np.repeat(self.linear(e128, f"{root}/output_embedder_1/linear_1"), 128, axis=1)
        e1 = self.rmsbn(e1, f"{root}/output_embedder_1/rms_batch_norm")
        e1 = _np_gelu_sigmoid(e1 + self.p[f"{root}/output_embedder_1/embed"]["embeddings"][org])
        sym = (pair + np.swapaxes(pair, 1, 2)) / 2
        epair = self.ln(sym, f"{root}/output_pair/layer_norm", True)
        epair = _np_gelu_sigmoid(epair + self.p[f"{root}/output_pair/embed"]["embeddings"][org])

        out = {"embeddings_1bp": e1, "embeddings_128bp": e128, "embeddings_pair": epair}
        emb = {1: e1, 128: e128}
        for head, resolutions in GENOME_SHAPES.items():
            out[head] = {}
            for r in resolutions:
                path = f"{root}/head/{head}/resolution_{r}"
                z = self.org_linear(emb[r], path, org)
                scaled = _softplus(z) * _softplus(self.p[path]["learnt_scale"][org])
                out[head][f"scaled_predictions_{r}bp"] = scaled
                out[head][f"predictions_{r}bp"] = _np_unscale(scaled, means[head][org][None], r, head == "rna_seq")
        out["contact_maps"] = {"predictions": self.org_linear(epair, f"{root}/head/contact_maps", org)}
        logits = self.org_linear(e1, f"{root}/head/splice_sites_classification", org)
        out["splice_sites_classification"] = {"logits": logits, "predictions": _softmax(logits)}
        logits = self.org_linear(e1, f"{root}/head/splice_sites_usage", org)
        out["splice_sites_usage"] = {"logits": logits, "predictions": 1 / (1 + np.exp(-logits))}
        return out

    def junctions(self, e1, positions, org):
        """Junction counts ``[B, K, K, 2T]`` for given site positions ``[B, 4, K]`` (spec §4.7)."""
        root = "alphagenome/head/splice_sites_junction"
        h = self.org_linear(e1, root, org)  # [B, S, C]
        b, s, c = h.shape
        t = 367

        def site(name, row):
            idx = positions[:, row]
            g = np.take_along_axis(h, np.where(idx < 0, idx + s, idx)[..., None], axis=1)  # [B, K, C]
            table = self.p[f"{root}/{name}"]["embeddings"][org].reshape(2, t, c)
            u = table[0][None, None] * g[:, :, None, :] + table[1][None, None]  # [B, K, T, C]
            return _np_rope(u, idx, 1 << 20)

        def counts(donor, acceptor):
            # sum_c donor[b, d, t, c] * acceptor[b, a, t, c] -> [B, D, A, T], as a batched matmul
            d = np.transpose(self.dot_in(donor), (0, 2, 1, 3))  # [B, T, D, C]
            a = np.transpose(self.dot_in(acceptor), (0, 2, 3, 1))  # [B, T, C, A]
            return _softplus(np.transpose(d @ a, (0, 2, 3, 1)))

        pos = counts(site("pos_donor_logits", 0), site("pos_acceptor_logits", 1))
        neg = counts(site("neg_donor_logits", 2), site("neg_acceptor_logits", 3))
        valid = positions >= 0
        pos_mask = (valid[:, 0, :, None] & valid[:, 1, None, :])[..., None]
        neg_mask = (valid[:, 2, :, None] & valid[:, 3, None, :])[..., None]
        return np.concatenate([np.where(pos_mask, pos, 0), np.where(neg_mask, neg, 0)], axis=-1)


@pytest.fixture(scope="module")
def official_tiny():
    params, state = layout.official_shapes(CFG)
    return synthetic.synthetic_tree(params, 1), synthetic.synthetic_tree(state, 1)


def _assert_close_rel(got, expected, what, rtol):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=what)
    ok = ~np.isnan(expected)
    err = np.abs(got[ok] - expected[ok])
    scale = np.abs(expected[ok]).max() + 1e-6
    assert err.max() <= rtol * scale, f"{what}: max abs error {err.max():.3g} vs scale {scale:.3g}"


@WHOLE_MODEL
@pytest.mark.parametrize("length", [2048, 4096])
def test_tiny_model_matches_numpy_reference(runs, official_tiny, track_means, length):
    """The whole forward pass against an independent numpy re-derivation from the spec."""
    out = runs.run(config.F32, length)
    on_cpu = jax.default_backend() == "cpu"
    ref_model = NumpyAlphaGenome(*official_tiny, CFG, bf16_dots=not on_cpu)
    # float32 on CPU agrees to ~1e-6; accelerators may run float32 matmuls in TF32
    tol = 1e-4 if on_cpu else 3e-2
    ref = ref_model.forward(_dna(length, 1, 0).astype(np.float64), 1, track_means)
    for name in ("embeddings_128bp", "embeddings_pair", "embeddings_1bp"):
        _assert_close_rel(out[name], ref[name], name, tol)
    for head, resolutions in GENOME_SHAPES.items():
        for r in resolutions:
            for kind in ("scaled_predictions", "predictions"):
                key = f"{kind}_{r}bp"
                _assert_close_rel(out[head][key], ref[head][key], f"{head} {key}", tol)
    _assert_close_rel(out["contact_maps"]["predictions"], ref["contact_maps"]["predictions"], "contact maps", tol)
    for head in ("splice_sites_classification", "splice_sites_usage"):
        _assert_close_rel(out[head]["logits"], ref[head]["logits"], f"{head} logits", tol)
    cls = "splice_sites_classification"
    _assert_close_rel(out[cls]["predictions"], ref[cls]["predictions"], f"{cls} predictions", tol)
    # usage probabilities are float16 values (spec §4.6): within one float16 rounding of the sigmoid
    usage = np.asarray(out["splice_sites_usage"]["predictions"], np.float64)
    np.testing.assert_allclose(usage, ref["splice_sites_usage"]["predictions"], atol=2.5e-4 + 1e-5 if on_cpu else tol, rtol=0)
    positions = out["splice_sites_junction"]["splice_site_positions"]
    junctions = ref_model.junctions(np.asarray(out["embeddings_1bp"], np.float64), positions, 1)
    _assert_close_rel(out["splice_sites_junction"]["predictions"], junctions, "junctions", tol)


@WHOLE_MODEL
@pytest.mark.parametrize("length", [2048, 4096])
def test_tiny_model_output_shapes(runs, length):
    out = runs.run(config.F32, length)
    b = 1
    for head, resolutions in GENOME_SHAPES.items():
        keys = {f"{kind}_{r}bp" for r in resolutions for kind in ("predictions", "scaled_predictions")}
        assert set(out[head]) == keys, head
        for r in resolutions:
            for kind in ("predictions", "scaled_predictions"):
                assert out[head][f"{kind}_{r}bp"].shape == (b, length // r, SPEC_TRACKS[head]), (head, r)
    p = length // 2048
    assert out["contact_maps"]["predictions"].shape == (b, p, p, 28)
    assert out["splice_sites_classification"]["predictions"].shape == (b, length, 5)
    assert out["splice_sites_usage"]["predictions"].shape == (b, length, 734)
    k = CFG.num_splice_sites
    junction = out["splice_sites_junction"]
    assert junction["predictions"].shape == (b, k, k, 2 * 367)
    assert junction["splice_junction_mask"].shape == (b, k, k, 2 * 367)
    assert junction["splice_junction_mask"].dtype == np.bool_
    assert junction["splice_site_positions"].shape == (b, 4, k)
    assert junction["splice_site_positions"].dtype == np.int32
    # float32 policy: float outputs are float32
    for leaf in jax.tree.leaves(out):
        assert leaf.dtype in (np.float32, np.bool_, np.int32), leaf.dtype


@WHOLE_MODEL
@pytest.mark.parametrize("length", [2048, 4096])
def test_tiny_model_output_invariants(runs, track_means, length):
    out = runs.run(config.F32, length)
    org = 1
    cm = out["contact_maps"]["predictions"]
    np.testing.assert_array_equal(cm, np.swapaxes(cm, 1, 2))  # exactly symmetric
    assert np.all(np.isfinite(cm))

    cls = out["splice_sites_classification"]["predictions"]
    assert np.all(cls >= 0)
    np.testing.assert_allclose(cls.sum(-1), 1.0, atol=1e-5)
    logits = out["splice_sites_classification"]["logits"].astype(np.float64)
    soft = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(cls, soft / soft.sum(-1, keepdims=True), atol=1e-5)

    usage = out["splice_sites_usage"]["predictions"]
    assert np.all((usage >= 0) & (usage <= 1))
    np.testing.assert_array_equal(usage.astype(np.float16).astype(np.float32), usage)  # float16 values
    usage_logits = out["splice_sites_usage"]["logits"].astype(np.float64)
    np.testing.assert_allclose(usage, 1 / (1 + np.exp(-usage_logits)), atol=1e-3)

    # genome tracks: scaled predictions are positive; predictions are their unscaled version (§4.3)
    for head, resolutions in GENOME_SHAPES.items():
        means = track_means[head][org][None]
        for r in resolutions:
            scaled = out[head][f"scaled_predictions_{r}bp"]
            pred = out[head][f"predictions_{r}bp"]
            assert np.all(scaled > 0) and np.all(np.isfinite(scaled)), head
            expected = _np_unscale(scaled, means, r, head == "rna_seq")
            np.testing.assert_allclose(pred, expected, rtol=1e-5, equal_nan=True, err_msg=f"{head} {r}")
            nan_track = NAN_TRACKS.get(head)
            nan_cols = np.isnan(pred).all(axis=(0, 1))
            assert list(np.flatnonzero(nan_cols)) == ([] if nan_track is None else [nan_track]), head
            assert not np.isnan(np.delete(pred, nan_track, axis=-1) if nan_track is not None else pred).any()

    # splice-site positions: ascending, -1 at the end, derived from the classification (§4.7)
    positions = out["splice_sites_junction"]["splice_site_positions"]
    np.testing.assert_array_equal(positions, _np_splice_positions(cls, CFG.num_splice_sites, 0.1))
    for row in positions.reshape(-1, positions.shape[-1]):
        kept = row[row >= 0]
        assert np.all(np.diff(kept) > 0) and np.all(row[len(kept) :] == -1) and np.all(kept < length)

    junction = out["splice_sites_junction"]
    mask = junction["splice_junction_mask"]
    valid = positions >= 0
    t = 367
    np.testing.assert_array_equal(mask[..., :t], np.broadcast_to((valid[:, 0, :, None] & valid[:, 1, None, :])[..., None], mask[..., :t].shape))
    np.testing.assert_array_equal(mask[..., t:], np.broadcast_to((valid[:, 2, :, None] & valid[:, 3, None, :])[..., None], mask[..., t:].shape))
    counts = junction["predictions"]
    assert np.all(counts[~mask] == 0)
    assert np.all(counts[mask] > 0) and np.all(np.isfinite(counts))  # softplus


@WHOLE_MODEL
def test_tiny_model_padding_tracks_only_for_their_organism(runs):
    out = runs.run(config.F32, 2048, organism=0)  # NaN means are set for organism 1 only
    for head, resolutions in GENOME_SHAPES.items():
        for r in resolutions:
            assert np.all(np.isfinite(out[head][f"predictions_{r}bp"])), head


@WHOLE_MODEL
def test_tiny_model_organisms_differ(runs):
    a = runs.run(config.F32, 2048, organism=0)
    b = runs.run(config.F32, 2048, organism=1)
    assert not np.allclose(a["chip_tf"]["scaled_predictions_128bp"], b["chip_tf"]["scaled_predictions_128bp"])
    assert not np.allclose(a["contact_maps"]["predictions"], b["contact_maps"]["predictions"])


@WHOLE_MODEL
def test_tiny_model_deterministic(runs):
    f = runs.fn(config.F32, 2048)
    dna, org = _dna(2048, 1, 3), np.array([0])
    first = jax.tree.map(np.asarray, f(dna, org))
    second = jax.tree.map(np.asarray, f(dna, org))
    for x, y in zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


@WHOLE_MODEL
def test_tiny_model_bf16_close_to_f32(runs):
    f32 = runs.run(config.F32, 2048)
    bf16 = runs.run(config.BF16, 2048)
    for leaf in jax.tree.leaves(bf16):
        assert leaf.dtype in (jnp.bfloat16, np.bool_, np.int32), leaf.dtype

    def close(a, b, what, rel=0.04):  # measured: mean error ~1% of the mean magnitude, p99 ~5%
        a, b = _f32(a), _f32(b)
        ok = np.isfinite(b)
        np.testing.assert_array_equal(np.isfinite(a), ok, err_msg=what)
        err = np.abs(a[ok] - b[ok])
        scale = np.abs(b[ok]).mean() + 1e-3
        assert err.mean() < rel * scale, (what, err.mean(), scale)
        assert np.quantile(err, 0.99) < 5 * rel * scale, (what, np.quantile(err, 0.99), scale)

    for head, resolutions in GENOME_SHAPES.items():
        for r in resolutions:
            close(bf16[head][f"scaled_predictions_{r}bp"], f32[head][f"scaled_predictions_{r}bp"], f"{head} {r}")
    close(bf16["contact_maps"]["predictions"], f32["contact_maps"]["predictions"], "contact maps")
    close(bf16["splice_sites_classification"]["predictions"], f32["splice_sites_classification"]["predictions"], "cls")
    close(bf16["splice_sites_usage"]["predictions"], f32["splice_sites_usage"]["predictions"], "usage")
    cm = _f32(bf16["contact_maps"]["predictions"])
    np.testing.assert_array_equal(cm, np.swapaxes(cm, 1, 2))


CHIP_ONLY = OutputRequest(heads=("chip_tf",), resolutions=(128,))


@pytest.fixture(scope="module")
def pruned_variables(tiny_variables):
    """The variables without the decoder and the 1-bp output embedder."""
    assert "sequence_decoder" in tiny_variables["params"] and "sequence_decoder" in tiny_variables["state"]
    assert "output_embedder_1" in tiny_variables["params"]
    return {
        collection: {k: v for k, v in tree.items() if k not in ("sequence_decoder", "output_embedder_1")}
        for collection, tree in tiny_variables.items()
    }


@WHOLE_MODEL
def test_128bp_request_skips_decoder(runs, pruned_variables):
    f = runs.fn(config.F32, 2048, CHIP_ONLY, variables=pruned_variables)
    out = jax.tree.map(np.asarray, f(_dna(2048), np.array([1])))
    assert set(out) == {"chip_tf"}
    assert set(out["chip_tf"]) == {"predictions_128bp", "scaled_predictions_128bp"}
    full = runs.run(config.F32, 2048)
    np.testing.assert_allclose(out["chip_tf"]["predictions_128bp"], full["chip_tf"]["predictions_128bp"], rtol=1e-5)


@WHOLE_MODEL
def test_batch_of_two_organisms_matches_single_runs(runs, pruned_variables):
    """Batch elements are independent and each reads its own organism's weights (spec §1.3, §4.2)."""
    dna = np.concatenate([_dna(2048, 1, 5), _dna(2048, 1, 6)])
    single = runs.fn(config.F32, 2048, CHIP_ONLY, variables=pruned_variables)
    pair = runs.fn(config.F32, 2048, CHIP_ONLY, batch=2, variables=pruned_variables)
    both = np.asarray(pair(dna, np.array([0, 1]))["chip_tf"]["scaled_predictions_128bp"])
    for i, org in enumerate((0, 1)):
        one = np.asarray(single(dna[i : i + 1], np.array([org]))["chip_tf"]["scaled_predictions_128bp"])
        np.testing.assert_allclose(both[i], one[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Initial values the spec states (§2, §3.4, §3.3, §4.2, §4.3, §4.7)
# ---------------------------------------------------------------------------


def _assert_truncated_normal(values, sigma, what):
    """Truncated at 2 sigma; std between the truncated (0.88 sigma) and the untruncated convention."""
    v = np.asarray(values, np.float64).ravel()
    assert np.all(np.abs(v) <= 2 * sigma * (1 + 1e-6)), what
    assert 0.8 * sigma < v.std() < 1.02 * sigma, (what, v.std() / sigma)
    assert abs(v.mean()) < 5 * sigma / math.sqrt(v.size), what


def test_init_multi_organism_linear():
    d = 400
    v = MultiOrganismLinear(50).init(jax.random.PRNGKey(1), jnp.ones((1, 3, d)), jnp.zeros((1,), jnp.int32))
    _assert_truncated_normal(v["params"]["w"], 1 / math.sqrt(d), "w")
    np.testing.assert_array_equal(np.asarray(v["params"]["b"]), 0)


@pytest.mark.slow
def test_init_track_head_and_junction_tables():
    from genotile.model.heads import JunctionSiteEmbedding, TrackResolution

    v = jax.jit(TrackResolution(16, 2).init)(jax.random.PRNGKey(2), jnp.ones((1, 4, 8)), jnp.zeros((1,), jnp.int32))
    np.testing.assert_array_equal(np.asarray(v["params"]["learnt_scale"]), np.ones((2, 16)))
    mod = JunctionSiteEmbedding(num_organisms=2, tissues=367, dim=16, max_position=1 << 20)
    positions = jnp.array([[3, 7, -1]], jnp.int32)
    init = jax.jit(mod.init, static_argnums=4)
    v = init(jax.random.PRNGKey(3), jnp.ones((1, 10, 16)), positions, jnp.zeros((1,), jnp.int32), jnp.float32)
    table = v["params"]["embeddings"]
    assert table.shape == (2, 2 * 367 * 16)
    _assert_truncated_normal(table, 0.1, "junction embeddings")


@pytest.mark.slow
def test_init_decoder_residual_scale_and_rel_biases():
    from genotile.model.unet import UpResBlock

    v = jax.jit(UpResBlock(jnp.float32).init)(jax.random.PRNGKey(0), jnp.ones((1, 4, 16)), jnp.ones((1, 8, 8)))
    assert v["params"]["residual_scale"].shape == ()
    assert float(v["params"]["residual_scale"]) == 1.0
    block = tower.SequenceToPairBlock(CFG, jnp.float32)
    v = jax.jit(block.init)(jax.random.PRNGKey(0), jnp.ones((1, 32, CFG.tower_channels)))
    np.testing.assert_array_equal(np.asarray(v["params"]["q_r_bias"]), 0)
    np.testing.assert_array_equal(np.asarray(v["params"]["k_r_bias"]), 0)
    assert v["params"]["q_r_bias"].shape == (1, 1, CFG.seq2pair_heads, CFG.seq2pair_head_dim)


# ---------------------------------------------------------------------------
# Accepted lengths (spec §1.2): multiples of 2048; parameter shapes independent of the length
# ---------------------------------------------------------------------------


def _abstract_apply(variables, length, precision=config.F32):
    model = layout.build_model(CFG, precision)
    dna = jax.ShapeDtypeStruct((1, length, 4), jnp.float32)
    org = jax.ShapeDtypeStruct((1,), jnp.int32)
    request = OutputRequest(heads=("chip_tf", "contact_maps"), resolutions=(128,))
    return jax.eval_shape(lambda v, d, o: model.apply(v, d, o, layout.default_track_means(CFG), request), variables, dna, org)


def test_length_multiple_of_2048(tiny_variables):
    out = _abstract_apply(tiny_variables, 6144)  # three pair tokens
    assert out["contact_maps"]["predictions"].shape == (1, 3, 3, 28)
    assert out["chip_tf"]["predictions_128bp"].shape == (1, 48, 1664)
    with pytest.raises(Exception):
        _abstract_apply(tiny_variables, 3072)


def test_parameter_shapes_do_not_depend_on_length():
    model = layout.build_model(CFG)
    means = layout.default_track_means(CFG)
    shapes = []
    for length in (2048, 4096):
        dna = jax.ShapeDtypeStruct((1, length, 4), jnp.float32)
        org = jax.ShapeDtypeStruct((1,), jnp.int32)
        tree = jax.eval_shape(lambda d, o: model.init(jax.random.PRNGKey(0), d, o, means), dna, org)
        shapes.append(jax.tree.map(lambda x: x.shape, tree))
    assert shapes[0] == shapes[1]
