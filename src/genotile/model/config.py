"""Model sizes and numeric policies.

One code path serves every size: ``full`` is the published AlphaGenome
architecture exactly (450,452,613 parameters, 100,608 state values); ``tiny``
keeps every module, name, head and track count but shrinks the widths so a
16 kb forward pass runs in well under a second on a laptop CPU. Anything not
in this config (7 pools to 128 bp, pair tokens of 2,048 bp, the order of
blocks) is fixed by the architecture and hard-coded in the modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

import jax.numpy as jnp

from genotile.outputs import GENOME_TRACK_HEADS, OUTPUTS, RNA_SEQ

#: Padded channel count of every head (same for both organisms), as counted in the official track metadata;
#: from :mod:`genotile.outputs`.
HEAD_TRACKS: Mapping[str, int] = {o.head: o.channels for o in OUTPUTS}  # junctions: tissues (2 x channels)

#: Genome-track heads and the resolutions (bp) they predict at.
GENOME_TRACK_RESOLUTIONS: Mapping[str, tuple[int, ...]] = GENOME_TRACK_HEADS

#: Heads whose 1/0.75 power compression must be undone (RNA-seq only).
SQUASHED_HEADS = frozenset({RNA_SEQ.head})

#: Parameter scope of the head that predicts a genome-track head's added (fine-tuned) tracks: ``head/<head>_new``.
NEW_HEAD_SUFFIX = "_new"


def new_head_scope(head: str) -> str:
    """The scope (under ``head/``) of the second head holding ``head``'s new tracks; the original is untouched."""
    return f"{head}{NEW_HEAD_SUFFIX}"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Widths of one model size. Frozen and hashable so jit can key on it."""

    name: str
    embed_channels: int = 768  # DNA embedder width at 1 bp
    channel_step: int = 128  # channels added by each of the 6 down-res blocks
    tower_layers: int = 9
    num_heads: int = 8  # query heads; one shared K/V head (multi-query)
    qk_dim: int = 128
    v_dim: int = 192
    pair_channels: int = 128
    seq2pair_heads: int = 32
    seq2pair_head_dim: int = 128
    pair_pos_features: int = 32
    rope_max_position: int = 8192  # 1 Mb / 128 bp, a constant of the reference
    pair_rel_length: int = 512  # 8192 / 16: fixed, independent of the input length
    junction_dim: int = 768
    junction_max_position: int = 1 << 20
    num_organisms: int = 2
    num_splice_sites: int = 512
    splice_site_threshold: float = 0.1
    head_tracks: tuple[tuple[str, int], ...] = tuple(HEAD_TRACKS.items())
    #: Tracks added by fine-tuning, per genome-track head (``(head, count)``): a second head ``head/<head>_new``
    #: predicts them, and they follow the original channels (new track i is channel ``base_tracks(head) + i``).
    new_tracks: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        bad = sorted(h for h, n in self.new_tracks if h not in GENOME_TRACK_RESOLUTIONS or int(n) < 1)
        if bad:
            raise ValueError(
                f"new_tracks {dict(self.new_tracks)}: only genome-track heads ({', '.join(GENOME_TRACK_RESOLUTIONS)}) "
                f"take new tracks, each with 1 or more; not {bad}"
            )

    @property
    def tower_channels(self) -> int:
        return self.embed_channels + 6 * self.channel_step

    def tracks(self, head: str) -> int:
        """All channels a head outputs: the original tracks, then the new ones (what consumers of outputs want)."""
        return dict(self.head_tracks)[head] + self.added_tracks(head)

    def base_tracks(self, head: str) -> int:
        """The original head's channels (the shapes of its parameters)."""
        return dict(self.head_tracks)[head]

    def added_tracks(self, head: str) -> int:
        """The new tracks of a head (0 when it has none)."""
        return dict(self.new_tracks).get(head, 0)

    def without_new_tracks(self) -> "ModelConfig":
        """The base model's config (the same widths, no new heads)."""
        return dataclasses.replace(self, new_tracks=())


FULL = ModelConfig(name="full")

TINY = ModelConfig(
    name="tiny",
    embed_channels=32,
    channel_step=16,
    tower_layers=2,
    num_heads=2,
    qk_dim=16,
    v_dim=24,
    pair_channels=16,
    seq2pair_heads=4,
    seq2pair_head_dim=16,
    pair_pos_features=8,
    junction_dim=32,
    num_splice_sites=128,  # the 512 x 512 x 734 junction tensor alone would cost seconds on a CPU
)

CONFIGS: Mapping[str, ModelConfig] = {"full": FULL, "tiny": TINY}


def get_config(size: str | ModelConfig) -> ModelConfig:
    """Look a size up by name, with an error that lists the known sizes."""
    if isinstance(size, ModelConfig):
        return size
    try:
        return CONFIGS[size]
    except KeyError:
        raise ValueError(f"unknown model size {size!r}; choose one of: {', '.join(CONFIGS)}") from None


@dataclasses.dataclass(frozen=True)
class Precision:
    """Numeric policy: parameters are always stored in float32.

    ``bfloat16`` reproduces the reference's jmp policy
    (``params=float32,compute=bfloat16,output=bfloat16``): every parameter and
    state read is rounded to bf16, activations are bf16 between modules with
    the reference's float32 islands, outputs are bf16. ``float32`` computes
    everything in float32 (CPU tests, training), except that the attention
    and junction dot products keep the reference's ``BF16_BF16_F32`` dot
    algorithm on accelerators, which the reference requests under every
    policy (see ``layers.dot_bf16_f32``).
    """

    name: Literal["bfloat16", "float32"]

    @property
    def compute(self) -> jnp.dtype:
        return jnp.dtype(jnp.bfloat16) if self.name == "bfloat16" else jnp.dtype(jnp.float32)

    @property
    def output(self) -> jnp.dtype:
        return self.compute


BF16 = Precision("bfloat16")
F32 = Precision("float32")


def get_precision(precision: str | Precision) -> Precision:
    if isinstance(precision, Precision):
        return precision
    aliases = {"bf16": BF16, "bfloat16": BF16, "f32": F32, "float32": F32}
    try:
        return aliases[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}; choose bfloat16 or float32") from None
