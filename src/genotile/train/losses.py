"""The reference's training losses (``AlphaGenome.loss``, spec §4.8) as pure ``jax.numpy`` functions.

Why pure functions of arrays, not methods of the model: the same loss must take targets that are
measured tracks (fine-tuning) or another model's predictions (distillation), and a trainer wants to
jit/grad it together with any forward pass. Each head kind has one function; :func:`head_loss` reads
one head's predictions and targets out of the prediction dict and the batch, and :func:`total_loss`
sums the heads with the reference's weights (:data:`LOSS_WEIGHTS`: 1.0, junctions 0.2).

The maths is the reference's, term for term and in the same order of reductions; it is checked against
the official code in ``tests/train/test_losses_golden.py`` (``tests/golden/losses_README.md``). One
deliberate difference: masked values are removed with ``where`` rather than multiplied by the mask, so
a NaN on a masked entry (a padding track's NaN ``nonzero_mean``, a teacher's NaN padding prediction)
does not turn the loss into NaN. The reference multiplies, so with the real metadata its genome-track
losses are NaN on every head that has padding tracks; on finite inputs both give the same value.

Predictions (``predictions[head]``, from :class:`genotile.model.alphagenome.AlphaGenome`; any float dtype,
the losses compute in float32):

* genome-track heads (``atac dnase procap cage rna_seq`` at 1 and 128 bp, ``chip_tf chip_histone`` at
  128 bp): ``scaled_predictions_{r}bp`` ``[B, S/r, C]``, the model-space values (before unscaling); the
  loss never reads ``predictions_{r}bp``;
* ``contact_maps``: ``predictions`` ``[B, S/2048, S/2048, 28]``;
* ``splice_sites_classification``: ``logits`` ``[B, S, 5]``;
* ``splice_sites_usage``: ``logits`` ``[B, S, 734]``;
* ``splice_sites_junction``: ``predictions`` and ``splice_junction_mask`` ``[B, K, K, 734]`` (K = 512
  site slots per class, from the model's own splice-site positions).

Batch (a mapping; key names are the reference's ``schemas.DataBatch`` fields, which are genotile's output
types, :data:`genotile.outputs.OUTPUT_TYPE_OF_HEAD`):

* ``organism_index``: int ``[B]`` (0 human, 1 mouse);
* ``<head>`` for a genome-track head: float ``[B, S, C]`` in data units at 1 bp (ChIP: ``[B, S/128, C]``
  at 128 bp); 1-bp targets are sum-pooled to 128 bp for the 128-bp term. ``<head>_<r>bp`` (for example
  ``atac_128bp``, a teacher's ``predictions_128bp``), when present, is used for resolution r instead
  of pooling. ``<head>_mask``: bool ``[B, 1, C]``, True for tracks that count (absent: the organism's
  non-padding tracks, from ``track_masks``);
* ``contact_maps``: float ``[B, S/2048, S/2048, 28]``, NaN = missing (masked);
* ``splice_sites``: bool (or, for distillation, class probabilities) ``[B, S, 5]``; positions with no
  class set are masked;
* ``splice_site_usage``: float ``[B, S, 734]`` in [0, 1];
* ``splice_junctions``: float ``[B, K, K, 734]`` counts on the *same* donor/acceptor slots as the
  predictions (the reference's loss scores junctions at the sites the model itself predicted; a
  distillation trainer runs the teacher's junction head on the student's site positions).

Targets of genome-track heads are in data units (what a bigWig holds, or a teacher's
``predictions_{r}bp``); pass ``targets_in_model_space=True`` to :func:`head_loss` for targets that are
already scaled (a teacher's ``scaled_predictions_{r}bp``).

The reference's optional cross-track gene-level term (its ``GenomeTracksHead(gene_loss_weight=...)``,
:func:`gene_cross_track_loss`) is off (weight 0) in every head the reference builds, and is off here by
default. ``head_loss(..., gene_loss_weights={"rna_seq": w}, track_strands=...)`` turns it on for a head: its
1-bp loss then gains ``w x`` (Poisson on each gene's summed per-track expression + 5 x cross-entropy of the
tracks' shares), reading ``gene_mask`` (bool ``[B, S, 2, G]``: ``[..., 0, g]`` marks gene g's bases when it
is on the + strand, ``[..., 1, g]`` when on the - strand; the reference's ``DataBatch.gene_mask``) from the
batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from genotile.model.config import SQUASHED_HEADS
from genotile.outputs import (
    CONTACT_MAPS,
    GENOME_TRACK_HEADS,
    MODEL_HEADS,
    OUTPUT_TYPE_OF_HEAD,
    SPLICE_JUNCTIONS,
    SPLICE_SITE_USAGE,
    SPLICE_SITES,
)

Array = jax.Array
F32 = jnp.float32

EPS = 1e-7  # the reference's epsilon in every log and ratio
SOFT_CLIP = 10.0  # targets above it are compressed as 2*sqrt(10 x) - 10
RNA_POWER = 0.75  # RNA-seq targets are raised to this power (the head predicts in that space)
SEGMENT_BP = 1 << 17  # multinomial segments are 2^17 bp long at every resolution
POSITIONAL_WEIGHT = 5.0  # weight of the multinomial (shape) term against the Poisson (total) term
JUNCTION_TOTAL_WEIGHT = 0.2  # weight of the Poisson terms on junction totals inside the junction loss
GENE_CROSS_TRACK_WEIGHT = 5.0  # weight of the cross-track share term inside the gene-level loss
GENE_MASK_KEY = "gene_mask"  # the batch key of the gene-level loss's mask (the reference's DataBatch field)
STRANDS = ("+", "-", ".")

#: Per-head weights of the total (the reference's ``HeadConfig.loss_weight``).
LOSS_WEIGHTS: Mapping[str, float] = {h: (0.2 if h == SPLICE_JUNCTIONS.head else 1.0) for h in MODEL_HEADS}


class LossInputError(ValueError):
    """Predictions and targets that the loss cannot pair (missing key, wrong shape, length not a whole segment)."""


def safe_masked_mean(x: Array, mask: Array | None = None) -> Array:
    """Mean of ``x`` over the entries where the (broadcast) mask is True; 0 when nothing is unmasked."""
    x = jnp.asarray(x)
    if mask is None:
        return jnp.sum(x, dtype=F32) / jnp.maximum(1.0, jnp.asarray(x.size, F32))
    mask = jnp.broadcast_to(mask, x.shape)
    return jnp.sum(jnp.where(mask, x, 0), dtype=F32) / jnp.maximum(1.0, jnp.sum(mask, dtype=F32))


def poisson(y_true: Array, y_pred: Array, mask: Array) -> Array:
    """Poisson negative log-likelihood shifted to be 0 at ``y_pred == |y_true|``, masked mean."""
    y_true = jnp.abs(y_true).astype(F32)
    y_pred = y_pred.astype(F32)
    optimum = y_true - y_true * jnp.log(y_true + EPS)
    return safe_masked_mean((y_pred - y_true * jnp.log(y_pred + EPS)) - optimum, mask)


def multinomial_poisson(y_true: Array, y_pred: Array, mask: Array, segment_bins: int, positional_weight: float = POSITIONAL_WEIGHT) -> dict[str, Array]:
    """The genome-track loss at one resolution: Poisson on segment totals + weighted multinomial on positions.

    ``y_true``, ``y_pred``: ``[..., S, C]`` in model space; ``mask``: ``[..., 1, C]``. The sequence axis is cut
    into segments of ``segment_bins``; per segment and track the Poisson term compares the totals (divided by
    ``segment_bins`` so its size does not depend on the segment length) and the multinomial term is the
    cross-entropy of the target counts against the predicted share of the total.
    """
    if y_true.shape != y_pred.shape:
        raise LossInputError(f"targets {y_true.shape} and predictions {y_pred.shape} differ in shape")
    length = y_pred.shape[-2]
    if length % segment_bins:
        raise LossInputError(
            f"{length} bins is not a whole number of {segment_bins}-bin loss segments: use windows whose length "
            f"is a multiple of {SEGMENT_BP:,} bp (the reference's segment), or pass a shorter segment_bp"
        )
    y_true = jnp.where(mask, jnp.maximum(y_true, 0), 0)
    y_pred = jnp.where(mask, y_pred, 0)
    segments = length // segment_bins
    y_true = y_true.reshape(*y_true.shape[:-2], segments, segment_bins, y_true.shape[-1])
    y_pred = y_pred.reshape(*y_pred.shape[:-2], segments, segment_bins, y_pred.shape[-1])
    total_pred = jnp.sum(y_pred, axis=-2, keepdims=True, dtype=F32)
    total_true = jnp.sum(y_true, axis=-2, keepdims=True, dtype=F32)
    mask = mask[..., None, :]  # over segments
    loss_total = poisson(total_true, total_pred, mask) / segment_bins
    share = y_pred.astype(F32) / (total_pred + EPS)
    loss_positional = safe_masked_mean(-y_true * jnp.log(share + EPS), mask)
    return {
        "loss": loss_total + positional_weight * loss_positional,
        "loss_total": loss_total,
        "loss_positional": loss_positional,
    }


def soft_clip(x: Array) -> Array:
    """``2 sqrt(10 x) - 10`` above 10, identity below: the reference's compression of large targets."""
    return jnp.where(x > SOFT_CLIP, 2.0 * jnp.sqrt(x * SOFT_CLIP) - SOFT_CLIP, x)


def scale_targets(targets: Array, track_means: Array, resolution: int, squashed: bool) -> Array:
    """Data units -> model space (the inverse of the head's unscaling): / (mean x r), ^0.75 for RNA-seq, soft clip.

    ``track_means``: ``[B, C]``, the organism's ``nonzero_mean`` per track.
    """
    x = targets / (track_means[:, None, :] * resolution).astype(targets.dtype)
    if squashed:
        x = jnp.power(x, RNA_POWER)
    return soft_clip(x)


def sum_pool(x: Array, width: int) -> Array:
    """``[B, S, C]`` -> ``[B, S/width, C]`` sums in float32 (1-bp counts to 128-bp bins)."""
    b, s, c = x.shape
    if s % width:
        raise LossInputError(f"{s} bins cannot be pooled by {width}: the targets' length must be a multiple of {width}")
    return x.reshape(b, s // width, width, c).sum(axis=-2, dtype=F32)


def strand_channel_mask(strands) -> np.ndarray:
    """``[..., C]`` track strands (``'+'``, ``'-'``, ``'.'``) -> ``[..., 2, 1, C]`` bool: which tracks a gene reads.

    Row 0 (genes on the + strand) takes the ``+`` and unstranded tracks, row 1 (- strand genes) the ``-`` and
    unstranded ones, as the reference's ``_get_strand_channel_mask``: a stranded RNA-seq track only measures
    transcripts of its own strand, so a gene's expression is summed over the tracks that can see it.
    """
    strands = np.asarray(strands).astype(str)
    bad = sorted(set(strands.ravel().tolist()) - set(STRANDS))
    if bad:
        raise LossInputError(
            f"track strands must be '+', '-' or '.', found {bad}: fix the metadata's 'strand' column (padding rows too) before turning on the gene-level loss"
        )
    unstranded = strands == "."
    both = np.stack([(strands == "+") | unstranded, (strands == "-") | unstranded], axis=-2)  # [..., 2, C]
    return both[..., None, :]


def gene_cross_track_loss(
    y_true: Array,
    y_pred: Array,
    mask: Array | None,
    gene_mask: Array,
    strand_mask: Array,
    cross_track_weight: float = GENE_CROSS_TRACK_WEIGHT,
) -> dict[str, Array]:
    """The reference's cross-track gene-level loss (``GenomeTracksHead._compute_cross_track_loss``).

    ``y_true``, ``y_pred``: ``[B, S, C]`` 1-bp scaled targets and predictions (model space, targets after
    :func:`scale_targets`, before the multinomial loss's clamp); ``mask``: ``[B, #S, C]`` tracks that count
    (None: all); ``gene_mask``: bool ``[B, S, 2, G]``; ``strand_mask``: ``[B, 2, 1, C]`` from
    :func:`strand_channel_mask` of each row's organism.

    Per gene and strand row, targets and predictions are averaged over the gene's bases for every track;
    the tracks that count (unmasked, strand-compatible, gene not empty) give the gene's total. Returns
    ``gene_loss_total_count`` (Poisson on the totals, mean over genes, divided by the largest number of
    counting tracks of any gene so its size does not grow with the track count), ``gene_loss_positional``
    (cross-entropy of the target per-track means against the predicted share of the total, mean over
    counting (gene, track) pairs) and ``loss = total + cross_track_weight x positional``. Why: the
    genome-track loss compares each track with itself along the sequence; this term asks the head to
    rank tissues correctly per gene (their relative expression), which the per-track loss does not see.
    """
    if gene_mask.ndim != 4 or gene_mask.shape[2] != 2 or gene_mask.shape[:2] != y_pred.shape[:2]:
        raise LossInputError(
            f"gene_mask must be [batch, sequence, 2 strands, genes] matching the 1-bp predictions {tuple(y_pred.shape)}, got {tuple(gene_mask.shape)}"
        )
    _same_shape("gene-level loss", y_pred, y_true)
    b, _, c = y_pred.shape
    genes = jnp.asarray(gene_mask, bool)
    gene_length = jnp.sum(genes, axis=-3, dtype=F32)  # [B, 2, G]
    safe_length = jnp.maximum(gene_length[..., None], 1.0)  # [B, 2, G, 1]
    tracks = jnp.ones((b, 1, c), bool) if mask is None else jnp.any(jnp.asarray(mask, bool), axis=-2, keepdims=True)
    # where, not multiply: a masked track's NaN (padding mean) must not reach the per-gene sums
    t = jnp.where(tracks, jnp.asarray(y_true, F32), 0.0)
    p = jnp.where(tracks, jnp.asarray(y_pred, F32), 0.0)
    # HIGHEST: a gene's sum runs over up to S bases; reduced-precision (TF32) matmuls would lose digits
    hi = jax.lax.Precision.HIGHEST
    gene_true = jnp.einsum("bsc,bsxg->bxgc", t, genes.astype(F32), precision=hi) / safe_length  # [B, 2, G, C]
    gene_pred = jnp.einsum("bsc,bsxg->bxgc", p, genes.astype(F32), precision=hi) / safe_length
    counted = (gene_length > 0)[..., None] & tracks[:, None, :, :] & jnp.asarray(strand_mask, bool)  # [B, 2, G, C]
    total_pred = jnp.sum(jnp.where(counted, gene_pred, 0.0), axis=-1, keepdims=True)  # [B, 2, G, 1]
    total_true = jnp.sum(jnp.where(counted, gene_true, 0.0), axis=-1, keepdims=True)
    num_counted = jnp.sum(counted, axis=-1, keepdims=True, dtype=F32)
    loss_total = poisson(total_true, total_pred, jnp.any(counted, axis=-1, keepdims=True))
    loss_total = loss_total / jnp.maximum(jnp.max(num_counted), 1.0)
    share = gene_pred / (total_pred + EPS)
    loss_positional = safe_masked_mean(-gene_true * jnp.log(share + EPS), counted)
    return {
        "loss": loss_total + cross_track_weight * loss_positional,
        "gene_loss_total_count": loss_total,
        "gene_loss_positional": loss_positional,
    }


def genome_tracks_loss(
    scaled_predictions: Mapping[int, Array],
    targets: Mapping[int, Array],
    mask: Array,
    track_means: Array,
    *,
    squashed: bool,
    targets_in_model_space: bool = False,
    segment_bp: int = SEGMENT_BP,
    gene_mask: Array | None = None,
    strand_mask: Array | None = None,
    gene_loss_weight: float = 0.0,
    gene_cross_track_weight: float = GENE_CROSS_TRACK_WEIGHT,
) -> dict[str, Array]:
    """One genome-track head: the sum over its resolutions of :func:`multinomial_poisson`.

    ``scaled_predictions`` and ``targets``: resolution (bp) -> ``[B, S/r, C]``; ``mask`` ``[B, 1, C]``;
    ``track_means`` ``[B, C]``. Returns ``loss`` and the per-resolution terms (``loss_1bp``,
    ``loss_total_1bp``, ``loss_positional_1bp``, ...), named as the reference's scalars.

    With ``gene_loss_weight > 0`` and a ``gene_mask`` (``[B, S, 2, G]``; ``strand_mask`` ``[B, 2, 1, C]``),
    the 1-bp term also gets ``gene_loss_weight x`` :func:`gene_cross_track_loss` on the same scaled targets,
    and ``gene_loss_total_count_1bp`` / ``gene_loss_positional_1bp`` are reported, as in the reference
    (which only passes the gene mask at 1 bp). Weight 0 (the default) is exactly the plain loss.
    """
    gene_on = gene_mask is not None and gene_loss_weight > 0
    if gene_on and strand_mask is None:
        raise LossInputError("the gene-level loss needs the tracks' strand mask (strand_channel_mask of the metadata's 'strand')")
    out: dict[str, Array] = {}
    loss = jnp.zeros((), F32)
    for r in sorted(scaled_predictions):
        t = targets[r] if targets_in_model_space else scale_targets(targets[r], track_means, r, squashed)
        terms = multinomial_poisson(t, scaled_predictions[r], mask, max(1, segment_bp // r))
        if gene_on and r == 1:
            gene = gene_cross_track_loss(t, scaled_predictions[r], mask, gene_mask, strand_mask, gene_cross_track_weight)
            terms["loss"] = terms["loss"] + gene_loss_weight * gene.pop("loss")
            terms.update(gene)
        out.update({f"{k}_{r}bp": v for k, v in terms.items()})
        loss = loss + terms["loss"]
    out["loss"] = loss
    return out


def contact_maps_loss(predictions: Array, targets: Array, mask: Array) -> dict[str, Array]:
    """Masked mean squared error; NaN targets are masked. ``mask`` broadcasts to ``[B, P, P, C]``."""
    _same_shape(CONTACT_MAPS.head, predictions, targets)
    missing = jnp.isnan(targets)
    mask = jnp.where(missing, False, mask)
    targets = jnp.where(missing, 0.0, targets)
    return {"loss": safe_masked_mean(jnp.square(predictions.astype(F32) - targets.astype(F32)), mask)}


def splice_sites_classification_loss(logits: Array, labels: Array) -> dict[str, Array]:
    """Softmax cross-entropy over the 5 classes with the reference's 1e-7 label smoothing.

    ``labels``: one-hot bool (or class probabilities) ``[B, S, 5]``; positions with no class are masked.
    """
    _same_shape(SPLICE_SITES.head, logits, labels)
    classes = logits.shape[-1]
    labels = labels.astype(F32)
    mask = jnp.any(labels > 0, axis=-1)
    smoothed = (1.0 - EPS) * labels + EPS / classes
    loss = -jnp.sum(smoothed * jax.nn.log_softmax(logits.astype(F32), axis=-1), axis=-1)
    return {"loss": safe_masked_mean(loss, mask)}


def splice_sites_usage_loss(logits: Array, targets: Array, mask: Array) -> dict[str, Array]:
    """Sigmoid binary cross-entropy from logits; targets clipped to [1e-7, 1 - 1e-7]; ``mask`` ``[B, 1, C]``."""
    _same_shape(SPLICE_SITE_USAGE.head, logits, targets)
    x = logits.astype(F32)
    y = jnp.clip(targets.astype(F32), EPS, 1.0 - EPS)
    loss = jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))
    return {"loss": safe_masked_mean(loss, mask)}


def count_ratio_cross_entropy(y_true: Array, y_pred: Array, mask: Array, axis: int) -> Array:
    """Cross-entropy of count shares along ``axis``, averaged over the rows that have any unmasked entry."""
    y_true = jnp.asarray(y_true, F32) + EPS
    y_pred = jnp.asarray(y_pred, F32) + EPS
    mask = jnp.broadcast_to(mask, y_true.shape).astype(bool)
    row_mask = mask.sum(axis=axis, keepdims=True) > 0
    mask = jnp.where(row_mask, mask, True)  # a fully masked row: keep its sums finite, drop it at the end
    p_true = y_true / y_true.sum(axis=axis, where=mask, keepdims=True)
    p_pred = y_pred / y_pred.sum(axis=axis, where=mask, keepdims=True)
    log_loss = (-p_true * jnp.log(p_pred)).sum(axis=axis, where=mask)
    return safe_masked_mean(log_loss, jnp.squeeze(row_mask, axis=axis))


def splice_junctions_loss(predictions: Array, junction_mask: Array, targets: Array) -> dict[str, Array]:
    """Share cross-entropies along donors and acceptors + 0.2 x Poisson on soft-clipped per-site totals.

    All three ``[B, D, A, 2T]`` (donor slots, acceptor slots, tissue x strand channels).
    """
    _same_shape(SPLICE_JUNCTIONS.head, predictions, targets)
    _same_shape("splice_sites_junction mask", predictions, junction_mask)
    if predictions.ndim != 4:
        raise LossInputError(f"splice junctions must be [batch, donors, acceptors, channels], got {predictions.shape}")
    m = jnp.asarray(junction_mask, bool)
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    totals = []
    for axis in (-2, -3):  # per donor (summed over acceptors), then per acceptor
        true_total = soft_clip(targets.sum(axis=axis, dtype=F32, where=m))
        pred_total = predictions.sum(axis=axis, dtype=F32, where=m)
        totals.append(poisson(true_total, pred_total, jnp.any(m, axis=axis)))
    donor_ratios = count_ratio_cross_entropy(targets, predictions, m, axis=-3)
    acceptor_ratios = count_ratio_cross_entropy(targets, predictions, m, axis=-2)
    return {"loss": donor_ratios + acceptor_ratios + JUNCTION_TOTAL_WEIGHT * (totals[0] + totals[1])}


def _same_shape(what: str, predictions: Array, targets: Array) -> None:
    if tuple(predictions.shape) != tuple(targets.shape):
        raise LossInputError(f"{what}: predictions {tuple(predictions.shape)} but targets {tuple(targets.shape)}")


def _organism_rows(table: Array, organism_index: Array) -> Array:
    return jnp.asarray(table)[jnp.asarray(organism_index)]


def _batch_value(batch: Mapping[str, Array], key: str, head: str) -> Array:
    if key not in batch:
        raise LossInputError(f"the batch has no {key!r} (targets of head {head}); keys: {', '.join(sorted(batch))}")
    return batch[key]


def head_loss(
    head: str,
    predictions: Mapping[str, Array],
    batch: Mapping[str, Array],
    *,
    track_means: Mapping[str, Array] | None = None,
    track_masks: Mapping[str, Array] | None = None,
    targets_in_model_space: bool = False,
    segment_bp: int = SEGMENT_BP,
    gene_loss_weights: Mapping[str, float] | None = None,
    track_strands: Mapping[str, Array] | None = None,
    gene_cross_track_weight: float = GENE_CROSS_TRACK_WEIGHT,
) -> dict[str, Array]:
    """One head's loss terms (``loss`` plus the reference's named sub-terms) from its predictions and the batch.

    ``predictions``: that head's prediction dict. ``track_means``: head -> ``[num_organisms, C]``
    ``nonzero_mean`` (:meth:`genotile.model.predictor.TrackMetadata.track_means`; NaN on padding tracks is
    fine), needed by genome-track heads unless ``targets_in_model_space``. ``track_masks``: head ->
    ``[num_organisms, C]`` bool, True for real tracks (:func:`track_masks_from_metadata`), needed by contact
    maps and splice usage, and by genome-track heads when the batch has no ``<head>_mask``.

    ``gene_loss_weights``: head -> weight of the gene-level term (the reference's per-head
    ``gene_loss_weight``; absent or 0: off, the default). A head with a weight above 0 needs the batch's
    ``gene_mask`` and ``track_strands[head]`` (``[num_organisms, C]`` strand strings,
    :func:`track_strands_from_metadata`); it only acts on a head with a 1-bp resolution. Unlike the
    reference, which skips the term silently when the batch has no gene mask, a missing ``gene_mask`` is
    an error here (a weight that is asked for and never used is a silent configuration mistake).
    """
    key = OUTPUT_TYPE_OF_HEAD[head]
    organism = jnp.asarray(_batch_value(batch, "organism_index", head))

    def organism_mask() -> Array:
        if track_masks is None or head not in track_masks:
            raise LossInputError(f"head {head} needs its track mask: pass track_masks[{head!r}] ([organisms, tracks])")
        return _organism_rows(track_masks[head], organism)

    if head in GENOME_TRACK_HEADS:
        resolutions = GENOME_TRACK_HEADS[head]
        scaled = {}
        for r in resolutions:
            name = f"scaled_predictions_{r}bp"
            if name not in predictions:
                raise LossInputError(f"head {head}: predictions have no {name!r} (keys: {', '.join(sorted(predictions))})")
            scaled[r] = predictions[name]
        base = _batch_value(batch, key, head)
        base_resolution = min(resolutions)  # 1 bp, or 128 bp for the ChIP heads
        targets = {}
        for r in resolutions:
            if f"{key}_{r}bp" in batch:
                targets[r] = batch[f"{key}_{r}bp"]
            elif r == base_resolution:
                targets[r] = base
            else:
                targets[r] = sum_pool(base, r // base_resolution)
        mask = batch[f"{key}_mask"] if f"{key}_mask" in batch else organism_mask()[:, None, :]
        if targets_in_model_space:
            means = jnp.ones(mask.shape[:1] + mask.shape[-1:], F32)
        elif track_means is None or head not in track_means:
            raise LossInputError(f"head {head} needs its track means: pass track_means[{head!r}] ([organisms, tracks])")
        else:
            means = _organism_rows(jnp.asarray(track_means[head], F32), organism)
        gene_weight = float((gene_loss_weights or {}).get(head, 0.0))
        gene_mask = strand_mask = None
        if gene_weight > 0:
            gene_mask = _batch_value(batch, GENE_MASK_KEY, f"{head} (gene-level loss, weight {gene_weight})")
            if track_strands is None or head not in track_strands:
                raise LossInputError(
                    f"head {head}: the gene-level loss needs its tracks' strands: pass track_strands[{head!r}] "
                    "([organisms, tracks] of '+', '-', '.'; track_strands_from_metadata)"
                )
            strand_mask = jnp.asarray(strand_channel_mask(track_strands[head]))[organism]
        return genome_tracks_loss(
            scaled, targets, mask, means, squashed=head in SQUASHED_HEADS,
            targets_in_model_space=targets_in_model_space, segment_bp=segment_bp,
            gene_mask=gene_mask, strand_mask=strand_mask, gene_loss_weight=gene_weight,
            gene_cross_track_weight=gene_cross_track_weight,
        )  # fmt: skip
    if head == CONTACT_MAPS.head:
        return contact_maps_loss(predictions["predictions"], _batch_value(batch, key, head), organism_mask()[:, None, None, :])
    if head == SPLICE_SITES.head:
        return splice_sites_classification_loss(predictions["logits"], _batch_value(batch, key, head))
    if head == SPLICE_SITE_USAGE.head:
        return splice_sites_usage_loss(predictions["logits"], _batch_value(batch, key, head), organism_mask()[:, None, :])
    if head == SPLICE_JUNCTIONS.head:
        return splice_junctions_loss(predictions["predictions"], predictions["splice_junction_mask"], _batch_value(batch, key, head))
    raise LossInputError(f"unknown head {head!r}; known heads: {', '.join(MODEL_HEADS)}")


def total_loss(
    predictions: Mapping[str, Mapping[str, Array]],
    batch: Mapping[str, Array],
    heads: Iterable[str] | None = None,
    weights: Mapping[str, float] = LOSS_WEIGHTS,
    **kwargs,
) -> tuple[Array, dict[str, dict[str, Array]]]:
    """``(sum of weight x head loss, {head: that head's terms})`` over ``heads`` (default: every head predicted).

    Keyword arguments are :func:`head_loss`'s (``track_means``, ``track_masks``, ...).
    """
    chosen = [h for h in MODEL_HEADS if h in predictions] if heads is None else list(heads)
    total = jnp.zeros((), F32)
    terms: dict[str, dict[str, Array]] = {}
    for head in chosen:
        if head not in predictions:
            raise LossInputError(f"no predictions for head {head!r}; predicted: {', '.join(sorted(predictions))}")
        terms[head] = head_loss(head, predictions[head], batch, **kwargs)
        total = total + weights[head] * terms[head]["loss"]
    return total, terms


def track_masks_from_metadata(metadata, heads: Iterable[str] = MODEL_HEADS, num_organisms: int = 2) -> dict[str, np.ndarray]:
    """head -> ``[num_organisms, C]`` bool, True for non-padding rows (``name`` "Padding", any case).

    ``metadata``: a :class:`genotile.model.predictor.TrackMetadata`. The junction head counts every tissue row
    as real (its mask comes with the predictions), so it is left out.
    """
    out = {}
    for head in heads:
        if head == SPLICE_JUNCTIONS.head:
            continue
        rows = [metadata.frame(o, head)["name"].str.lower().ne("padding").to_numpy() for o in range(num_organisms)]
        out[head] = np.stack(rows)
    return out


def track_strands_from_metadata(metadata, heads: Iterable[str] = tuple(GENOME_TRACK_HEADS), num_organisms: int = 2) -> dict[str, np.ndarray]:
    """head -> ``[num_organisms, C]`` strand strings (the metadata's ``strand`` column), for the gene-level loss.

    ``metadata``: a :class:`genotile.model.predictor.TrackMetadata`.
    """
    out = {}
    for head in heads:
        rows = []
        for o in range(num_organisms):
            frame = metadata.frame(o, head)
            if "strand" not in frame.columns:
                raise LossInputError(
                    f"the {head} metadata of organism {o} has no 'strand' column (columns: {', '.join(frame.columns)}); the gene-level loss needs it"
                )
            rows.append(frame["strand"].astype(str).to_numpy())
        out[head] = np.stack(rows)
    return out
