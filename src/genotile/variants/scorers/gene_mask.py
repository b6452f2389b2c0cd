"""GeneMaskLFC and GeneMaskActive: gene-mean expression of REF vs ALT over each gene's exons.

Reproduces ``GeneMaskScorer`` (``GENE_MASK_LFC``, ``GENE_MASK_ACTIVE``). ALT is indel-aligned to REF
(:func:`genotile.variants.sequences.align_alternate`); stranded tracks score only same-strand genes.
:func:`gene_means` and :func:`apply_strand_nan` are shared with :mod:`.gene_mask_splicing`.

On the device (issue 15): a window's exon masks (padded to :func:`~.base.row_bucket` genes), exon counts and
strand pattern are built once on the host and kept on the device with the REF state, which also keeps the REF
gene means; each ALT pass aligns its whole-window output (:mod:`genotile.variants.device_align`) and returns
only its ``[G, T]`` scores and gene means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from genotile.outputs import OUTPUTS, SPLICE_JUNCTIONS
from genotile.variants.scorers.base import (
    F32,
    DeviceRead,
    Scorer,
    ScorerInputs,
    ScoreRows,
    ScorerSpec,
    WindowArrays,
    WindowInputs,
    gene_rows,
    register,
    row_bucket,
)  # fmt: skip

__all__ = ["GENE_MASK_OUTPUTS", "GeneMaskActive", "GeneMaskLFC", "apply_strand_nan", "gene_mask_active", "gene_mask_lfc",
           "gene_means", "gene_means_jax", "strand_keep"]

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
    return np.where(strand_keep(gene_strands, track_strands), s, F32(np.nan)).astype(F32)


def strand_keep(gene_strands: npt.ArrayLike, track_strands: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """``[G, T]``: which scores :func:`apply_strand_nan` keeps (same strand, or an unstranded track)."""
    gs = np.asarray(gene_strands).astype(str)[:, None]
    ts = np.asarray(track_strands).astype(str)[None, :]
    return np.asarray((gs == ts) | (ts == "."), bool)


#: Bases per block of :func:`gene_means_jax`'s blocked product (small enough that no backend splits its sums).
GENE_MEAN_BLOCK = 128


def gene_means_jax(values: Any, gene_mask: Any, counts: Any) -> Any:
    """:func:`gene_means` in JAX: ``values [S, T]`` float32, ``gene_mask [S, G]`` bool, ``counts [G]`` its
    column sums (float32); 0/0 (padded genes) = NaN, and a NaN anywhere in a track is NaN for every gene, as in
    the host's matrix product.

    Why a blocked product (per block of :data:`GENE_MEAN_BLOCK` bases a ``[G, T]`` product, then a sum over the
    blocks): one whole-window dot is split over threads differently by XLA:CPU inside and outside the ALT
    passes' row loop (a one-row call has no loop), so its bytes would depend on the batch size; a masked sum
    (``where``) is exact in its order but ~15x slower on a CPU (1 s a row for 8 genes x 667 tracks x 131 kb).
    ``HIGHEST``: full float32 products on GPUs (no TF32)."""
    import jax
    import jax.numpy as jnp

    s, t = values.shape
    pad = -s % GENE_MEAN_BLOCK
    x = jnp.pad(values.astype(jnp.float32), ((0, pad), (0, 0))).reshape(-1, GENE_MEAN_BLOCK, t)
    w = jnp.pad(gene_mask, ((0, pad), (0, 0))).astype(jnp.float32).reshape(-1, GENE_MEAN_BLOCK, gene_mask.shape[1])
    blocks = jnp.einsum("kbg,kbt->kgt", w, x, precision=jax.lax.Precision.HIGHEST, preferred_element_type=jnp.float32)
    return jnp.sum(blocks, axis=0, dtype=jnp.float32) / counts[:, None]


class _GeneMask(Scorer):
    """Shared body of the two exon-mask scorers: they differ only in the reduction."""

    outputs = GENE_MASK_OUTPUTS
    needs_genes = True

    @staticmethod
    def reduce(ref: np.ndarray, alt: np.ndarray, masks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def reduce_means_jax(ref_means: Any, alt_means: Any) -> Any:
        """:meth:`reduce` from the gene means, traced (the device reduction)."""
        raise NotImplementedError

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        out = spec.output
        masks, genes = inputs.genes().exon_masks(inputs.variant.chrom, inputs.interval_start, inputs.length)
        r, a = inputs.ref.values[out], inputs.aligned(out)
        score = apply_strand_nan(self.reduce(r, a, masks), genes["gene_strand"], inputs.tracks(out)["strand"])
        rv = gene_means(r, masks).astype(np.float32)
        av = gene_means(a, masks).astype(np.float32)
        return ScoreRows(score, gene_rows(genes), rv, av)

    # -- the device reduction ----------------------------------------------------------------------------

    def device_read(self, spec: ScorerSpec) -> DeviceRead:
        return DeviceRead(spec.output, None, aligned=True, window=True, ref_outputs=False)

    def device_window(self, spec: ScorerSpec, inputs: WindowInputs) -> WindowArrays:
        error = None
        try:
            masks, genes = inputs.genes().exon_masks(inputs.chrom, inputs.interval_start, inputs.length)
        except ValueError as err:  # AnnotationError: too many genes in the window
            masks, genes, error = np.zeros((inputs.length, 0), bool), None, f"{type(err).__name__}: {err}"
        n, tracks = masks.shape[1], inputs.model.tracks[spec.output]["strand"]
        padded = np.zeros((inputs.length, row_bucket(n)), bool)
        padded[:, :n] = masks
        keep = np.zeros((padded.shape[1], len(tracks)), bool)
        if genes is not None:
            keep[:n] = strand_keep(genes["gene_strand"], tracks)
        arrays = {"exon_masks": padded, "exon_counts": padded.sum(axis=0).astype(F32), f"strand_keep|{spec.output}": keep}
        return WindowArrays(arrays, n, {} if genes is None else gene_rows(genes), error)

    def device_ref(self, spec: ScorerSpec, ref: Any, window: Mapping[str, Any]) -> dict[str, Any]:
        return {f"gene_means_ref|{spec.output}": gene_means_jax(ref, window["exon_masks"], window["exon_counts"])}

    def device_score(
        self, spec: ScorerSpec, ref: Any, alt: Any, lo: Any, hi: Any, window: Mapping[str, Any] | None = None
    ) -> tuple[Any, Any, Any]:
        import jax.numpy as jnp

        assert window is not None
        rv = window[f"gene_means_ref|{spec.output}"]
        av = gene_means_jax(alt, window["exon_masks"], window["exon_counts"])
        score = jnp.where(window[f"strand_keep|{spec.output}"], self.reduce_means_jax(rv, av), jnp.float32(jnp.nan))
        return score, rv, av


@register
class GeneMaskLFC(_GeneMask):
    """``[G, T]`` log fold change of gene-mean ALT over REF."""

    name = "GeneMaskLFC"
    reduce = staticmethod(gene_mask_lfc)

    @staticmethod
    def reduce_means_jax(ref_means: Any, alt_means: Any) -> Any:
        import jax.numpy as jnp

        return jnp.log(alt_means + jnp.float32(1e-3)) - jnp.log(ref_means + jnp.float32(1e-3))


@register
class GeneMaskActive(_GeneMask):
    """``[G, T]`` the larger gene mean of ALT and REF."""

    name = "GeneMaskActive"
    reduce = staticmethod(gene_mask_active)

    @staticmethod
    def reduce_means_jax(ref_means: Any, alt_means: Any) -> Any:
        import jax.numpy as jnp

        return jnp.maximum(alt_means, ref_means)
