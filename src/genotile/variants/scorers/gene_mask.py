"""GeneMaskLFC and GeneMaskActive: gene-mean expression of REF vs ALT over each gene's exons.

Reproduces ``GeneMaskScorer`` (``GENE_MASK_LFC``, ``GENE_MASK_ACTIVE``). ALT is indel-aligned to REF
(:func:`genotile.variants.sequences.align_alternate`); stranded tracks score only same-strand genes.
:func:`gene_means` and :func:`apply_strand_nan` are shared with :mod:`.gene_mask_splicing`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from genotile.outputs import OUTPUTS, SPLICE_JUNCTIONS
from genotile.variants.scorers.base import F32, Scorer, ScorerInputs, ScoreRows, ScorerSpec, gene_rows, register

__all__ = ["GENE_MASK_OUTPUTS", "GeneMaskActive", "GeneMaskLFC", "apply_strand_nan", "gene_mask_active", "gene_mask_lfc",
           "gene_means"]

#: The 1-bp outputs but junctions: what the gene-mask scorers may read.
GENE_MASK_OUTPUTS = frozenset(o.scorer_output for o in OUTPUTS if o.scored_resolution == 1 and o != SPLICE_JUNCTIONS)


def gene_means(values: npt.ArrayLike, gene_mask: npt.ArrayLike) -> np.ndarray:
    """``[G, T]`` mean of ``values [S, T]`` over each gene's mask ``[S, G]`` (0/0 = NaN)."""
    v = np.asarray(values, dtype=F32)
    m = np.asarray(gene_mask, dtype=bool)
    length = m.sum(axis=0).astype(F32)[:, None]  # [G, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return (m.T.astype(F32) @ v) / length


def gene_mask_lfc(
    ref: npt.ArrayLike, alt: npt.ArrayLike, gene_mask: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """``[G, T]`` natural-log fold change of gene-mean expression (``GENE_MASK_LFC``).

    Why: ``ln(mean_gene(A) + 1e-3) - ln(mean_gene(R) + 1e-3)`` over each gene's exon mask;
    ALT must be indel-aligned by the caller. A gene with an empty mask (padding) gives NaN
    (0/0), as in the reference before it drops padded genes.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(gene_means(alt, gene_mask) + F32(1e-3)) - np.log(
            gene_means(ref, gene_mask) + F32(1e-3)
        )
    return np.asarray(out, dtype=F32)


def gene_mask_active(
    ref: npt.ArrayLike, alt: npt.ArrayLike, gene_mask: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """``[G, T]`` ``max(mean_gene A, mean_gene R)`` (``GENE_MASK_ACTIVE``).

    Why: an "is this gene expressed at all" companion to the LFC; ALT indel-aligned by
    the caller; empty gene masks give NaN.
    """
    return np.asarray(
        np.maximum(gene_means(alt, gene_mask), gene_means(ref, gene_mask)), dtype=F32
    )


def apply_strand_nan(
    scores: npt.ArrayLike, gene_strands: npt.ArrayLike, track_strands: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """Set ``scores[g, t]`` to NaN where gene strand != track strand and track strand is
    not ``'.'`` (``GeneVariantScorer.finalize_variant``).

    Why: a stranded RNA-seq track only measures transcripts of its own strand, so its
    score for an opposite-strand gene is meaningless; unstranded tracks keep all genes.
    """
    s = np.asarray(scores, dtype=F32)
    gs = np.asarray(gene_strands).astype(str)[:, None]
    ts = np.asarray(track_strands).astype(str)[None, :]
    keep = (gs == ts) | (ts == ".")
    return np.where(keep, s, F32(np.nan)).astype(F32)


class _GeneMask(Scorer):
    """Shared body of the two exon-mask scorers: they differ only in the reduction."""

    outputs = GENE_MASK_OUTPUTS
    needs_genes = True

    @staticmethod
    def reduce(ref: np.ndarray, alt: np.ndarray, masks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        out = spec.output
        masks, genes = inputs.genes().exon_masks(inputs.variant.chrom, inputs.interval_start, inputs.length)
        r, a = inputs.ref.values[out], inputs.aligned(out)
        score = apply_strand_nan(self.reduce(r, a, masks), genes["gene_strand"], inputs.tracks(out)["strand"])
        rv = gene_means(r, masks).astype(np.float32)
        av = gene_means(a, masks).astype(np.float32)
        return ScoreRows(score, gene_rows(genes), rv, av)


@register
class GeneMaskLFC(_GeneMask):
    """``[G, T]`` log fold change of gene-mean ALT over REF."""

    name = "GeneMaskLFC"
    reduce = staticmethod(gene_mask_lfc)


@register
class GeneMaskActive(_GeneMask):
    """``[G, T]`` the larger gene mean of ALT and REF."""

    name = "GeneMaskActive"
    reduce = staticmethod(gene_mask_active)
