"""Output embedders and the 11 heads (the reference's ``output_embedder*`` and ``head/<name>`` modules).

Heads take the organism index and read their organism's slice of every
weight. Genome-track heads also need each track's ``nonzero_mean`` (from the
metadata) to map predictions back to data scale; those means are passed in
as arrays, not parameters, because they belong to the metadata the user
supplies, not to the checkpoint. Padding tracks have NaN means and so
predict NaN, as in the reference.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genotile.model.config import SQUASHED_HEADS, ModelConfig
from genotile.model.layers import (
    F32,
    Embed,
    LayerNorm,
    Linear,
    MultiOrganismLinear,
    RMSBatchNorm,
    TrainMode,
    dot_bf16_f32,
    gelu_sigmoid,
    read,
    select_organism,
    truncated_normal,
)
from genotile.model.tower import apply_rope
from genotile.outputs import SPLICE_JUNCTIONS

Array = jax.Array
SOFT_CLIP = 10.0


class OutputEmbedder(nn.Module):
    """Linear(2x) [+ projected, repeated coarser embedding] -> norm -> + organism vector -> GELU."""

    num_organisms: int
    dtype: jnp.dtype

    @nn.compact
    def __call__(
        self, x: Array, organism_index: Array, coarse: Array | None = None, train: TrainMode | None = None
    ) -> Array:
        x = Linear(2 * x.shape[-1], dtype=self.dtype, name="linear")(x)
        if coarse is not None:
            c = Linear(x.shape[-1], use_bias=False, dtype=self.dtype, name="linear_1")(coarse)
            b, s, d = x.shape
            repeat = s // c.shape[1]
            x = (x.reshape(b, c.shape[1], repeat, d) + c[:, :, None, :]).reshape(b, s, d)
        x = RMSBatchNorm(dtype=self.dtype, name="rms_batch_norm")(x, train)
        x = x + Embed(self.num_organisms, x.shape[-1], dtype=self.dtype, name="embed")(organism_index)[:, None, :]
        return gelu_sigmoid(x)


class OutputPair(nn.Module):
    """Symmetrise the pair map exactly, RMS LayerNorm, + organism vector, GELU."""

    num_organisms: int
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, pair: Array, organism_index: Array) -> Array:
        x = (pair + jnp.swapaxes(pair, 1, 2)) / 2.0
        x = LayerNorm(rms=True, dtype=self.dtype, name="layer_norm")(x)
        org = Embed(self.num_organisms, x.shape[-1], dtype=self.dtype, name="embed")(organism_index)
        return gelu_sigmoid(x + org[:, None, None, :])


def unscale_predictions(x: Array, track_means: Array, resolution: int, squashed: bool) -> Array:
    """Model space -> data scale: undo the soft clip, then (RNA-seq) the 0.75 power, then x mean x resolution."""
    x = jnp.where(x > SOFT_CLIP, (x + SOFT_CLIP) ** 2 / (4 * SOFT_CLIP), x)
    if squashed:
        x = jnp.power(x, 1.0 / 0.75)
    return x * (track_means[:, None, :] * resolution).astype(x.dtype)


class TrackResolution(nn.Module):
    """One resolution of a genome-track head: softplus(linear) * softplus(learnt_scale)."""

    tracks: int
    num_organisms: int

    @nn.compact
    def __call__(self, x: Array, organism_index: Array, channels: np.ndarray | None = None) -> Array:
        lin = MultiOrganismLinear(self.tracks, self.num_organisms, name="multi_organism_linear")
        z = lin(x, organism_index, channels)
        scale = self.param("learnt_scale", nn.initializers.ones, (self.num_organisms, self.tracks))
        if channels is not None:
            scale = scale[..., channels]
        scale = select_organism(read(read(scale, x.dtype), z.dtype), organism_index)
        return jax.nn.softplus(z) * jax.nn.softplus(scale[:, None, :])


class GenomeTracksHead(nn.Module):
    """ATAC, DNase, PRO-cap, CAGE, RNA-seq (1 and 128 bp), ChIP-TF and ChIP-histone (128 bp)."""

    head: str
    tracks: int
    num_organisms: int

    @nn.compact
    def __call__(
        self,
        embeddings: dict[int, Array],
        organism_index: Array,
        track_means: Array,
        resolutions: tuple[int, ...],
        channels: np.ndarray | None = None,
    ) -> dict[str, Array]:
        out: dict[str, Array] = {}
        means = jnp.asarray(track_means, F32)
        if channels is not None:
            means = means[..., channels]
        means = select_organism(means, organism_index)
        for r in resolutions:
            scaled = TrackResolution(self.tracks, self.num_organisms, name=f"resolution_{r}")(
                embeddings[r], organism_index, channels
            )
            out[f"scaled_predictions_{r}bp"] = scaled
            out[f"predictions_{r}bp"] = unscale_predictions(scaled, means, r, self.head in SQUASHED_HEADS)
        return out


class ContactMapsHead(nn.Module):
    """Raw model-space contact maps from the pair embedding: one organism-specific linear."""

    tracks: int
    num_organisms: int

    @nn.compact
    def __call__(self, pair_embeddings: Array, organism_index: Array, channels: np.ndarray | None = None) -> dict[str, Array]:
        lin = MultiOrganismLinear(self.tracks, self.num_organisms, name="multi_organism_linear")
        return {"predictions": lin(pair_embeddings, organism_index, channels)}


class SpliceSitesClassificationHead(nn.Module):
    """Five-way softmax per base: donor+, acceptor+, donor-, acceptor-, none."""

    tracks: int
    num_organisms: int

    @nn.compact
    def __call__(self, x: Array, organism_index: Array) -> dict[str, Array]:
        logits = MultiOrganismLinear(self.tracks, self.num_organisms, name="multi_organism_linear")(x, organism_index)
        return {"logits": logits, "predictions": jax.nn.softmax(logits.astype(F32), axis=-1)}


class SpliceSitesUsageHead(nn.Module):
    """Sigmoid usage per base and tissue/strand track, returned as float16 like the reference."""

    tracks: int
    num_organisms: int

    @nn.compact
    def __call__(self, x: Array, organism_index: Array, channels: np.ndarray | None = None) -> dict[str, Array]:
        lin = MultiOrganismLinear(self.tracks, self.num_organisms, name="multi_organism_linear")
        logits = lin(x, organism_index, channels)
        return {"logits": logits, "predictions": jax.nn.sigmoid(logits.astype(F32)).astype(jnp.float16)}


class JunctionSiteEmbedding(nn.Module):
    """Per-tissue scale/offset of the gathered site projections, then float32 RoPE at genomic positions."""

    num_organisms: int
    tissues: int
    dim: int
    max_position: int

    @nn.compact
    def __call__(self, projected: Array, positions: Array, organism_index: Array, dtype: jnp.dtype) -> Array:
        x = jnp.take_along_axis(projected, jnp.where(positions < 0, positions + projected.shape[1], positions)[..., None], axis=1)
        x = x.astype(F32)
        table = self.param(
            "embeddings", truncated_normal(0.1), (self.num_organisms, 2 * self.tissues * self.dim)
        )
        table = read(read(table, dtype), F32).reshape(self.num_organisms, 2, self.tissues, self.dim)
        table = select_organism(table, organism_index)
        scale, offset = table[:, 0:1], table[:, 1:2]  # [B, 1, T, C]
        x = scale * x[:, :, None, :] + offset
        return apply_rope(x, positions, self.max_position)


class SpliceSitesJunctionHead(nn.Module):
    """Junction counts for every donor x acceptor pair of the given site positions, per tissue and strand."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, embeddings_1bp: Array, positions: Array, organism_index: Array) -> dict[str, Array]:
        cfg = self.cfg
        tissues = cfg.tracks(SPLICE_JUNCTIONS.head)
        projected = MultiOrganismLinear(cfg.junction_dim, cfg.num_organisms, name="multi_organism_linear")(
            embeddings_1bp, organism_index
        )

        def site(name: str, row: int) -> Array:
            module = JunctionSiteEmbedding(
                cfg.num_organisms, tissues, cfg.junction_dim, cfg.junction_max_position, name=name
            )
            return module(projected, positions[:, row], organism_index, embeddings_1bp.dtype)

        pos_acceptor = site("pos_acceptor_logits", 1)
        pos_donor = site("pos_donor_logits", 0)
        neg_acceptor = site("neg_acceptor_logits", 3)
        neg_donor = site("neg_donor_logits", 2)
        pos_counts = jax.nn.softplus(_pair_dot(pos_donor, pos_acceptor))
        neg_counts = jax.nn.softplus(_pair_dot(neg_donor, neg_acceptor))

        valid = positions >= 0
        pos_mask = valid[:, 0, :, None] & valid[:, 1, None, :]
        neg_mask = valid[:, 2, :, None] & valid[:, 3, None, :]
        # Every tissue row counts as real (the reference's tissue mask counts mouse padding rows too).
        shape = pos_mask.shape + (tissues,)
        mask = jnp.concatenate(
            [jnp.broadcast_to(pos_mask[..., None], shape), jnp.broadcast_to(neg_mask[..., None], shape)], axis=-1
        )
        counts = jnp.where(mask, jnp.concatenate([pos_counts, neg_counts], axis=-1), 0)
        return {"predictions": counts, "splice_site_positions": positions, "splice_junction_mask": mask}


def _pair_dot(donor: Array, acceptor: Array) -> Array:
    """Donor x acceptor dot products per tissue: ``[B, D, T, C] x [B, A, T, C] -> [B, D, A, T]``, no 1/sqrt(d)."""
    return dot_bf16_f32("bdtc,batc->bdat", donor, acceptor)

