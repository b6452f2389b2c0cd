"""REF/ALT sequences for a variant and indel alignment of ALT predictions.

Reproduces the reference AlphaGenome implementation (``alphagenome_research``):

* :func:`variant_window` -- ``variant.reference_interval.resize(L)`` (how the reference's
  colabs/tests centre a model window on a variant).
* :func:`ref_alt_sequences` -- ``io/genome.extract_variant_sequences``.
* :func:`indel_alignment` / :func:`align_alternate` -- ``IndelMask.from_variant`` and
  ``align_alternate`` in ``model/variant_scoring/variant_scoring.py``.

Indel alignment is used by the gene-mask scorers, the polyadenylation scorer and the
junction path; the centre-mask and contact-map scorers compare ALT and REF
position-by-position even for indels (as in the reference: only gene, polyadenylation and junction scorers align), so they must *not* call it.

Coordinates: ``pos_1based`` is the VCF position; ``start = pos_1based - 1`` is 0-based and
the REF allele covers ``[start, start + len(REF))``. Windows are 0-based half-open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from genotile.sequence.encoding import reverse_complement

__all__ = [
    "VALID_VARIANT_BASES", "IndelAlignment", "align_alternate", "indel_alignment",
    "ref_alt_sequences", "variant_window",
]  # fmt: skip

#: Bases the reference ``genome.Variant`` accepts in REF and ALT (upper case only).
VALID_VARIANT_BASES = frozenset("ACGTN")

GenomeSequenceFn = Callable[[str, int, int], str]


def _check_alleles(ref: str, alt: str) -> None:
    """Refuse alleles the reference ``genome.Variant`` would refuse (it only accepts ACGTN),
    so a lower-case or symbolic allele (``<DEL>``, ``*``) fails loudly instead of being
    written into the model input."""
    for name, bases in (("REF", ref), ("ALT", alt)):
        bad = set(bases) - VALID_VARIANT_BASES
        if bad:
            raise ValueError(
                f"invalid {name} allele {bases!r}: variant alleles must only contain upper-case A, C, G, T "
                f"or N (found {''.join(sorted(bad))!r}); symbolic or lower-case alleles are not supported."
            )


def _check_position(pos_1based: int) -> None:
    if pos_1based < 1:
        raise ValueError(f"variant position must be >= 1 (1-based, as in VCF), got {pos_1based}")


def variant_window(
    chrom: str,
    pos_1based: int,
    ref: str,
    alt: str,
    window_bp: int,
    contig_length: int | None = None,
) -> tuple[int, int]:
    """The 0-based half-open model window ``(start, end)`` centred on a variant.

    Why this exact arithmetic: the reference centres windows with
    ``variant.reference_interval.resize(window_bp)``, i.e. it resizes the REF span
    ``[s, s + len(REF))`` (``s = pos - 1``) around ``Interval.center()``, which is
    ``(start + end) // 2 + width % 2`` for unstranded intervals, then takes
    ``[centre - (L + 1) // 2, centre + L // 2)``. For an SNV and an even ``L`` the variant
    therefore sits at window index ``L // 2 - 1``: the extra base goes to the *right*
    (``L/2 - 1`` bases before the variant, ``L/2`` after). The centre depends on
    ``len(REF)`` (e.g. a 3-bp REF centres one base further right than an SNV), and a window
    exactly as wide as REF is returned unchanged, as ``resize`` does.

    The reference never shifts a window to stay inside the contig: windows past either
    contig end are padded with ``N`` by the sequence extractor. ``contig_length`` is
    therefore only used to refuse a variant whose REF lies outside the contig.
    ``chrom`` and ``alt`` do not affect the window (validated only).
    """
    del chrom  # the window depends on the position and REF length only
    _check_position(pos_1based)
    _check_alleles(ref, alt)
    if window_bp <= 0:
        raise ValueError(f"window_bp must be > 0, got {window_bp}")
    start0 = pos_1based - 1
    end0 = start0 + len(ref)
    if contig_length is not None and end0 > contig_length:
        raise ValueError(
            f"variant REF [{start0}, {end0}) (0-based) runs past the contig end ({contig_length:,} bp); "
            "check the chromosome name and genome build."
        )
    width = end0 - start0
    if width == window_bp:
        return start0, end0
    centre = (start0 + end0) // 2 + width % 2
    return centre - (window_bp + 1) // 2, centre + window_bp // 2


def _split(start: int, ref: str, alt: str, anchor: int) -> tuple[tuple[int, str, str] | None, tuple[int, str, str] | None]:
    """``genome.Variant.split``: cut a variant at 0-based ``anchor`` into (upstream,
    downstream); REF and ALT are cut at the *same* offset (so an indel's extra bases stay
    with the downstream half)."""
    end = start + len(ref)
    if anchor <= start:
        return None, (start, ref, alt)
    if anchor >= end:
        return (start, ref, alt), None
    mid = anchor - start
    return (start, ref[:mid], alt[:mid]), (anchor, ref[mid:], alt[mid:])


def _write_ref(seq: str, win_start: int, win_end: int, var_start: int, ref: str) -> str:
    """``insert_reference_variant``: overwrite the window with the variant's REF bases
    (clipped to the window). The reference does this instead of checking REF against the
    genome, so a REF that disagrees with the FASTA is silently written in: the REF
    prediction is for the stated REF allele, not the genome's base."""
    var_end = var_start + len(ref)
    if not (win_start < var_end and var_start < win_end):  # Interval.overlaps
        return seq
    rel_start = max(var_start - win_start, 0)
    rel_end = min(var_end - win_start, win_end - win_start)
    clip_start = max(win_start - var_start, 0)
    clip_end = min(win_end - var_start, var_end - var_start)
    return seq[:rel_start] + ref[clip_start:clip_end] + seq[rel_end:]


def _write_alt(seq: str, win_start: int, win_end: int, var_start: int, ref: str, alt: str) -> str:
    """``insert_alternate_variant``: replace the (window-clipped) REF span with ALT; the
    result's length changes by ``len(ALT) - len(REF)`` (callers truncate)."""
    var_end = var_start + len(ref)
    ref_overlaps = win_start < var_end and var_start < win_end
    alt_overlaps = win_start < var_start + len(alt) and var_start < win_end
    if not (ref_overlaps or (not ref and alt_overlaps)):
        return seq
    part: tuple[int, str, str] | None = (var_start, ref, alt)
    if var_end > win_end:
        part, _ = _split(var_start, ref, alt, win_end)
    assert part is not None
    if part[0] < win_start:
        _, part = _split(*part, win_start)
    assert part is not None
    p_start, p_ref, p_alt = part
    rel_start = p_start - win_start
    return seq[:rel_start] + p_alt + seq[rel_start + len(p_ref):]


def ref_alt_sequences(
    genome_sequence_fn: GenomeSequenceFn,
    chrom: str,
    start: int,
    end: int,
    pos_1based: int,
    ref: str,
    alt: str,
    strand: str = "+",
) -> tuple[str, str]:
    """REF and ALT model inputs for a variant in window ``[start, end)``, exactly as the
    reference's ``extract_variant_sequences``.

    * The window is fetched extended at the right by ``max(0, len(REF) - len(ALT))`` so a
      deletion's ALT still fills the whole window with real downstream sequence.
    * REF sequence: the genome with the variant's REF bases written in (clipped to the
      window). If the stated REF disagrees with the genome the reference does not fail or
      warn; it writes the stated REF in (so REF/ALT differ exactly by the allele change).
    * ALT sequence: the REF span replaced by ALT (a variant straddling a window edge is
      split like ``Variant.split`` and only the inside part applied).
    * Both are truncated to the window width (an insertion pushes bases off the right end),
      then reverse-complemented for ``strand='-'`` (the model sees the − strand; outputs are
      mapped back to forward coordinates later).

    ``genome_sequence_fn(chrom, start, end)`` must return the forward-strand sequence and
    pad with ``N`` past contig ends (``genotile.sequence.fasta.Genome.sequence`` does).
    """
    _check_position(pos_1based)
    _check_alleles(ref, alt)
    if strand not in ("+", "-"):
        raise ValueError(f"strand must be '+' or '-', got {strand!r}")
    width = end - start
    if width <= 0:
        raise ValueError(f"empty or reversed window [{start}, {end})")
    ext_end = end + max(0, len(ref) - len(alt))
    seq = genome_sequence_fn(chrom, start, ext_end)
    if len(seq) != ext_end - start:
        raise ValueError(
            f"genome_sequence_fn returned {len(seq):,} bases for [{start}, {ext_end}) (expected "
            f"{ext_end - start:,}); it must pad with N past contig ends."
        )
    var_start = pos_1based - 1
    ref_seq = _write_ref(seq, start, ext_end, var_start, ref)[:width]
    alt_seq = _write_alt(seq, start, ext_end, var_start, ref, alt)[:width]
    if strand == "-":
        ref_seq, alt_seq = reverse_complement(ref_seq), reverse_complement(alt_seq)
    return ref_seq, alt_seq


@dataclass(frozen=True)
class IndelAlignment:
    """Index maps and masks that align ALT predictions to REF coordinates (the reference
    ``IndelMask``); all arrays have the window length ``S``.

    * ``alt_mask``: positions whose per-track maximum summarises an insertion (the anchor
      base and the inserted bases).
    * ``insertion_reindex``: gather indices moving the inserted positions to the end.
    * ``insertion_crop``: positions zeroed at the end of alignment (the moved-out inserted
      positions).
    * ``deletion_zeros``: positions set to 0 before ``deletion_reindex`` moves them into
      the deleted span.
    """

    is_indel: bool
    alt_mask: npt.NDArray[np.bool_]
    insertion_reindex: npt.NDArray[np.int32]
    insertion_crop: npt.NDArray[np.bool_]
    deletion_zeros: npt.NDArray[np.bool_]
    deletion_reindex: npt.NDArray[np.int32]

    @property
    def length(self) -> int:
        return int(self.alt_mask.shape[-1])

    def mirrored(self) -> IndelAlignment:
        """The alignment for the reversed (− strand) orientation: boolean masks reversed,
        index maps become ``S - 1 - reversed`` (``IndelMask.reverse_complement``)."""
        s = self.length
        return IndelAlignment(
            is_indel=self.is_indel,
            alt_mask=self.alt_mask[::-1].copy(),
            insertion_reindex=(s - 1 - self.insertion_reindex[::-1]).astype(np.int32),
            insertion_crop=self.insertion_crop[::-1].copy(),
            deletion_zeros=self.deletion_zeros[::-1].copy(),
            deletion_reindex=(s - 1 - self.deletion_reindex[::-1]).astype(np.int32),
        )


def indel_alignment(
    variant_start0: int,
    ref_len: int,
    alt_len: int,
    interval_start: int,
    length: int,
    negative_strand: bool = False,
) -> IndelAlignment:
    """Alignment masks for a variant at 0-based ``variant_start0`` in the window
    ``[interval_start, interval_start + length)`` (``IndelMask.from_variant``).

    Why: the ALT haplotype is shifted by the indel, so ALT predictions must be put back on
    REF coordinates before gene/PAS masks (REF coordinates) are applied. Assuming a
    left-aligned variant whose indel part is at its end, with
    ``v0 = variant_start0 - interval_start + min(ref_len, alt_len) - 1`` (the last shared
    base):

    * insertion of ``n``: ALT ``v0 .. v0+n`` (inclusive, clipped to the window) take their
      per-track max; order ``[0..v0] ++ [v0+n+1..S-1] ++ [v0+1..v0+n]``; last ``n`` zeroed.
      An insertion running past the window end just clips (same as the reference).
    * deletion of ``n``: last ``n`` positions zeroed and moved into ``v0+1 .. v0+n``
      (order ``[0..v0] ++ [S-n..S-1] ++ [v0+1..S-n-1]``).
    * SNV/MNV: identity.
    * ``negative_strand``: the masks are mirrored, as the reference does for − strand
      intervals (correct for arrays in the model's reverse-complemented orientation).

    The index maps follow the reference's Python slice semantics exactly. Where those
    would not give a length-``S`` permutation (a deletion reaching past the window end,
    i.e. ``v0 + n >= S``, or an indel whose anchor lies left of the window) the reference
    fails later with a shape error; here a ``ValueError`` is raised instead.
    """
    if length <= 0:
        raise ValueError(f"window length must be > 0, got {length}")
    if ref_len < 0 or alt_len < 0:
        raise ValueError("allele lengths must be >= 0")
    ins = alt_len - ref_len
    dele = -ins
    v0 = variant_start0 - interval_start + min(ref_len, alt_len) - 1
    idx = np.arange(length, dtype=np.int32)

    alt_mask = np.zeros(length, dtype=bool)
    insertion_reindex = idx
    insertion_crop = np.zeros(length, dtype=bool)
    if ins > 0:
        alt_mask[v0 : v0 + ins + 1] = True
        insertion_reindex = np.concatenate([idx[: v0 + 1], idx[v0 + ins + 1 :], idx[v0 + 1 : v0 + ins + 1]])
        insertion_crop[-ins:] = True

    deletion_zeros = np.zeros(length, dtype=bool)
    deletion_reindex = idx
    if dele > 0:
        deletion_zeros[-dele:] = True
        deletion_reindex = np.concatenate([idx[: v0 + 1], idx[-dele:], idx[v0 + 1 : -dele]])

    for name, arr in (("insertion", insertion_reindex), ("deletion", deletion_reindex)):
        if arr.shape[0] != length:
            raise ValueError(
                f"cannot align this {name} in the window: the variant (0-based start {variant_start0}, REF "
                f"{ref_len} bp, ALT {alt_len} bp) is not fully inside [{interval_start}, "
                f"{interval_start + length}); the reference implementation fails here too (shape error). "
                "Centre the window on the variant (variant_window)."
            )
    alignment = IndelAlignment(
        is_indel=ins != 0,
        alt_mask=alt_mask,
        insertion_reindex=insertion_reindex.astype(np.int32),
        insertion_crop=insertion_crop,
        deletion_zeros=deletion_zeros,
        deletion_reindex=deletion_reindex.astype(np.int32),
    )
    return alignment.mirrored() if negative_strand else alignment


def align_alternate(alt_values: npt.ArrayLike, alignment: IndelAlignment) -> np.ndarray:
    """ALT predictions ``[S, C]`` (or ``[S]``) aligned to REF coordinates (reference
    ``align_alternate``): insertion positions take their per-track maximum (NaN
    propagates, as in ``jnp.max``), inserted positions move to the end and are zeroed,
    deletion zeros are moved into the deleted span; the cropped tail is multiplied by 0
    (so NaN there stays NaN, exactly as the reference's ``alt *= 1 - crop``). Returns a new float array; the input's
    float dtype is kept (ints become float32, as the reference works in float32)."""
    x = np.asarray(alt_values)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != alignment.length:
        raise ValueError(f"alt_values must be [S, C] or [S] with S = {alignment.length}, got shape {np.shape(alt_values)}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    out = x.copy()
    if alignment.alt_mask.any():
        out[alignment.alt_mask] = out[alignment.alt_mask].max(axis=0, keepdims=True)
    out = out[alignment.insertion_reindex]
    out[alignment.deletion_zeros] = 0
    out = out[alignment.deletion_reindex]
    # A multiplication, not an assignment, as in the reference: NaN/inf in a cropped
    # position stay NaN there (only the deletion zeros are written with ``where``).
    out = out * (~alignment.insertion_crop)[:, None].astype(out.dtype)
    return out[:, 0] if squeeze else out
