"""Exact local recomputation of the encoder for ALT alleles (genotile.model.local_encoder; issue 15 item 5).

Every check compares with the full ALT pass of the tiny model (float32): the patched encoder outputs, the
heads run on them, and the REF bytes kept outside the receptive field.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.model import local_encoder as le
from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import synthetic_model
from genotile.model.config import BF16, F32
from genotile.model.layout import build_model, default_track_means
from genotile.sequence.encoding import one_hot
from genotile.variants.sequences import ref_alt_sequences

S = 4096
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def tiny():
    loaded = synthetic_model("tiny", 0)
    return build_model(loaded.config, F32), loaded.variables


@pytest.fixture(scope="module")
def ref_dna() -> np.ndarray:
    return np.eye(4, dtype=np.float32)[np.random.default_rng(15).integers(0, 4, (1, S))]


@pytest.fixture(scope="module")
def encoder(tiny):
    model, variables = tiny
    fn = jax.jit(lambda v, d: le.encode(model, v, d))
    return lambda dna: fn(variables, dna)


@pytest.fixture(scope="module")
def local(tiny):
    model, variables = tiny

    @functools.cache
    def compiled(width: int):
        return jax.jit(lambda v, r, d, s: le.local_encode(model, v, r, d, s, width))

    return lambda ref, dna, start, width: compiled(width)(variables, ref, dna, np.asarray(start, np.int32))


@pytest.fixture(scope="module")
def ref_encoded(encoder, ref_dna):
    return encoder(ref_dna)


def _mutate(dna: np.ndarray, start: int, width: int, shift: int = 1) -> np.ndarray:
    """Every base of ``[start, start + width)`` replaced by another base (a substitution)."""
    alt = dna.copy()
    alt[:, start : start + width] = np.roll(dna[:, start : start + width], shift, axis=-1)
    return alt


def _check_exact(ref, full, patched, start: int, width: int, row: int = 0, ref_row: int = 0) -> float:
    """Patched == full ALT within float32 rounding; REF bytes outside the changed spans; returns the max abs diff."""
    spans = le.changed_spans(S, start, width)
    worst = 0.0
    pairs = [("trunk", ref[0], full[0], patched[0])] + [(b, ref[1][b], full[1][b], patched[1][b]) for b in ref[1]]
    for key, r, f, p in pairs:
        r, f, p = np.asarray(r[ref_row]), np.asarray(f[row]), np.asarray(p[row])
        lo, hi = spans[key]
        np.testing.assert_allclose(p, f, **TOL, err_msg=f"output {key}")
        outside = np.ones(len(r), bool)
        outside[lo:hi] = False
        assert np.array_equal(f[outside], r[outside]), f"the full ALT pass changed {key} outside its span [{lo}, {hi})"
        assert np.array_equal(p[outside], r[outside]), f"the local pass wrote {key} outside its span [{lo}, {hi})"
        worst = max(worst, float(np.max(np.abs(p - f))))
    return worst


def test_receptive_field_and_sizes():
    assert le.RECEPTIVE_MARGIN_BP == 513 and le.TRUNK_BIN_BP == 128
    stages, trunk_bound = le.plan(1 << 20, 1)
    assert [s.slice_len for s in stages] == [37, 26, 26, 26, 26, 26, 26] and trunk_bound == 10
    n_bins = S // 128
    for x in range(S):  # trunk bin j reads bases [128 j - 513, 128 j + 641): the docstring's receptive field
        lo, hi = le.changed_spans(S, x, 1)["trunk"]
        reads = [j for j in range(n_bins) if 128 * j - 513 <= x < 128 * j + 641]
        assert (lo, hi) == (reads[0], reads[-1] + 1), x


@pytest.mark.parametrize("start", [0, 1, 9, 127, 128, 777, S // 2 - 1, S // 2, S - 514, S - 10, S - 2, S - 1])
def test_snv_equals_full_pass(encoder, local, ref_dna, ref_encoded, start):
    alt = _mutate(ref_dna, start, 1)
    worst = _check_exact(ref_encoded, encoder(alt), local(ref_encoded, alt, [start], 1), start, 1)
    assert worst <= 1e-5


@pytest.mark.parametrize(("start", "width"), [(0, 2), (S // 2 - 1, 3), (1000, 17), (S - 5, 5), (S - 64, 64)])
def test_mnv_equals_full_pass(encoder, local, ref_dna, ref_encoded, start, width):
    alt = _mutate(ref_dna, start, width)
    _check_exact(ref_encoded, encoder(alt), local(ref_encoded, alt, [start], width), start, width)


def test_span_wider_than_change_is_exact(encoder, local, ref_dna, ref_encoded):
    """Bucketing widths (a span wider than the change) is still exact."""
    alt = _mutate(ref_dna, 2050, 1)
    _check_exact(ref_encoded, encoder(alt), local(ref_encoded, alt, [2045], 8), 2045, 8)


def test_batch_rows_share_one_ref(encoder, local, ref_dna, ref_encoded):
    starts = [0, 2047, S - 1]
    alt = np.concatenate([_mutate(ref_dna, s, 1, shift=1 + i) for i, s in enumerate(starts)])
    patched = local(ref_encoded, alt, starts, 1)
    full = encoder(alt)
    for row, s in enumerate(starts):
        _check_exact(ref_encoded, full, patched, s, 1, row=row)


def test_heads_on_patched_outputs_equal_full_alt_pass(tiny, ref_dna, ref_encoded):
    """The rest of the model (tower, decoder, 1-bp and 128-bp heads, contact maps) runs on the patched outputs."""
    model, variables = tiny
    means = default_track_means(model.cfg)
    request = OutputRequest(heads=("dnase", "contact_maps", "splice_sites_classification"), embeddings=True)
    org = np.zeros((1,), np.int32)
    start = S - 3
    alt = _mutate(ref_dna, start, 2)
    full = jax.jit(lambda v, d: model.apply(v, d, org, means, request))(variables, alt)
    local = jax.jit(lambda v, r, d: le.local_alt_forward(model, v, r, d, start, 2, org, means, request))(variables, ref_encoded, alt)
    flat_full, tree = jax.tree.flatten(full)
    flat_local, tree_local = jax.tree.flatten(local)
    assert tree == tree_local
    for f, p in zip(flat_full, flat_local, strict=True):
        np.testing.assert_allclose(np.asarray(p), np.asarray(f), rtol=1e-5, atol=1e-5)


def _genome(seq: str):
    def fetch(chrom: str, start: int, end: int) -> str:
        del chrom
        return "".join(seq[i] if 0 <= i < len(seq) else "N" for i in range(start, end))

    return fetch


@pytest.mark.parametrize(
    ("pos0", "ref", "alt", "strand"),
    [
        (10_000 + S // 2 - 1, "A", "G", "+"),  # the centred SNV of variant_window
        (10_000 + S // 2 - 1, "C", "T", "-"),  # minus strand: the span is mirrored
        (10_000, "GA", "TT", "+"),  # MNV at the window's first base
        (10_000 + S - 2, "ACG", "TTT", "+"),  # MNV running past the window's end: clipped as _write_alt clips it
        (10_000 - 1, "AC", "GT", "-"),  # MNV starting left of the window, minus strand
    ],
)
def test_variant_windows_of_sequences_py(encoder, local, pos0, ref, alt, strand):
    """REF/ALT windows built as variant scoring builds them: the one-hot differs only inside local_span."""
    genome = "".join(np.random.default_rng(pos0).choice(list("ACGT"), 20_000 + S))
    ref_seq, alt_seq = ref_alt_sequences(_genome(genome), "chr", 10_000, 10_000 + S, pos0 + 1, ref, alt, strand)
    ref_dna, alt_dna = one_hot(ref_seq)[None], one_hot(alt_seq)[None]
    span = le.local_span(pos0, len(ref), len(alt), 10_000, S, negative_strand=strand == "-")
    assert span is not None
    a, b = span
    differs = np.nonzero((ref_dna != alt_dna).any(-1)[0])[0]
    assert a <= differs.min() and differs.max() < b
    ref_enc = encoder(ref_dna)
    _check_exact(ref_enc, encoder(alt_dna), local(ref_enc, alt_dna, [a], b - a), a, b - a)


def test_substitution_outside_window_is_ref():
    assert le.local_span(50, 1, 1, 100, S) == (0, 0)
    assert le.local_span(100 + S, 2, 2, 100, S) == (0, 0)


@pytest.mark.parametrize(("ref", "alt"), [("A", "AGT"), ("ACGT", "A"), ("A", "A" + "C" * 128)])
def test_indels_fall_back_to_the_full_pass(tiny, encoder, ref, alt):
    """An indel shifts ALT right of the variant: bins far outside the receptive field change, so local_span
    says None and alt_encoder_outputs runs the full encoder."""
    model, variables = tiny
    pos0 = 10_000 + S // 4
    genome = "".join(np.random.default_rng(7).choice(list("ACGT"), 20_000 + S))
    genome = genome[:pos0] + ref + genome[pos0 + len(ref) :]
    ref_seq, alt_seq = ref_alt_sequences(_genome(genome), "chr", 10_000, 10_000 + S, pos0 + 1, ref, alt)
    ref_dna, alt_dna = one_hot(ref_seq)[None], one_hot(alt_seq)[None]
    assert le.local_span(pos0, len(ref), len(alt), 10_000, S) is None
    ref_enc, full = encoder(ref_dna), encoder(alt_dna)
    far = le.changed_spans(S, pos0 - 10_000, max(len(ref), len(alt)))["trunk"][1]
    assert not np.array_equal(np.asarray(full[0][0, far:]), np.asarray(ref_enc[0][0, far:]))
    fallback = jax.jit(lambda v, r, d: le.alt_encoder_outputs(model, v, r, d, None))(variables, ref_enc, alt_dna)
    for f, p in zip(jax.tree.leaves(full), jax.tree.leaves(fallback), strict=True):
        np.testing.assert_allclose(np.asarray(p), np.asarray(f), **TOL)


@settings(max_examples=12, deadline=None)
@given(start=st.integers(0, S - 1), width=st.sampled_from([1, 4]), shift=st.integers(1, 3))
def test_random_substitutions_equal_full_pass(encoder, local, ref_dna, ref_encoded, start, width, shift):
    start = min(start, S - width)
    alt = _mutate(ref_dna, start, width, shift)
    _check_exact(ref_encoded, encoder(alt), local(ref_encoded, alt, [start], width), start, width)


def test_refuses_bad_sizes():
    with pytest.raises(ValueError, match="multiple of 128"):
        le.plan(1000, 1)
    with pytest.raises(ValueError, match="at least 1 base"):
        le.plan(S, 0)
    with pytest.raises(ValueError, match="not inside the window"):
        le.changed_spans(S, S, 1)


def test_bfloat16_policy(ref_dna):
    """Under the reference's bf16 policy the patch is within bf16 rounding of the full pass (on XLA:CPU it is
    bit for bit the same)."""
    loaded = synthetic_model("tiny", 0)
    model = build_model(loaded.config, BF16)
    encode = jax.jit(lambda v, d: le.encode(model, v, d))
    patch = jax.jit(lambda v, r, d, s: le.local_encode(model, v, r, d, s, 1))
    ref = encode(loaded.variables, ref_dna)
    for start in (0, S // 2 - 1, S - 1):
        alt = _mutate(ref_dna, start, 1)
        full, local = encode(loaded.variables, alt), patch(loaded.variables, ref, alt, np.array([start], np.int32))
        for f, p in zip(jax.tree.leaves(full), jax.tree.leaves(local), strict=True):
            assert p.dtype == f.dtype == BF16.compute
            np.testing.assert_allclose(np.asarray(p, np.float32), np.asarray(f, np.float32), rtol=2e-2, atol=2e-2)


# ------------------------------------------------------------------------- the decoder on a slice (AlphaGenome.embeddings_1bp_window)


DECODED_S = 16_384


@pytest.fixture(scope="module")
def whole_window(tiny):
    model, variables = tiny
    means = default_track_means(model.cfg)
    request = OutputRequest(heads=(), embedding_resolutions=(1, 128), tower_output=True)
    dna = np.eye(4, dtype=np.float32)[np.random.default_rng(16).integers(0, 4, (1, DECODED_S))]
    encoded = le.encode(model, variables, dna)
    raw = le.predict_from_encoder(model, variables, encoded, np.zeros((1,), np.int32), means, request)
    return encoded, raw


@pytest.mark.parametrize("margin", [DECODER_MARGIN := 12, 6])
@pytest.mark.parametrize("first_bin", [0, 5, 61, DECODED_S // 128 - 30])
def test_a_decoded_slice_equals_the_whole_window_decoder_inside_its_margin(tiny, whole_window, first_bin, margin):
    """6 bins (768 bp) already cover the decoder's receptive field (762 bp); the device pass keeps 12."""
    from genotile.model.alphagenome import AlphaGenome
    from genotile.variants.device_pass import DECODER_MARGIN_BINS

    assert DECODER_MARGIN_BINS == DECODER_MARGIN
    model, variables = tiny
    (_, skips), raw = whole_window
    bins = 30
    emb = model.apply(variables, raw["tower_output"], skips, np.zeros((1,), np.int32), raw["embeddings_128bp"],
                      first_bin, bins, method=AlphaGenome.embeddings_1bp_window)
    lo = 0 if first_bin == 0 else margin * 128
    hi = bins * 128 if first_bin + bins == DECODED_S // 128 else (bins - margin) * 128
    start = first_bin * 128
    np.testing.assert_allclose(np.asarray(emb[0, lo:hi]), np.asarray(raw["embeddings_1bp"][0, start + lo : start + hi]), **TOL)
