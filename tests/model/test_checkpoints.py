"""Checkpoint save/load (genotile and official layouts) and the loader's strict errors, on the tiny model."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from genotile.model.checkpoints import (
    CONFIG_FILE,
    WEIGHTS_DIR,
    CheckpointError,
    LoadedModel,
    load_checkpoint,
    save_checkpoint,
    synthetic_variables,
    write_official,
)
from genotile.model.config import TINY
from genotile.model.layout import flatten_collection, to_official


def _leaves(variables) -> dict[str, np.ndarray]:
    """``{'params/alphagenome/a/b/w': array, ...}`` of a Flax variables dict."""
    out = {}
    for collection in ("params", "state"):
        for module, leaves in flatten_collection(variables.get(collection, {})).items():
            for name, value in leaves.items():
                out[f"{collection}/{module}/{name}"] = np.asarray(value)
    return out


def _assert_bit_exact(got, want) -> None:
    got, want = _leaves(got), _leaves(want)
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype == np.float32, key
        assert got[key].shape == value.shape, key
        # Bit-exact, not just numerically equal (NaN-safe, -0.0 distinguished).
        assert got[key].tobytes() == value.tobytes(), key


@pytest.fixture(scope="module")
def tiny_variables():
    return synthetic_variables("tiny", 3)


@pytest.fixture(scope="module")
def tiny_official(tiny_variables):
    """The tiny model's (params, state) as float32 numpy trees in the official layout."""
    params, state = to_official(tiny_variables)
    as_np = lambda tree: {m: {n: np.asarray(v, np.float32) for n, v in leaves.items()} for m, leaves in tree.items()}
    return as_np(params), as_np(state)


def _copy(tree):
    return {m: dict(leaves) for m, leaves in tree.items()}


def _module_with_several_arrays(tree) -> str:
    return next(m for m, leaves in sorted(tree.items()) if len(leaves) >= 2)


# -- round trips ------------------------------------------------------------------------------------------------------


def test_save_load_round_trip_is_bit_exact_and_recovers_config(tmp_path, tiny_variables):
    path = save_checkpoint(tmp_path / "ckpt", tiny_variables, TINY, note="unit test")
    assert (path / CONFIG_FILE).is_file()
    assert (path / WEIGHTS_DIR).is_dir()

    loaded = load_checkpoint(tmp_path / "ckpt")
    assert isinstance(loaded, LoadedModel)
    assert loaded.config == TINY
    assert dataclasses.asdict(loaded.config) == dataclasses.asdict(TINY)
    assert loaded.source == "genotile"
    assert loaded.identity == f"genotile:{path}"
    _assert_bit_exact(loaded.variables, tiny_variables)

    # Naming the size it holds is accepted too.
    again = load_checkpoint(path, "tiny")
    assert again.config == TINY
    _assert_bit_exact(again.variables, tiny_variables)


def test_official_layout_round_trip(tmp_path, tiny_variables, tiny_official):
    params, state = tiny_official
    path = write_official(tmp_path / "official", params, state)
    assert not (path / CONFIG_FILE).exists()

    loaded = load_checkpoint(path, "tiny")
    assert loaded.config == TINY
    assert loaded.source == "official"
    assert loaded.identity == f"official:{path}"
    _assert_bit_exact(loaded.variables, tiny_variables)


# -- strict errors ----------------------------------------------------------------------------------------------------


def test_missing_array_is_named(tmp_path, tiny_official):
    params, state = tiny_official
    params = _copy(params)
    module = _module_with_several_arrays(params)
    name = sorted(params[module])[0]
    shape = params[module].pop(name).shape
    path = write_official(tmp_path / "missing", params, state)

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "tiny")
    message = str(info.value)
    assert f"{module}/{name}" in message
    assert "missing" in message
    assert str(list(shape)) in message
    assert str(path) in message


def test_missing_state_array_is_named(tmp_path, tiny_official):
    params, state = tiny_official
    state = _copy(state)
    module = sorted(state)[0]
    name = sorted(state[module])[0]
    del state[module][name]
    if not state[module]:
        del state[module]
    path = write_official(tmp_path / "missing_state", params, state)

    with pytest.raises(CheckpointError, match="missing") as info:
        load_checkpoint(path, "tiny")
    assert f"state array {module}/{name}" in str(info.value)


def test_extra_array_is_named(tmp_path, tiny_official):
    params, state = tiny_official
    params = _copy(params)
    module = _module_with_several_arrays(params)
    params[module]["surplus"] = np.zeros((3, 5), np.float32)
    path = write_official(tmp_path / "extra", params, state)

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "tiny")
    message = str(info.value)
    assert f"{module}/surplus" in message
    assert "unexpected" in message and "extra" in message
    assert "[3, 5]" in message


def test_mis_shaped_array_is_named_with_both_shapes(tmp_path, tiny_official):
    params, state = tiny_official
    params = _copy(params)
    module, name = next((m, n) for m, leaves in sorted(params.items()) for n, v in sorted(leaves.items()) if v.ndim == 2)
    good = params[module][name].shape
    bad = (good[0] + 1, good[1])
    params[module][name] = np.zeros(bad, np.float32)
    path = write_official(tmp_path / "misshaped", params, state)

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "tiny")
    message = str(info.value)
    assert f"{module}/{name}" in message
    assert "shape" in message
    assert str(list(bad)) in message
    assert str(list(good)) in message
    # The checkpoint's shape is reported as found, the model's as expected.
    assert message.index(str(list(bad))) < message.index(str(list(good)))


def test_tiny_official_checkpoint_is_not_full(tmp_path, tiny_official):
    """Without a size, an official checkpoint is taken as full: a tiny one is refused by its first difference."""
    path = write_official(tmp_path / "official", *tiny_official)
    with pytest.raises(CheckpointError, match=re.escape(str(path))) as info:
        load_checkpoint(path)
    assert re.search(r"array \S+/\S+", str(info.value))


def test_asking_for_full_on_a_tiny_genotile_checkpoint(tmp_path, tiny_variables):
    path = save_checkpoint(tmp_path / "ckpt", tiny_variables, TINY)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "full")
    message = str(info.value)
    assert "'tiny'" in message and "'full'" in message
    assert str(path) in message


def test_folder_that_is_not_a_checkpoint(tmp_path):
    folder = tmp_path / "not_a_checkpoint"
    folder.mkdir()
    (folder / "README.txt").write_text("hello")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(folder, "tiny")
    message = str(info.value)
    assert str(folder) in message
    assert "not an Orbax checkpoint" in message


def test_a_file_is_not_a_checkpoint(tmp_path):
    file = tmp_path / "weights.npz"
    file.write_bytes(b"\0" * 16)
    with pytest.raises(CheckpointError, match="not an Orbax checkpoint"):
        load_checkpoint(file, "tiny")


def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(missing, "tiny")
    message = str(info.value)
    assert str(missing) in message
    assert "not found" in message


def test_unreadable_genotile_config(tmp_path, tiny_variables):
    path = save_checkpoint(tmp_path / "ckpt", tiny_variables, TINY)
    (path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=re.escape(CONFIG_FILE)):
        load_checkpoint(path)


def test_writing_to_an_existing_path_is_refused(tmp_path, tiny_variables, tiny_official):
    existing = tmp_path / "taken"
    existing.mkdir()
    (existing / "keep.txt").write_text("precious")

    with pytest.raises(CheckpointError, match="already exists") as info:
        save_checkpoint(existing, tiny_variables, TINY)
    assert str(existing) in str(info.value)
    with pytest.raises(CheckpointError, match="already exists") as info:
        write_official(existing, *tiny_official)
    assert str(existing) in str(info.value)

    # Nothing was touched.
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]
    assert (existing / "keep.txt").read_text() == "precious"

    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    with pytest.raises(CheckpointError, match="already exists"):
        save_checkpoint(a_file, tiny_variables, TINY)
