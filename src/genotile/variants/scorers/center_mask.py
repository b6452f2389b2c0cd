"""CenterMask: a reduction of REF/ALT over a fixed-width window centred on the variant (``CenterMaskScorer``).

Reproduces ``alphagenome_research/model/variant_scoring/center_mask.py``. ALT is compared
with REF position by position, even for indels (as the reference does): it must *not* be aligned.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from genotile.outputs import SCORER_OUTPUTS, SPLICE_JUNCTIONS, by_scorer_output
from genotile.variants.scorers.base import F32, DeviceRead, Scorer, ScorerInputs, ScoreRows, ScorerSpec, SettingsError, register

__all__ = [
    "Aggregation", "CenterMask", "center_mask", "center_mask_bins", "center_mask_score", "center_mask_score_jax",
    "masked_mean_jax", "resolution_for_output",
]  # fmt: skip


class Aggregation(str, enum.Enum):
    """Centre-mask aggregation types (``variant_scorers.AggregationType``)."""

    DIFF_MEAN = "DIFF_MEAN"
    DIFF_SUM = "DIFF_SUM"
    ACTIVE_MEAN = "ACTIVE_MEAN"
    ACTIVE_SUM = "ACTIVE_SUM"
    L2_DIFF = "L2_DIFF"
    L2_DIFF_LOG1P = "L2_DIFF_LOG1P"
    DIFF_SUM_LOG2 = "DIFF_SUM_LOG2"
    DIFF_LOG2_SUM = "DIFF_LOG2_SUM"


def resolution_for_output(output_type: str) -> int:
    """bp per bin of the exposed prediction of ``output_type`` (1 bp unless ChIP/contacts).

    Why: the centre-mask width is converted to bins with this resolution, so a ChIP
    scorer with width 501 covers ceil(501/128) = 4 bins, not 501.
    """
    return by_scorer_output(output_type.upper()).scored_resolution


def center_mask_bins(
    variant_start0: int,
    interval_start: int,
    width: int | None,
    resolution: int,
    length_bins: int,
) -> tuple[int, int]:
    """Half-open bin range ``[lo, hi)`` of the centre mask (``create_center_mask``).

    Why: the reference scores a fixed-width window centred on the variant's bin, clipped
    to the window; a variant outside ``[interval_start, interval_start + length_bins *
    resolution)`` gives an empty mask (returned as ``(0, 0)``); ``width=None`` means the
    whole window. ``w = ceil(width / resolution)``, centre bin ``c = (variant_start0 -
    interval_start) // resolution``, bins ``[max(c - w//2, 0), min(c - w//2 + w,
    length_bins))``.
    """
    interval_end = interval_start + length_bins * resolution
    if not interval_start <= variant_start0 < interval_end:
        return 0, 0
    if width is None:
        return 0, length_bins
    w = math.ceil(width / resolution)
    c = (variant_start0 - interval_start) // resolution
    lo = max(c - w // 2, 0)
    hi = min(c - w // 2 + w, length_bins)
    return lo, max(hi, lo)


def center_mask_score_jax(ref: Any, alt: Any, lo: Any, hi: Any, aggregation: Aggregation | str) -> Any:
    """:func:`center_mask_score` in JAX on REF/ALT ``[W, T]`` float32 with traced bounds ``[lo, hi)``.

    Why masks instead of slices: the bounds are per variant (traced) and the window has a static size;
    positions outside ``[lo, hi)`` are zeroed before every sum, so empty masks and NaN tracks behave as in
    :func:`center_mask_score` (sums 0, means 0/0 = NaN, NaN tracks stay NaN)."""
    import jax.numpy as jnp

    agg = Aggregation(aggregation)
    pos = jnp.arange(ref.shape[0])
    inside = ((pos >= lo) & (pos < hi))[:, None]
    n = jnp.sum(inside, dtype=jnp.float32)

    def total(x: Any) -> Any:
        return jnp.sum(jnp.where(inside, x, jnp.float32(0)), axis=0, dtype=jnp.float32)

    r, a = ref, alt
    if agg is Aggregation.DIFF_MEAN:
        return total(a) / n - total(r) / n
    if agg is Aggregation.ACTIVE_MEAN:
        return jnp.maximum(total(a) / n, total(r) / n)
    if agg is Aggregation.DIFF_SUM:
        return total(a) - total(r)
    if agg is Aggregation.ACTIVE_SUM:
        return jnp.maximum(total(a), total(r))
    if agg is Aggregation.L2_DIFF:
        return jnp.sqrt(total((a - r) ** 2))
    if agg is Aggregation.L2_DIFF_LOG1P:
        return jnp.sqrt(total((jnp.log1p(a) - jnp.log1p(r)) ** 2))
    if agg is Aggregation.DIFF_SUM_LOG2:
        return total(jnp.log2(a + 1)) - total(jnp.log2(r + 1))
    return jnp.log2(1 + total(a)) - jnp.log2(1 + total(r))  # DIFF_LOG2_SUM


def masked_mean_jax(x: Any, lo: Any, hi: Any) -> Any:
    """Mean of ``x [W, T]`` over bins ``[lo, hi)`` in float32 (NaN for an empty mask), the values' column."""
    import jax.numpy as jnp

    pos = jnp.arange(x.shape[0])
    inside = ((pos >= lo) & (pos < hi))[:, None]
    return jnp.sum(jnp.where(inside, x, jnp.float32(0)), axis=0, dtype=jnp.float32) / jnp.sum(inside, dtype=jnp.float32)


def center_mask(lo: int, hi: int, length_bins: int) -> npt.NDArray[np.bool_]:
    """Boolean ``[length_bins]`` mask with ``[lo, hi)`` set (for callers wanting the mask)."""
    m = np.zeros(length_bins, dtype=bool)
    m[lo:hi] = True
    return m


def center_mask_score(
    ref: npt.ArrayLike,
    alt: npt.ArrayLike,
    lo: int,
    hi: int,
    aggregation: Aggregation | str,
) -> npt.NDArray[np.float32]:
    """Per-track centre-mask score ``[T]`` of REF/ALT ``[S_r, T]`` over bins ``[lo, hi)``.

    Why: the reference's ``_apply_aggregation`` (float32, masked reductions). An empty
    mask gives what masked JAX reductions give: sums are 0 (so DIFF_SUM, ACTIVE_SUM,
    L2_DIFF, L2_DIFF_LOG1P, DIFF_SUM_LOG2, DIFF_LOG2_SUM are 0) and means are 0/0 = NaN
    (DIFF_MEAN and ACTIVE_MEAN are NaN; ``maximum`` propagates NaN). NaN tracks (padding)
    stay NaN.
    """
    agg = Aggregation(aggregation)
    r = np.asarray(ref, dtype=F32)[lo:hi]
    a = np.asarray(alt, dtype=F32)[lo:hi]
    n = F32(r.shape[0])

    def total(x: np.ndarray) -> np.ndarray:
        return x.sum(axis=0, dtype=F32)

    with np.errstate(divide="ignore", invalid="ignore"):
        if agg is Aggregation.DIFF_MEAN:
            out = total(a) / n - total(r) / n
        elif agg is Aggregation.ACTIVE_MEAN:
            out = np.maximum(total(a) / n, total(r) / n)
        elif agg is Aggregation.DIFF_SUM:
            out = total(a) - total(r)
        elif agg is Aggregation.ACTIVE_SUM:
            out = np.maximum(total(a), total(r))
        elif agg is Aggregation.L2_DIFF:
            out = np.sqrt(total((a - r) ** 2))
        elif agg is Aggregation.L2_DIFF_LOG1P:
            out = np.sqrt(total((np.log1p(a) - np.log1p(r)) ** 2))
        elif agg is Aggregation.DIFF_SUM_LOG2:
            out = total(np.log2(a + F32(1))) - total(np.log2(r + F32(1)))
        else:  # DIFF_LOG2_SUM
            out = np.log2(F32(1) + total(a)) - np.log2(F32(1) + total(r))
    return np.asarray(out, dtype=F32)


@register
class CenterMask(Scorer):
    """Per-track centre-mask score of any output but junctions; takes ``width`` (bp, None = whole
    window) and an :class:`Aggregation`. Adds the mean REF/ALT over the mask as values."""

    name = "CenterMask"
    outputs = frozenset(SCORER_OUTPUTS) - {SPLICE_JUNCTIONS.scorer_output}

    @classmethod
    def settings(cls, width: Any, aggregation: Any) -> tuple[int | None, str | None]:
        if width is not None and (not isinstance(width, int) or width <= 0):
            raise SettingsError(f"width must be a positive number of bp or null (whole window), got {width!r}")
        try:
            return width, Aggregation(str(aggregation).upper()).value
        except ValueError:
            raise SettingsError(
                f"aggregation {aggregation!r} unknown; one of {', '.join(a.value for a in Aggregation)}"
            ) from None

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        out = spec.output
        r, a = inputs.ref.values[out], inputs.alt.values[out]
        lo, hi = center_mask_bins(inputs.start0, inputs.interval_start, spec.width, resolution_for_output(out), r.shape[0])
        score = center_mask_score(r, a, lo, hi, spec.aggregation)[None]
        with np.errstate(invalid="ignore"):
            rv = r[lo:hi].mean(axis=0, dtype=np.float32)[None]
            av = a[lo:hi].mean(axis=0, dtype=np.float32)[None]
        return ScoreRows(score, {}, rv, av)

    def device_read(self, spec: ScorerSpec) -> DeviceRead:
        bins = None if spec.width is None else math.ceil(spec.width / resolution_for_output(spec.output))
        return DeviceRead(spec.output, bins)

    def device_bounds(self, spec: ScorerSpec, start0: int, interval_start: int, length_bins: int) -> tuple[int, int]:
        return center_mask_bins(start0, interval_start, spec.width, resolution_for_output(spec.output), length_bins)

    def device_score(self, spec: ScorerSpec, ref: Any, alt: Any, lo: Any, hi: Any, window: Any = None) -> tuple[Any, Any, Any]:
        assert spec.aggregation is not None
        score = center_mask_score_jax(ref, alt, lo, hi, spec.aggregation)
        return score, masked_mean_jax(ref, lo, hi), masked_mean_jax(alt, lo, hi)
