"""Polyadenylation: Borzoi's paQTL statistic over each overlapped gene's PAS windows (``PolyadenylationScorer``).

Human only (the reference ships no mouse PAS table). ALT is indel-aligned to REF.

On the device (issue 15): each variant sends its scored genes' PAS windows as intervals (``[G, P, 2]``,
:func:`genotile.variants.annotation.pas_intervals`); the ALT pass sums REF and ALT over them with blocked interval
sums (:mod:`genotile.variants.device_intervals`), not per-site masks, and returns ``[G, T]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from genotile.outputs import RNA_SEQ
from genotile.variants.scorers.base import (
    F32,
    DeviceRead,
    Scorer,
    ScorerInputs,
    ScoreRows,
    ScorerSpec,
    VariantArrays,
    WindowInputs,
    gene_rows,
    register,
)  # fmt: skip

__all__ = ["MAX_GENES", "MAX_PAS", "PAS_MASK_WIDTH", "Polyadenylation", "pas_window_intervals", "pas_window_masks",
           "polyadenylation_score", "polyadenylation_score_jax"]

PAS_MASK_WIDTH = 400
MAX_PAS = 136
MAX_GENES = 22


def pas_window_intervals(
    pas_starts: npt.ArrayLike,
    pas_strand: str,
    interval_start: int,
    length: int,
    *,
    reference_order_quirk: bool = True,
) -> npt.NDArray[np.int32]:
    """``[P, 2]`` window-relative ``[lo, hi)`` of one gene's PAS coverage windows, in slot order
    (:func:`pas_window_masks` as intervals, clipped to the window; the device reduction takes these)."""
    starts = np.asarray(pas_starts, dtype=np.int64)
    if not reference_order_quirk:
        starts = np.sort(starts, kind="stable")
    rel = starts - interval_start
    if pas_strand == "+":
        hi = rel + 1
        lo = hi - PAS_MASK_WIDTH
    else:
        lo = rel
        hi = lo + PAS_MASK_WIDTH
    return np.stack([np.clip(lo, 0, length), np.clip(hi, 0, length)], axis=-1).astype(np.int32).reshape(-1, 2)


def pas_window_masks(
    pas_starts: npt.ArrayLike,
    pas_strand: str,
    interval_start: int,
    length: int,
    *,
    reference_order_quirk: bool = True,
) -> npt.NDArray[np.bool_]:
    """``[S, P]`` 400-bp coverage windows of one gene's PAS, in slot order.

    Why: each PAS ``p`` (0-based genomic Start) gets the 400 bp ending at it on the +
    strand (``[p - 399, p + 1)``) or starting at it on the − strand (``[p, p + 400)``),
    clipped to the window. The reference computes these window starts from the PAS table
    *before* sorting it by Start and then zips them with the sorted rows (kept for
    parity), so slot ``i`` holds the window of the ``i``-th PAS in the table's original order.
    With ``reference_order_quirk=True`` (default, matches the reference) slots follow the
    given order; ``False`` sorts by Start first (what the code evidently intended). The
    two agree whenever the table is already sorted.
    """
    intervals = pas_window_intervals(pas_starts, pas_strand, interval_start, length, reference_order_quirk=reference_order_quirk)
    mask = np.zeros((length, len(intervals)), dtype=bool)
    for i, (lo, hi) in enumerate(intervals.tolist()):
        mask[lo:hi, i] = True
    return mask


def polyadenylation_score(
    ref: npt.ArrayLike, alt: npt.ArrayLike, pas_mask: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """Borzoi paQTL statistic: ``[G, T]`` for ``pas_mask [S, G, P]`` (or ``[T]`` for one
    gene's ``[S, P]``).

    Why (``_aggregate_maximum_ratio_coverage_fc``): per PAS, ``ratio = ΣA / ΣR`` over its
    window (NaN/inf → 0). For every split ``k``, ``prox = Σ_{a≤k} ratio``, ``dist =
    Σ_{a>k} ratio``; with ``n`` = number of PAS slots whose window is non-empty and
    ``k_gene = cumsum`` of that indicator, ``score_k = |log2((n - k_gene)/k_gene · prox /
    dist)|`` (NaN/inf → 0); the result is ``max_k``. For contiguous non-empty slots
    ``k_gene = k + 1``, i.e. the spec's ``(n-(k+1))/(k+1)``. Padding slots and genes give
    0. ALT must be indel-aligned by the caller.
    """
    m = np.asarray(pas_mask, dtype=bool)
    single = m.ndim == 2
    if single:
        m = m[:, None, :]
    r = np.asarray(ref, dtype=F32)
    a = np.asarray(alt, dtype=F32)
    mf = m.astype(F32)
    ref_agg = np.einsum("pc,pga->gac", r, mf, dtype=F32)  # [G, P, T]
    alt_agg = np.einsum("pc,pga->gac", a, mf, dtype=F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.nan_to_num(alt_agg / ref_agg, nan=0.0, posinf=0.0, neginf=0.0)
        present = m.any(axis=0).astype(F32)  # [G, P]
        k_total = present.sum(axis=-1, keepdims=True)  # [G, 1]
        k_gene = np.cumsum(present, axis=-1, dtype=F32)  # [G, P]
        k_scaling = ((k_total - k_gene) / k_gene).T[:, :, None]  # [K, G, 1]
        prox = np.cumsum(ratio, axis=1, dtype=F32)  # [G, K, T]: Σ_{a<=k}
        dist = ratio.sum(axis=1, keepdims=True, dtype=F32) - prox  # Σ_{a>k}
        prox = prox.transpose(1, 0, 2)
        dist = dist.transpose(1, 0, 2)
        scores = np.abs(np.log2(k_scaling * prox / dist))
        scores = np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)
    out = scores.max(axis=0).astype(F32) if scores.shape[0] else np.zeros(
        (m.shape[1], r.shape[1]), dtype=F32
    )
    return out[0] if single else out


def polyadenylation_score_jax(ref: Any, alt: Any, intervals: Any) -> Any:
    """:func:`polyadenylation_score` in JAX from PAS windows as intervals: ``[G, T]`` for ``ref``/``alt [S, T]``
    and ``intervals [G, P, 2]`` (window-relative ``[lo, hi)`` per gene and slot; padding slots and genes empty).

    The window sums are blocked interval sums (:func:`genotile.variants.device_intervals.interval_sum_jax`), so
    they agree with the host's masked einsum to float32 rounding; the rest is the same formula, slot by slot."""
    import jax.numpy as jnp

    from genotile.variants.device_intervals import interval_sum_jax

    genes, slots, _ = intervals.shape
    flat = intervals.reshape(-1, 2)

    def sums(x: Any) -> Any:
        return interval_sum_jax(x, flat, PAS_MASK_WIDTH).reshape(genes, slots, -1)  # [G, P, T]

    def finite(x: Any) -> Any:
        return jnp.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    ratio = finite(sums(alt) / sums(ref))
    present = (intervals[..., 1] > intervals[..., 0]).astype(jnp.float32)  # [G, P]
    k_total = jnp.sum(present, axis=-1, keepdims=True)
    k_gene = jnp.cumsum(present, axis=-1)
    k_scaling = ((k_total - k_gene) / k_gene)[..., None]  # [G, P, 1]
    prox = jnp.cumsum(ratio, axis=1)
    dist = jnp.sum(ratio, axis=1, keepdims=True) - prox
    return jnp.max(finite(jnp.abs(jnp.log2(k_scaling * prox / dist))), axis=1, initial=0.0)


@register
class Polyadenylation(Scorer):
    """``[G, T]`` per overlapped gene with PAS near the variant; needs the GTF and the PAS table."""

    name = "Polyadenylation"
    outputs = frozenset({RNA_SEQ.scorer_output})
    needs_genes = True
    needs_pas = True

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        # Imported here: genotile.variants.annotation imports this module's PAS maths.
        from genotile.variants.annotation import pas_masks

        out, v = spec.output, inputs.variant
        assert inputs.pas is not None, "the engine checks needs_pas before scoring"
        genes = inputs.genes().overlapping_genes(v.chrom, inputs.start0, len(v.ref), len(v.alt))
        masks, kept = pas_masks(genes, inputs.pas, inputs.interval_start, inputs.length, int(v.pos))
        if kept.empty:
            return ScoreRows(np.zeros((0, len(inputs.tracks(out))), np.float32), gene_rows(kept))
        return ScoreRows(polyadenylation_score(inputs.ref.values[out], inputs.aligned(out), masks), gene_rows(kept))

    # -- the device reduction: each variant sends its genes' PAS windows as intervals --------------------------

    def device_read(self, spec: ScorerSpec) -> DeviceRead:
        return DeviceRead(spec.output, None, aligned=True, variant=True)

    def device_variant(self, spec: ScorerSpec, inputs: WindowInputs, variant: Any) -> VariantArrays:
        from genotile.variants.annotation import pas_intervals

        assert inputs.pas is not None, "the engine checks needs_pas before scoring"
        genes = inputs.genes().overlapping_genes(variant.chrom, int(variant.pos) - 1, len(variant.ref), len(variant.alt))
        try:
            per_gene, kept = pas_intervals(genes, inputs.pas, inputs.interval_start, inputs.length, int(variant.pos))
        except ValueError as err:  # AnnotationError: too many genes or PAS
            return VariantArrays({"pas_intervals": np.zeros((0, 0, 2), np.int32)}, 0, {}, f"{type(err).__name__}: {err}", {"pas_intervals": 2})
        slots = max((len(g) for g in per_gene), default=0)
        intervals = np.zeros((len(per_gene), slots, 2), np.int32)
        for g, windows in enumerate(per_gene):
            intervals[g, : len(windows)] = windows
        return VariantArrays({"pas_intervals": intervals}, len(kept), gene_rows(kept), pad_axes={"pas_intervals": 2})

    def device_score(
        self, spec: ScorerSpec, ref: Any, alt: Any, lo: Any, hi: Any, window: Mapping[str, Any] | None = None
    ) -> tuple[Any, Any, Any]:
        assert window is not None
        return polyadenylation_score_jax(ref, alt, window["pas_intervals"]), None, None
