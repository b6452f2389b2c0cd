"""GeneMaskSplicing: the largest ``|ALT - REF|`` over each overlapped gene's body (``GENE_MASK_SPLICING``).

On the device (issue 15): the genes are those the *variant* overlaps, so each variant sends its genes' body
intervals (:meth:`~genotile.variants.annotation.GeneAnnotation.body_intervals`) and strand pattern
(:class:`~.base.VariantArrays`); the ALT pass aligns its whole-window output on the device and returns ``[G, T]``
maxima (:func:`genotile.variants.device_intervals.interval_max_jax`), equal to the host's bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

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
from genotile.variants.scorers.gene_mask import GENE_MASK_OUTPUTS, apply_strand_nan, strand_keep

__all__ = ["GeneMaskSplicing", "gene_mask_splicing", "gene_mask_splicing_jax"]


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
    with np.errstate(invalid="ignore"):  # inf * 0 = NaN, as in the reference
        for g in range(m.shape[1]):  # per gene, like the reference's lax.map (memory bound)
            out[g] = (d * m[:, g, None].astype(F32)).max(axis=0)
    return out


def gene_mask_splicing_jax(ref: Any, alt: Any, intervals: Any, owners: Any, genes: int) -> Any:
    """:func:`gene_mask_splicing` in JAX from body intervals: ``[genes, T]`` for ``ref``/``alt [S, T]``,
    ``intervals [I, 2]`` (disjoint within a gene) and ``owners [I]`` (the gene of each; padding intervals are
    empty).

    The reference's ``NaN * 0`` and ``inf * 0``: a track with a NaN anywhere is NaN for every gene, and an
    infinite difference outside a gene's body makes that gene NaN (inside, it is the maximum)."""
    import jax.numpy as jnp

    from genotile.variants.device_intervals import interval_max_jax, interval_sum_jax

    d = jnp.abs(alt - ref)
    infinite = jnp.isinf(d)
    owned = owners[None, :] == jnp.arange(genes)[:, None]  # [G, I]
    peak = jnp.max(jnp.where(owned[..., None], interval_max_jax(d, intervals)[None], jnp.float32(0)), axis=1)
    inf_inside = jnp.sum(jnp.where(owned[..., None], interval_sum_jax(infinite.astype(jnp.int32), intervals)[None], 0), axis=1)
    nan = jnp.any(jnp.isnan(d), axis=0)[None] | (jnp.sum(infinite, axis=0, dtype=jnp.int32)[None] > inf_inside)
    return jnp.where(nan, jnp.float32(jnp.nan), jnp.maximum(peak, jnp.float32(0)))


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

    # -- the device reduction ----------------------------------------------------------------------------

    def device_read(self, spec: ScorerSpec) -> DeviceRead:
        return DeviceRead(spec.output, None, aligned=True, variant=True)

    def device_variant(self, spec: ScorerSpec, inputs: WindowInputs, variant: Any) -> VariantArrays:
        annotation = inputs.genes()
        genes = annotation.overlapping_genes(variant.chrom, int(variant.pos) - 1, len(variant.ref), len(variant.alt))
        tracks = inputs.model.tracks[spec.output]["strand"]
        try:
            intervals, owners = annotation.body_intervals(genes, variant.chrom, inputs.interval_start, inputs.length)
        except ValueError as err:  # AnnotationError: too many genes
            empty = {"body_intervals": np.zeros((0, 2), np.int32), "body_owners": np.zeros(0, np.int32),
                     f"strand_keep|{spec.output}": np.zeros((0, len(tracks)), bool)}  # fmt: skip
            return VariantArrays(empty, 0, {}, f"{type(err).__name__}: {err}")
        keep = strand_keep(genes["gene_strand"], tracks)
        arrays = {"body_intervals": intervals, "body_owners": owners, f"strand_keep|{spec.output}": keep}
        return VariantArrays(arrays, len(genes), gene_rows(genes))

    def device_score(
        self, spec: ScorerSpec, ref: Any, alt: Any, lo: Any, hi: Any, window: Mapping[str, Any] | None = None
    ) -> tuple[Any, Any, Any]:
        import jax.numpy as jnp

        assert window is not None
        keep = window[f"strand_keep|{spec.output}"]
        score = gene_mask_splicing_jax(ref, alt, window["body_intervals"], window["body_owners"], keep.shape[0])
        return jnp.where(keep, score, jnp.float32(jnp.nan)), None, None
