"""genotile.tracks.store_format: one definition of the store's format, one reader of its root attributes."""

from __future__ import annotations

import json

import pytest

from genotile.tracks import bigwig, contact_maps, store, store_format
from genotile.tracks.bigwig import ExportError
from genotile.tracks.contact_maps import ContactMapError
from genotile.tracks.store import StoreError


def _fake(path, attrs):
    path.mkdir()
    (path / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attrs}))
    return path


def test_the_format_names_are_defined_once():
    assert bigwig.DATA_NAME is store.DATA_NAME is store_format.DATA_NAME
    assert store.STORE_VERSION is store_format.STORE_VERSION and store.TrackSet is store_format.TrackSet
    assert not hasattr(bigwig, "STORE_VERSION") and not hasattr(bigwig, "_store_info")
    assert store.LAYOUT.startswith("Layout (genotile_store_version 1)")


def test_the_store_and_its_bigwig_export_read_the_root_the_same_way(tmp_path):
    newer = _fake(tmp_path / "newer.zarr", {"genotile_store_version": 2, "genotile_store": {"contigs": {}, "tracksets": []}})
    for call, error in ((lambda p: store.open_tracks(p), StoreError), (lambda p: bigwig.write_bigwigs(p, tmp_path / "bw", {"a": 1}), ExportError)):
        with pytest.raises(error, match=r"track store version 2 is not supported \(this genotile reads version 1\)"):
            call(newer)
        with pytest.raises(error, match="not a genotile track store"):
            call(_fake(tmp_path / f"other{error.__name__}.zarr", {"something": 1}))
        with pytest.raises(error, match="no such track store"):
            call(tmp_path / "missing.zarr")


def test_the_contact_store_uses_the_same_reader(tmp_path):
    newer = _fake(tmp_path / "contacts.zarr", {"genotile_contacts_version": 99, "genotile_contacts": {"bin_bp": 2048, "n_tracks": 0, "tracks": {}}})
    with pytest.raises(ContactMapError, match="contact-map store version 99 is not supported"):
        contact_maps.open_contact_maps(newer, "chr1")


def test_the_layout_text_names_functions_that_exist():
    """Every ``genotile.*`` function the layout text (stored in each store) tells a reader to call imports."""
    import importlib
    import re

    from genotile.tracks.store_format import LAYOUT

    names = set(re.findall(r"genotile(?:\.[a-z_]+)+", LAYOUT))
    assert names
    for dotted in names:
        module, _, attr = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), dotted
