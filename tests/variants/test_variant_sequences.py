"""Tests for genotile.variants.sequences: variant windows, REF/ALT sequences (reference
``extract_variant_sequences``) and indel alignment (reference ``IndelMask`` /
``align_alternate``), with property tests of the alignment invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.sequence.encoding import reverse_complement
from genotile.variants.sequences import (
    IndelAlignment,
    align_alternate,
    indel_alignment,
    ref_alt_sequences,
    variant_window,
)

# -- variant_window -------------------------------------------------------------


def test_window_snv_even_length_extra_base_on_the_right():
    # variant.reference_interval.resize(10): SNV at 0-based 100 -> [96, 106), variant at index 4 = L//2 - 1
    start, end = variant_window("chr1", 101, "A", "G", 10)
    assert (start, end) == (96, 106)
    assert 100 - start == 10 // 2 - 1


def test_window_snv_odd_length_is_symmetric():
    assert variant_window("chr1", 101, "A", "G", 11) == (95, 106)


def test_window_depends_on_ref_length():
    # REF [100, 103): centre = (200 + 103) // 2 + 3 % 2 = 102
    assert variant_window("chr1", 101, "ACG", "A", 10) == (97, 107)
    # REF [100, 102): centre = 101 (even width)
    assert variant_window("chr1", 101, "AC", "A", 10) == (96, 106)
    # width equal to REF length: unchanged
    assert variant_window("chr1", 101, "ACG", "A", 3) == (100, 103)


def test_window_standard_length_and_contig_edges():
    s, e = variant_window("chr1", 1, "A", "C", 1_048_576)
    assert e - s == 1_048_576 and s == -(2**19 - 1)  # no clamping: N-padded by the extractor
    with pytest.raises(ValueError):
        variant_window("chr1", 100, "AC", "A", 16, contig_length=100)
    with pytest.raises(ValueError):
        variant_window("chr1", 0, "A", "C", 16)
    with pytest.raises(ValueError):
        variant_window("chr1", 5, "a", "C", 16)


def test_window_matches_alphagenome_interval_resize():
    genome = pytest.importorskip("alphagenome.data.genome")
    for pos, ref, alt, width in [(101, "A", "G", 10), (101, "ACG", "A", 10), (57, "AC", "ACGT", 2048),
                                 (1000, "ACGTA", "A", 131_071), (3, "A", "AT", 16_384)]:
        v = genome.Variant("chr1", pos, ref, alt)
        iv = v.reference_interval.resize(width)
        assert variant_window("chr1", pos, ref, alt, width) == (iv.start, iv.end)


# -- ref_alt_sequences ----------------------------------------------------------

GENOME = "ACGTTGCAAGCTTAGC"  # 16 bp contig "c"


def fetch(chrom: str, start: int, end: int) -> str:
    assert chrom == "c"
    return "".join(GENOME[i] if 0 <= i < len(GENOME) else "N" for i in range(start, end))


def test_snv():
    # window [2, 8) = "GTTGCA"; pos 5 (0-based 4) is 'T'
    assert ref_alt_sequences(fetch, "c", 2, 8, 5, "T", "A") == ("GTTGCA", "GTAGCA")


def test_ref_mismatch_is_written_in():
    # the genome has 'T' at 0-based 4; the stated REF 'C' is written into REF (no error)
    assert ref_alt_sequences(fetch, "c", 2, 8, 5, "C", "A") == ("GTCGCA", "GTAGCA")


def test_insertion_truncates_at_right():
    # anchor T at 0-based 4, insert "GG"
    ref, alt = ref_alt_sequences(fetch, "c", 2, 8, 5, "T", "TGG")
    assert ref == "GTTGCA" and alt == "GTTGGG"


def test_deletion_fetches_extension():
    # delete "GC" after anchor T (0-based 4): REF TGC [4, 7), ALT T; ALT reads genome[7:9]
    ref, alt = ref_alt_sequences(fetch, "c", 2, 8, 5, "TGC", "T")
    assert ref == "GTTGCA" and alt == "GTTAAG"


def test_deletion_at_right_window_edge():
    # window [0, 6); REF [4, 8) = "TGCA" -> "T", straddling the window end
    ref, alt = ref_alt_sequences(fetch, "c", 0, 6, 5, "TGCA", "T")
    assert ref == "ACGTTG" and alt == "ACGTTA"  # ALT continues with genome[8:]


def test_deletion_at_left_window_edge_is_split():
    # window [4, 10) = "TGCAAG"; REF [2, 6) = "GTTG" -> "G": only the part inside the window
    # (REF[2:] = "TG" -> ALT[2:] = "") is applied
    ref, alt = ref_alt_sequences(fetch, "c", 4, 10, 3, "GTTG", "G")
    assert ref == "TGCAAG" and alt == "CAAGCT"


def test_insertion_at_last_window_base_and_past_contig_end():
    ref, alt = ref_alt_sequences(fetch, "c", 12, 20, 16, "C", "CAA")
    assert ref == "TAGCNNNN" and alt == "TAGCAANN"


def test_variant_outside_window_leaves_sequence():
    assert ref_alt_sequences(fetch, "c", 0, 4, 10, "G", "A") == ("ACGT", "ACGT")


def test_negative_strand_is_reverse_complement():
    plus = ref_alt_sequences(fetch, "c", 2, 8, 5, "TTG", "T")
    minus = ref_alt_sequences(fetch, "c", 2, 8, 5, "TTG", "T", strand="-")
    assert minus == (reverse_complement(plus[0]), reverse_complement(plus[1]))


def test_bad_alleles_rejected():
    with pytest.raises(ValueError):
        ref_alt_sequences(fetch, "c", 2, 8, 5, "T", "<DEL>")


# -- indel alignment: unit tests -----------------------------------------------


def test_insertion_crafted():
    al = indel_alignment(3, 1, 3, 0, 8)  # v0 = 3, insert 2
    assert al.is_indel
    np.testing.assert_array_equal(al.insertion_reindex, [0, 1, 2, 3, 6, 7, 4, 5])
    x = np.array([0, 1, 2, 3, 9, 5, 6, 7], dtype=np.float32)
    np.testing.assert_array_equal(align_alternate(x, al), [0, 1, 2, 9, 6, 7, 0, 0])


def test_deletion_crafted():
    al = indel_alignment(13, 3, 1, 10, 8)  # v0 = 3, delete 2
    np.testing.assert_array_equal(al.deletion_reindex, [0, 1, 2, 3, 6, 7, 4, 5])
    x = np.arange(8, dtype=np.float32)
    np.testing.assert_array_equal(align_alternate(x, al), [0, 1, 2, 3, 0, 0, 4, 5])


def test_insertion_past_window_end_clips():
    al = indel_alignment(6, 1, 5, 0, 8)  # v0 = 6, 4 inserted bases, only 1 inside
    np.testing.assert_array_equal(al.insertion_reindex, np.arange(8))
    x = np.arange(8, dtype=np.float64)
    np.testing.assert_array_equal(align_alternate(x, al), [0, 1, 2, 3, 0, 0, 0, 0])


def test_deletion_past_window_end_raises():
    with pytest.raises(ValueError, match="reference implementation fails"):
        indel_alignment(6, 4, 1, 0, 8)  # v0 = 6, deleting 3 -> runs past the end
    indel_alignment(4, 4, 1, 0, 8)  # v0 + n = 7 = S - 1: fits


def test_snv_mnv_identity_and_2d():
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    for ref_len in (1, 3):
        al = indel_alignment(5, ref_len, ref_len, 0, 16)
        assert not al.is_indel
        np.testing.assert_array_equal(align_alternate(x, al), x)


def test_nan_in_cropped_tail_stays_nan():
    al = indel_alignment(2, 1, 2, 0, 6)
    x = np.array([0, 1, 2, 3, 4, np.nan])
    out = align_alternate(x, al)
    # reindex [0,1,2,4,5,3]: position 5 holds the inserted base 3 -> cropped by * 0
    np.testing.assert_array_equal(out[:5], [0, 1, 3, 4, np.nan])
    assert out[5] == 0


# -- indel alignment: property tests -------------------------------------------


def genomic_signal(n_pos: int, channels: int, seed: int) -> np.ndarray:
    """A 'prediction' that is a function of genomic position: row g = signal at genomic g."""
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=(n_pos, channels))


@st.composite
def insertions(draw):
    length = draw(st.integers(4, 64))
    n = draw(st.integers(1, length - 2))
    shared = draw(st.integers(1, 3))  # len(REF); ALT = REF + n inserted bases (left-aligned)
    v0 = draw(st.integers(0, length - 1))
    interval_start = draw(st.integers(-5, 1000))
    variant_start = interval_start + v0 - (shared - 1)
    return length, n, shared, v0, interval_start, variant_start, draw(st.integers(0, 2**31)), draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(insertions())
def test_property_insertion_matches_ref_away_from_variant(case):
    length, n, shared, v0, interval_start, variant_start, seed, negative = case
    channels = 3
    f = genomic_signal(length, channels, seed)  # indexed by genomic position - interval_start
    inserted = np.random.default_rng(seed + 1).uniform(0.5, 2.0, size=(n, channels))
    ref_pred = f
    # ALT haplotype: [0..v0] genomic, then n inserted, then genomic shifted right by n, truncated
    alt_pred = np.concatenate([f[: v0 + 1], inserted, f[v0 + 1 :]])[:length]
    al = indel_alignment(variant_start, shared, shared + n, interval_start, length)
    out = align_alternate(alt_pred, al)
    assert out.shape == ref_pred.shape
    keep = np.ones(length, dtype=bool)
    keep[v0] = False
    keep[length - n :] = False
    np.testing.assert_array_equal(out[keep], ref_pred[keep])
    np.testing.assert_array_equal(out[length - n :][out[length - n :] != 0], [])  # tail zeroed
    if v0 < length - n:  # the anchor keeps the max of anchor + inserted bases (clipped to the window)
        expect_v0 = np.concatenate([f[v0 : v0 + 1], inserted])[: length - v0].max(axis=0)
        np.testing.assert_array_equal(out[v0], expect_v0)
    if negative:
        mirrored = indel_alignment(variant_start, shared, shared + n, interval_start, length, negative_strand=True)
        np.testing.assert_array_equal(align_alternate(alt_pred[::-1], mirrored), out[::-1])


@st.composite
def deletions(draw):
    length = draw(st.integers(4, 64))
    shared = draw(st.integers(1, 3))  # len(ALT); REF = ALT + n deleted bases
    v0 = draw(st.integers(0, length - 2))
    n = draw(st.integers(1, length - 1 - v0))  # v0 + n <= S - 1 (the reference's domain)
    interval_start = draw(st.integers(-5, 1000))
    variant_start = interval_start + v0 - (shared - 1)
    return length, n, shared, v0, interval_start, variant_start, draw(st.integers(0, 2**31)), draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(deletions())
def test_property_deletion_matches_ref_and_deleted_read_zero(case):
    length, n, shared, v0, interval_start, variant_start, seed, negative = case
    f = genomic_signal(length + n, 2, seed)
    ref_pred = f[:length]
    alt_pred = np.concatenate([f[: v0 + 1], f[v0 + 1 + n :]])[:length]  # deleted bases skipped
    assert alt_pred.shape[0] == length
    al = indel_alignment(variant_start, shared + n, shared, interval_start, length)
    out = align_alternate(alt_pred, al)
    deleted = np.zeros(length, dtype=bool)
    deleted[v0 + 1 : v0 + 1 + n] = True
    np.testing.assert_array_equal(out[deleted], 0)
    np.testing.assert_array_equal(out[~deleted], ref_pred[~deleted])
    if negative:
        mirrored = indel_alignment(variant_start, shared + n, shared, interval_start, length, negative_strand=True)
        np.testing.assert_array_equal(align_alternate(alt_pred[::-1], mirrored), out[::-1])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 64), st.integers(1, 4), st.integers(-100, 100), st.booleans(), st.integers(0, 2**31))
def test_property_snv_mnv_identity(length, ref_len, rel, negative, seed):
    x = np.random.default_rng(seed).normal(size=(length, 2))
    al = indel_alignment(rel, ref_len, ref_len, 0, length, negative_strand=negative)
    np.testing.assert_array_equal(align_alternate(x, al), x)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 48), st.integers(0, 6), st.integers(0, 6), st.integers(-3, 60), st.booleans())
def test_property_maps_are_permutations_within_bounds(length, ref_len, alt_len, rel, negative):
    try:
        al = indel_alignment(1000 + rel, ref_len, alt_len, 1000, length, negative_strand=negative)
    except ValueError:
        return  # outside the reference's domain
    assert isinstance(al, IndelAlignment)
    for arr in (al.insertion_reindex, al.deletion_reindex):
        assert arr.shape == (length,)
        np.testing.assert_array_equal(np.sort(arr), np.arange(length))
    for arr in (al.alt_mask, al.insertion_crop, al.deletion_zeros):
        assert arr.shape == (length,)
    x = np.arange(length, dtype=np.float32) + 1
    assert align_alternate(x, al).shape == (length,)
    # mirroring twice is the identity
    twice = al.mirrored().mirrored()
    np.testing.assert_array_equal(twice.insertion_reindex, al.insertion_reindex)
    np.testing.assert_array_equal(twice.deletion_reindex, al.deletion_reindex)
