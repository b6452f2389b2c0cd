"""New heads for new tracks: the original heads stay bit-identical, the new tracks follow them as extra channels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint_config,
    save_checkpoint,
    synthetic_model,
)
from genotile.model.config import GENOME_TRACK_RESOLUTIONS, new_head_scope
from genotile.model.heads import GenomeTracksHead
from genotile.model.layout import from_official, official_shapes, to_official
from genotile.model.new_tracks import (
    NewTracksError,
    add_new_tracks,
    new_track_means,
    new_track_target_reindexing,
    new_tracks_from_targets,
)
from genotile.model.predictor import Predictor, TrackMetadata
from genotile.outputs import DNASE, RNA_SEQ
from genotile.outputs import OUTPUT_TYPE_OF_HEAD as OUTPUT_OF_HEAD
from genotile.sequence.encoding import one_hot, reverse_complement_one_hot
from genotile.tracks.selection import resolve_selection
from genotile.train.freezing import Trainable, trainable_paths

LENGTH = 4096
D, R = DNASE.head, RNA_SEQ.head
REQUEST = OutputRequest(heads=(D, R), resolutions=(1, 128))


def _table(means=(2.0, 2.0, 5.0, 3.0, 3.0)) -> pd.DataFrame:
    return pd.DataFrame({
        "head": [D, D, D, R, R],
        "name": ["my_a", "my_a", "my_b", "my_rna", "my_rna"],
        "strand": ["+", "-", ".", "-", "+"],
        "nonzero_mean": list(means),
        "biosample_name": ["K562"] * 5,
        "assay_title": ["DNase-seq"] * 3 + ["total RNA-seq"] * 2,
        "organism": 0,
    })


@pytest.fixture(scope="module")
def base():
    return synthetic_model("tiny", 7)


@pytest.fixture(scope="module")
def fine(base):
    return add_new_tracks(base, _table(), seed=1)


@pytest.fixture(scope="module")
def dna():
    rng = np.random.default_rng(0)
    return one_hot("".join(rng.choice(list("ACGT"), LENGTH)))[None]


@pytest.fixture(scope="module")
def base_out(base, dna):
    return Predictor(base, precision="float32").predict(dna, 0, REQUEST)


@pytest.fixture(scope="module")
def fine_predictor(fine):
    return Predictor(fine, precision="float32")


@pytest.fixture(scope="module")
def fine_out(fine_predictor, dna):
    return fine_predictor.predict(dna, 0, dataclasses.replace(REQUEST, embeddings=True))


def _metadata(cfg) -> TrackMetadata:
    """A hand-made metadata (every genome head; base tracks unstranded, mean 2): no files needed."""
    frames = {}
    for o in range(cfg.num_organisms):
        frames[o] = {}
        for head in GENOME_TRACK_RESOLUTIONS:
            n = cfg.base_tracks(head)
            frame = pd.DataFrame({"index": np.arange(n, dtype=np.int64), "name": [f"base_{i}" for i in range(n)],
                                  "strand": ".", "padding": False, "nonzero_mean": 2.0, "biosample_name": "HepG2",
                                  "assay_title": "x"})
            frame.attrs["output_type"] = OUTPUT_OF_HEAD[head]
            frames[o][head] = frame
    return TrackMetadata(frames)


def test_config_counts_base_and_new_tracks(base, fine):
    assert fine.config.new_tracks == ((D, 3), (R, 2))
    assert fine.config.base_tracks(D) == base.config.tracks(D)
    assert fine.config.tracks(D) == base.config.tracks(D) + 3
    assert fine.config.without_new_tracks() == base.config
    assert new_head_scope(D) in fine.variables["params"]["head"]
    # the original head's arrays are the base's, untouched
    assert fine.variables["params"]["head"][D] is base.variables["params"]["head"][D]


def test_original_channels_are_bit_identical(base, base_out, fine_out):
    for head in (D, R):
        nb = base.config.tracks(head)
        for r in (1, 128):
            for field in ("predictions", "scaled_predictions"):
                name = f"{head}/{field}_{r}bp"
                assert fine_out[name].shape[-1] == nb + (3 if head == D else 2)
                np.testing.assert_array_equal(fine_out[name][..., :nb], base_out[name])


def test_new_channels_are_the_new_heads_and_scaled_by_nonzero_mean(fine, fine_out):
    import jax.numpy as jnp

    cfg = fine.config
    nb = cfg.base_tracks(D)
    emb = {1: jnp.asarray(fine_out["embeddings_1bp"]), 128: jnp.asarray(fine_out["embeddings_128bp"])}
    means = jnp.asarray(new_track_means(cfg, fine.new_tracks)[D])
    assert np.isnan(np.asarray(means[1])).all() and np.asarray(means[0]).tolist() == [2.0, 2.0, 5.0]
    expected = GenomeTracksHead(D, 3, 2).apply(
        {"params": fine.variables["params"]["head"][new_head_scope(D)]}, emb, jnp.zeros((1,), jnp.int32), means, (1, 128)
    )
    for r in (1, 128):
        np.testing.assert_allclose(fine_out[f"{D}/scaled_predictions_{r}bp"][..., nb:], expected[f"scaled_predictions_{r}bp"],
                                   rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(fine_out[f"{D}/predictions_{r}bp"][..., nb:], expected[f"predictions_{r}bp"],
                                   rtol=1e-6, atol=1e-7)
    # with every mean 1 the predictions are the mean's factor smaller
    ones = add_new_tracks(synthetic_model("tiny", 7), _table(means=(1.0,) * 5), seed=1)
    only_128 = OutputRequest(heads=(D,), resolutions=(128,))
    out1 = Predictor(ones, precision="float32").predict(np.zeros((1, LENGTH, 4), np.float32) + 0.25, 0, only_128)
    out = Predictor(fine, precision="float32").predict(np.zeros((1, LENGTH, 4), np.float32) + 0.25, 0, only_128)
    np.testing.assert_allclose(out[f"{D}/predictions_128bp"][..., nb:], out1[f"{D}/predictions_128bp"][..., nb:] * [2, 2, 5],
                               rtol=1e-5)


def test_other_organism_predicts_nan_on_new_tracks_without_stopping(fine_predictor, dna):
    out = fine_predictor.predict(dna, 1, OutputRequest(heads=(D,), resolutions=(128,)))
    nb = fine_predictor.config.base_tracks(D)
    assert np.isnan(out[f"{D}/predictions_128bp"][..., nb:]).all()
    assert np.isfinite(out[f"{D}/predictions_128bp"][..., :nb]).all()


def test_channel_selection_across_the_boundary(fine_predictor, fine_out, dna):
    nb = fine_predictor.config.base_tracks(D)
    for chosen in ((nb - 1, nb, nb + 2), (nb + 1, 0)):  # across the boundary; a new track asked before an original
        request = OutputRequest(heads=(D,), resolutions=(128,), channels=((D, chosen),))
        out = fine_predictor.predict(dna, 0, request)
        for r in (128,):
            # slicing the weights changes the matmul's blocking: equal up to rounding, as for any head
            np.testing.assert_allclose(out[f"{D}/predictions_{r}bp"], fine_out[f"{D}/predictions_{r}bp"][..., list(chosen)],
                                       rtol=1e-5, atol=1e-6)


def test_save_load_round_trip(tmp_path, fine, fine_predictor, dna):
    path = save_checkpoint(tmp_path / "ft", fine.variables, fine.config, note="test", new_tracks=fine.new_tracks)
    cfg, table = read_checkpoint_config(path)
    assert cfg == fine.config
    pd.testing.assert_frame_equal(table, fine.new_tracks)
    loaded = load_checkpoint(path, "tiny")
    assert loaded.config == fine.config
    pd.testing.assert_frame_equal(loaded.new_tracks, fine.new_tracks)
    request = OutputRequest(heads=(D,), resolutions=(128,))
    np.testing.assert_array_equal(Predictor(loaded, precision="float32").predict(dna, 0, request)[f"{D}/predictions_128bp"],
                                  fine_predictor.predict(dna, 0, request)[f"{D}/predictions_128bp"])
    with pytest.raises(CheckpointError, match="new-track table"):
        save_checkpoint(tmp_path / "no_table", fine.variables, fine.config)
    plain = synthetic_model("tiny", 1)
    assert read_checkpoint_config(save_checkpoint(tmp_path / "base", plain.variables, plain.config)) == (plain.config, None)


def test_official_layout_holds_the_new_scopes(fine):
    params, state = official_shapes(fine.config)
    assert f"alphagenome/head/{new_head_scope(D)}/resolution_1/multi_organism_linear" in params
    assert params[f"alphagenome/head/{new_head_scope(R)}/resolution_128/multi_organism_linear"]["w"][-1] == 2
    flat_params, flat_state = to_official(fine.variables)
    assert {m: {n: v.shape for n, v in leaves.items()} for m, leaves in flat_params.items()} == params
    again = from_official(flat_params, flat_state)
    assert set(again["params"]["head"]) == set(fine.variables["params"]["head"])


def test_predictor_with_metadata_names_and_scales_new_tracks(fine, dna):
    predictor = Predictor(fine, _metadata(fine.config), precision="float32")
    nb = fine.config.base_tracks(D)
    frame = predictor.metadata.frame(0, D)
    assert frame["name"].tolist()[nb:] == ["my_a", "my_a", "my_b"]
    assert frame["index"].tolist()[nb:] == [nb, nb + 1, nb + 2]
    assert predictor.track_means[D][0, nb:].tolist() == [2.0, 2.0, 5.0]
    assert predictor.track_means[D][0, :nb].tolist() == [2.0] * nb
    assert np.isnan(predictor.track_means[D][1, nb:]).all()
    assert predictor.metadata.frame(1, D)["padding"].tolist()[nb:] == [True] * 3


@pytest.mark.parametrize("with_metadata", [False, True])
def test_selection_by_name_and_index_picks_new_tracks(fine, with_metadata):
    cfg = fine.config
    nb = cfg.base_tracks(D)
    metadata = _metadata(cfg) if with_metadata else None
    entries = [{"output": "dnase", "resolutions": [128], "name_regex": "^my_"}] if with_metadata else \
        [{"output": "dnase", "resolutions": [128], "indices": [nb, nb + 2]}]
    selection = resolve_selection(entries, cfg, metadata, 0, new_tracks=fine.new_tracks)
    (trackset,) = selection.tracksets
    wanted = [nb, nb + 1, nb + 2] if with_metadata else [nb, nb + 2]
    assert trackset.tracks["track_index"].tolist() == wanted
    assert set(trackset.tracks["name"]) == {"my_a", "my_b"}
    assert selection.request().channels == ((D, tuple(wanted)),)


def test_reverse_complement_swaps_stranded_new_tracks(fine, dna):
    predictor = Predictor(fine, _metadata(fine.config), precision="float32")
    nb_d, nb_r = fine.config.base_tracks(D), fine.config.base_tracks(R)
    assert predictor._reindexing(D, 0)[nb_d:].tolist() == [nb_d + 1, nb_d, nb_d + 2]
    assert predictor._reindexing(R, 0)[nb_r:].tolist() == [nb_r + 1, nb_r]
    rc = reverse_complement_one_hot(dna[0])[None]
    request = OutputRequest(heads=(D,), resolutions=(128,))
    forward_of_rc = predictor.predict(rc, 0, request)[f"{D}/predictions_128bp"]
    mapped = predictor.predict(rc, 0, request, negative_strand=True)[f"{D}/predictions_128bp"]
    np.testing.assert_array_equal(mapped[..., nb_d], forward_of_rc[:, ::-1, nb_d + 1])
    np.testing.assert_array_equal(mapped[..., nb_d + 1], forward_of_rc[:, ::-1, nb_d])
    np.testing.assert_array_equal(mapped[..., nb_d + 2], forward_of_rc[:, ::-1, nb_d + 2])
    assert new_track_target_reindexing(fine.new_tracks, D) == ((1, 0, 2), (1, 0, 2))


def test_heads_mode_trains_only_the_new_heads(base, fine):
    paths = trainable_paths(fine.variables["params"], Trainable("heads"))
    assert paths and all(p.split("/")[1] in (new_head_scope(D), new_head_scope(R)) for p in paths)
    every_head = trainable_paths(fine.variables["params"], Trainable("heads", new_heads_only=False))
    assert paths < every_head and any(p.startswith(f"head/{D}/") for p in every_head)
    # without new heads the mode is as before
    assert any(p.startswith(f"head/{D}/") for p in trainable_paths(base.variables["params"], Trainable("heads")))


def test_new_tracks_from_targets_pairs_like_prepare_targets():
    tracks = pd.DataFrame({
        "head": [R, D, R], "channel": [0, 0, 1], "name": ["x", "d", "x"], "output_type": ["rna_seq", "dnase", "rna_seq"],
        "strand": ["+", ".", "-"], "biosample": ["K562"] * 3, "assay": ["a"] * 3, "file_path": ["f"] * 3,
        "nonzero_mean": [1.5, 2.5, 1.5], "strand_partner": [1, 0, 0],
    })
    table = new_tracks_from_targets(tracks, "human")
    assert table["head"].tolist() == [D, R, R]  # model head order, channel order within a head
    assert table["strand_partner"].tolist() == [0, 1, 0]
    assert table["organism"].tolist() == [0, 0, 0]
    with pytest.raises(NewTracksError, match="only genome-track heads"):
        add_new_tracks(synthetic_model("tiny", 1), table.assign(head="contact_maps"), seed=0)


def test_delta_checkpoint_holds_only_changes_and_refuses_other_base(tmp_path, base, fine, dna):
    import jax
    from flax import traverse_util

    from genotile.model.checkpoints import _flat_official, _restore_any, save_delta_checkpoint
    from genotile.train.lora import LoraSettings, init_adapters

    lora = LoraSettings(rank=2, targets=("q_layer",))
    adapters = jax.tree.map(lambda x: x + 0.01, init_adapters(fine.variables["params"], lora, jax.random.PRNGKey(0)))
    path = save_delta_checkpoint(tmp_path / "delta", fine, base, adapters=adapters, lora_scale=lora.scale)
    stored = _restore_any(path / "weights")[0]
    assert {m.split("/")[2] for m in stored if m.startswith("alphagenome/head/")} == {new_head_scope(D), new_head_scope(R)}
    assert not any("transformer_tower" in m for m in stored)  # adapters only, not the adapted kernels
    loaded = load_checkpoint(path)  # the recorded synthetic base is re-made
    pd.testing.assert_frame_equal(loaded.new_tracks, fine.new_tracks)
    merged = _flat_official(loaded.variables)
    original = _flat_official(fine.variables)
    assert merged.keys() == original.keys()
    pieces = traverse_util.flatten_dict(adapters, sep="/")
    first = sorted(pieces)[0].rsplit("/", 1)[0]
    kernel = f"params/alphagenome/{first}"
    a, b = np.asarray(pieces[f"{first}/a"]), np.asarray(pieces[f"{first}/b"])
    np.testing.assert_allclose(merged[kernel], original[kernel] + lora.scale * a @ b, rtol=1e-6)
    for key in original:
        if "q_layer" not in key:
            np.testing.assert_array_equal(merged[key], original[key])
    with pytest.raises(CheckpointError, match="base weights sha256:.*fix: load it on those weights"):
        load_checkpoint(path, base=synthetic_model("tiny", 8))
