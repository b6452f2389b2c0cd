"""The AlphaGenome network as one Flax Linen module (the reference's ``alphagenome`` module tree).

Why Linen rather than NNX: a Linen variable tree is a plain nested dict that
is *the same tree* as the reference's Haiku checkpoint once module paths are
'/'-joined (names are chosen to match, see ``layers``), so loading the
published weights is a flatten plus a strict key/shape check; and a Linen
``apply`` is a pure function of (variables, inputs), which is what ``jit``,
sharding over devices and Orbax want. NNX's mutable object graph would add a
split/merge step at every one of those boundaries and buy nothing here.

What is computed is decided by an ``OutputRequest`` (static under jit):
heads not asked for are never traced, a 128-bp-only request skips the
decoder and the 1-bp embedder, and contact maps alone skip both sequence
embedders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genotile.model.config import GENOME_TRACK_RESOLUTIONS, ModelConfig, Precision, new_head_scope
from genotile.model.heads import (
    ContactMapsHead,
    GenomeTracksHead,
    OutputEmbedder,
    OutputPair,
    SpliceSitesClassificationHead,
    SpliceSitesJunctionHead,
    SpliceSitesUsageHead,
)
from genotile.model.layers import Embed, TrainMode
from genotile.model.splicing import splice_site_positions
from genotile.model.tower import TransformerTower
from genotile.model.unet import SequenceDecoder, SequenceEncoder
from genotile.outputs import CONTACT_MAPS, MODEL_HEADS, OUTPUTS, SLICEABLE_HEADS, SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES

Array = jax.Array
Predictions = dict[str, dict[str, Array] | Array]

ONE_BP_HEADS = frozenset(o.head for o in OUTPUTS if not o.genome_track and o.resolutions == (1,))


@dataclasses.dataclass(frozen=True)
class OutputRequest:
    """Which heads (and, for genome-track heads, which resolutions) to compute."""

    heads: tuple[str, ...] = MODEL_HEADS
    resolutions: tuple[int, ...] = (1, 128)
    embeddings: bool = False  # also return embeddings_1bp / _128bp / _pair that were computed
    #: Per head, the channels to compute (head weights are sliced before the matmul); absent = all.
    #: Applies to genome-track heads, contact maps and splice-site usage.
    channels: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: Sequence embeddings (1 and/or 128 bp) to compute and return even when no requested head reads them:
    #: variant scoring keeps them and runs a head only on the few positions a scorer reads
    #: (:meth:`AlphaGenome.track_head`).
    embedding_resolutions: tuple[int, ...] = ()
    #: Also return the transformer tower's output (``tower_output``, ``[B, S/128, D]``), the decoder's input:
    #: with the encoder skips it is what :meth:`AlphaGenome.embeddings_1bp_window` decodes a slice of.
    tower_output: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.heads) - set(MODEL_HEADS))
        if unknown:
            raise ValueError(f"unknown head(s) {unknown}; known heads: {', '.join(MODEL_HEADS)}")
        sliceable = SLICEABLE_HEADS
        not_sliceable = sorted({h for h, _ in self.channels} - sliceable)
        if not_sliceable:
            raise ValueError(f"channel selection is not supported for {not_sliceable}; only for {sorted(sliceable)}")
        bad = sorted((set(self.resolutions) | set(self.embedding_resolutions)) - {1, 128})
        if bad:
            raise ValueError(f"unknown resolution(s) {bad}; genome-track heads predict at 1 and 128 bp")

    def channels_for(self, head: str) -> np.ndarray | None:
        for name, index in self.channels:
            if name == head:
                return np.asarray(index, np.int32)
        return None

    def head_resolutions(self, head: str) -> tuple[int, ...]:
        return tuple(r for r in GENOME_TRACK_RESOLUTIONS[head] if r in self.resolutions)

    @property
    def genome_heads(self) -> tuple[str, ...]:
        return tuple(h for h in self.heads if h in GENOME_TRACK_RESOLUTIONS and self.head_resolutions(h))

    @property
    def needs_1bp(self) -> bool:
        return (
            bool(ONE_BP_HEADS & set(self.heads))
            or any(1 in self.head_resolutions(h) for h in self.genome_heads)
            or 1 in self.embedding_resolutions
        )

    @property
    def needs_128bp(self) -> bool:
        return self.needs_1bp or bool(self.genome_heads) or 128 in self.embedding_resolutions

    @property
    def needs_pair(self) -> bool:
        return CONTACT_MAPS.head in self.heads


ALL_OUTPUTS = OutputRequest()


class Heads(nn.Module):
    """The ``head`` scope: one submodule per head, named as in the checkpoint."""

    cfg: ModelConfig

    def setup(self) -> None:
        cfg, o = self.cfg, self.cfg.num_organisms
        for head in GENOME_TRACK_RESOLUTIONS:
            setattr(self, head, GenomeTracksHead(head, cfg.base_tracks(head), o))
        for head, count in cfg.new_tracks:  # fine-tuned tracks: a second head beside the original, head/<head>_new
            setattr(self, new_head_scope(head), GenomeTracksHead(head, count, o))
        # Attribute names are the checkpoint's parameter scopes (alphagenome/head/<head>): the heads of
        # genotile.outputs, spelled out so the modules read plainly (tests/model/test_model_layout.py checks them).
        self.contact_maps = ContactMapsHead(cfg.tracks(CONTACT_MAPS.head), o)
        self.splice_sites_classification = SpliceSitesClassificationHead(cfg.tracks(SPLICE_SITES.head), o)
        self.splice_sites_usage = SpliceSitesUsageHead(cfg.tracks(SPLICE_SITE_USAGE.head), o)
        self.splice_sites_junction = SpliceSitesJunctionHead(cfg)

    def genome(
        self,
        head: str,
        embeddings: dict[int, Array],
        organism_index: Array,
        means: Array,
        resolutions: tuple[int, ...],
        channels: np.ndarray | None,
    ) -> dict[str, Array]:
        """One genome-track head's outputs. With new tracks: original channels from ``head/<head>``, new ones
        from ``head/<head>_new``, concatenated on the channel axis; ``channels`` index the concatenated axis,
        each part computes only its own chosen channels, and the result is put back in the order asked for."""
        if not self.cfg.added_tracks(head):
            return getattr(self, head)(embeddings, organism_index, means, resolutions, channels)
        base = self.cfg.base_tracks(head)
        wanted = np.arange(self.cfg.tracks(head)) if channels is None else np.asarray(channels)
        old, new = wanted[wanted < base], wanted[wanted >= base] - base
        parts = []
        if len(old):
            old_channels = None if channels is None else old
            parts.append(getattr(self, head)(embeddings, organism_index, means[..., :base], resolutions, old_channels))
        if len(new):
            new_channels = None if channels is None else new
            head_new = getattr(self, new_head_scope(head))
            parts.append(head_new(embeddings, organism_index, means[..., base:], resolutions, new_channels))
        out = {k: jnp.concatenate([p[k] for p in parts], axis=-1) if len(parts) > 1 else parts[0][k] for k in parts[0]}
        concatenated = np.concatenate([old, new + base])
        if not np.array_equal(concatenated, wanted):  # channels asked for new before original ones
            position = {int(c): i for i, c in enumerate(concatenated)}
            take = np.array([position[int(c)] for c in wanted])
            out = {k: v[..., take] for k, v in out.items()}
        return out

    def junctions(self, embeddings_1bp: Array, positions: Array, organism_index: Array) -> dict[str, Array]:
        return self.splice_sites_junction(embeddings_1bp, positions, organism_index)


class AlphaGenome(nn.Module):
    """One-hot DNA ``[B, S, 4]`` and organism indices ``[B]`` -> the reference's prediction dict."""

    cfg: ModelConfig
    precision: Precision

    def setup(self) -> None:
        cfg, dt = self.cfg, self.precision.compute
        self.sequence_encoder = SequenceEncoder(cfg, dt)
        self.embed = Embed(cfg.num_organisms, cfg.tower_channels, dtype=dt)
        self.transformer_tower = TransformerTower(cfg, dt)
        self.sequence_decoder = SequenceDecoder(dt)
        self.output_embedder = OutputEmbedder(cfg.num_organisms, dt)
        self.output_embedder_1 = OutputEmbedder(cfg.num_organisms, dt)
        self.output_pair = OutputPair(cfg.num_organisms, dt)
        self.head = Heads(cfg)

    def __call__(
        self,
        dna: Array,
        organism_index: Array,
        track_means: Mapping[str, Array],
        request: OutputRequest = ALL_OUTPUTS,
        train: TrainMode | bool = False,
    ) -> Predictions:
        """``train`` off (the default) is inference, the reference's computation.

        ``train=True`` (or a ``TrainMode`` with other settings) is a training
        forward pass; with batch statistics on it updates ``var_ema``, so call
        ``apply(..., train=mode, mutable=["state"], rngs={"dropout": key})``,
        which returns ``(predictions, {"state": new_state})`` (``rngs`` only
        needed when ``dropout_rate > 0``).
        """
        trunk, skips = self.encode(dna, train)
        return self.from_encoder(trunk, skips, organism_index, track_means, request, train)

    def encode(self, dna: Array, train: TrainMode | bool = False) -> tuple[Array, dict[int, Array]]:
        """The sequence encoder alone: one-hot ``[B, S, 4]`` -> (trunk ``[B, S/128, D]``, skips by bin size).

        The first half of ``__call__``, split out so that variant scoring can compute a tile's REF encoder
        outputs once and patch them per ALT allele (``genotile.model.local_encoder``)."""
        return self.sequence_encoder(dna.astype(self.precision.compute), as_train_mode(train))

    def from_encoder(
        self,
        trunk: Array,
        skips: Mapping[int, Array],
        organism_index: Array,
        track_means: Mapping[str, Array],
        request: OutputRequest = ALL_OUTPUTS,
        train: TrainMode | bool = False,
    ) -> Predictions:
        """Everything after the encoder (organism embedding, tower, decoder, heads) on given encoder outputs.

        ``__call__`` is ``from_encoder(*encode(dna))``: the same operations in the same order, so its
        compiled bytes are those of the unsplit model (tests/model/test_train_mode.py pins them)."""
        mode = as_train_mode(train)
        trunk = trunk + self.embed(organism_index)[:, None, :]
        trunk, pair = self.transformer_tower(trunk, mode)

        emb: dict[int, Array] = {}
        if request.needs_128bp:
            emb[128] = self.output_embedder(trunk, organism_index, None, mode)
        if request.needs_1bp:
            decoded = self.sequence_decoder(trunk, skips, mode)
            emb[1] = self.output_embedder_1(decoded, organism_index, emb[128], mode)
        pair_emb = self.output_pair(pair, organism_index) if request.needs_pair else None

        out: Predictions = {}
        for head in request.genome_heads:
            out[head] = self.head.genome(
                head, emb, organism_index, track_means[head], request.head_resolutions(head), request.channels_for(head)
            )
        if pair_emb is not None:
            out[CONTACT_MAPS.head] = self.head.contact_maps(pair_emb, organism_index, request.channels_for(CONTACT_MAPS.head))
        wants_junctions = SPLICE_JUNCTIONS.head in request.heads
        classification = None
        if SPLICE_SITES.head in request.heads or wants_junctions:
            classification = self.head.splice_sites_classification(emb[1], organism_index)
            if SPLICE_SITES.head in request.heads:
                out[SPLICE_SITES.head] = classification
        if SPLICE_SITE_USAGE.head in request.heads:
            out[SPLICE_SITE_USAGE.head] = self.head.splice_sites_usage(
                emb[1], organism_index, request.channels_for(SPLICE_SITE_USAGE.head)
            )
        if wants_junctions:
            assert classification is not None
            positions = splice_site_positions(
                classification["predictions"], self.cfg.num_splice_sites, self.cfg.splice_site_threshold
            )
            out[SPLICE_JUNCTIONS.head] = self.head.junctions(emb[1], positions, organism_index)
        names = {1: "embeddings_1bp", 128: "embeddings_128bp"}
        if request.tower_output:
            out["tower_output"] = trunk
        if request.embeddings:
            out.update({names[r]: e for r, e in emb.items()})
            if pair_emb is not None:
                out["embeddings_pair"] = pair_emb
        else:
            out.update({names[r]: emb[r] for r in request.embedding_resolutions})
        return cast_floats(out, self.precision.output)

    def embeddings_1bp_window(
        self,
        tower_output: Array,
        skips: Mapping[int, Array],
        organism_index: Array,
        embeddings_128bp: Array,
        start_bin: Array,
        bins: int,
    ) -> Array:
        """The 1-bp embeddings of 128-bp bins ``[start_bin, start_bin + bins)`` only (inference), from the tower's
        output, the encoder skips and the 128-bp embeddings of the whole window.

        Why: the decoder is convolutional and its inference-mode normalisation reads stored statistics, so a
        1-bp position depends on the tower's output only within the decoder's receptive field (under 1 kb); a
        scorer that reads 501 bp needs the decoder on a few kb, not on the whole window. The slice's SAME padding
        is wrong only within that receptive field of a slice end that is not a window end, so a caller keeps
        a margin (``genotile.variants.device_pass.DECODER_MARGIN_BINS``) and reads the interior, which equals
        the whole-window decoder's to float32 rounding (tests/variants/test_device_pass.py)."""
        dt = self.precision.compute

        def window(x: Array, per_bin: int) -> Array:
            return jax.lax.dynamic_slice_in_dim(x, start_bin * per_bin, bins * per_bin, axis=1)

        trunk = window(tower_output.astype(dt), 1)
        sliced = {b: window(skip, 128 // b) for b, skip in skips.items()}
        decoded = self.sequence_decoder(trunk, sliced, None)
        emb = self.output_embedder_1(decoded, organism_index, window(embeddings_128bp.astype(dt), 1), None)
        return emb.astype(self.precision.output)

    def track_head(
        self,
        head: str,
        embeddings: Array,
        organism_index: Array,
        track_means: Array,
        resolution: int,
        channels: np.ndarray | None = None,
    ) -> dict[str, Array]:
        """One genome-track head at one resolution on given embeddings ``[B, N, C]`` (any ``N`` positions).

        Why: a genome-track head is pointwise along the sequence, so running it on the few positions a
        variant scorer reads (a centre mask of 501 bp in a 1 Mb window) gives those positions' outputs of
        the whole-window head, at a fraction of the cost (``genotile.variants.device_pass``). The embeddings
        are those ``from_encoder`` returns (``embedding_resolutions``); the outputs are cast as its are."""
        emb = {resolution: embeddings.astype(self.precision.compute)}
        out = self.head.genome(head, emb, organism_index, track_means, (resolution,), channels)
        return cast_floats(out, self.precision.output)

    def splice_head(self, head: str, embeddings_1bp: Array, organism_index: Array, channels: np.ndarray | None = None) -> dict[str, Array]:
        """The splice-site classification or usage head alone on given 1-bp embeddings ``[B, N, C]``, cast as
        ``from_encoder`` casts it (``channels``: usage tracks to compute; the classes are always all five).

        Why: variant scorers reduced on the device (``genotile.variants.device_pass``) read these heads' outputs
        from the embeddings a pass keeps, like :meth:`track_head`."""
        emb = embeddings_1bp.astype(self.precision.compute)
        if head == SPLICE_SITES.head:
            out = self.head.splice_sites_classification(emb, organism_index)
        elif head == SPLICE_SITE_USAGE.head:
            out = self.head.splice_sites_usage(emb, organism_index, channels)
        else:
            raise ValueError(f"{head!r} is not a splice-site head")
        return cast_floats(out, self.precision.output)

    def predict_junctions(self, embeddings_1bp: Array, positions: Array, organism_index: Array) -> Predictions:
        """Junction head alone, on given embeddings and site positions (variant scoring re-uses REF/ALT sites)."""
        result = self.head.junctions(embeddings_1bp.astype(self.precision.compute), positions, organism_index)
        return cast_floats(result, self.precision.output)


def as_train_mode(train: TrainMode | bool) -> TrainMode | None:
    """``False`` -> None (inference), ``True`` -> the default ``TrainMode``, a ``TrainMode`` as is."""
    if isinstance(train, TrainMode):
        return train
    if isinstance(train, bool):
        return TrainMode() if train else None
    raise TypeError(f"train must be a bool or a TrainMode, got {type(train).__name__}")


def cast_floats(tree, dtype: jnp.dtype):
    """Cast every floating leaf to the output dtype; integer and boolean leaves pass through."""
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
