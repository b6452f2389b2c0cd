"""Building blocks of the AlphaGenome architecture (the reference's layer maths, reproduced exactly), in Flax Linen.

Parameter and state names are those of the reference's Haiku checkpoint
(``w``/``b`` rather than Flax's ``kernel``/``bias``, ``var_ema`` in a
``state`` collection), so the Flax variable tree *is* the official tree with
'/'-joined module paths: loading the published weights needs no renaming
table that could drift out of date.

Every parameter and state read is rounded to the compute dtype, exactly as
the reference's mixed-precision getter does; the float32 islands are kept
where the reference keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Initializer = Callable[..., Array]
F32 = jnp.float32
BF16 = jnp.bfloat16


def read(value: Array, dtype: jnp.dtype) -> Array:
    """A parameter as the model sees it: rounded to the compute dtype."""
    return jnp.asarray(value).astype(dtype)


def gelu_sigmoid(x: Array) -> Array:
    """x * sigmoid(1.702 x): the GELU of conv blocks and output embedders."""
    return jax.nn.sigmoid(jnp.asarray(1.702, x.dtype) * x) * x


def gelu_tanh(x: Array) -> Array:
    """The tanh GELU (jax default): used only in attention-bias and seq->pair y branches."""
    return jax.nn.gelu(x, approximate=True)


def dot_bf16_f32(equation: str, a: Array, b: Array) -> Array:
    """einsum with the reference's ``DotAlgorithmPreset.BF16_BF16_F32`` (attention, row attention, junctions).

    The reference asks for that algorithm under every policy. On GPU and TPU it
    rounds both inputs to bf16 and accumulates in float32, and we ask for the
    same. XLA:CPU does not honour the preset in the reference's jitted model:
    its f32 run matches a plain float32-accumulated dot to ~1e-6, and a
    rounded one only to ~1e-3 (measured, see tests/golden/README.md). The
    preset also fails in some CPU emitters (XLA:CPU's ElementalIrEmitter rejects ALG_DOT_BF16_BF16_F32), so on CPU the plain
    float32-accumulated dot is what reproduces the reference there.
    """
    if jax.default_backend() == "cpu":
        return jnp.einsum(equation, a, b, preferred_element_type=F32)
    return jnp.einsum(
        equation, a, b, precision=jax.lax.DotAlgorithmPreset.BF16_BF16_F32, preferred_element_type=F32
    )


def max_pool2(x: Array) -> Array:
    """Max-pool by 2 along the sequence axis (SAME padding)."""
    # A numpy init value (concrete under jit) makes this JAX's max-pool primitive, which has a gradient;
    # a jnp one is traced and gives the generic reduce_window, which has none (same values either way).
    return jax.lax.reduce_window(x, np.array(-np.inf, x.dtype), jax.lax.max, (1, 2, 1), (1, 2, 1), "SAME")


def avg_pool(x: Array, by: int) -> Array:
    """Average-pool along the sequence axis as Haiku does: a windowed sum, then a divide."""
    summed = jax.lax.reduce_window(x, np.array(0, x.dtype), jax.lax.add, (1, by, 1), (1, by, 1), "VALID")  # see max_pool2
    return summed / jnp.asarray(by, x.dtype)


def truncated_normal(stddev: float) -> Initializer:
    return nn.initializers.truncated_normal(stddev=stddev)


def fan_in_truncated_normal(key: Array, shape: Sequence[int], dtype=F32) -> Array:
    """Haiku's default Linear initialiser: truncated normal with std 1/sqrt(fan_in)."""
    fan_in = int(np.prod(shape[:-1]))
    return nn.initializers.truncated_normal(stddev=1.0 / math.sqrt(fan_in))(key, shape, dtype)


class Linear(nn.Module):
    """Haiku ``Linear``: ``w [in, out]``, optional ``b [out]``, computed in the compute dtype."""

    features: int
    use_bias: bool = True
    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        w = self.param("w", fan_in_truncated_normal, (x.shape[-1], self.features))
        y = jnp.dot(x.astype(self.dtype), read(w, self.dtype))
        if self.use_bias:
            y = y + read(self.param("b", nn.initializers.zeros, (self.features,)), self.dtype)
        return y


class Embed(nn.Module):
    """Haiku ``Embed``: a per-organism vector looked up by index."""

    vocab: int
    features: int
    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, index: Array) -> Array:
        table = self.param("embeddings", truncated_normal(1.0), (self.vocab, self.features))
        return read(table, self.dtype)[index]


class RMSBatchNorm(nn.Module):
    """Inference-only "batch norm": ``x * scale * rsqrt(var_ema + 1e-5) + offset``.

    Not RMSNorm: no statistic of the input is computed; the stored variance
    (state ``var_ema``) is used as is. No update rule exists in the reference.
    """

    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (1,) * (x.ndim - 1) + (x.shape[-1],)
        var = self.variable("state", "var_ema", lambda: jnp.ones(shape, F32)).value
        scale = read(self.param("scale", nn.initializers.ones, shape), self.dtype)
        offset = read(self.param("offset", nn.initializers.zeros, shape), self.dtype)
        inv = scale * jax.lax.rsqrt(read(var, self.dtype) + jnp.asarray(1e-5, self.dtype))
        return x * inv + offset


class LayerNorm(nn.Module):
    """LayerNorm over the last axis with float32 statistics; ``rms=True`` skips centring."""

    rms: bool = False
    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c = x.shape[-1]
        scale = read(self.param("scale", nn.initializers.ones, (c,)), self.dtype)
        offset = read(self.param("offset", nn.initializers.zeros, (c,)), self.dtype)
        x = x.astype(self.dtype)
        if not self.rms:
            x = x - jnp.mean(x, axis=-1, dtype=F32, keepdims=True).astype(self.dtype)
        var = jnp.mean(jnp.square(x), axis=-1, dtype=F32, keepdims=True)
        inv = scale * jax.lax.rsqrt(var + 1e-5).astype(self.dtype)
        return inv * x + offset


class Conv1D(nn.Module):
    """Plain 1-D convolution with bias (Haiku ``Conv1D``, SAME padding): the DNA embedder's first layer."""

    features: int
    width: int
    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        w = self.param("w", fan_in_truncated_normal, (self.width, x.shape[-1], self.features))
        b = self.param("b", nn.initializers.zeros, (self.features,))
        y = _conv1d(x.astype(self.dtype), read(w, self.dtype))
        return y + read(b, self.dtype)


def _conv1d(x: Array, w: Array) -> Array:
    return jax.lax.conv_general_dilated(
        x, w, window_strides=(1,), padding="SAME", dimension_numbers=("NWC", "WIO", "NWC")
    )


def standardize_kernel(w: Array, scale: Array) -> Array:
    """Scaled weight standardisation: zero mean, unit fan-in variance, per output channel.

    Recomputed at every call in the compute dtype, as the reference does;
    the ``1e-4`` floor keeps an all-zero (freshly initialised) kernel finite.
    """
    width, c_in, _ = w.shape
    w = w - jnp.mean(w, axis=(0, 1), keepdims=True)
    var = jnp.var(w, axis=(0, 1), keepdims=True)
    return w * (scale * jax.lax.rsqrt(jnp.maximum(width * c_in * var, jnp.asarray(1e-4, w.dtype))))


class StandardizedConv1D(nn.Module):
    """Weight-standardised 1-D convolution (SAME), params ``w [k, in, out]``, ``scale``, ``bias``."""

    features: int
    width: int
    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        w = read(self.param("w", nn.initializers.zeros, (self.width, x.shape[-1], self.features)), self.dtype)
        scale = read(self.param("scale", nn.initializers.ones, (1, 1, self.features)), self.dtype)
        bias = read(self.param("bias", nn.initializers.zeros, (self.features,)), self.dtype)
        return _conv1d(x.astype(self.dtype), standardize_kernel(w, scale)) + bias


class ConvBlock(nn.Module):
    """Pre-activation block: RMSBatchNorm -> sigmoid GELU -> conv (width > 1) or Linear (width 1)."""

    features: int
    width: int
    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = gelu_sigmoid(RMSBatchNorm(dtype=self.dtype, name="rms_batch_norm")(x))
        if self.width == 1:
            return Linear(self.features, dtype=self.dtype, name="linear")(x)
        return StandardizedConv1D(self.features, self.width, dtype=self.dtype, name="standardized_conv1_d")(x)


def select_organism(values: Array, organism_index: Array) -> Array:
    """Per-batch-element slice of an organism-indexed parameter ``[num_organisms, ...]``."""
    return jnp.asarray(values)[organism_index]


class MultiOrganismLinear(nn.Module):
    """Organism-specific Linear of every head: ``w [O, in, out]``, ``b [O, out]``, float32 result."""

    features: int
    num_organisms: int = 2
    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array, organism_index: Array, channels: np.ndarray | None = None) -> Array:
        """``channels`` keeps only those output channels: the weights are sliced *before* the matmul."""
        d = x.shape[-1]
        w = self.param("w", truncated_normal(1.0 / math.sqrt(d)), (self.num_organisms, d, self.features))
        b = self.param("b", nn.initializers.zeros, (self.num_organisms, self.features))
        if channels is not None:
            w, b = w[..., channels], b[..., channels]
        w_b = select_organism(read(w, x.dtype), organism_index)
        b_b = select_organism(read(b, x.dtype), organism_index)
        y = jnp.einsum("b...i,bij->b...j", x, w_b, preferred_element_type=F32)
        return y + b_b.reshape((b_b.shape[0],) + (1,) * (x.ndim - 2) + (b_b.shape[-1],))
