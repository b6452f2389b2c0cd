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

import dataclasses
import functools
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
    """Max-pool by 2 along the sequence axis (SAME padding).

    The init value is a Python scalar so that JAX sees a concrete identity and
    emits its differentiable ``reduce_window_max`` (an array built under jit is
    a tracer, and the generic reduce_window has no transpose rule); the compiled
    HLO is the same either way.
    """
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 1), (1, 2, 1), "SAME")


def avg_pool(x: Array, by: int) -> Array:
    """Average-pool along the sequence axis as Haiku does: a windowed sum, then a divide (scalar init: see max_pool2)."""
    summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, by, 1), (1, by, 1), "VALID")
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


@dataclasses.dataclass(frozen=True)
class TrainMode:
    """How a training forward pass differs from inference; ``None`` in its place means inference.

    Frozen and hashable: it is a static argument under ``jit`` and ``nn.remat``.
    The reference trains nothing but new heads on a frozen trunk and publishes
    no batch-norm update rule and no dropout, so every choice here is genotile's:

    * ``batch_stats``: normalise every RMSBatchNorm with the batch statistic and
      update its ``var_ema`` (batch norm's training behaviour). ``False``
      keeps the stored ``var_ema`` and never changes it, which is what the
      reference's fine-tuning does in effect; choose it whenever the trunk is
      frozen (heads, LoRA), or the frozen trunk's activations would move.
    * ``ema_decay``: ``var_ema <- decay * var_ema + (1 - decay) * batch_var``, the
      standard EMA of Flax's and Keras's BatchNorm, with their default 0.99: a
      horizon of ~100 steps, short enough that the stored statistic follows the
      fine-tuning data within a run of 1,000 steps (the reference notebook's
      length), long enough to average out the noise of batches of one window.
    * ``dropout_rate``: dropout on the tower's MHA and MLP residual branches
      (before the residual add, as in the Transformer); the reference has no
      dropout, hence the default 0, which is the identity (no RNG needed).
    * ``remat``: rematerialise each encoder, tower and decoder block in the
      backward pass (``nn.remat``), trading ~1/3 more compute for activation
      memory, so that full fine-tuning at 1 Mb fits on one GPU.
    * ``axis_name``: inside ``shard_map``/``pmap``, the mapped axis over which
      batch statistics are averaged (``None`` under plain ``jit``, where a
      sharded batch's mean is already global).
    """

    batch_stats: bool = True
    ema_decay: float = 0.99
    dropout_rate: float = 0.0
    remat: bool = False
    axis_name: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema_decay <= 1.0:
            raise ValueError(f"ema_decay must be in [0, 1], got {self.ema_decay}")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")


def batch_variance(x: Array, axis_name: str | None = None) -> Array:
    """RMS "variance" of RMSBatchNorm: float32 mean of x^2 over every axis but the channels (no centring)."""
    var = jnp.mean(jnp.square(x.astype(F32)), axis=tuple(range(x.ndim - 1)), keepdims=True)
    return var if axis_name is None else jax.lax.pmean(var, axis_name)


def dropout(x: Array, train: TrainMode | None) -> Array:
    """Dropout of a residual branch in training (RNG stream ``dropout``); identity in inference or at rate 0.

    Call inside a compact method: it creates a parameter-free ``nn.Dropout``.
    """
    if train is None or train.dropout_rate == 0.0:
        return x
    return nn.Dropout(train.dropout_rate, deterministic=False)(x)


def rematerialised(cls: type[nn.Module], train: TrainMode | None, train_argnum: int) -> type[nn.Module]:
    """``cls``, or under ``TrainMode.remat`` its ``nn.remat`` form, built with the same names and variables.

    Only the block's inputs are kept for the backward pass; its inside is
    recomputed. ``train_argnum`` is the position of the block's ``train``
    argument (``self`` = 0), which must be passed positionally: it is static.
    """
    if train is None or not train.remat:
        return cls
    return _remat(cls, train_argnum)


@functools.cache
def _remat(cls: type[nn.Module], train_argnum: int) -> type[nn.Module]:
    return nn.remat(cls, static_argnums=(train_argnum,))


class RMSBatchNorm(nn.Module):
    """RMS batch norm: ``x * scale * rsqrt(var + 1e-5) + offset``, no mean subtraction.

    Inference (``train`` None, or ``batch_stats`` off): ``var`` is the stored
    state ``var_ema`` as is (the reference's code, which is inference-only).
    Training with ``batch_stats``: ``var`` is the batch statistic
    (:func:`batch_variance`, gradients flow through it as in batch norm) and
    ``var_ema`` takes one EMA step (``TrainMode.ema_decay``) unless initialising;
    that needs ``mutable=["state"]`` in ``apply``.
    """

    dtype: jnp.dtype = F32

    @nn.compact
    def __call__(self, x: Array, train: TrainMode | None = None) -> Array:
        shape = (1,) * (x.ndim - 1) + (x.shape[-1],)
        var_ema = self.variable("state", "var_ema", lambda: jnp.ones(shape, F32))
        scale = read(self.param("scale", nn.initializers.ones, shape), self.dtype)
        offset = read(self.param("offset", nn.initializers.zeros, shape), self.dtype)
        if train is None or not train.batch_stats:
            inv = scale * jax.lax.rsqrt(read(var_ema.value, self.dtype) + jnp.asarray(1e-5, self.dtype))
            return x * inv + offset
        var = batch_variance(x, train.axis_name)
        if not self.is_initializing():
            decay = train.ema_decay
            var_ema.value = decay * var_ema.value + (1.0 - decay) * jax.lax.stop_gradient(var)
        inv = scale * jax.lax.rsqrt(var + 1e-5).astype(self.dtype)
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
    def __call__(self, x: Array, train: TrainMode | None = None) -> Array:
        x = gelu_sigmoid(RMSBatchNorm(dtype=self.dtype, name="rms_batch_norm")(x, train))
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
