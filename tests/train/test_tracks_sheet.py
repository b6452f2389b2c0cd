"""The tracks sheet: the rows the trainer gets, and one clear message for each bad sheet."""

from __future__ import annotations

import math

import pytest
import yaml
from helpers.train_data import write_sheet

from genotile.outputs import OUTPUTS
from genotile.train.data_errors import TrainingDataError
from genotile.train.tracks_sheet import SHEET_OUTPUT_TYPES, SHEET_SCHEMA_PATH, read_tracks_sheet, sheet_files


@pytest.fixture
def bigwigs(tmp_path):
    paths = {}
    for name in ("a.bw", "b_plus.bw", "b_minus.bw"):
        (tmp_path / name).write_bytes(b"")  # existence is all the sheet checks
        paths[name] = str(tmp_path / name)
    return paths


def _sheet(tmp_path, rows, **kw):
    return write_sheet(tmp_path / "tracks.tsv", rows, **kw)


def test_schema_enum_is_the_genome_track_outputs():
    schema = yaml.safe_load(SHEET_SCHEMA_PATH.read_text())
    assert tuple(schema["properties"]["output_type"]["enum"]) == SHEET_OUTPUT_TYPES
    assert SHEET_OUTPUT_TYPES == (*(o.output_type for o in OUTPUTS if o.genome_track), "splice_junctions",
                                  "splice_site_usage")


def test_splice_rows_are_sj_out_tabs_after_the_bigwigs(tmp_path, bigwigs):
    table = tmp_path / "s.SJ.out.tab"
    table.write_text("")
    sheet = read_tracks_sheet(_sheet(tmp_path, [["liver", "splice_junctions", ".", str(table), "liver", "RNA-seq", ""],
                                                ["dn", "dnase", ".", bigwigs["a.bw"], "liver", "DNase-seq", ""]]))
    assert list(sheet["output_type"]) == ["dnase", "splice_junctions"] and list(sheet["row"]) == [3, 2]
    assert str(table) in sheet_files(tmp_path / "tracks.tsv")
    for bad, expected in ((["liver", "splice_junctions", "+", str(table), "x", "y", ""], "give strand . and leave"),
                          (["liver", "splice_junctions", ".", str(table), "x", "y", "2"], "leave nonzero_mean empty"),
                          (["liver", "splice_junctions", ".", str(tmp_path / "no.tab"), "x", "y", ""],
                           "line 2: SJ.out.tab .*no.tab of track 'liver' does not exist")):
        with pytest.raises(TrainingDataError, match=expected):
            read_tracks_sheet(_sheet(tmp_path, [bad]))


def test_rows_ordered_by_head_then_sheet(tmp_path, bigwigs):
    sheet = read_tracks_sheet(_sheet(tmp_path, [
        ["rna", "RNA_SEQ", "+", bigwigs["b_plus.bw"], "liver", "total RNA-seq", ""],
        ["rna", "rna_seq", "-", bigwigs["b_minus.bw"], "liver", "total RNA-seq", ""],
        ["dn", "dnase", ".", bigwigs["a.bw"], "liver", "DNase-seq", "2.5"],
    ]))
    assert list(sheet["output_type"]) == ["dnase", "rna_seq", "rna_seq"]
    assert list(sheet["strand"]) == [".", "+", "-"]
    assert sheet["nonzero_mean"].iloc[0] == 2.5 and math.isnan(sheet["nonzero_mean"].iloc[1])
    assert list(sheet["row"]) == [4, 2, 3]
    assert sheet_files(tmp_path / "tracks.tsv") == sorted(bigwigs.values())


def test_nonzero_mean_column_may_be_left_out(tmp_path, bigwigs):
    sheet = read_tracks_sheet(_sheet(tmp_path, [["dn", "dnase", ".", bigwigs["a.bw"], "x", "y"]],
                                     header=("name", "output_type", "strand", "file_path", "biosample", "assay")))
    assert math.isnan(sheet["nonzero_mean"].iloc[0])


@pytest.mark.parametrize(("rows", "expected"), [
    ([["dn", "splice_sites", ".", "a.bw", "x", "y", ""]], r"line 2 \(track 'dn'\): output_type 'splice_sites' is not a genome-track"),
    ([["dn", "dnasee", ".", "a.bw", "x", "y", ""]], "use one of atac, dnase"),
    ([["dn", "dnase", ".", "a.bw", "x", "y", ""], ["dn", "dnase", ".", "a.bw", "x", "y", ""]],
     "line 3: track 'dn' .* is already on line 2"),
    ([["rna", "rna_seq", "+", "b_plus.bw", "x", "y", ""]], "line 2: track 'rna' .* has a \\+ strand file but no - strand partner"),
    ([["rna", "rna_seq", "-", "b_minus.bw", "x", "y", ""], ["rna", "rna_seq", ".", "a.bw", "x", "y", ""]],
     "mixes strand . with"),
    ([["dn", "dnase", "x", "a.bw", "x", "y", ""]], "strand 'x' must be"),
    ([["dn", "dnase", ".", "a.bw", "x", "y", "-1"]], "nonzero_mean -1.0 must be a positive number"),
    ([["dn", "dnase", ".", "missing.bw", "x", "y", ""]], "line 2: bigWig .*missing.bw of track 'dn' does not exist"),
    ([["", "dnase", ".", "a.bw", "x", "y", ""]], "name is empty"),
])
def test_bad_sheets(tmp_path, bigwigs, rows, expected):
    rows = [[str(tmp_path / v) if str(v).endswith(".bw") else v for v in row] for row in rows]
    with pytest.raises(TrainingDataError, match=expected) as info:
        read_tracks_sheet(_sheet(tmp_path, rows))
    assert str(tmp_path / "tracks.tsv") in str(info.value)


def test_bad_columns_and_missing_sheet(tmp_path):
    with pytest.raises(TrainingDataError, match="does not exist; set train.tracks_sheet"):
        read_tracks_sheet(tmp_path / "nope.tsv")
    with pytest.raises(TrainingDataError, match=r"missing column\(s\) \['file_path'\].*unknown column\(s\) \['path'\]"):
        read_tracks_sheet(_sheet(tmp_path, [["a", "dnase", ".", "x.bw", "b", "c"]],
                                 header=("name", "output_type", "strand", "path", "biosample", "assay")))
    assert sheet_files(tmp_path / "nope.tsv") == [] and sheet_files(None) == []
