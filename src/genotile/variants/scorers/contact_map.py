"""ContactMap: Orca-style local disruption of the contact map at the variant's bin (``ContactMapScorer``).

ALT is compared with REF bin by bin, even for indels (as the reference does): it must *not* be aligned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from genotile.outputs import CONTACT_MAPS
from genotile.variants.scorers.base import F32, DeviceRead, Scorer, ScorerInputs, ScoreRows, ScorerSpec, register
from genotile.variants.scorers.center_mask import center_mask_bins

__all__ = ["ContactMap", "contact_map_bin", "contact_map_score"]


def contact_map_bin(variant_start0: int, interval_start: int, bins: int, bin_bp: int = CONTACT_MAPS.scored_resolution) -> int:
    """The one contact-map bin holding the variant, or ValueError as the reference raises (outside, or >1 bin)."""
    lo, hi = center_mask_bins(variant_start0, interval_start, bin_bp, bin_bp, bins)
    if hi - lo > 1:
        raise ValueError(f"variant maps to {hi - lo} contact-map bins; expected exactly 1")
    if hi - lo == 0:
        raise ValueError(
            f"variant start {variant_start0} does not affect any contact-map bin of the "
            f"window starting at {interval_start} ({bins} bins of {bin_bp} bp)"
        )
    return lo


def contact_map_score(
    ref: npt.ArrayLike,
    alt: npt.ArrayLike,
    variant_start0: int,
    interval_start: int,
    bin_bp: int = CONTACT_MAPS.scored_resolution,
) -> npt.NDArray[np.float32]:
    """Orca-style local disruption ``[T]`` from contact maps REF/ALT ``[P, P, T]``.

    Why: the reference (``ContactMapScorer``) takes the mean over rows of ``|A - R|`` and
    reads the column of the single 2048-bp bin holding the variant (a centre mask of
    width = resolution). It raises if that mask is empty (variant outside the window) or
    covers more than one bin.
    """
    r = np.asarray(ref, dtype=F32)
    a = np.asarray(alt, dtype=F32)
    lo = contact_map_bin(variant_start0, interval_start, r.shape[0], bin_bp)
    abs_diff = np.abs(a - r).mean(axis=0, dtype=F32)  # [P, T]
    return np.asarray(abs_diff[lo], dtype=F32)


@register
class ContactMap(Scorer):
    """Per-track mean ``|ALT - REF|`` of the variant's contact-map column."""

    name = "ContactMap"
    outputs = frozenset({CONTACT_MAPS.scorer_output})

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        out = spec.output
        score = contact_map_score(inputs.ref.values[out], inputs.alt.values[out], inputs.start0, inputs.interval_start)
        return ScoreRows(score[None], {})

    def device_read(self, spec: ScorerSpec) -> DeviceRead:
        return DeviceRead(spec.output, None)

    def device_bounds(self, spec: ScorerSpec, start0: int, interval_start: int, length_bins: int) -> tuple[int, int]:
        lo = contact_map_bin(start0, interval_start, length_bins)
        return lo, lo + 1

    def device_score(self, spec: ScorerSpec, ref: Any, alt: Any, lo: Any, hi: Any, window: Any = None) -> tuple[Any, Any, Any]:
        import jax.numpy as jnp

        column = lambda x: jnp.take(x, lo, axis=1)  # noqa: E731  [P, T]: the variant's column
        return jnp.mean(jnp.abs(column(alt) - column(ref)), axis=0, dtype=jnp.float32), None, None
