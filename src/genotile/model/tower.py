"""Transformer tower over 128-bp tokens with a 2,048-bp pair representation (the reference's ``alphagenome/transformer_tower``).

Nine layers of multi-query attention (8 query heads, one shared K/V head,
RoPE, tanh soft-cap 5) whose additive bias comes from a pair map that five
pair-update blocks refine. Names mirror the reference's Haiku modules.

One departure in *form*, not value: the reference materialises the attention
bias repeated 16x along both token axes ([B, 8, T, T], 1 GiB at 1 Mb); here
the un-repeated pair bias is broadcast into the logits blockwise, which adds
the same numbers without the copy.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genotile.model.config import ModelConfig
from genotile.model.layers import (
    F32,
    LayerNorm,
    Linear,
    RMSBatchNorm,
    TrainMode,
    avg_pool,
    dot_bf16_f32,
    dropout,
    gelu_tanh,
    read,
    rematerialised,
)

Array = jax.Array
PAIR_POOL = 16  # 128-bp tokens per 2,048-bp pair token
SOFT_CAP = 5.0


def indexed_name(base: str, i: int) -> str:
    """Haiku's naming of the i-th sibling of one class: ``base``, ``base_1``, ``base_2`` ..."""
    return base if i == 0 else f"{base}_{i}"


def apply_rope(x: Array, positions: Array, max_position: int) -> Array:
    """Rotary embedding, GPT-J interleaved pairs, on ``x [B, S, H, C]``.

    Positions and the inverse frequencies are used in x's dtype: in bf16 the
    8,192 token positions collapse to 897 distinct values, as in the trained
    model (the reference computes RoPE in bf16); the junction head passes integer positions and float32 x.
    """
    num_freq = x.shape[-1] // 2
    inv_freq = 1.0 / (jnp.arange(num_freq) + jnp.geomspace(1, max_position - num_freq + 1, num_freq)).astype(x.dtype)
    theta = jnp.einsum("bs,f->bsf", positions, inv_freq)
    theta = jnp.repeat(theta, 2, axis=-1)[..., None, :]
    rotated = jnp.stack([-x[..., 1::2], x[..., ::2]], axis=-1).reshape(x.shape)
    return x * jnp.cos(theta) + rotated * jnp.sin(theta)


def relative_shift(x: Array, length: int) -> Array:
    """``[..., L, 2L]`` scores by relative offset -> ``[..., L, L]`` with out[i, j] = x[i, j - i + L]."""
    *batch, rows, diags = x.shape
    x = x.reshape(*batch, diags, rows)[..., 1:, :]
    return x.reshape(*batch, rows, diags - 1)[..., :length]


def central_mask_features(distances: Array, num_features: int, length: int) -> Array:
    """Indicator features 1[width_f > d] with geometrically spaced widths (geomspace *without* endpoint)."""
    widths = jnp.arange(num_features) + jnp.geomspace(1, length - num_features + 1, num_features, endpoint=False)
    return (widths > distances[..., None]).astype(distances.dtype)


class MHABlock(nn.Module):
    """Multi-query attention branch; its output is normalised before the residual add."""

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, pair_bias: Array, train: TrainMode | None = None) -> Array:
        cfg, dt = self.cfg, self.dtype
        b, t, d = x.shape
        h = RMSBatchNorm(dtype=dt, name="rms_batch_norm")(x, train)
        q = Linear(cfg.num_heads * cfg.qk_dim, use_bias=False, dtype=dt, name="q_layer")(h)
        q = LayerNorm(dtype=dt, name="norm_q")(q.reshape(b, t, cfg.num_heads, cfg.qk_dim))
        k = Linear(cfg.qk_dim, use_bias=False, dtype=dt, name="k_layer")(h)
        k = LayerNorm(dtype=dt, name="norm_k")(k.reshape(b, t, 1, cfg.qk_dim))
        v = Linear(cfg.v_dim, use_bias=False, dtype=dt, name="v_layer")(h)
        v = LayerNorm(dtype=dt, name="norm_v")(v.reshape(b, t, 1, cfg.v_dim))
        positions = jnp.arange(t).astype(dt)[None, :]
        q = apply_rope(q, positions, cfg.rope_max_position)
        k = apply_rope(k, positions, cfg.rope_max_position)

        logits = dot_bf16_f32("bshc,bSc->bhsS", q, k[:, :, 0]) / math.sqrt(cfg.qk_dim)
        p = t // PAIR_POOL
        logits = logits.reshape(b, cfg.num_heads, p, PAIR_POOL, p, PAIR_POOL)
        logits = logits + pair_bias[:, :, :, None, :, None].astype(F32)
        logits = logits.reshape(b, cfg.num_heads, t, t)
        logits = jnp.tanh(logits / SOFT_CAP) * SOFT_CAP
        weights = jax.nn.softmax(logits, axis=-1)
        y = dot_bf16_f32("bhsS,bSc->bshc", weights, v[:, :, 0]).astype(dt)
        y = Linear(d, dtype=dt, name="linear_embedding")(y.reshape(b, t, -1))
        return RMSBatchNorm(dtype=dt, name="rms_batch_norm_1")(y, train)


class MLPBlock(nn.Module):
    """Norm -> Linear(2D) -> ReLU -> Linear(D) -> norm."""

    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, train: TrainMode | None = None) -> Array:
        d = x.shape[-1]
        h = RMSBatchNorm(dtype=self.dtype, name="rms_batch_norm")(x, train)
        h = jax.nn.relu(Linear(2 * d, dtype=self.dtype, name="linear")(h))
        h = Linear(d, dtype=self.dtype, name="linear_1")(h)
        return RMSBatchNorm(dtype=self.dtype, name="rms_batch_norm_1")(h, train)


class AttentionBiasBlock(nn.Module):
    """Pair map ``[B, P, P, F]`` -> per-head bias ``[B, H, P, P]`` (tanh GELU, no bias term)."""

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, pair: Array, train: TrainMode | None = None) -> Array:
        x = gelu_tanh(RMSBatchNorm(dtype=self.dtype, name="rms_batch_norm")(pair, train))
        x = Linear(self.cfg.num_heads, use_bias=False, dtype=self.dtype, name="linear")(x)
        return jnp.moveaxis(x, 3, 1)


class SequenceToPairBlock(nn.Module):
    """Tokens -> pair map: content and relative-position terms, no scaling and no softmax."""

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array) -> Array:
        cfg, dt = self.cfg, self.dtype
        nh, hd = cfg.seq2pair_heads, cfg.seq2pair_head_dim
        x = LayerNorm(rms=True, dtype=dt, name="norm_seq2pair")(avg_pool(x, PAIR_POOL))
        b, p = x.shape[0], x.shape[1]
        q = Linear(nh * hd, use_bias=False, dtype=dt, name="linear_q")(x).reshape(b, p, nh, hd)
        k = Linear(nh * hd, use_bias=False, dtype=dt, name="linear_k")(x).reshape(b, p, nh, hd)

        relative = jnp.arange(-p, p).astype(F32)
        features = central_mask_features(jnp.abs(relative), cfg.pair_pos_features, cfg.pair_rel_length).astype(dt)
        features = jnp.concatenate([features, jnp.sign(relative)[:, None] * features], axis=-1).astype(dt)
        pos = Linear(nh * hd, dtype=dt, name="linear_pos_features")(features).reshape(2 * p, nh, hd)

        q_bias = read(self.param("q_r_bias", nn.initializers.zeros, (1, 1, nh, hd)), dt)
        k_bias = read(self.param("k_r_bias", nn.initializers.zeros, (1, 1, nh, hd)), dt)
        rel_q = relative_shift(jnp.einsum("bqhc,phc->bhqp", q + q_bias, pos), p)
        rel_k = relative_shift(jnp.einsum("bkhc,phc->bhkp", k + k_bias, pos), p)
        a = jnp.einsum("bqhc,bkhc->bqkh", q, k)
        a = a + 0.5 * (jnp.transpose(rel_q, (0, 2, 3, 1)) + jnp.transpose(rel_k, (0, 3, 2, 1)))

        y_q = Linear(cfg.pair_channels, use_bias=False, dtype=dt, name="linear_y_q")(gelu_tanh(x))
        y_k = Linear(cfg.pair_channels, use_bias=False, dtype=dt, name="linear_y_k")(gelu_tanh(x))
        pair = Linear(cfg.pair_channels, dtype=dt, name="linear_pair")(a)
        return pair + y_q[:, :, None, :] + y_k[:, None, :, :]


class RowAttentionBlock(nn.Module):
    """Single-head attention along each row of the pair map; no output projection."""

    dtype: jnp.dtype

    @nn.compact
    def __call__(self, pair: Array) -> Array:
        f = pair.shape[-1]
        x = LayerNorm(rms=True, dtype=self.dtype, name="layer_norm")(pair)
        k = Linear(f, use_bias=False, dtype=self.dtype, name="linear_k")(x)
        q = Linear(f, use_bias=False, dtype=self.dtype, name="linear_q")(x)
        v = Linear(f, dtype=self.dtype, name="linear_v")(x)
        logits = dot_bf16_f32("bpqf,bpkf->bpqk", q, k) / math.sqrt(f)
        weights = jax.nn.softmax(logits, axis=-1)
        return dot_bf16_f32("bpqk,bpkf->bpqf", weights, v).astype(q.dtype)


class PairMLPBlock(nn.Module):
    """RMS LayerNorm -> Linear(2F) -> ReLU -> Linear(F)."""

    dtype: jnp.dtype

    @nn.compact
    def __call__(self, pair: Array) -> Array:
        f = pair.shape[-1]
        x = LayerNorm(rms=True, dtype=self.dtype, name="layer_norm")(pair)
        x = jax.nn.relu(Linear(2 * f, dtype=self.dtype, name="linear")(x))
        return Linear(f, dtype=self.dtype, name="linear_1")(x)


class PairUpdateBlock(nn.Module):
    """pair <- pair + seq2pair(x); pair += row attention; pair += pair MLP."""

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, pair: Array | None, train: TrainMode | None = None) -> Array:
        del train  # no batch norm in the pair update; the argument is there for rematerialised()'s static slot
        y = SequenceToPairBlock(self.cfg, self.dtype, name="sequence_to_pair_block")(x)
        pair = y if pair is None else pair + y
        pair = pair + RowAttentionBlock(self.dtype, name="row_attention_block")(pair)
        return pair + PairMLPBlock(self.dtype, name="pair_mlp_block")(pair)


class TransformerTower(nn.Module):
    """``[B, T, D]`` tokens -> (tokens, pair map ``[B, T/16, T/16, F]``).

    In training, the MHA and MLP branches get dropout before their residual
    add, and each block can be rematerialised (see ``TrainMode``).
    """

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, train: TrainMode | None = None) -> tuple[Array, Array]:
        pair = None
        for i in range(self.cfg.tower_layers):
            if i % 2 == 0:
                pair_block = rematerialised(PairUpdateBlock, train, 3)
                pair = pair_block(self.cfg, self.dtype, name=indexed_name("pair_update_block", i // 2))(x, pair, train)
            bias_block = rematerialised(AttentionBiasBlock, train, 2)
            bias = bias_block(self.cfg, self.dtype, name=indexed_name("attention_bias_block", i))(pair, train)
            mha = rematerialised(MHABlock, train, 3)(self.cfg, self.dtype, name=indexed_name("mha_block", i))
            x = x + dropout(mha(x, bias, train), train)
            mlp = rematerialised(MLPBlock, train, 2)(self.dtype, name=indexed_name("mlp_block", i))
            x = x + dropout(mlp(x, train), train)
        assert pair is not None
        return x, pair
