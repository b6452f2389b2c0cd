"""Writing and reading one window's predictions (.npz and .zarr): round trips, atomic replace, no leftovers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genotile.model.prediction_io import OutputPathError, read_predictions, write_predictions

SUFFIXES = [".npz", ".zarr"]


def _outputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "rna_seq/predictions_1bp": rng.standard_normal((1, 64, 6), dtype=np.float32),
        "rna_seq/predictions_128bp": rng.standard_normal((1, 4, 6), dtype=np.float32),
        "contact_maps/predictions": rng.standard_normal((1, 2, 2, 3), dtype=np.float32),
        "splice_sites_junction/splice_site_positions": rng.integers(-1, 64, (1, 4, 8), dtype=np.int32),
        "splice_sites_classification/mask": rng.random((1, 64, 5)) > 0.5,
    }


ATTRS = {
    "genotile_version": "0.1.0",
    "region": "demo1:1-4096",
    "start": 0,
    "end": 4096,
    "strand": "+",
    "model": "synthetic:tiny:seed=0",
    "precision": "float32",
    "metadata": None,
    "scale": 0.5,
    "path": Path("/some/where.fa"),  # not JSON: stored as its string
}


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip(tmp_path, suffix):
    outputs = _outputs()
    path = write_predictions(tmp_path / f"window{suffix}", outputs, ATTRS)
    assert path == tmp_path / f"window{suffix}"
    assert path.is_dir() if suffix == ".zarr" else path.is_file()

    got, attrs = read_predictions(path)
    _assert_same(got, outputs)
    expected_attrs = dict(ATTRS, path="/some/where.fa")
    assert attrs == expected_attrs
    assert _siblings(tmp_path) == [f"window{suffix}"]


def test_zarr_names_are_nested_groups(tmp_path):
    import zarr

    path = write_predictions(tmp_path / "w.zarr", _outputs(), ATTRS)
    root = zarr.open_group(str(path), mode="r")
    assert root["rna_seq"]["predictions_1bp"].shape == (1, 64, 6)
    assert root["rna_seq/predictions_128bp"].shape == (1, 4, 6)
    assert root.attrs["region"] == "demo1:1-4096"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_creates_missing_parent_folders(tmp_path, suffix):
    path = write_predictions(tmp_path / "a" / "b" / f"w{suffix}", _outputs(), ATTRS)
    got, _ = read_predictions(path)
    _assert_same(got, _outputs())


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_replaces_an_existing_output(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    write_predictions(path, _outputs(1), dict(ATTRS, region="old"))
    new = {"dnase/predictions_1bp": np.arange(12, dtype=np.float32).reshape(1, 4, 3)}
    write_predictions(path, new, dict(ATTRS, region="new"))

    got, attrs = read_predictions(path)
    _assert_same(got, new)  # nothing of the old output survives
    assert attrs["region"] == "new"
    assert _siblings(tmp_path) == [f"w{suffix}"]


def test_replaces_a_stray_file_or_folder_of_the_other_kind(tmp_path):
    as_dir = tmp_path / "w.npz"
    as_dir.mkdir()
    (as_dir / "junk").write_text("x")
    write_predictions(as_dir, _outputs(), ATTRS)
    assert as_dir.is_file()

    as_file = tmp_path / "w.zarr"
    as_file.write_text("not zarr")
    write_predictions(as_file, _outputs(), ATTRS)
    assert as_file.is_dir()
    _assert_same(read_predictions(as_file)[0], _outputs())
    assert _siblings(tmp_path) == ["w.npz", "w.zarr"]


class _Unwritable:
    """An 'array' that fails halfway through a write."""

    shape = (1, 2)
    dtype = np.dtype(np.float32)
    ndim = 2

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("disk on fire")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failure_leaves_no_temporary_files_and_keeps_the_old_output(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    old = _outputs(7)
    write_predictions(path, old, dict(ATTRS, region="old"))

    bad = dict(_outputs(), **{"rna_seq/broken": _Unwritable()})
    with pytest.raises(Exception, match="disk on fire"):
        write_predictions(path, bad, ATTRS)

    assert _siblings(tmp_path) == [f"w{suffix}"]  # no hidden .w.*.tmp folder left behind
    got, attrs = read_predictions(path)
    _assert_same(got, old)
    assert attrs["region"] == "old"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failure_without_an_old_output_leaves_nothing(tmp_path, suffix):
    with pytest.raises(Exception, match="disk on fire"):
        write_predictions(tmp_path / f"w{suffix}", {"x/y": _Unwritable()}, ATTRS)
    assert _siblings(tmp_path) == []


@pytest.mark.parametrize("name", ["w.h5", "w", "w.zarr.tmp", "w.NPZ"])
def test_bad_suffix_is_refused_before_touching_disk(tmp_path, name):
    with pytest.raises(OutputPathError, match=r"\.zarr or \.npz"):
        write_predictions(tmp_path / "sub" / name, _outputs(), ATTRS)
    assert _siblings(tmp_path) == []


def test_unwritable_folder(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file, so nothing can be created under it (even as root)")
    with pytest.raises(OutputPathError) as info:
        write_predictions(blocker / "w.zarr", _outputs(), ATTRS)
    message = str(info.value)
    assert str(blocker) in message and "cannot write" in message
    assert _siblings(tmp_path) == ["afile"]
