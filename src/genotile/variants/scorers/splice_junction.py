"""SpliceJunction: per protein-coding gene, the junctions whose predicted counts change most (``SpliceJunctionScorer``).

REF and ALT junctions are predicted on shared candidate sites (:meth:`genotile.variants.predict.VariantModel.junction_pair`)
from the bodies of all genes the variant overlaps; ALT is indel-aligned inside that call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from genotile.outputs import SPLICE_JUNCTIONS
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
from genotile.variants.sequences import indel_alignment

__all__ = ["Junctions", "MAX_SPLICE_SITES", "SpliceJunction", "junction_max_per_gene", "splice_junction_delta",
           "unstack_junctions"]

MAX_SPLICE_SITES = 256


def splice_junction_delta(
    ref_values: npt.ArrayLike, alt_values: npt.ArrayLike
) -> npt.NDArray[np.float16]:
    """``ln(A + 1e-7) - ln(R + 1e-7)`` in float32, stored as float16 (``SpliceJunction``).

    Why: the reference's junction score is a log fold change of predicted junction
    counts, and it keeps the per-junction deltas in float16 (so scores carry f16
    precision). Slicing to the first 256 sites per class is :func:`unstack_junctions`'
    job (``max_sites``).
    """
    r = np.asarray(ref_values, dtype=F32)
    a = np.asarray(alt_values, dtype=F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(a + F32(1e-7)) - np.log(r + F32(1e-7))
    return d.astype(np.float16)


@dataclass(frozen=True)
class Junctions:
    """Long-format junctions: values ``[J, T]``, strands ``[J]``, 0-based genomic
    ``starts``/``ends`` (Start = donor+1 on +, acceptor+1 on −; End = acceptor on +,
    donor on −)."""

    values: np.ndarray
    strands: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def unstack_junctions(
    pred: npt.ArrayLike,
    positions: npt.ArrayLike,
    interval_start: int = 0,
    max_sites: int | None = MAX_SPLICE_SITES,
) -> Junctions:
    """Long format of a junction tensor ``[D, D, 2T]`` with site positions ``[4, D]``
    (rows: donor+, acceptor+, donor−, acceptor−; −1 = padding).

    Why (``unstack_junction_predictions``): channel ``s*T + t`` is strand ``s`` (+ then
    −), tissue ``t``; + junctions are donor-major pairs of the valid + donors/acceptors,
    − junctions likewise with − donors/acceptors; junctions with ``Start >= End`` or
    ``Start <= 0`` are dropped. ``max_sites`` keeps only the first 256 sites per class as
    the junction scorer does (it reads the first 256 of 512 sites per class); padding is always at the end of a row.
    """
    p = np.asarray(pred)
    pos = np.asarray(positions)
    if max_sites is not None:
        p = p[:max_sites, :max_sites]
        pos = pos[:, :max_sites]
    t = p.shape[-1] // 2
    p = p.reshape(p.shape[0], p.shape[1], 2, t)
    valid = [row[row != -1].astype(np.int64) for row in pos[:4]]
    pd_, pa, nd, na = valid
    plus = p[: len(pd_), : len(pa), 0].reshape(-1, t)
    minus = p[: len(nd), : len(na), 1].reshape(-1, t)
    values = np.concatenate([plus, minus], axis=0)
    starts = np.concatenate([np.repeat(pd_, len(pa)), np.tile(na, len(nd))]) + 1 + interval_start
    ends = np.concatenate([np.tile(pa, len(pd_)), np.repeat(nd, len(na))]) + interval_start
    strands = np.array(["+"] * (len(pd_) * len(pa)) + ["-"] * (len(nd) * len(na)))
    keep = (starts < ends) & (starts > 0)
    return Junctions(values[keep], strands[keep], starts[keep], ends[keep])


def junction_max_per_gene(
    abs_delta: npt.ArrayLike,
    junction_starts: npt.ArrayLike,
    junction_ends: npt.ArrayLike,
    junction_strands: npt.ArrayLike,
    gene_starts: npt.ArrayLike,
    gene_ends: npt.ArrayLike,
    gene_strands: npt.ArrayLike,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Per gene, the junctions with the largest ``|Δ|`` in at least one tissue.

    Why (``SpliceJunctionVariantScorer.finalize_variant``): a junction belongs to a gene
    if it is on the gene's strand and strictly inside it (``Start > gene Start``, ``End <
    gene End``, genomic 0-based half-open); for each gene and tissue the junction with
    max ``|Δ|`` is picked (first in the given junction order on ties), and the picked
    junctions are reported once each (first-occurrence order, in tissue order) with all
    tissues. Returns ``(gene_index [R], junction_index [R], values [R, T])``; genes with
    no junction contribute no rows. Tie order: the reference walks a PyRanges join
    (grouped by strand) so callers should pass junctions in that order for exact ties.
    """
    v = np.asarray(abs_delta, dtype=F32)
    js = np.asarray(junction_starts, dtype=np.int64)
    je = np.asarray(junction_ends, dtype=np.int64)
    jst = np.asarray(junction_strands).astype(str)
    gi_out: list[int] = []
    ji_out: list[int] = []
    for g, (gs, ge, gst) in enumerate(
        zip(np.asarray(gene_starts), np.asarray(gene_ends), np.asarray(gene_strands).astype(str))
    ):
        inside = np.flatnonzero((jst == gst) & (js > gs) & (je < ge))
        if inside.size == 0:
            continue
        picks = inside[np.argmax(v[inside], axis=0)]  # [T]
        seen: set[int] = set()
        for j in picks.tolist():
            if j not in seen:
                seen.add(j)
                gi_out.append(g)
                ji_out.append(j)
    gi = np.asarray(gi_out, dtype=np.int64)
    ji = np.asarray(ji_out, dtype=np.int64)
    return gi, ji, v[ji] if ji.size else np.zeros((0, v.shape[1]), dtype=F32)


def junction_picks_jax(
    ref: Any, alt: Any, positions: Any, interval_start: Any, gene_bounds: Any, gene_strands: Any, max_sites: int = MAX_SPLICE_SITES
) -> tuple[Any, Any, Any, Any]:
    """:func:`splice_junction_delta`, :func:`unstack_junctions` and :func:`junction_max_per_gene` in JAX, for one
    variant: REF/ALT junctions ``[K, K, 2T]`` on sites ``positions [4, K]`` (-1 = padding) of a window starting at
    ``interval_start``, and its genes' genomic ``gene_bounds [G, 2]`` and strands ``[G]`` (0 = +, 1 = -, other =
    padding).

    Returns per gene and tissue the picked junction's ``|Δ|`` over every tissue ``[G, T, T]`` (float16, as the
    reference keeps them), its index in the host's junction order ``[G, T]``, its genomic ``[start, end)``
    ``[G, T, 2]``, and whether the gene has any junction ``[G]``; :meth:`SpliceJunction.device_rows` keeps each
    gene's distinct picks in tissue order. The flat index ``strand, donor slot, acceptor slot`` is the host's
    order (padding sites are at the end of each row), and ``argmax`` takes the first maximum as ``np.argmax``."""
    import jax
    import jax.numpy as jnp

    r, a, pos = ref[:max_sites, :max_sites], alt[:max_sites, :max_sites], positions[:, :max_sites]
    k, tissues = r.shape[0], r.shape[-1] // 2
    delta = jnp.abs((jnp.log(a + jnp.float32(1e-7)) - jnp.log(r + jnp.float32(1e-7))).astype(jnp.float16))
    values = delta.reshape(k, k, 2, tissues).transpose(2, 0, 1, 3).reshape(2 * k * k, tissues)  # [J, T]
    donor = jnp.stack([pos[0], pos[2]])[:, :, None]  # [2, K, 1]
    acceptor = jnp.stack([pos[1], pos[3]])[:, None, :]  # [2, 1, K]
    plus = (jnp.arange(2) == 0)[:, None, None]
    start = jnp.where(plus, donor, acceptor) + 1 + interval_start  # [2, K, K]
    end = jnp.where(plus, acceptor, donor) + interval_start
    strand = jnp.broadcast_to(jnp.arange(2)[:, None, None], start.shape).reshape(-1)
    start, end = start.reshape(-1), end.reshape(-1)
    valid = ((donor != -1) & (acceptor != -1)).reshape(-1) & (start < end) & (start > 0)

    def one_gene(gene: tuple[Any, Any]) -> tuple[Any, Any, Any, Any]:
        bounds, gene_strand = gene
        inside = valid & (strand == gene_strand) & (start > bounds[0]) & (end < bounds[1])
        scored = jnp.where(inside[:, None], values, jnp.float16(-jnp.inf))
        picks = jnp.argmax(scored, axis=0).astype(jnp.int32)  # [T]
        return values[picks], picks, jnp.stack([start[picks], end[picks]], axis=-1), jnp.any(inside)

    return jax.lax.map(one_gene, (gene_bounds, gene_strands))  # a gene at a time: [J, T] temporaries only


@register
class SpliceJunction(Scorer):
    """Rows per (gene, junction) with ``junction_start``/``junction_end``; scores are ``|Δ|`` (float16 precision)."""

    name = "SpliceJunction"
    outputs = frozenset({SPLICE_JUNCTIONS.scorer_output})
    needs_genes = True

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        v, annotation = inputs.variant, inputs.genes()
        n_tracks = len(inputs.tracks(SPLICE_JUNCTIONS.scorer_output))
        genes = annotation.overlapping_genes(v.chrom, inputs.start0, len(v.ref), len(v.alt), protein_coding=True)
        if genes.empty:
            no_rows = np.zeros(0, np.int64)
            return ScoreRows(np.zeros((0, n_tracks), np.float32),
                             {**gene_rows(genes), "junction_start": no_rows, "junction_end": no_rows})
        # Candidate sites come from the bodies of *all* genes the variant overlaps (the reference's mask).
        all_genes = annotation.overlapping_genes(v.chrom, inputs.start0, len(v.ref), len(v.alt))
        body = annotation.body_masks(all_genes, v.chrom, inputs.interval_start, inputs.length).any(axis=1)
        alignment = indel_alignment(inputs.start0, len(v.ref), len(v.alt), inputs.interval_start, inputs.length)
        r, a, positions = inputs.model.junction_pair(inputs.ref, inputs.alt, alignment, body)
        delta = np.abs(splice_junction_delta(r, a), dtype=np.float32)
        junctions = unstack_junctions(delta, positions, inputs.interval_start)
        gi, ji, values = junction_max_per_gene(
            junctions.values, junctions.starts, junctions.ends, junctions.strands,
            genes["gene_start"], genes["gene_end"], genes["gene_strand"],
        )
        labels = {k: col[gi] for k, col in gene_rows(genes).items()}
        labels["junction_start"] = junctions.starts[ji]
        labels["junction_end"] = junctions.ends[ji]
        return ScoreRows(values.astype(np.float32), labels)

    # -- the device reduction: junctions of both alleles predicted in the ALT pass, picks chosen there ----------

    def device_read(self, spec: ScorerSpec) -> DeviceRead:
        return DeviceRead(spec.output, None, aligned=True, variant=True)

    def device_variant(self, spec: ScorerSpec, inputs: WindowInputs, variant: Any) -> VariantArrays:
        annotation, chrom = inputs.genes(), variant.chrom
        start0, ref_len, alt_len = int(variant.pos) - 1, len(variant.ref), len(variant.alt)
        genes = annotation.overlapping_genes(chrom, start0, ref_len, alt_len, protein_coding=True)
        intervals = np.zeros((0, 2), np.int32)
        error = None
        if not genes.empty:  # as on the host: candidate sites from the bodies of *all* overlapping genes
            try:
                all_genes = annotation.overlapping_genes(chrom, start0, ref_len, alt_len)
                intervals, _ = annotation.body_intervals(all_genes, chrom, inputs.interval_start, inputs.length)
            except ValueError as err:  # AnnotationError: too many genes
                error = f"{type(err).__name__}: {err}"
        arrays = {
            "body_intervals": intervals,
            "gene_bounds": np.stack([genes["gene_start"], genes["gene_end"]], axis=-1).astype(np.int32).reshape(-1, 2),
            "gene_strands": np.where(genes["gene_strand"].to_numpy(object) == "+", 0, 1).astype(np.int32),
            "interval_start": np.asarray(inputs.interval_start, np.int32),
        }
        return VariantArrays(arrays, len(genes), gene_rows(genes), error, pad_axes={"interval_start": 0})

    def device_score(
        self, spec: ScorerSpec, ref: Any, alt: Any, lo: Any, hi: Any, window: Mapping[str, Any] | None = None
    ) -> tuple[Any, ...]:
        assert window is not None
        # padded genes are [0, 0): no junction lies strictly inside, so they pick nothing
        return junction_picks_jax(
            ref, alt, window["splice_site_positions"], window["interval_start"], window["gene_bounds"], window["gene_strands"]
        )

    def device_rows(self, spec: ScorerSpec, result: tuple[Any, ...], arrays: Any) -> ScoreRows:
        values, picks, coords, has = (np.asarray(x) for x in result)
        genes, labels, starts, ends, rows = [], arrays.labels, [], [], []
        for g in range(arrays.rows):
            if not has[g]:
                continue
            seen: set[int] = set()
            for t, j in enumerate(picks[g].tolist()):
                if j not in seen:
                    seen.add(j)
                    genes.append(g)
                    rows.append(values[g, t])
                    starts.append(coords[g, t, 0])
                    ends.append(coords[g, t, 1])
        gi = np.asarray(genes, np.int64)
        out = {k: np.asarray(col)[gi] for k, col in labels.items()}
        out["junction_start"] = np.asarray(starts, np.int64)
        out["junction_end"] = np.asarray(ends, np.int64)
        scores = np.stack(rows).astype(np.float32) if rows else np.zeros((0, values.shape[-1]), np.float32)
        return ScoreRows(scores, out)
