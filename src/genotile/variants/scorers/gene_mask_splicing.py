"""GeneMaskSplicing: the largest ``|ALT - REF|`` over each overlapped gene's body (``GENE_MASK_SPLICING``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from genotile.variants.scorers.base import F32, Scorer, ScorerInputs, ScoreRows, ScorerSpec, gene_rows, register
from genotile.variants.scorers.gene_mask import GENE_MASK_OUTPUTS, apply_strand_nan

__all__ = ["GeneMaskSplicing", "gene_mask_splicing"]


def gene_mask_splicing(
    ref: npt.ArrayLike, alt: npt.ArrayLike, body_mask: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """``[G, T]`` ``max`` over each gene body of ``|A - R|`` (``GENE_MASK_SPLICING``).

    Why: the reference computes ``max(|A - R| * mask)`` over *all* positions, so an empty
    gene mask gives 0 (not -inf) and a NaN anywhere in a track makes that track NaN
    (``NaN * 0 = NaN``); this reproduces both. ALT indel-aligned by the caller. The
    scorer's ``width`` setting is ignored by the reference.
    """
    d = np.abs(np.asarray(alt, dtype=F32) - np.asarray(ref, dtype=F32))  # [S, T]
    m = np.asarray(body_mask, dtype=bool)
    out = np.empty((m.shape[1], d.shape[1]), dtype=F32)
    for g in range(m.shape[1]):  # per gene, like the reference's lax.map (memory bound)
        out[g] = (d * m[:, g, None].astype(F32)).max(axis=0)
    return out


@register
class GeneMaskSplicing(Scorer):
    """``[G, T]`` per gene the variant overlaps; ALT indel-aligned; stranded tracks score same-strand genes."""

    name = "GeneMaskSplicing"
    outputs = GENE_MASK_OUTPUTS
    needs_genes = True

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        out, v = spec.output, inputs.variant
        genes = inputs.genes().overlapping_genes(v.chrom, inputs.start0, len(v.ref), len(v.alt))
        masks = inputs.genes().body_masks(genes, v.chrom, inputs.interval_start, inputs.length)
        score = gene_mask_splicing(inputs.ref.values[out], inputs.aligned(out), masks)
        return ScoreRows(apply_strand_nan(score, genes["gene_strand"], inputs.tracks(out)["strand"]), gene_rows(genes))
