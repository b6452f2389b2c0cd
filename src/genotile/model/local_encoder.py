"""Exact local recomputation of the sequence encoder for an ALT allele (issue 15, item 5).

Why this is possible
--------------------
In inference the encoder (``unet.SequenceEncoder``) is local: every layer is a
SAME-padded convolution (the 1-D convs read only their ``width`` neighbours), a
pointwise map (RMSBatchNorm reads its *stored* ``var_ema``, GELU, residual adds,
the channel zero-padding) or a max-pool by 2. Weight standardisation acts on the
weights only. So a base changes encoder activations only within its receptive
field, and an ALT window whose one-hot differs from REF only in ``[a, b)`` has the
REF window's encoder outputs everywhere else, *bit for bit*. (Training with batch
statistics normalises by a statistic of the whole batch, so none of this holds
there: :func:`local_encode` is inference only.)

The stages
----------
Stage ``k`` (``k = 0..6``) runs at bin size ``2**k`` on ``N_k = S / 2**k`` positions:
its block maps the stage input ``X_k`` to the U-Net skip ``Y_k = skips[2**k]`` (the
pre-pool activation the decoder reads), and ``X_{k+1} = maxpool2(Y_k)``; the trunk
(the encoder's final output, before the organism embedding is added) is
``X_7 = maxpool2(Y_6)`` at 128 bp. ``X_0`` is the one-hot DNA.

* stage 0, ``dna_embedder``: conv width 15 (7 positions each side), then a residual
  conv block of width 5 (2 each side): halo ``h_0 = 9``;
* stages 1-6, ``downres_block_{k-1}``: two width-5 conv blocks in sequence (the
  zero-padded residual is pointwise): halo ``h_k = 4``;
* max-pool by 2 (SAME on an even length): ``X_{k+1}[j] = max(Y_k[2j], Y_k[2j+1])``.

Receptive field, exactly: trunk bin ``j`` (bases ``[128 j, 128 j + 128)``) reads the
input bases ``[128 j - 513, 128 j + 641)``, 1,154 bp: 513 bp beyond the bin on each
side (``513 = 9 + 4 * (2 + 4 + 8 + 16 + 32 + 64)``), symmetric because every conv is
centred and each pool reads a pair ``[2j, 2j + 1]``. Skip ``Y_k[i]`` reads
``X_k[i - h_k, i + h_k]``.

Changed spans: if ``X_k`` changes in ``[u_k, v_k)``, then ``Y_k`` changes in
``[p_k, q_k) = [max(u_k - h_k, 0), min(v_k + h_k, N_k))`` and ``X_{k+1}`` in
``[floor(p_k / 2), ceil(q_k / 2))``, with ``[u_0, v_0) = [a, b)``. For an SNV that is
at most 19 changed positions of the 1-bp skip, at most 18 of each coarser skip and
at most 10 trunk bins (1,280 bp), wherever the SNV lies (:func:`changed_spans`
gives them for one position; tests check that REF and the full ALT pass differ
only there).

The recomputation
-----------------
For each stage, in order, :func:`local_encode` runs the stage's block on a slice
``[s_k, s_k + L_k)`` of the ALT stage input and splices its outputs over
``[p_k, q_k)`` into the REF skip. The next stage's input slice is the max-pool of
the patched skip over ``[2 s_{k+1}, 2 s_{k+1} + 2 L_{k+1})``: an even start, so the
pool pairs are those of the full pass, and the halo positions outside the patch are
REF values, which are the ALT values there (the stages chain on these small windows;
a whole skip is copied only into the outputs returned, which XLA drops when the
caller reads no skip, as for 128-bp outputs alone). ``L_k = min(w_k + 4 h_k, N_k)``,
where ``w_0 = b - a`` and ``w_{k+1} = floor((w_k + 2 h_k) / 2) + 1`` bound the changed
input span over every alignment of ``a`` (static sizes for ``jit``; the start ``a`` is
a traced value), and ``s_k = clip(u_k - 2 h_k, 0, N_k - L_k)``. Why it is exact: a
slice's SAME padding is wrong only within ``h_k`` of a slice end that is not a window
end, and ``[p_k, q_k)`` keeps that far from both (a slice clamped to a window end pads
exactly as the full pass does there, so spans at the window edges, position 0 and
``S - 1`` included, are exact too). Positions outside ``[p_k, q_k)`` keep the REF
bytes; the patched ones equal the full ALT pass to float32 rounding (the convolutions
run on a shorter array, so a backend may block them differently; on XLA:CPU they are
bit for bit the same, in float32 and bf16). The trunk is the pool of the patched
``Y_6`` over the (at most ``w_7``) changed trunk bins.

For an SNV the slices are 37 bp at stage 0 and 26 positions at stages 1-6, so the
encoder's cost no longer grows with ``S``. XLA's cost analysis
(``benchmarks/local_encoder_cost.py``, lowered HLO): full size at 1 Mb, 26,586 GFLOP for the full
encoder vs 5.2 GFLOP for the local one; the whole ALT pass drops from 77,756 to 51,175
GFLOP with all heads (-34%) and from 32,841 to 6,260 GFLOP with 128-bp heads only
(-81%). What remains per ALT pass is the tower, the decoder and the heads
(:func:`predict_from_encoder`).

Indels: the full pass
---------------------
``variants.sequences.ref_alt_sequences`` builds an indel's ALT window by replacing the
REF allele and truncating (insertion) or filling from the genome past the window end
(deletion), so every ALT base right of the variant is a REF base shifted by
``d = len(ALT) - len(REF)`` positions. The one-hot then differs up to the window end
(unless the sequence happens to be periodic), and no local patch of REF activations
is exact. What holds instead: right of the variant's receptive field and away from
the right window edge, ``Y_k^ALT[i] = Y_k^REF[i - d / 2**k]`` exactly when ``2**k``
divides ``d`` (the pool pairs line up), and for no coarser stage (pairs straddle
differently, so ``X_{k+1}`` is a new array). An exact scheme therefore exists only
partially: for ``|d|`` a multiple of 128 (shift every stage, recompute around the
variant and the right edge), and for other ``d`` only stages ``k <= v2(d)`` (the
2-adic valuation: stage 0 alone for odd ``d``) could be reused on the right part,
with the coarser stages recomputed over ``[variant, S)``: a length that depends on
the variant's position, which ``jit``'s static shapes do not allow without a
per-position compile. It is not implemented: :func:`local_span` returns ``None`` for
an indel, and the caller runs the full ALT pass (``AlphaGenome.__call__``), which is
what genotile does today.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from genotile.model.alphagenome import ALL_OUTPUTS, AlphaGenome, OutputRequest, Predictions
from genotile.model.layers import max_pool2
from genotile.model.unet import SKIP_BIN_SIZES, DnaEmbedder, DownResBlock

Array = jax.Array
EncoderOutputs = tuple[Array, dict[int, Array]]  # (trunk [B, S/128, D], skips {bin size: [B, S/bin, C]})

#: Halo of the 1-bp DNA embedder: a width-15 conv (7 each side), then a width-5 conv block (2).
EMBEDDER_HALO = 7 + 2
#: Halo of each down-res block: two width-5 conv blocks one after the other.
BLOCK_HALO = 2 + 2
#: Bases beyond a 128-bp trunk bin, on each side, that the bin reads.
RECEPTIVE_MARGIN_BP = EMBEDDER_HALO + BLOCK_HALO * sum(SKIP_BIN_SIZES[1:])
#: The encoder's total pooling stride: the trunk's bin size.
TRUNK_BIN_BP = 2 * SKIP_BIN_SIZES[-1]


@dataclasses.dataclass(frozen=True)
class Stage:
    """One encoder stage's static sizes for a window of ``S`` bases and a changed span of ``width`` bases."""

    bin_size: int  # the stage's resolution, 2**k bp (its skip is skips[bin_size])
    length: int  # N_k = S / bin_size positions
    halo: int  # h_k
    bound: int  # w_k: most positions of the stage input that can change, over every alignment
    slice_len: int  # L_k = min(w_k + 4 h_k, N_k): the positions recomputed


def plan(seq_len: int, width: int) -> tuple[tuple[Stage, ...], int]:
    """The stages' static sizes, and the bound on changed trunk bins, for ``width`` changed bases."""
    if seq_len % TRUNK_BIN_BP:
        raise ValueError(f"sequence length {seq_len:,} is not a multiple of {TRUNK_BIN_BP} (the encoder's pooling stride)")
    if width < 1:
        raise ValueError(f"the changed span must hold at least 1 base, got width {width}")
    stages, bound = [], width
    for k, bin_size in enumerate(SKIP_BIN_SIZES):
        halo = EMBEDDER_HALO if k == 0 else BLOCK_HALO
        n = seq_len // bin_size
        stages.append(Stage(bin_size, n, halo, bound, min(bound + 4 * halo, n)))
        bound = (bound + 2 * halo) // 2 + 1
    return tuple(stages), min(bound, seq_len // TRUNK_BIN_BP)


def changed_spans(seq_len: int, start: int, width: int) -> dict[int | str, tuple[int, int]]:
    """Host-side: the half-open span of every encoder output that a change of ``[start, start + width)`` can
    move, keyed by skip bin size, plus ``"trunk"``. Outside these spans ALT equals REF bit for bit."""
    stages, _ = plan(seq_len, width)
    if not 0 <= start <= seq_len - width:
        raise ValueError(f"changed span [{start}, {start + width}) is not inside the window [0, {seq_len})")
    u, v, spans = start, start + width, {}
    for st in stages:
        p, q = max(u - st.halo, 0), min(v + st.halo, st.length)
        spans[st.bin_size] = (p, q)
        u, v = p // 2, (q + 1) // 2
    spans["trunk"] = (u, v)
    return spans


def local_span(
    variant_start0: int, ref_len: int, alt_len: int, window_start: int, window_len: int, negative_strand: bool = False
) -> tuple[int, int] | None:
    """Where the model input of ``variants.sequences.ref_alt_sequences`` differs between REF and ALT, as a
    window-relative span ``(a, b)`` in the model's orientation, or ``None`` when no local recomputation is
    exact (an indel: run the full ALT pass; see the module docstring).

    A substitution (SNV or MNV, ``len(REF) == len(ALT)``) writes ALT over the REF span, clipped to the
    window as ``_write_alt`` clips it; on the minus strand the window is reverse-complemented, so the span is
    mirrored. A substitution entirely outside the window changes nothing: ``(0, 0)``, and the REF outputs
    are the ALT outputs.
    """
    if ref_len != alt_len:
        return None
    lo = max(variant_start0 - window_start, 0)
    hi = min(variant_start0 + ref_len - window_start, window_len)
    if hi <= lo:
        return (0, 0)
    return (window_len - hi, window_len - lo) if negative_strand else (lo, hi)


def encode(model: AlphaGenome, variables: Mapping[str, Any], dna: Array) -> EncoderOutputs:
    """The full encoder (inference): what :func:`local_encode` takes as the REF outputs."""
    return model.apply(variables, dna, method=AlphaGenome.encode)


def predict_from_encoder(
    model: AlphaGenome,
    variables: Mapping[str, Any],
    encoded: EncoderOutputs,
    organism_index: Array,
    track_means: Mapping[str, Array],
    request: OutputRequest = ALL_OUTPUTS,
) -> Predictions:
    """The rest of the model (organism embedding, tower, decoder, heads) on given encoder outputs (inference)."""
    trunk, skips = encoded
    return model.apply(variables, trunk, skips, organism_index, track_means, request, method=AlphaGenome.from_encoder)


def local_encode(
    model: AlphaGenome,
    variables: Mapping[str, Any],
    ref: EncoderOutputs,
    alt_dna: Array,
    start: Array | int | Sequence[int],
    width: int,
) -> EncoderOutputs:
    """ALT encoder outputs from the REF ones, recomputing only the receptive field of the changed bases.

    ``ref``: the REF window's ``(trunk, skips)`` (:func:`encode`), batch 1 (shared by every ALT row, as a
    tile's REF pass is) or the ALT batch. ``alt_dna``: ALT one-hot ``[B, S, 4]``, equal to the REF input
    outside ``[start, start + width)``; ``start``: one start per row (``[B]`` or a scalar, may be traced);
    ``width``: static (bucket the widths of a batch: a wider span than the change is still exact). Returns
    ``(trunk, skips)`` for the ALT rows, equal to ``encode(alt_dna)`` to float32 rounding and bit for bit the
    REF values outside :func:`changed_spans`. Inference only (see the module docstring).
    """
    stages, trunk_bound = plan(alt_dna.shape[1], width)
    batch = alt_dna.shape[0]
    starts = jnp.broadcast_to(jnp.asarray(start, jnp.int32), (batch,))
    ref_trunk, ref_skips = ref
    ref_batch = ref_trunk.shape[0]
    if ref_batch not in (1, batch):
        raise ValueError(f"REF encoder outputs have batch {ref_batch}; expected 1 or the ALT batch {batch}")
    ref_axis = 0 if ref_batch == batch else None
    if ref_axis is None:
        ref_trunk, ref_skips = ref_trunk[0], {k: v[0] for k, v in ref_skips.items()}
    enc_params = variables["params"]["sequence_encoder"]
    enc_state = variables.get("state", {}).get("sequence_encoder", {})
    dt = model.precision.compute

    def block(k: int, x: Array) -> Array:
        name = "dna_embedder" if k == 0 else f"downres_block_{k - 1}"
        module = DnaEmbedder(model.cfg, dt) if k == 0 else DownResBlock(model.cfg, dt)
        return module.apply({"params": enc_params[name], "state": enc_state[name]}, x[None])[0]

    def pool(x: Array) -> Array:
        return max_pool2(x[None])[0]

    def patched_window(ref_skip: Array, new: Array, at: Array, p: Array, q: Array, start: Array, size: int) -> Array:
        """The patched skip over ``[start, start + size)``: ``new`` (computed over ``[at, at + len(new))``) inside
        ``[p, q)``, REF elsewhere; small arrays only, so that a caller that reads no skip (128-bp outputs only)
        never copies a whole one."""
        window = jax.lax.dynamic_slice_in_dim(ref_skip, start, size, 0)
        pos = start + jnp.arange(size)
        taken = jnp.take(new, jnp.clip(pos - at, 0, new.shape[0] - 1), axis=0)
        return jnp.where(((pos >= p) & (pos < q))[:, None], taken, window)

    def one_row(trunk: Array, skips: dict[int, Array], dna: Array, a: Array) -> EncoderOutputs:
        u, v = a, a + width
        out: dict[int, Array] = {}
        x = None
        for k, st in enumerate(stages):
            s = jnp.clip(u - 2 * st.halo, 0, st.length - st.slice_len)
            if x is None:
                x = jax.lax.dynamic_slice_in_dim(dna, s, st.slice_len, 0).astype(dt)
            p, q = jnp.maximum(u - st.halo, 0), jnp.minimum(v + st.halo, st.length)
            ref_skip = skips[st.bin_size]
            new = block(k, x).astype(ref_skip.dtype)
            patched = patched_window(ref_skip, new, s, p, q, s, st.slice_len)
            out[st.bin_size] = jax.lax.dynamic_update_slice_in_dim(ref_skip, patched, s, 0)
            u, v = p // 2, (q + 1) // 2
            # the next stage's input slice (or the trunk's), from the patched skip over an even-aligned window
            last = k + 1 == len(stages)
            size = trunk_bound if last else stages[k + 1].slice_len
            n_next = trunk.shape[0] if last else stages[k + 1].length
            s_next = jnp.clip(u if last else u - 2 * stages[k + 1].halo, 0, n_next - size)
            x = pool(patched_window(ref_skip, new, s, p, q, 2 * s_next, 2 * size))
        return jax.lax.dynamic_update_slice_in_dim(trunk, x.astype(trunk.dtype), s_next, 0), out

    return jax.vmap(one_row, in_axes=(ref_axis, ref_axis, 0, 0))(ref_trunk, ref_skips, alt_dna, starts)


def alt_encoder_outputs(
    model: AlphaGenome,
    variables: Mapping[str, Any],
    ref: EncoderOutputs,
    alt_dna: Array,
    span: tuple[int, int] | None,
) -> EncoderOutputs:
    """The ALT rows' encoder outputs, by the exact route for ``span`` (:func:`local_span`, shared by the rows):
    ``None`` (an indel) is the full encoder pass on ``alt_dna``, an empty span the REF outputs (broadcast to the
    ALT batch), any other span :func:`local_encode` with ``width = b - a``."""
    if span is None:
        return encode(model, variables, alt_dna)
    a, b = span
    batch = alt_dna.shape[0]
    if b <= a:
        trunk, skips = ref
        grow = lambda x: jnp.broadcast_to(x, (batch,) + x.shape[1:])  # noqa: E731
        return grow(trunk), {k: grow(v) for k, v in skips.items()}
    return local_encode(model, variables, ref, alt_dna, a, b - a)


def local_alt_forward(
    model: AlphaGenome,
    variables: Mapping[str, Any],
    ref: EncoderOutputs,
    alt_dna: Array,
    start: Array | int | Sequence[int],
    width: int,
    organism_index: Array,
    track_means: Mapping[str, Array],
    request: OutputRequest = ALL_OUTPUTS,
) -> Predictions:
    """An ALT pass with the local encoder: :func:`local_encode`, then :func:`predict_from_encoder`."""
    encoded = local_encode(model, variables, ref, alt_dna, start, width)
    return predict_from_encoder(model, variables, encoded, organism_index, track_means, request)
