"""Tests for genotile.model.metadata against the official AlphaGenome track metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genotile import outputs
from genotile.model import metadata as md

METADATA_DIR = Path(__file__).resolve().parents[3] / "shared/alphagenome/metadata"

needs_metadata = pytest.mark.skipif(
    not (METADATA_DIR / "OutputMetadataResponse_ORGANISM_HOMO_SAPIENS.textproto").is_file(),
    reason=f"official AlphaGenome metadata not found at {METADATA_DIR}",
)

HUMAN_REAL = {
    "atac": 167,
    "dnase": 305,
    "procap": 12,
    "cage": 546,
    "rna_seq": 667,
    "chip_tf": 1617,
    "chip_histone": 1116,
    "contact_maps": 28,
    "splice_sites": 4,
    "splice_site_usage": 734,
    "splice_junctions": 367,
}
MOUSE_REAL = {
    "atac": 18,
    "dnase": 67,
    "procap": 0,
    "cage": 188,
    "rna_seq": 173,
    "chip_tf": 127,
    "chip_histone": 183,
    "contact_maps": 8,
    "splice_sites": 4,
    "splice_site_usage": 180,
    "splice_junctions": 90,
}


@pytest.fixture(scope="module")
def human() -> dict[str, pd.DataFrame]:
    if not METADATA_DIR.is_dir():
        pytest.skip(f"official AlphaGenome metadata not found at {METADATA_DIR}")
    return md.load_metadata(METADATA_DIR, "human")


@pytest.fixture(scope="module")
def mouse() -> dict[str, pd.DataFrame]:
    if not METADATA_DIR.is_dir():
        pytest.skip(f"official AlphaGenome metadata not found at {METADATA_DIR}")
    return md.load_metadata(METADATA_DIR, "mouse")


# ----------------------------------------------------------------- constants


def test_output_type_tables() -> None:
    assert md.OUTPUT_TYPES == (
        "atac", "dnase", "procap", "cage", "rna_seq", "chip_tf", "chip_histone",
        "contact_maps", "splice_sites", "splice_site_usage", "splice_junctions",
    )  # fmt: skip
    assert set(outputs.HEAD_OF_OUTPUT_TYPE) == set(md.OUTPUT_TYPES) == set(md.PADDED_CHANNELS)
    assert outputs.HEAD_OF_OUTPUT_TYPE["splice_sites"] == "splice_sites_classification"
    assert outputs.HEAD_OF_OUTPUT_TYPE["splice_site_usage"] == "splice_sites_usage"
    assert outputs.HEAD_OF_OUTPUT_TYPE["splice_junctions"] == "splice_sites_junction"
    assert outputs.HEAD_OF_OUTPUT_TYPE["chip_tf"] == "chip_tf"
    assert md.PROTO_OUTPUT_TYPES["rna_seq"] == "OUTPUT_TYPE_RNA_SEQ"
    assert md.canonical_output_type("splice_sites_junction") == "splice_junctions"
    assert md.canonical_output_type("OUTPUT_TYPE_SPLICE_SITE_USAGE") == "splice_site_usage"
    assert md.canonical_output_type("DNASE") == "dnase"
    assert md.head_channels("splice_junctions") == 734
    assert md.head_channels("cage") == 640
    with pytest.raises(ValueError, match="unknown output type 'methylation'"):
        md.canonical_output_type("methylation")


def test_proto_enum_names_exist() -> None:
    from alphagenome.protos import dna_model_pb2

    for name in md.PROTO_OUTPUT_TYPES.values():
        dna_model_pb2.OutputType.Value(name)  # raises if misspelt


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("human", 0), ("HOMO_SAPIENS", 0), ("homo_sapiens", 0), ("Homo sapiens", 0),
        ("hs", 0), (0, 0), (np.int32(0), 0), (9606, 0),
        ("mouse", 1), ("MUS_MUSCULUS", 1), ("mm", 1), ("Mus-musculus", 1), (1, 1), (10090, 1),
    ],
)  # fmt: skip
def test_organism_index(name: object, expected: int) -> None:
    assert md.organism_index(name) == expected


def test_organism_index_accepts_alphagenome_enum() -> None:
    from alphagenome.models import dna_client

    assert md.organism_index(dna_client.Organism.HOMO_SAPIENS) == 0
    assert md.organism_index(dna_client.Organism.MUS_MUSCULUS) == 1


@pytest.mark.parametrize("bad", ["zebrafish", "", 2, -1, True, None])
def test_unknown_organism(bad: object) -> None:
    with pytest.raises(ValueError, match="unknown organism") as err:
        md.organism_index(bad)
    assert "human" in str(err.value) and "mus_musculus" in str(err.value)


# ----------------------------------------------------------------- parsing


@needs_metadata
@pytest.mark.parametrize("organism", ["human", "mouse"])
def test_frames_have_padded_widths_and_columns(
    organism: str, human: dict[str, pd.DataFrame], mouse: dict[str, pd.DataFrame]
) -> None:
    frames = human if organism == "human" else mouse
    assert tuple(frames) == md.OUTPUT_TYPES
    for output_type, frame in frames.items():
        assert len(frame) == md.PADDED_CHANNELS[output_type], output_type
        assert tuple(frame.columns) == md.COLUMNS
        np.testing.assert_array_equal(frame["index"], np.arange(len(frame)))
        assert set(frame["strand"]) <= {"+", "-", "."}
        assert frame["padding"].dtype == bool
        assert frame.attrs["output_type"] == output_type


@needs_metadata
def test_real_track_counts(human: dict[str, pd.DataFrame], mouse: dict[str, pd.DataFrame]) -> None:
    human_counts = md.count_real_tracks(human)
    mouse_counts = md.count_real_tracks(mouse)
    assert human_counts == {**HUMAN_REAL, "total": 5930}
    assert mouse_counts == {**MOUSE_REAL, "total": 1128}


@needs_metadata
def test_human_strand_mix(human: dict[str, pd.DataFrame]) -> None:
    real = human["rna_seq"][~human["rna_seq"]["padding"]]
    assert real["strand"].value_counts().to_dict() == {"+": 271, "-": 271, ".": 125}
    cage = human["cage"][~human["cage"]["padding"]]
    assert cage["strand"].value_counts().to_dict() == {"+": 273, "-": 273}
    assert set(human["chip_tf"]["strand"]) == {"."}
    assert list(human["splice_sites"]["strand"]) == ["+", "+", "-", "-", "."]
    names = ["donor", "acceptor", "donor", "acceptor", "Padding"]
    assert list(human["splice_sites"]["name"]) == names


@needs_metadata
def test_padding_rows(human: dict[str, pd.DataFrame], mouse: dict[str, pd.DataFrame]) -> None:
    for frames in (human, mouse):
        for output_type, frame in frames.items():
            pad = frame[frame["padding"]]
            assert (pad["name"].str.lower() == "padding").all()
            assert pad["nonzero_mean"].isna().all(), output_type
            assert (pad["strand"] == ".").all()
    assert mouse["procap"]["padding"].all()
    # Genome-track types carry nonzero_mean on every real track.
    for output_type in ("atac", "dnase", "procap", "cage", "rna_seq", "chip_tf", "chip_histone"):
        frame = human[output_type]
        assert frame.loc[~frame["padding"], "nonzero_mean"].notna().all(), output_type
    atac = human["atac"].loc[~human["atac"]["padding"], "nonzero_mean"]
    assert 0.1 < atac.min() < 0.2 and 4.5 < atac.max() < 5.0


@needs_metadata
def test_column_values(human: dict[str, pd.DataFrame]) -> None:
    first = human["atac"].iloc[0]
    assert first["name"] == "CL:0000084 ATAC-seq"
    assert first["ontology_curie"] == "CL:0000084"
    assert first["biosample_name"] == "T-cell"
    assert first["biosample_type"] == "primary_cell"
    assert first["biosample_life_stage"] == "adult"
    assert first["assay_title"] == "ATAC-seq"
    assert first["data_source"] == "encode"
    assert first["endedness"] == "paired"
    assert not first["genetically_modified"]
    assert first["nonzero_mean"] == pytest.approx(0.73974097)
    assert pd.isna(first["histone_mark"]) and pd.isna(first["gtex_tissue"])
    histone = human["chip_histone"]
    assert histone.loc[~histone["padding"], "histone_mark"].notna().all()
    tf = human["chip_tf"]
    assert tf.loc[~tf["padding"], "transcription_factor"].notna().all()
    assert human["splice_site_usage"]["gtex_tissue"].notna().all()
    assert human["splice_junctions"]["name"].str.startswith("junction_").all()


@needs_metadata
def test_matches_alphagenome_package_conversion(human: dict[str, pd.DataFrame]) -> None:
    """Cross-check against the alphagenome package's own proto -> DataFrame code."""
    from alphagenome.models import dna_client
    from alphagenome.protos import dna_model_service_pb2
    from google.protobuf import text_format

    path = md.metadata_path(METADATA_DIR, "human")
    response = text_format.Parse(path.read_text(), dna_model_service_pb2.MetadataResponse())
    reference = dna_client.construct_output_metadata(iter([response]))
    for output_type in ("rna_seq", "chip_histone", "splice_sites", "splice_junctions"):
        ref = getattr(reference, output_type).rename(columns={"Assay title": "assay_title"})
        ours = human[output_type]
        for column in ref.columns:
            a = ours[column].astype(object).where(ours[column].notna(), None).tolist()
            b = ref[column].astype(object).where(ref[column].notna(), None).tolist()
            assert a == b, (output_type, column)
        # Padding as the reference defines it.
        np.testing.assert_array_equal(ours["padding"], ref["name"].str.lower() == "padding")


@needs_metadata
def test_cached_results_are_independent_copies(human: dict[str, pd.DataFrame]) -> None:
    first = md.load_metadata(METADATA_DIR, "HOMO_SAPIENS")
    first["atac"].loc[0, "name"] = "changed"
    second = md.load_metadata(METADATA_DIR, 0)
    assert second["atac"].loc[0, "name"] == "CL:0000084 ATAC-seq"


# ----------------------------------------------------------------- strands


@needs_metadata
@pytest.mark.parametrize("organism", ["human", "mouse"])
def test_strand_reindexing(
    organism: str, human: dict[str, pd.DataFrame], mouse: dict[str, pd.DataFrame]
) -> None:
    frames = human if organism == "human" else mouse
    for output_type, frame in frames.items():
        perm = md.strand_reindexing(frame)
        assert perm.dtype == np.int32
        np.testing.assert_array_equal(perm[perm], np.arange(len(perm)))  # involution
        if output_type == "splice_junctions":
            assert len(perm) == md.head_channels(output_type)
            np.testing.assert_array_equal(perm, md.junction_strand_swap(len(frame)))
            continue
        assert len(perm) == len(frame)
        strands = frame["strand"].to_numpy()
        fixed = strands == "."
        np.testing.assert_array_equal(perm[fixed], np.flatnonzero(fixed))
        plus = np.flatnonzero(strands == "+")
        assert (strands[perm[plus]] == "-").all()
        # In the released metadata, rank pairing always pairs the same sample.
        for column in ("name", "ontology_curie", "biosample_name"):
            left = frame[column].to_numpy()[plus]
            right = frame[column].to_numpy()[perm[plus]]
            assert list(left) == list(right), (output_type, column)
    np.testing.assert_array_equal(md.strand_reindexing(frames["splice_sites"]), [2, 3, 0, 1, 4])
    n = md.PADDED_CHANNELS["splice_junctions"]
    swap = md.strand_reindexing(frames["splice_junctions"])
    np.testing.assert_array_equal(swap[:n], np.arange(n, 2 * n))
    np.testing.assert_array_equal(swap[n:], np.arange(n))


def test_strand_reindexing_rules_on_small_frames() -> None:
    frame = pd.DataFrame(
        {"index": np.arange(6), "strand": ["+", ".", "+", "-", "-", "."], "padding": False}
    )
    np.testing.assert_array_equal(md.strand_reindexing(frame), [3, 1, 4, 0, 2, 5])
    unequal = pd.DataFrame({"index": np.arange(3), "strand": ["+", "+", "-"]})
    with pytest.raises(md.MetadataError, match="2 '\\+' tracks but 1 '-' tracks"):
        md.strand_reindexing(unequal, "cage")
    with pytest.raises(ValueError, match="whole head frame"):
        md.strand_reindexing(frame.iloc[1:])
    np.testing.assert_array_equal(md.junction_strand_swap(3), [3, 4, 5, 0, 1, 2])


# ----------------------------------------------------------------- selection


@needs_metadata
def test_select_tracks(human: dict[str, pd.DataFrame]) -> None:
    dnase = human["dnase"]
    gm = md.select_tracks(dnase, biosample_name="GM12878")
    assert len(gm) == 1
    assert dnase.loc[gm[0], "ontology_curie"] == "EFO:0002784"
    np.testing.assert_array_equal(md.select_tracks(dnase, ontology_curie="EFO:0002784"), gm)
    np.testing.assert_array_equal(
        md.select_tracks(dnase, ontology_curie=["EFO:0002784"], assay="DNase-seq"), gm
    )
    assert len(md.select_tracks(dnase, biosample_name="GM12878", assay="ATAC-seq")) == 0

    both = md.select_tracks(dnase, ontology_curie=["EFO:0002784", "CL:0000047"])
    assert len(both) == 2 and np.all(np.diff(both) > 0)

    everything = md.select_tracks(dnase)
    assert len(everything) == 305
    assert len(md.select_tracks(dnase, include_padding=True)) == 384
    assert dnase.loc[everything, "padding"].eq(False).all()

    rna = human["rna_seq"]
    plus = md.select_tracks(rna, strand="+")
    minus = md.select_tracks(rna, strand=["-"])
    assert len(plus) == len(minus) == 271
    assert len(md.select_tracks(rna, strand=["+", "-", "."])) == 667
    total = md.select_tracks(rna, name_regex=r"total RNA-seq$")
    assert len(total) > 0
    assert rna.loc[total, "name"].str.endswith("total RNA-seq").all()
    assert len(md.select_tracks(rna, name_regex=["^CL:", "^UBERON:"])) > len(
        md.select_tracks(rna, name_regex="^CL:")
    )
    padding_only = md.select_tracks(rna, name_regex="(?i)padding", include_padding=True)
    assert len(padding_only) == 101

    with pytest.raises(ValueError, match="strand must be"):
        md.select_tracks(rna, strand="plus")
    with pytest.raises(TypeError, match="list of str"):
        md.select_tracks(rna, ontology_curie=[1])  # type: ignore[list-item]


# ----------------------------------------------------------------- errors


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(md.MetadataError, match="does not exist") as err:
        md.load_metadata(missing, "human")
    assert str(missing) in str(err.value)
    assert "OutputMetadataResponse_ORGANISM_" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_not_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(md.MetadataError, match="is not a directory"):
        md.load_metadata(file, "human")


def test_wrong_folder(tmp_path: Path) -> None:
    (tmp_path / "weights.npz").write_bytes(b"")
    (tmp_path / "OutputMetadataResponse_ORGANISM_HOMO_SAPIENS.textproto").write_text("")
    with pytest.raises(md.MetadataError) as err:
        md.load_metadata(tmp_path, "mouse")
    message = str(err.value)
    assert "OutputMetadataResponse_ORGANISM_MUS_MUSCULUS.textproto" in message
    assert "'mouse'" in message
    assert "weights.npz" in message
    present = "metadata files present: OutputMetadataResponse_ORGANISM_HOMO_SAPIENS.textproto"
    assert present in message


def test_empty_folder(tmp_path: Path) -> None:
    expected = "metadata files present: none; folder contains: nothing"
    with pytest.raises(md.MetadataError, match=expected):
        md.load_metadata(tmp_path, "human")


def test_unknown_organism_in_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown organism 'zebrafish'"):
        md.load_metadata(tmp_path, "zebrafish")


def test_parse_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "OutputMetadataResponse_ORGANISM_HOMO_SAPIENS.textproto"
    path.write_text("output_metadata {\n  output_type: OUTPUT_TYPE_ATAC\n  bogus_field: 3\n}\n")
    with pytest.raises(md.MetadataError) as err:
        md.load_metadata(tmp_path, "human")
    message = str(err.value)
    assert path.name in message
    assert "line 3" in message


def test_incomplete_file(tmp_path: Path) -> None:
    path = tmp_path / "OutputMetadataResponse_ORGANISM_MUS_MUSCULUS.textproto"
    path.write_text(
        "output_metadata {\n  output_type: OUTPUT_TYPE_CONTACT_MAPS\n  tracks {\n"
        '    metadata { name: "Padding" strand: STRAND_UNSTRANDED }\n  }\n}\n'
    )
    with pytest.raises(md.MetadataError, match="has 1 tracks but head 'contact_maps' has 28"):
        md.load_metadata(tmp_path, "mouse")
    path.write_text("")
    with pytest.raises(md.MetadataError, match="no metadata for output types OUTPUT_TYPE_ATAC"):
        md.load_metadata(tmp_path, "mm")
