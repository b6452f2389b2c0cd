"""The genome-wide track store: create, stitch windows (any order, two processes), read back, sizes, errors."""

from __future__ import annotations

import json
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genotile.tracks.store import (
    StoreError,
    TrackSet,
    create_store,
    crop_to_owned,
    estimate_bytes,
    format_storage_report,
    open_track_array,
    open_tracks,
    write_window,
)
from genotile.tracks.tiling import Window, tile_windows

WINDOW_BP, OWNED_BP = 16_384, 8_192
CONTIGS = {"chrA": 40_000, "chrB": 9_000}
ATTRS = {"config": {"window_bp": WINDOW_BP, "owned_bp": OWNED_BP}, "genome_sha256": "abc123", "weights": "synthetic:tiny:seed=0"}


def _tracksets(dtype: str = "float32") -> list[TrackSet]:
    atac = pd.DataFrame(
        {
            "track_index": [0, 2, 7],
            "name": ["UBERON:0000955 ATAC-seq", "CL:0000236 ATAC-seq", "EFO:0002067 ATAC-seq"],
            "strand": [".", ".", "."],
            "biosample_name": ["brain", "B cell", None],  # a missing value is stored as ''
            "nonzero_mean": [0.5, np.nan, 1.25],
        }
    )
    dnase = pd.DataFrame(
        {"track_index": [1, 3, 4, 5, 9], "name": [f"dnase {i}" for i in range(5)], "strand": ["+", "-", ".", ".", "."]}
    )
    return [TrackSet("atac", 1, atac, dtype=dtype), TrackSet("dnase", 128, dnase, dtype=dtype)]


def _full_prediction(window: Window, local_id: int, sign: int, ts: TrackSet) -> np.ndarray:
    """A whole window's synthetic prediction: a function of (absolute bin, track) plus the window's own offset.

    Every value is an integer below 2**24, so float32 holds it exactly; windows of the same contig differ
    (offset 65,536 * 8 * local_id), so a stitched value shows which window it came from.
    """
    bins = np.arange(window.start // ts.resolution, window.end // ts.resolution)
    tracks = np.arange(ts.n_tracks)
    assert bins.max() < 65_536 and ts.n_tracks <= 8 and local_id < 32
    return (sign * (bins[:, None] + 65_536 * (tracks[None, :] + 8 * local_id))).astype(np.float32)


def _signs(contigs) -> dict[str, int]:
    return {name: (-1) ** i for i, name in enumerate(contigs)}


def _window_outputs(windows: list[Window], contigs, tracksets) -> list[tuple[Window, dict]]:
    """(window, {(head, res): full-window prediction}) for every window (write_window crops to the owned bins)."""
    signs, local, jobs = _signs(contigs), {}, []
    for w in windows:
        local_id = local[w.contig] = local.get(w.contig, -1) + 1
        outputs = {ts.key: _full_prediction(w, local_id, signs[w.contig], ts) for ts in tracksets}
        jobs.append((w, outputs))
    return jobs


def _expected(windows: list[Window], contigs, ts: TrackSet, skipped=()) -> dict[str, np.ndarray]:
    """The stitched arrays, computed base by base: bin i holds the prediction of the window owning base i*res."""
    signs, expected = _signs(contigs), {}
    for contig, length in contigs.items():
        mine = [w for w in windows if w.contig == contig]
        starts = np.arange(0, length, ts.resolution)
        values = np.full((len(starts), ts.n_tracks), np.nan, dtype=np.float32)
        for local_id, w in enumerate(mine):
            owned = (starts >= w.own_start) & (starts < w.own_end)
            if w not in skipped:
                values[owned] = _full_prediction(w, local_id, signs[contig], ts)[(starts[owned] - w.start) // ts.resolution]
        expected[contig] = values
    return expected


def _write_all(path: Path, jobs, order=None) -> None:
    for i in order if order is not None else range(len(jobs)):
        write_window(path, *jobs[i])


def _assert_bit_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert np.array_equal(actual.view(np.uint32), expected.view(np.uint32))


def _tree_bytes(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list[Window], list]:
    """A store with every window of CONTIGS written in tiling order."""
    path = tmp_path_factory.mktemp("store") / "tracks.zarr"
    tracksets = _tracksets()
    windows = tile_windows(CONTIGS, WINDOW_BP, OWNED_BP)
    create_store(path, CONTIGS, tracksets, chunk_bp=OWNED_BP, attrs=ATTRS, owned_bp=OWNED_BP)
    jobs = _window_outputs(windows, CONTIGS, tracksets)
    _write_all(path, jobs)
    return path, windows, jobs


# ---------------------------------------------------------------------------------------------- stitching


def test_stitched_values_equal_the_owning_window(written):
    path, windows, _ = written
    tree = open_tracks(path)
    for ts in _tracksets():
        for contig, expected in _expected(windows, CONTIGS, ts).items():
            array = tree[f"{ts.group}/{contig}"]["predictions"]
            assert array.dims == ("position", "track")
            assert array.chunks is not None  # lazy, dask-backed
            _assert_bit_identical(array.values, expected)
            assert not np.isnan(expected).any()
            _assert_bit_identical(open_track_array(path, ts.head, ts.resolution, contig).values, expected)


def test_shapes_chunks_and_last_partial_bin(written):
    path, windows, _ = written
    tree = open_tracks(path)
    dnase_b = tree["dnase/128bp/chrB"]["predictions"]
    assert dnase_b.shape == (71, 5)  # ceil(9000 / 128): the last bin covers 8,960-9,088, past the end
    assert dnase_b.position.values[-1] == 8_960
    atac_a = tree["atac/1bp/chrA"]["predictions"]
    assert atac_a.shape == (40_000, 3)
    assert atac_a.encoding["chunks"] == (OWNED_BP, 3)
    assert tree["dnase/128bp/chrA"]["predictions"].encoding["chunks"] == (OWNED_BP // 128, 5)
    meta = json.loads((path / "atac/1bp/chrA/predictions/zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["fill_value"] == "NaN" and meta["data_type"] == "float32"
    assert meta["dimension_names"] == ["position", "track"]
    assert [c["name"] for c in meta["codecs"]] == ["bytes", "zstd"]
    assert "consolidated_metadata" in json.loads((path / "zarr.json").read_text())


def test_store_grid_is_the_tiling_grid():
    import genotile
    import genotile.tracks.store
    import genotile.tracks.tiling
    from genotile.sequence.encoding import GRID_BP

    assert genotile.tracks.store.GRID_BP is genotile.tracks.tiling.GRID_BP is GRID_BP  # one constant, imported
    assert genotile.open_tracks is open_tracks


def test_crop_to_owned_keeps_the_partial_last_bin():
    w = tile_windows({"chrB": 9_000}, WINDOW_BP, OWNED_BP)[0]
    assert (w.start, w.end, w.own_start, w.own_end) == (0, 16_384, 0, 9_000)
    full = np.arange(128 * 2).reshape(128, 2)
    assert crop_to_owned(w, full, 128).shape == (71, 2)
    assert crop_to_owned(w, np.zeros((16_384, 1)), 1).shape == (9_000, 1)
    inner = Window("chrA", 4_096, 20_480, 8_192, 16_384)
    cropped = crop_to_owned(inner, np.arange(16_384 // 128), 128)
    assert cropped[0] == (8_192 - 4_096) // 128 and len(cropped) == 64
    with pytest.raises(StoreError, match="expected a full-window prediction with 128 bins"):
        crop_to_owned(w, np.zeros((64, 2)), 128)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.integers(1, 8).flatmap(
        lambda w: st.tuples(st.just(w), st.sampled_from([o for o in range(1, w + 1) if (w - o) % 2 == 0]))
    ).flatmap(lambda wo: st.tuples(st.just(wo[0]), st.just(wo[1]), st.sampled_from([d for d in range(1, wo[1] + 1) if wo[1] % d == 0]))),
    lengths=st.lists(st.integers(1, 40_000), min_size=1, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_property_every_bin_comes_from_its_owning_window(tmp_path_factory, sizes, lengths, seed):
    window_bp, owned_bp, chunk_bp = (2_048 * n for n in sizes)
    contigs = {f"c{i}": length for i, length in enumerate(lengths)}
    tracksets = _tracksets()
    windows = tile_windows(contigs, window_bp, owned_bp)
    path = tmp_path_factory.mktemp("prop") / "tracks.zarr"
    create_store(path, contigs, tracksets, chunk_bp=chunk_bp, attrs={}, owned_bp=owned_bp)
    jobs = _window_outputs(windows, contigs, tracksets)
    order = list(range(len(jobs)))
    random.Random(seed).shuffle(order)
    skipped = {jobs[order[-1]][0]} if len(jobs) > 1 else set()  # one window left unwritten: NaN
    _write_all(path, jobs, order[:-1] if skipped else order)
    tree = open_tracks(path)
    for ts in tracksets:
        for contig, expected in _expected(windows, contigs, ts, skipped).items():
            _assert_bit_identical(tree[f"{ts.group}/{contig}"]["predictions"].values, expected)


def test_unwritten_windows_read_nan(tmp_path):
    path = tmp_path / "tracks.zarr"
    tracksets = _tracksets()
    windows = tile_windows(CONTIGS, WINDOW_BP, OWNED_BP)
    create_store(path, CONTIGS, tracksets, chunk_bp=OWNED_BP, attrs=ATTRS)
    assert not any(p.parent.name == "predictions" and p.name == "c" for p in path.rglob("*"))  # no data chunk yet
    assert np.isnan(open_tracks(path)["atac/1bp/chrA"]["predictions"].values).all()
    jobs = _window_outputs(windows, CONTIGS, tracksets)
    skipped = {windows[1], windows[-1]}  # an inner window of chrA and chrB's only window
    _write_all(path, jobs, [i for i, (w, _) in enumerate(jobs) if w not in skipped])
    for ts in tracksets:
        for contig, expected in _expected(windows, CONTIGS, ts, skipped).items():
            _assert_bit_identical(open_track_array(path, ts.head, ts.resolution, contig).values, expected)
    assert np.isnan(open_track_array(path, "dnase", 128, "chrB").values).all()


def test_random_order_and_two_processes_give_identical_bytes(written, tmp_path):
    reference, windows, jobs = written
    tracksets = _tracksets()
    shuffled = tmp_path / "shuffled.zarr"
    create_store(shuffled, CONTIGS, tracksets, chunk_bp=OWNED_BP, attrs=ATTRS, owned_bp=OWNED_BP)
    order = list(range(len(jobs)))
    random.Random(7).shuffle(order)
    _write_all(shuffled, jobs, order)

    parallel = tmp_path / "parallel.zarr"
    create_store(parallel, CONTIGS, tracksets, chunk_bp=OWNED_BP, attrs=ATTRS, owned_bp=OWNED_BP)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(write_window, parallel, w, outputs) for w, outputs in reversed(jobs)]:
            future.result()

    expected = _tree_bytes(reference)
    assert any("/c/" in name for name in expected)  # chunk files were written
    assert _tree_bytes(shuffled) == expected
    assert _tree_bytes(parallel) == expected


def test_float16_storage(tmp_path):
    path = tmp_path / "tracks.zarr"
    tracksets = _tracksets("float16")
    windows = tile_windows(CONTIGS, WINDOW_BP, OWNED_BP)
    create_store(path, CONTIGS, tracksets, chunk_bp=OWNED_BP, attrs={})
    scale = np.float32(2.0**-10)  # keeps the synthetic values within float16's range (+-65,504)
    jobs = [(w, {k: v * scale for k, v in outputs.items()}) for w, outputs in _window_outputs(windows, CONTIGS, tracksets)]
    _write_all(path, jobs)
    array = open_track_array(path, "dnase", 128, "chrA")
    assert array.dtype == np.float16
    expected = (_expected(windows, CONTIGS, tracksets[1])["chrA"] * scale).astype(np.float16)
    assert np.array_equal(array.values, expected)


# ---------------------------------------------------------------------------------------------- metadata


def test_track_coordinates_position_and_attrs(written):
    path, _, _ = written
    tree = open_tracks(path)
    array = tree["atac/1bp/chrA"]["predictions"]
    for name in ("track_index", "name", "strand", "biosample_name", "nonzero_mean", "position"):
        assert name in array.coords
    assert array.track_index.values.tolist() == [0, 2, 7]
    # DataArray.name is the variable's name: the `name` coordinate is array["name"], not array.name
    assert array["name"].values.tolist() == ["UBERON:0000955 ATAC-seq", "CL:0000236 ATAC-seq", "EFO:0002067 ATAC-seq"]
    assert array.biosample_name.values.tolist() == ["brain", "B cell", ""]
    assert np.array_equal(array.nonzero_mean.values, [0.5, np.nan, 1.25], equal_nan=True)
    assert array.sel(track_index=7)["name"].item() == "EFO:0002067 ATAC-seq"
    assert np.array_equal(array.position.values, np.arange(40_000))
    dnase = tree["dnase/128bp/chrA"]["predictions"]
    assert np.array_equal(dnase.position.values, np.arange(0, 40_000, 128))
    window = dnase.sel(position=slice(8_192, 16_384))  # label slices include both ends
    assert window.sizes["position"] == 65 and window.position.values[0] == 8_192
    assert dnase.strand.values.tolist() == ["+", "-", ".", ".", "."]

    assert tree.attrs["genome_sha256"] == "abc123"
    assert tree.attrs["config"] == {"window_bp": WINDOW_BP, "owned_bp": OWNED_BP}
    assert tree.attrs["genotile_store_version"] == 1
    assert "<head>/<res>bp/" in tree.attrs["genotile_layout"]
    assert tree.attrs["genotile_store"]["contigs"] == CONTIGS

    # plain xarray sees the track metadata as coordinates of the <head>/<res>bp group
    raw = xr.open_datatree(path, engine="zarr")
    assert {"track_index", "name", "strand", "biosample_name", "nonzero_mean"} <= set(raw["atac/1bp"].coords)
    assert raw["atac/1bp/chrA"]["predictions"].dims == ("position", "track")
    ds = xr.open_zarr(path, group="dnase/128bp/chrB", consolidated=False)
    assert ds["predictions"].shape == (71, 5)


def test_plain_open_of_the_root_says_where_the_arrays_are(written):
    """xr.open_zarr on the root has no arrays to show: its first attribute says how to open the store."""
    path, _, _ = written
    root = xr.open_zarr(path)
    assert not root.data_vars and next(iter(root.attrs)) == "genotile_open"
    hint = root.attrs["genotile_open"]
    assert "genotile.open_tracks(path)" in hint and "xr.open_datatree(path, engine='zarr')" in hint
    assert "Groups: atac/1bp, dnase/128bp" in hint and "group='atac/1bp/chrA'" in hint
    assert "genotile_open" in repr(root).split("Attributes:")[1].splitlines()[1]  # the top line of the attributes
    with pytest.raises(StoreError, match="reserved"):
        create_store(path.parent / "other.zarr", CONTIGS, _tracksets(), chunk_bp=OWNED_BP, attrs={"genotile_open": 1})


# ---------------------------------------------------------------------------------------------- sizes

HG38 = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555, "chr5": 181_538_259,
    "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636, "chr9": 138_394_717, "chr10": 133_797_422,
    "chr11": 135_086_622, "chr12": 133_275_309, "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189,
    "chr16": 90_338_345, "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616, "chr20": 64_444_167,
    "chr21": 46_709_983, "chr22": 50_818_468, "chrX": 156_040_895, "chrY": 57_227_415, "chrM": 16_569,
}  # fmt: skip


def test_storage_estimate_all_human_tracks_at_1bp():
    assert sum(HG38.values()) == 3_088_286_401
    n = 5_930
    tracks = pd.DataFrame({"track_index": range(n), "name": [f"t{i}" for i in range(n)]})
    everything = TrackSet("all", 1, tracks)
    assert estimate_bytes(HG38, [everything]) == {("all", 1): 3_088_286_401 * 5_930 * 4}
    assert 3_088_286_401 * 5_930 * 4 == 73_254_153_431_720  # 73.3 TB uncompressed, float32
    report = format_storage_report(HG38, [everything, TrackSet("all", 128, tracks, dtype="float16")])
    assert "73.3 TB" in report and "3,088,286,401" in report and "5,930" in report
    assert "24,127,253" in report  # bins at 128 bp: sum of ceil(length / 128)
    assert estimate_bytes(HG38, [TrackSet("all", 128, tracks, dtype="float16")])[("all", 128)] == 24_127_253 * 5_930 * 2
    assert f"{73_254_153_431_720 + 24_127_253 * 5_930 * 2:,}" in report


def test_storage_report_sizes_contact_maps_and_junction_tables():
    """Per-window outputs are not in the track store: the report sizes them from the windows, in words that agree in number."""
    tracks = pd.DataFrame({"track_index": [0], "name": ["t0"]})
    windows = tile_windows({"1": 1_500_000}, 1_048_576, 524_288)
    assert len(windows) == 3
    report = format_storage_report({"1": 1_500_000}, [TrackSet("dnase", 128, tracks)], windows=windows,
                                   contact_tracks=28, junction_tissues=367, num_splice_sites=512, junction_min_value=0.1)
    assert "(1 contig, 1,500,000 bp" in report and "(3 windows; not in the track store)" in report
    contact = 3 * 512 * 512 * 28 * 4
    assert f"contact maps (contact_maps.zarr): 512 x 512 bins of 2,048 bp x 28 tracks, float32: 88.1 MB ({contact:,} bytes)" in report
    rows = 3 * 2 * 512 * 512 * 367
    assert f"splice junctions (junctions.parquet): at most {rows:,} rows" in report and ">= 0.1 are kept" in report
    one = format_storage_report({"1": 9_000}, [TrackSet("dnase", 128, tracks)], windows=tile_windows({"1": 9_000}, 16_384, 8_192),
                                contact_tracks=1)
    assert "(1 window; not" in one and "8 x 8 bins of 2,048 bp x 1 track," in one and "junctions" not in one
    assert "Per-window" not in format_storage_report({"1": 9_000}, [TrackSet("dnase", 128, tracks)], windows=windows)


# ---------------------------------------------------------------------------------------------- errors and atomicity


def test_create_replaces_a_store_refuses_anything_else(tmp_path, written):
    path = tmp_path / "tracks.zarr"
    create_store(path, {"chrB": 9_000}, _tracksets(), chunk_bp=OWNED_BP, attrs={"run": 1})
    create_store(path, CONTIGS, _tracksets(), chunk_bp=OWNED_BP, attrs={"run": 2})
    assert open_tracks(path).attrs["run"] == 2 and "chrA" in open_tracks(path)["atac/1bp"].children
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracks.zarr"]  # no temporary leftovers

    other = tmp_path / "data"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(StoreError, match="exists and is not a genotile track store"):
        create_store(other, CONTIGS, _tracksets(), chunk_bp=OWNED_BP, attrs={})
    assert (other / "precious.txt").read_text() == "keep me"
    with pytest.raises(StoreError, match="not a genotile track store"):
        create_store(other / "precious.txt", CONTIGS, _tracksets(), chunk_bp=OWNED_BP, attrs={})
    with pytest.raises(StoreError, match="cannot write into"):
        create_store(other / "precious.txt" / "tracks.zarr", CONTIGS, _tracksets(), chunk_bp=OWNED_BP, attrs={})
    with pytest.raises(StoreError, match="not a genotile track store"):
        open_tracks(other)
    with pytest.raises(StoreError, match="no such track store"):
        write_window(tmp_path / "missing.zarr", Window("chrA", 0, 16_384, 0, 8_192), {})


def test_crashed_creation_leaves_nothing(tmp_path, monkeypatch):
    import genotile.tracks.store as store

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(store, "_build", crash)
    with pytest.raises(RuntimeError):
        create_store(tmp_path / "tracks.zarr", CONTIGS, _tracksets(), chunk_bp=OWNED_BP, attrs={})
    assert list(tmp_path.iterdir()) == []


def test_creation_arguments_are_validated(tmp_path):
    path = tmp_path / "tracks.zarr"
    with pytest.raises(StoreError, match="multiple of 2,048"):
        create_store(path, CONTIGS, _tracksets(), chunk_bp=1_000, attrs={})
    with pytest.raises(StoreError, match="does not divide owned_bp"):
        create_store(path, CONTIGS, _tracksets(), chunk_bp=16_384, attrs={}, owned_bp=OWNED_BP)
    with pytest.raises(StoreError, match="reserved"):
        create_store(path, CONTIGS, _tracksets(), chunk_bp=OWNED_BP, attrs={"genotile_store_version": 9})
    with pytest.raises(StoreError, match="given twice"):
        create_store(path, CONTIGS, _tracksets() + _tracksets()[:1], chunk_bp=OWNED_BP, attrs={})
    with pytest.raises(StoreError, match="lacks column"):
        TrackSet("atac", 1, pd.DataFrame({"track_index": [0]}))
    with pytest.raises(StoreError, match="must divide 2,048"):
        TrackSet("atac", 100, pd.DataFrame({"track_index": [0], "name": ["a"]}))
    with pytest.raises(StoreError, match="floating-point"):
        TrackSet("atac", 1, pd.DataFrame({"track_index": [0], "name": ["a"]}), dtype="int32")
    with pytest.raises(StoreError, match="more than once"):
        TrackSet("atac", 1, pd.DataFrame({"track_index": [0, 0], "name": ["a", "b"]}))
    assert not path.exists()


def test_write_window_errors(written, tmp_path):
    path, windows, jobs = written
    window, outputs = jobs[0]
    with pytest.raises(StoreError, match="contig 'chrZ'"):
        write_window(path, Window("chrZ", 0, 16_384, 0, 8_192), outputs)
    with pytest.raises(StoreError, match="cage/128bp is not in the store"):
        write_window(path, window, {("cage", 128): np.zeros((64, 5), np.float32)})
    with pytest.raises(StoreError, match=r"expected shape \(128, 5\).*got \(128, 4\).*slice it to the stored tracks"):
        write_window(path, window, {("dnase", 128): np.zeros((128, 4), np.float32)})
    with pytest.raises(StoreError, match=r"expected shape \(16384, 3\).*got \(8192, 3\).*already cropped.*write_window crops"):
        write_window(path, window, {("atac", 1): np.zeros((8_192, 3), np.float32)})
    with pytest.raises(StoreError, match=r"\(head, resolution\) tuples"):
        write_window(path, window, {"dnase/128bp": np.zeros((64, 5), np.float32)})
    with pytest.raises(StoreError, match="outside contig chrB"):
        write_window(path, Window("chrB", 0, 16_384, 0, 10_240), {})

    coarse = tmp_path / "coarse.zarr"  # chunks of 16,384 bp cannot hold owned regions of 8,192 bp alone
    create_store(coarse, CONTIGS, _tracksets(), chunk_bp=16_384, attrs={})
    with pytest.raises(StoreError, match="not aligned to the store's chunks of chunk_bp = 16,384"):
        write_window(coarse, jobs[1][0], jobs[1][1])
    with pytest.raises(StoreError, match="no contig 'chrZ'"):
        open_track_array(coarse, "dnase", 128, "chrZ")
    with pytest.raises(StoreError, match="no cage/1bp"):
        open_track_array(coarse, "cage", 1, "chrA")
