"""Per-window contact-map store: round trip, genomic bin coordinates, several windows, atomic layout, errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from genotile.tracks.contact_maps import ContactMapError, create_contact_store, open_contact_maps, write_window_contacts
from genotile.tracks.tiling import Window, tile_windows

TRACKS = pd.DataFrame(
    {
        "track_index": [0, 3, 5],
        "name": ["HFF Micro-C", "H1 Hi-C", "GM12878 in situ Hi-C"],
        "ontology_curie": ["CL:0002620", "EFO:0003042", ""],
        "nonzero_mean": [1.5, np.nan, 2.0],
    }
)


def _map(window: Window, seed: int) -> np.ndarray:
    n = (window.end - window.start) // 2048
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n, len(TRACKS))).astype(np.float32)
    return (m + m.transpose(1, 0, 2)) / 2  # symmetric, as the model's maps are


def test_round_trip_two_windows(tmp_path):
    path = tmp_path / "contacts.zarr"
    create_contact_store(path, TRACKS, {"run": "test", "weights": "synthetic"})
    windows = tile_windows({"chrA": 30_000, "chrB": 5_000}, 16_384, 8_192)
    chr_a = [w for w in windows if w.contig == "chrA"]
    assert len(chr_a) >= 2
    written = {}
    for seed, w in enumerate(reversed(windows)):  # any order
        written[w] = _map(w, seed)
        write_window_contacts(path, w, written[w])
    maps = open_contact_maps(path, "chrA")
    assert [m.attrs["start"] for m in maps] == [w.start for w in chr_a]
    for m, w in zip(maps, chr_a):
        assert m.dims == ("bin_i", "bin_j", "track")
        assert m.dtype == np.float32
        np.testing.assert_array_equal(m.values, written[w])
        np.testing.assert_array_equal(m["bin_i"].values, np.arange(w.start, w.end, 2048))
        np.testing.assert_array_equal(m["bin_j"].values, m["bin_i"].values)
        assert m.attrs == {"contig": "chrA", "start": w.start, "end": w.end, "own_start": w.own_start,
                           "own_end": w.own_end, "bin_bp": 2048}
        assert m["name"].values.tolist() == TRACKS["name"].tolist()
        assert m["ontology_curie"].values.tolist() == ["CL:0002620", "EFO:0003042", ""]
        np.testing.assert_array_equal(m["nonzero_mean"].values, [1.5, np.nan, 2.0])
        # label selection by genome position and by head channel
        owned = m.sel(bin_i=slice(w.own_start, w.own_end - 1))
        assert owned.sizes["bin_i"] == (w.own_end - w.own_start + 2047) // 2048
        np.testing.assert_array_equal(m.sel(track_index=3).values, written[w][:, :, 1])
    (b,) = open_contact_maps(path, "chrB")
    assert b["bin_i"].values[-1] == 14_336  # bins past the contig end (N padding) are kept
    # layout: <contig>/<start> arrays, nothing left beside or inside the store
    assert sorted(os.listdir(path / "chrA")) == sorted(["zarr.json", *(str(w.start) for w in chr_a)])
    assert sorted(os.listdir(tmp_path)) == ["contacts.zarr"]
    meta = json.loads((path / "chrA" / str(chr_a[0].start) / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["dimension_names"] == ["bin_i", "bin_j", "track"]


def test_rewrite_window_and_recreate(tmp_path):
    path = tmp_path / "contacts.zarr"
    create_contact_store(path, TRACKS, {})
    w = Window("chr1", 0, 8_192, 2_048, 6_144)
    write_window_contacts(path, w, _map(w, 0))
    write_window_contacts(path, w, _map(w, 1))  # a rerun replaces the window
    (m,) = open_contact_maps(path, "chr1")
    np.testing.assert_array_equal(m.values, _map(w, 1))
    assert sorted(os.listdir(tmp_path)) == ["contacts.zarr"]
    create_contact_store(path, TRACKS.iloc[:1], {})  # replacing a contact store is allowed, and empties it
    with pytest.raises(ContactMapError, match="no contact maps for contig 'chr1'"):
        open_contact_maps(path, "chr1")


def test_errors(tmp_path):
    path = tmp_path / "contacts.zarr"
    with pytest.raises(ContactMapError, match="no such contact-map store"):
        write_window_contacts(path, Window("chr1", 0, 8_192, 2_048, 6_144), np.zeros((4, 4, 3)))
    create_contact_store(path, TRACKS, {})
    w = Window("chr1", 0, 8_192, 2_048, 6_144)
    with pytest.raises(ContactMapError, match=r"expected a contact map of shape \(4, 4, 3\).*drop the batch axis"):
        write_window_contacts(path, w, np.zeros((1, 4, 4, 3)))
    with pytest.raises(ContactMapError, match="stored tracks"):
        write_window_contacts(path, w, np.zeros((4, 4, 28)))
    with pytest.raises(ContactMapError, match="2,048-bp grid"):
        write_window_contacts(path, Window("chr1", 100, 8_292, 2_048, 6_144), np.zeros((4, 4, 3)))
    with pytest.raises(ContactMapError, match="lacks column"):
        create_contact_store(tmp_path / "x.zarr", TRACKS.drop(columns="name"), {})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("keep me")
    with pytest.raises(ContactMapError, match="not a genotile contact-map store"):
        create_contact_store(tmp_path / "other", TRACKS, {})
    with pytest.raises(ContactMapError, match="reserved"):
        create_contact_store(tmp_path / "y.zarr", TRACKS, {"genotile_contacts": 1})
    assert issubclass(ContactMapError, ValueError)
