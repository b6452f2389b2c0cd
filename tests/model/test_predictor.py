"""Predictor: output names and selection, reverse-complement mapping as the reference does it, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import synthetic_model
from genotile.model.metadata import strand_reindexing
from genotile.model.predictor import (
    JUNCTION_ROW_ORDER,
    PredictionError,
    Predictor,
    flatten_outputs,
    reverse_complement_output,
    select_output_tracks,
)
from genotile.sequence.encoding import SequenceLengthError, one_hot, reverse_complement_one_hot

METADATA = Path(__file__).resolve().parents[3] / "shared" / "alphagenome" / "metadata"
needs_metadata = pytest.mark.skipif(not METADATA.is_dir(), reason=f"{METADATA} not present")
LENGTH = 4096


@pytest.fixture(scope="module")
def model():
    return synthetic_model("tiny", 7)


@pytest.fixture(scope="module")
def dna():
    rng = np.random.default_rng(0)
    return one_hot("".join(rng.choice(list("ACGT"), LENGTH)))[None]


@pytest.fixture(scope="module")
def predictor(model):
    return Predictor(model, precision="float32")


def test_outputs_use_reference_names_and_shapes(predictor, dna):
    out = predictor.predict(dna, "human")
    assert out["rna_seq/predictions_1bp"].shape == (1, LENGTH, 768)
    assert out["chip_tf/predictions_128bp"].shape == (1, LENGTH // 128, 1664)
    assert out["contact_maps/predictions"].shape == (1, LENGTH // 2048, LENGTH // 2048, 28)
    assert out["splice_sites_classification/predictions"].shape == (1, LENGTH, 5)
    assert out["splice_sites_usage/predictions"].shape == (1, LENGTH, 734)
    k = predictor.config.num_splice_sites
    assert out["splice_sites_junction/predictions"].shape == (1, k, k, 734)
    assert out["splice_sites_junction/splice_site_positions"].dtype == np.int32
    assert all(v.dtype in (np.float32, np.int32, np.bool_) for v in out.values())


def test_request_limits_outputs(predictor, dna):
    out = predictor.predict(dna, 0, OutputRequest(heads=("dnase", "chip_histone"), resolutions=(128,)))
    assert sorted(out) == [
        "chip_histone/predictions_128bp",
        "chip_histone/scaled_predictions_128bp",
        "dnase/predictions_128bp",
        "dnase/scaled_predictions_128bp",
    ]


def test_128bp_outputs_do_not_depend_on_what_else_is_requested(predictor, dna):
    alone = predictor.predict(dna, 0, OutputRequest(heads=("chip_tf",), resolutions=(128,)))
    everything = predictor.predict(dna, 0)
    np.testing.assert_allclose(
        alone["chip_tf/predictions_128bp"], everything["chip_tf/predictions_128bp"], rtol=1e-6, atol=1e-6
    )


def test_batch_rows_are_independent(predictor, dna):
    rng = np.random.default_rng(1)
    other = one_hot("".join(rng.choice(list("ACGT"), LENGTH)))[None]
    request = OutputRequest(heads=("atac", "contact_maps"))
    batch = predictor.predict(np.concatenate([dna, other]), ["human", "mouse"], request)
    single = predictor.predict(other, "mouse", request)
    for name in batch:
        np.testing.assert_allclose(batch[name][1:], single[name], rtol=1e-5, atol=1e-5)


def test_organism_changes_predictions(predictor, dna):
    request = OutputRequest(heads=("atac",), resolutions=(128,))
    human = predictor.predict(dna, "human", request)["atac/predictions_128bp"]
    mouse = predictor.predict(dna, "mouse", request)["atac/predictions_128bp"]
    assert not np.allclose(human, mouse)


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.zeros((1, 3000, 4), np.float32), SequenceLengthError, "2,048"),
        (np.zeros((1, 4096, 5), np.float32), PredictionError, "[batch, length, 4]"),
    ],
)
def test_bad_input_shapes(predictor, bad, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        predictor.predict(bad)


def test_bad_organisms(predictor, dna):
    with pytest.raises(ValueError, match="human"):
        predictor.predict(dna, "zebrafish")
    with pytest.raises(PredictionError, match="2 organism indices for a batch of 1"):
        predictor.predict(dna, ["human", "mouse"])


def test_reverse_complement_of_tracks_needs_metadata(predictor, dna):
    with pytest.raises(PredictionError, match="metadata"):
        predictor.predict(dna, 0, OutputRequest(heads=("rna_seq",)), negative_strand=True)
    # Contact maps and splice classes need no metadata to be mapped back.
    predictor.predict(dna, 0, OutputRequest(heads=("contact_maps", "splice_sites_classification")), negative_strand=True)


def test_reverse_complement_output_rules():
    length = 8
    tracks = np.arange(2 * length * 3, dtype=np.float32).reshape(2, length, 3)
    reindex = np.array([1, 0, 2])
    out = reverse_complement_output("rna_seq", "predictions_1bp", tracks, reindex, length)
    np.testing.assert_array_equal(out, tracks[:, ::-1][..., reindex])

    dnase = reverse_complement_output("dnase", "predictions_1bp", tracks, None, length)
    expected = np.roll(tracks[:, ::-1], 1, axis=1)
    expected[:, 0] = 0
    np.testing.assert_array_equal(dnase, expected)
    # The one-base DNase shift is a 1-bp cut-site convention: 128-bp bins are only reversed.
    np.testing.assert_array_equal(reverse_complement_output("dnase", "predictions_128bp", tracks, None, length), tracks[:, ::-1])

    pair = np.arange(2 * 4 * 4 * 2, dtype=np.float32).reshape(2, 4, 4, 2)
    np.testing.assert_array_equal(reverse_complement_output("contact_maps", "predictions", pair, None, length), pair[:, ::-1, ::-1])

    positions = np.array([[[0, 5, -1], [1, 2, -1], [3, -1, -1], [7, -1, -1]]], np.int32)
    mirrored = reverse_complement_output("splice_sites_junction", "splice_site_positions", positions, None, length)
    np.testing.assert_array_equal(mirrored, np.array([[[4, -1, -1], [0, -1, -1], [7, 2, -1], [6, 5, -1]]]))
    assert list(JUNCTION_ROW_ORDER) == [2, 3, 0, 1]

    junctions = np.arange(1 * 2 * 2 * 4, dtype=np.float32).reshape(1, 2, 2, 4)
    swap = np.array([2, 3, 0, 1])
    np.testing.assert_array_equal(
        reverse_complement_output("splice_sites_junction", "predictions", junctions, swap, length), junctions[..., swap]
    )


def test_negative_strand_splice_classes_swap(predictor, dna):
    request = OutputRequest(heads=("splice_sites_classification",))
    raw = predictor.predict(reverse_complement_one_hot(dna), 0, request)
    mapped = predictor.predict(reverse_complement_one_hot(dna), 0, request, negative_strand=True)
    name = "splice_sites_classification/predictions"
    np.testing.assert_array_equal(mapped[name], raw[name][:, ::-1][..., [2, 3, 0, 1, 4]])


@needs_metadata
def test_negative_strand_uses_metadata_strand_pairs(model, dna):
    predictor = Predictor(model, METADATA, precision="float32")
    rc = reverse_complement_one_hot(dna)
    request = OutputRequest(heads=("rna_seq", "splice_sites_junction"), resolutions=(1,))
    raw = predictor.predict(rc, "human", request)
    mapped = predictor.predict(rc, "human", request, negative_strand=True)
    reindex = strand_reindexing(predictor.metadata.frame(0, "rna_seq"), "rna_seq")
    assert not np.array_equal(reindex, np.arange(len(reindex)))
    name = "rna_seq/predictions_1bp"
    np.testing.assert_array_equal(mapped[name], raw[name][:, ::-1][..., reindex])
    positions = raw["splice_sites_junction/splice_site_positions"]
    expected = np.where(positions < 0, -1, LENGTH - 1 - positions)[:, [2, 3, 0, 1]]
    np.testing.assert_array_equal(mapped["splice_sites_junction/splice_site_positions"], expected)


@needs_metadata
def test_metadata_scales_tracks_and_pads_with_nan(model, dna):
    predictor = Predictor(model, METADATA, precision="float32")
    out = predictor.predict(dna, "human", OutputRequest(heads=("atac",), resolutions=(128,)))
    frame = predictor.metadata.frame(0, "atac")
    values = out["atac/predictions_128bp"][0]
    assert np.isnan(values[:, frame["padding"].to_numpy()]).all()
    assert np.isfinite(values[:, ~frame["padding"].to_numpy()]).all()
    scaled = out["atac/scaled_predictions_128bp"][0]
    real = np.flatnonzero(~frame["padding"].to_numpy())[:5]
    means = frame["nonzero_mean"].to_numpy()[real]
    np.testing.assert_allclose(values[:, real], np.where(scaled[:, real] > 10, (scaled[:, real] + 10) ** 2 / 40, scaled[:, real]) * means * 128, rtol=1e-5)


def test_track_selection_keeps_channels_on_both_junction_strands():
    outputs = {
        "atac/predictions_1bp": np.arange(12, dtype=np.float32).reshape(1, 2, 6),
        "splice_sites_junction/predictions": np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8),
        "splice_sites_junction/splice_site_positions": np.zeros((1, 4, 1), np.int32),
    }
    kept = select_output_tracks(outputs, {"atac": np.array([5, 0]), "splice_sites_junction": np.array([1])})
    np.testing.assert_array_equal(kept["atac/predictions_1bp"], outputs["atac/predictions_1bp"][..., [5, 0]])
    np.testing.assert_array_equal(kept["splice_sites_junction/predictions"][0, 0, 0], [1, 5])
    with pytest.raises(PredictionError, match="unknown head"):
        select_output_tracks(outputs, {"atac_seq": np.array([0])})


def test_channel_selection_slices_heads_before_the_matmul(predictor, dna):
    heads = ("rna_seq", "contact_maps", "splice_sites_usage")
    full = predictor.predict(dna, 0, OutputRequest(heads=heads))
    chosen = {"rna_seq": (700, 5, 3), "contact_maps": (2, 1), "splice_sites_usage": (0,)}
    part = predictor.predict(dna, 0, OutputRequest(heads=heads, channels=tuple(chosen.items())))
    assert sorted(part) == sorted(full)
    for name, value in part.items():
        index = list(chosen[name.split("/")[0]])
        np.testing.assert_allclose(value, full[name][..., index], rtol=1e-5, atol=1e-5, err_msg=name)


def test_channel_selection_rejects_heads_that_cannot_be_sliced():
    with pytest.raises(ValueError, match="not supported"):
        OutputRequest(heads=("splice_sites_classification",), channels=(("splice_sites_classification", (0,)),))


@needs_metadata
def test_channel_selection_on_the_negative_strand_reads_strand_partners(model, dna):
    predictor = Predictor(model, METADATA, precision="float32")
    rc = reverse_complement_one_hot(dna)
    frame = predictor.metadata.frame(0, "rna_seq")
    plus = int(np.flatnonzero(frame["strand"].to_numpy() == "+")[0])
    request = OutputRequest(heads=("rna_seq",), resolutions=(128,))
    full = predictor.predict(rc, "human", request, negative_strand=True)
    part = predictor.predict(rc, "human", OutputRequest(heads=("rna_seq",), resolutions=(128,), channels=(("rna_seq", (plus, 0)),)), negative_strand=True)
    name = "rna_seq/predictions_128bp"
    np.testing.assert_allclose(part[name], full[name][..., [plus, 0]], rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------------------ output memory (issue 12, item 9)


def _eval_shape_elements(predictor, request, length):
    shapes = jax.eval_shape(
        predictor._forward(request), predictor.variables,
        jax.ShapeDtypeStruct((1, length, 4), np.float32), jax.ShapeDtypeStruct((1,), np.int32),
    )  # fmt: skip
    return sum(int(np.prod(x.shape)) for x in flatten_outputs(shapes).values())


@pytest.mark.slow  # traces the tiny model a few times (no compilation)
@pytest.mark.parametrize("request_", [
    OutputRequest(),
    OutputRequest(heads=("rna_seq", "dnase"), resolutions=(1,), channels=(("rna_seq", (0, 3)),)),
    OutputRequest(heads=("contact_maps", "splice_sites_junction", "chip_tf"), resolutions=(128,), embeddings=True),
    OutputRequest(heads=("splice_sites_usage", "atac"), embeddings=True),
], ids=["all", "channels", "pair-junctions-embeddings", "usage-embeddings"])
def test_output_size_estimate_matches_the_model(predictor, request_):
    from genotile.model.predictor import output_elements

    length = 16_384
    assert sum(output_elements(predictor.config, request_, length).values()) == _eval_shape_elements(predictor, request_, length)


def test_a_request_too_big_for_memory_warns_before_running(predictor, dna, monkeypatch):
    import genotile.model.predictor as inference

    monkeypatch.setattr(inference, "available_memory_bytes", lambda: 10_000_000)  # 10 MB
    big = OutputRequest(heads=("rna_seq",), resolutions=(1,))
    with pytest.warns(inference.OutputMemoryWarning, match=r"about .* MB \(rna_seq/1bp .*only 10\.0 MB .*channels="):
        with pytest.raises(RuntimeError, match="stopped before the forward pass"):
            monkeypatch.setattr(predictor, "forward", _stop)
            predictor.predict(dna, request=big)
    # 768 tracks x 2 (raw, scaled) x S bp x (4 host + 4 device bytes)
    with pytest.warns(inference.OutputMemoryWarning):
        assert predictor.check_output_memory(big, 1, 1_048_576) == 768 * 2 * 1_048_576 * 8
    small = OutputRequest(heads=("rna_seq",), resolutions=(128,), channels=(("rna_seq", (0,)),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert predictor.check_output_memory(small, 1, dna.shape[1]) < 10_000_000


def _stop(*args, **kwargs):
    raise RuntimeError("stopped before the forward pass")
