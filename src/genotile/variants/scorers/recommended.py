"""The official recommended scorer set (``get_recommended_scorers``)."""

from __future__ import annotations

from genotile.outputs import (
    ATAC,
    CAGE,
    CHIP_HISTONE,
    CHIP_TF,
    CONTACT_MAPS,
    DNASE,
    PROCAP,
    RNA_SEQ,
    SPLICE_JUNCTIONS,
    SPLICE_SITE_USAGE,
    SPLICE_SITES,
    Output,
)
from genotile.variants.scorers.base import ScorerSpec
from genotile.variants.scorers.center_mask import Aggregation

__all__ = ["RECOMMENDED", "recommended_scorers"]


def _center(output: Output, width: int) -> tuple[ScorerSpec, ...]:
    return tuple(
        ScorerSpec("CenterMask", output.scorer_output, width, agg)
        for agg in (Aggregation.DIFF_LOG2_SUM.value, Aggregation.ACTIVE_SUM.value)
    )


#: The official recommended scorer set (``get_recommended_scorers``).
RECOMMENDED: tuple[ScorerSpec, ...] = (
    *_center(ATAC, 501),
    *_center(DNASE, 501),
    *_center(CHIP_TF, 501),
    *_center(CHIP_HISTONE, 2001),
    *_center(CAGE, 501),
    *_center(PROCAP, 501),
    ScorerSpec("ContactMap", CONTACT_MAPS.scorer_output),
    ScorerSpec("GeneMaskLFC", RNA_SEQ.scorer_output),
    ScorerSpec("GeneMaskActive", RNA_SEQ.scorer_output),
    ScorerSpec("GeneMaskSplicing", SPLICE_SITES.scorer_output),
    ScorerSpec("GeneMaskSplicing", SPLICE_SITE_USAGE.scorer_output),
    ScorerSpec("SpliceJunction", SPLICE_JUNCTIONS.scorer_output),
    ScorerSpec("Polyadenylation", RNA_SEQ.scorer_output, human_only=True),
)


def recommended_scorers(organism: str = "human") -> tuple[ScorerSpec, ...]:
    """The recommended set for ``organism`` (mouse has no PAS table: no polyadenylation)."""
    human = organism.lower() in ("human", "homo_sapiens", "hs")
    return tuple(s for s in RECOMMENDED if human or not s.human_only)
