"""Track selection: config entries -> stored track sets, one model request, per-window extraction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genotile.model.config import TINY
from genotile.model.predictor import TrackMetadata
from genotile.tracks.selection import TrackSelectionError, resolve_selection

METADATA = Path(__file__).resolve().parents[3] / "shared" / "alphagenome" / "metadata"
needs_metadata = pytest.mark.skipif(not METADATA.is_dir(), reason=f"{METADATA} not present")


@pytest.fixture(scope="module")
def metadata():
    return TrackMetadata.from_folder(METADATA)


def test_indices_without_metadata():
    sel = resolve_selection(
        [{"output": "dnase", "resolutions": [1, 128], "indices": [3, 1]}, {"output": "splice_sites"},
         {"output": "contact_maps", "indices": [2]}, {"output": "splice_junctions", "indices": [0, 5]}],
        TINY, None, 0,
    )  # fmt: skip
    assert [(ts.head, ts.resolution, list(ts.tracks["track_index"])) for ts in sel.tracksets] == [
        ("dnase", 1, [1, 3]),
        ("dnase", 128, [1, 3]),
        ("splice_sites_classification", 1, [0, 1, 2, 3, 4]),
    ]
    assert list(sel.tracksets[2].tracks["name"]) == ["donor+", "acceptor+", "donor-", "acceptor-", "none"]
    assert list(sel.contact_tracks["track_index"]) == [2]
    assert list(sel.junction_tissues["track_index"]) == [0, 5] and len(sel.junction_names) == 367
    request = sel.request()
    assert set(request.heads) == {"dnase", "splice_sites_classification", "contact_maps", "splice_sites_junction"}
    assert request.channels_for("dnase").tolist() == [1, 3]


def test_128bp_only_selection_skips_the_decoder():
    sel = resolve_selection([{"output": "chip_tf", "indices": "all"}, {"output": "dnase", "resolutions": [128], "indices": [0]}], TINY, None, 0)
    request = sel.request()
    assert not request.needs_1bp and request.needs_128bp
    assert sel.tracksets[0].n_tracks == 1664


def test_extract_maps_computed_channels_to_each_track_set():
    sel = resolve_selection(
        [{"output": "rna_seq", "resolutions": [128], "indices": [7]}, {"output": "rna_seq", "resolutions": [1], "indices": [2, 7]}],
        TINY, None, 0,
    )  # fmt: skip
    assert sel.request().channels_for("rna_seq").tolist() == [2, 7]
    outputs = {
        "rna_seq/predictions_128bp": np.arange(2 * 4 * 2, dtype=np.float32).reshape(2, 4, 2),
        "rna_seq/predictions_1bp": np.arange(2 * 8 * 2, dtype=np.float32).reshape(2, 8, 2),
    }
    arrays = sel.extract(outputs, 1)
    np.testing.assert_array_equal(arrays[("rna_seq", 128)], outputs["rna_seq/predictions_128bp"][1][:, [1]])
    np.testing.assert_array_equal(arrays[("rna_seq", 1)], outputs["rna_seq/predictions_1bp"][1])


@pytest.mark.parametrize(
    "entries, words",
    [
        ([], "empty"),
        ([{"output": "dnaseq"}], "not an output type"),
        ([{"output": "chip_tf", "resolutions": [1]}], "128 bp"),
        ([{"output": "dnase", "indices": [384]}], "outside 0..383"),
        ([{"output": "dnase", "biosample_name": "GM12878"}], "needs the track metadata"),
        ([{"output": "dnase", "indices": [0], "biosample_name": "GM12878"}], "not both"),
        ([{"resolutions": [1]}], "no 'output'"),
    ],
)
def test_bad_entries(entries, words):
    with pytest.raises(TrackSelectionError, match=words):
        resolve_selection(entries, TINY, None, 0)


@needs_metadata
def test_dnase_in_gm12878_at_128bp_is_one_entry(metadata):
    sel = resolve_selection([{"output": "dnase", "resolutions": [128], "biosample_name": "GM12878"}], TINY, metadata, 0)
    (ts,) = sel.tracksets
    assert (ts.head, ts.resolution) == ("dnase", 128) and ts.n_tracks >= 1
    assert set(ts.tracks["biosample_name"]) == {"GM12878"}
    assert not sel.request().needs_1bp


@needs_metadata
def test_metadata_filters_exclude_padding_and_report_no_match(metadata):
    sel = resolve_selection([{"output": "rna_seq", "resolutions": [1], "strand": "+"}], TINY, metadata, 0)
    assert set(sel.tracksets[0].tracks["strand"]) == {"+"} and sel.tracksets[0].n_tracks == 271
    with pytest.raises(TrackSelectionError, match="biosample_name='no such cell' matches none of the .* dnase tracks"):
        resolve_selection([{"output": "dnase", "biosample_name": "no such cell"}], TINY, metadata, 0)


@needs_metadata
def test_an_empty_selection_names_the_filter_that_emptied_it(metadata):
    """A valid biosample with a wrong-case name_regex: the message is about name_regex, not the biosample."""
    entry = {"output": "dnase", "biosample_name": "GM12878", "name_regex": "dnase"}
    with pytest.raises(TrackSelectionError) as error:
        resolve_selection([entry], TINY, metadata, 0)
    text = str(error.value)
    assert "name_regex='dnase' matches none of the 1 dnase tracks left by biosample_name='GM12878'" in text
    assert "case-sensitive; ignoring case it matches 1 track(s), e.g. 'EFO:0002784 DNase-seq'" in text and "(?i)" in text
    assert "biosample names include" not in text
    with pytest.raises(TrackSelectionError, match=r"biosample_name='gm12878' .*did you mean 'GM12878'\?"):
        resolve_selection([{"output": "dnase", "biosample_name": "gm12878"}], TINY, metadata, 0)
    with pytest.raises(TrackSelectionError, match=r"biosample_name='K-562' .*Close matches: 'K562'"):
        resolve_selection([{"output": "dnase", "biosample_name": "K-562"}], TINY, metadata, 0)
    with pytest.raises(TrackSelectionError, match=r"assay='dnase-seq' matches none of the .* rna_seq tracks"):
        resolve_selection([{"output": "rna_seq", "assay": "dnase-seq"}], TINY, metadata, 0)
    # the filters are applied in the entry's order: here the biosample comes second and is reported
    with pytest.raises(TrackSelectionError, match=r"biosample_name='nowhere' matches none of the .* left by name_regex="):
        resolve_selection([{"output": "dnase", "name_regex": "DNase", "biosample_name": "nowhere"}], TINY, metadata, 0)
    sel = resolve_selection([{"output": "dnase", "biosample_name": "GM12878", "name_regex": "(?i)dnase"}], TINY, metadata, 0)
    assert sel.tracksets[0].n_tracks == 1
