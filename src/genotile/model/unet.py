"""The convolutional U-Net halves: 1 bp -> 128 bp encoder and 128 bp -> 1 bp decoder (the reference's ``sequence_encoder`` and ``sequence_decoder``).

The encoder keeps the pre-pool activation of every block as a U-Net skip;
the decoder consumes them from coarse to fine. Encoder residuals *zero-pad*
channels, decoder residuals *truncate* them (as the reference does; an easy detail to get wrong).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genotile.model.config import ModelConfig
from genotile.model.layers import Conv1D, ConvBlock, TrainMode, max_pool2, read, rematerialised

Array = jax.Array
SKIP_BIN_SIZES = (1, 2, 4, 8, 16, 32, 64)


class DnaEmbedder(nn.Module):
    """Plain width-15 conv on one-hot DNA plus a residual conv block."""

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, train: TrainMode | None = None) -> Array:
        x = Conv1D(self.cfg.embed_channels, 15, dtype=self.dtype, name="conv1_d")(x)
        return x + ConvBlock(self.cfg.embed_channels, 5, dtype=self.dtype, name="conv_block")(x, train)


class DownResBlock(nn.Module):
    """Widen by ``channel_step``: conv block + zero-padded residual, then a second residual conv block."""

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, train: TrainMode | None = None) -> Array:
        c_out = x.shape[-1] + self.cfg.channel_step
        out = ConvBlock(c_out, 5, dtype=self.dtype, name="conv_block")(x, train)
        out = out + jnp.pad(x, ((0, 0), (0, 0), (0, self.cfg.channel_step)))
        return out + ConvBlock(c_out, 5, dtype=self.dtype, name="conv_block_1")(out, train)


class SequenceEncoder(nn.Module):
    """One-hot ``[B, S, 4]`` -> trunk ``[B, S/128, D]`` plus skips keyed by bin size."""

    cfg: ModelConfig
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, dna: Array, train: TrainMode | None = None) -> tuple[Array, dict[int, Array]]:
        skips: dict[int, Array] = {}
        x = rematerialised(DnaEmbedder, train, 2)(self.cfg, self.dtype, name="dna_embedder")(dna, train)
        skips[1] = x
        x = max_pool2(x)
        for i, bin_size in enumerate(SKIP_BIN_SIZES[1:]):
            x = rematerialised(DownResBlock, train, 2)(self.cfg, self.dtype, name=f"downres_block_{i}")(x, train)
            skips[bin_size] = x
            x = max_pool2(x)
        return x, skips


class UpResBlock(nn.Module):
    """Double the resolution: conv with truncated residual, repeat x2, scale, add the skip branch, conv."""

    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, skip: Array, train: TrainMode | None = None) -> Array:
        c = skip.shape[-1]
        out = ConvBlock(c, 5, dtype=self.dtype, name="conv_in")(x, train) + x[:, :, :c]
        out = jnp.repeat(out, 2, axis=1)
        out = out * read(self.param("residual_scale", nn.initializers.ones, ()), out.dtype)
        out = out + ConvBlock(c, 1, dtype=self.dtype, name="pointwise_conv_unet_skip")(skip, train)
        return out + ConvBlock(c, 5, dtype=self.dtype, name="conv_out")(out, train)


class SequenceDecoder(nn.Module):
    """Trunk ``[B, S/128, D]`` -> ``[B, S, embed_channels]`` through the seven skips."""

    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: Array, skips: dict[int, Array], train: TrainMode | None = None) -> Array:
        for i, bin_size in enumerate(reversed(SKIP_BIN_SIZES)):
            name = "up_res_block" if i == 0 else f"up_res_block_{i}"
            x = rematerialised(UpResBlock, train, 3)(self.dtype, name=name)(x, skips[bin_size], train)
        return x
