"""Variant scorers: pure numpy reductions of REF/ALT predictions of one window.

Reproduces the maths of the reference AlphaGenome scorers
(``alphagenome_research/model/variant_scoring/*.py``). Every function takes
predictions already mapped to forward genomic coordinates. Where the reference aligns
indels (gene-mask scorers, polyadenylation, junctions) the *caller* must pass ALT already
aligned with :func:`genotile.variants.sequences.align_alternate`; the centre-mask and
contact-map scorers compare ALT and REF position-by-position even for indels (as the reference
does), so their ALT must *not* be aligned.

Numerics: the reference runs these reductions in JAX on float32 inputs, so accumulation
here is float32 as well (``dtype=np.float32``) and the outputs are float32 (junction
deltas: float16, as the reference stores them). Reduction order differs from XLA's, so
results agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Aggregation", "Junctions", "RECOMMENDED", "ScorerSpec", "apply_strand_nan", "center_mask",
    "center_mask_bins", "center_mask_score", "contact_map_score", "gene_mask_active",
    "gene_mask_lfc", "gene_mask_splicing", "gene_means", "junction_max_per_gene", "pas_window_masks",
    "polyadenylation_score", "recommended_scorers", "resolution_for_output",
    "splice_junction_delta", "unstack_junctions",
]  # fmt: skip

F32 = np.float32
Array = npt.NDArray[np.floating]


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


#: Output resolution in bp of the tensor each scorer reads (the reference scorers' settings classes).
_RESOLUTION = {"CHIP_HISTONE": 128, "CHIP_TF": 128, "CONTACT_MAPS": 2048}


def resolution_for_output(output_type: str) -> int:
    """bp per bin of the exposed prediction of ``output_type`` (1 bp unless ChIP/contacts).

    Why: the centre-mask width is converted to bins with this resolution, so a ChIP
    scorer with width 501 covers ceil(501/128) = 4 bins, not 501.
    """
    return _RESOLUTION.get(output_type.upper(), 1)


# --------------------------------------------------------------------------- centre mask


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


# --------------------------------------------------------------------------- contact map


def contact_map_score(
    ref: npt.ArrayLike,
    alt: npt.ArrayLike,
    variant_start0: int,
    interval_start: int,
    bin_bp: int = 2048,
) -> npt.NDArray[np.float32]:
    """Orca-style local disruption ``[T]`` from contact maps REF/ALT ``[P, P, T]``.

    Why: the reference (``ContactMapScorer``) takes the mean over rows of ``|A - R|`` and
    reads the column of the single 2048-bp bin holding the variant (a centre mask of
    width = resolution). It raises if that mask is empty (variant outside the window) or
    covers more than one bin.
    """
    r = np.asarray(ref, dtype=F32)
    a = np.asarray(alt, dtype=F32)
    p = r.shape[0]
    lo, hi = center_mask_bins(variant_start0, interval_start, bin_bp, bin_bp, p)
    if hi - lo > 1:
        raise ValueError(f"variant maps to {hi - lo} contact-map bins; expected exactly 1")
    if hi - lo == 0:
        raise ValueError(
            f"variant start {variant_start0} does not affect any contact-map bin of the "
            f"window starting at {interval_start} ({p} bins of {bin_bp} bp)"
        )
    abs_diff = np.abs(a - r).mean(axis=0, dtype=F32)  # [P, T]
    return np.asarray(abs_diff[lo], dtype=F32)


# --------------------------------------------------------------------------- gene masks


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


# --------------------------------------------------------------------------- polyadenylation

PAS_MASK_WIDTH = 400
MAX_PAS = 136
MAX_GENES = 22


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
    *before* sorting it by Start and then zips them with the sorted rows (kept for parity),
    so slot ``i`` holds the window of the ``i``-th PAS in the table's original order.
    With ``reference_order_quirk=True`` (default, matches the reference) slots follow the
    given order; ``False`` sorts by Start first (what the code evidently intended). The
    two agree whenever the table is already sorted.
    """
    starts = np.asarray(pas_starts, dtype=np.int64)
    if not reference_order_quirk:
        starts = np.sort(starts, kind="stable")
    rel = starts - interval_start
    mask = np.zeros((length, len(rel)), dtype=bool)
    for i, p in enumerate(rel):
        if pas_strand == "+":
            hi = int(p) + 1
            lo = hi - PAS_MASK_WIDTH
        else:
            lo = int(p)
            hi = lo + PAS_MASK_WIDTH
        lo = max(min(lo, length), 0)
        hi = max(min(hi, length), 0)
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


# --------------------------------------------------------------------------- junctions

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


# --------------------------------------------------------------------------- recommended


@dataclass(frozen=True)
class ScorerSpec:
    """One scorer setting: ``scorer`` kind, ``output`` type, centre-mask ``width`` and
    ``aggregation`` (None where not applicable), and whether it is ``human_only``."""

    scorer: str
    output: str
    width: int | None = None
    aggregation: str | None = None
    human_only: bool = False


def _center(output: str, width: int) -> tuple[ScorerSpec, ...]:
    return tuple(
        ScorerSpec("CenterMask", output, width, agg)
        for agg in (Aggregation.DIFF_LOG2_SUM.value, Aggregation.ACTIVE_SUM.value)
    )


#: The official recommended scorer set (``get_recommended_scorers``).
RECOMMENDED: tuple[ScorerSpec, ...] = (
    *_center("ATAC", 501),
    *_center("DNASE", 501),
    *_center("CHIP_TF", 501),
    *_center("CHIP_HISTONE", 2001),
    *_center("CAGE", 501),
    *_center("PROCAP", 501),
    ScorerSpec("ContactMap", "CONTACT_MAPS"),
    ScorerSpec("GeneMaskLFC", "RNA_SEQ"),
    ScorerSpec("GeneMaskActive", "RNA_SEQ"),
    ScorerSpec("GeneMaskSplicing", "SPLICE_SITES"),
    ScorerSpec("GeneMaskSplicing", "SPLICE_SITE_USAGE"),
    ScorerSpec("SpliceJunction", "SPLICE_JUNCTIONS"),
    ScorerSpec("Polyadenylation", "RNA_SEQ", human_only=True),
)


def recommended_scorers(organism: str = "human") -> tuple[ScorerSpec, ...]:
    """The recommended set for ``organism`` (mouse has no PAS table: no polyadenylation)."""
    human = organism.lower() in ("human", "homo_sapiens", "hs")
    return tuple(s for s in RECOMMENDED if human or not s.human_only)
