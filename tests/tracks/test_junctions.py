"""Splice junctions from the junction head: conversion rules, masking, ownership, filters, Parquet/BED output."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from genotile.tracks.junctions import COLUMNS, JunctionError, window_junctions, write_junctions
from genotile.tracks.tiling import Window, tile_windows

TISSUES = ["Brain - Cortex", "Liver"]
# window of 8,192 bp owning its central 4,096 bp: absolute owned region [6,144, 10,240)
WINDOW = Window("chr1", 4_096, 12_288, 6_144, 10_240)


def _crafted() -> tuple[np.ndarray, np.ndarray]:
    """K = 4 slots, T = 2 tissues; value = 1000 * donor slot + 100 * acceptor slot + channel + 0.5."""
    positions = np.array(
        [
            [100, 3_000, -1, -1],  # donor +
            [2_500, 50, 5_000, -1],  # acceptor +
            [4_000, -1, -1, -1],  # donor -
            [1_000, 3_500, -1, -1],  # acceptor -
        ],
        dtype=np.int32,
    )
    d, a, c = np.meshgrid(np.arange(4), np.arange(4), np.arange(4), indexing="ij")
    predictions = (1000 * d + 100 * a + c + 0.5).astype(np.float32)
    predictions[:, 3, :] = 999.0  # garbage in an empty acceptor slot (the model zeroes it; must be ignored anyway)
    return predictions, positions


def test_conversion_strands_masking_and_ownership():
    predictions, positions = _crafted()
    frame = window_junctions(WINDOW, predictions, positions, TISSUES)
    assert list(frame.columns) == list(COLUMNS)
    # + strand: (donor 100, acceptor 2,500) has its midpoint 5,396 outside the owned region; backwards pairs dropped
    # - strand: start = acceptor + 1, end = donor
    expected = pd.DataFrame(
        {
            "contig": "chr1",
            "start": [4_197, 4_197, 7_097, 7_097, 5_097, 5_097, 7_597, 7_597],
            "end": [9_096, 9_096, 9_096, 9_096, 8_096, 8_096, 8_096, 8_096],
            "strand": ["+"] * 4 + ["-"] * 4,
            "tissue": TISSUES * 4,
            "value": np.array([200.5, 201.5, 1200.5, 1201.5, 2.5, 3.5, 102.5, 103.5], dtype=np.float32),
            "donor": [4_196, 4_196, 7_096, 7_096, 8_096, 8_096, 8_096, 8_096],
            "acceptor": [9_096, 9_096, 9_096, 9_096, 5_096, 5_096, 7_596, 7_596],
            "tissue_index": [0, 1] * 4,
            "touches_n_run": False,  # no N mask given
        }
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["value"].dtype == np.float32
    for column in ("start", "end", "donor", "acceptor", "tissue_index"):
        assert frame[column].dtype == np.int64


def test_tissue_selection_min_value_and_non_finite():
    predictions, positions = _crafted()
    predictions[1, 2, 1] = np.nan  # (donor 3,000, acceptor 5,000), + strand, Liver
    frame = window_junctions(WINDOW, predictions, positions, TISSUES, tissues=[1])
    assert frame["tissue"].unique().tolist() == ["Liver"]
    assert frame["value"].tolist() == [201.5, 3.5, 103.5]  # the NaN row is gone; - strand uses channel T + 1
    frame = window_junctions(WINDOW, predictions, positions, TISSUES, min_value=102.5)
    assert frame["value"].tolist() == [200.5, 201.5, 1200.5, 102.5, 103.5]
    assert (frame["value"] >= 102.5).all()


def test_empty_slots_anywhere_and_no_junctions():
    predictions, positions = _crafted()
    # the same sites with an empty slot first: each valid slot keeps its own prediction index
    shuffled = positions.copy()
    shuffled[1] = [-1, 50, 5_000, 2_500]
    moved = predictions.copy()
    moved[:, [1, 2, 3], :] = predictions[:, [1, 2, 0], :]
    a = window_junctions(WINDOW, predictions, positions, TISSUES)
    b = window_junctions(WINDOW, moved, shuffled, TISSUES)
    pd.testing.assert_frame_equal(a, b)
    empty = window_junctions(WINDOW, predictions, np.full((4, 4), -1, dtype=np.int32), TISSUES)
    assert len(empty) == 0 and list(empty.columns) == list(COLUMNS)


def test_each_junction_reported_by_exactly_one_window():
    contigs = {"chrT": 30_000}
    windows = tile_windows(contigs, 8_192, 4_096)
    rng = np.random.default_rng(1)
    donors = np.sort(rng.choice(30_000, 60, replace=False))
    acceptors = np.sort(rng.choice(30_000, 60, replace=False))

    def value(d, a, channel):  # what every window predicts for a pair of absolute sites
        return ((d * 7 + a * 13 + channel) % 1000).astype(np.float32)

    frames, seen_by = [], {}
    for w in windows:
        rows = []
        for sites in (donors, acceptors, acceptors, donors):  # - strand: donors downstream of acceptors
            inside = sites[(sites >= w.start) & (sites < min(w.end, 30_000))][:16] - w.start
            rows.append(np.concatenate([inside, np.full(16 - len(inside), -1)]))
        positions = np.array(rows, dtype=np.int32)
        preds = np.zeros((16, 16, 2), dtype=np.float32)
        for s in range(2):
            d = positions[2 * s][:, None] + w.start
            a = positions[2 * s + 1][None, :] + w.start
            preds[:, :, s] = value(d, a, s)
        frame = window_junctions(w, preds, positions, ["t"], contig_length=30_000)
        frames.append(frame)
        mid = (frame["start"] + frame["end"]) // 2
        assert ((mid >= w.own_start) & (mid < w.own_end)).all()
        for key in zip(frame["start"], frame["end"], frame["strand"]):
            seen_by.setdefault(key, []).append(w)
    table = pd.concat(frames, ignore_index=True)
    assert not table.duplicated(["start", "end", "strand", "tissue"]).any()
    assert all(len(v) == 1 for v in seen_by.values())
    np.testing.assert_array_equal(
        table["value"].to_numpy(),
        value(table["donor"].to_numpy(), table["acceptor"].to_numpy(), (table["strand"] == "-").to_numpy().astype(int)),
    )
    assert len(table) > 20


def test_contig_end():
    window = Window("chrE", 0, 8_192, 0, 5_000)  # a contig of 5,000 bp in one padded window
    positions = np.array([[4_000, -1], [4_990, 6_000], [-1, -1], [-1, -1]], dtype=np.int32)
    predictions = np.ones((2, 2, 2), dtype=np.float32)
    assert window_junctions(window, predictions, positions, ["t"], contig_length=5_000)["end"].tolist() == [4_990]
    assert window_junctions(window, predictions, positions, ["t"])["end"].tolist() == [4_990]  # midpoint 5,000 unowned
    window = Window("chrE", 0, 8_192, 0, 8_000)
    assert window_junctions(window, predictions, positions, ["t"])["end"].tolist() == [4_990, 6_000]
    assert window_junctions(window, predictions, positions, ["t"], contig_length=5_000)["end"].tolist() == [4_990]


def test_input_errors():
    predictions, positions = _crafted()
    with pytest.raises(JunctionError, match=r"4 channels but 3 tissue names"):
        window_junctions(WINDOW, predictions, positions, TISSUES + ["x"])
    with pytest.raises(JunctionError, match=r"positions must be an integer array \[4, 4\]"):
        window_junctions(WINDOW, predictions, positions[:, :3], TISSUES)
    with pytest.raises(JunctionError, match="window-relative"):
        window_junctions(WINDOW, predictions, positions + WINDOW.start, TISSUES)
    with pytest.raises(JunctionError, match=r"outside 0\.\.1"):
        window_junctions(WINDOW, predictions, positions, TISSUES, tissues=[2])
    with pytest.raises(JunctionError, match=r"\[K, K, 2T\]"):
        window_junctions(WINDOW, predictions[None], positions, TISSUES)
    assert issubclass(JunctionError, ValueError)


def test_write_junctions(tmp_path):
    predictions, positions = _crafted()
    w2 = Window("chr2", 0, 8_192, 0, 6_144)
    w1b = Window("chr1", 8_192, 16_384, 10_240, 14_336)
    frames = [
        window_junctions(w1b, predictions, positions, TISSUES),
        window_junctions(w2, predictions, positions, TISSUES),
        window_junctions(WINDOW, predictions, positions, TISSUES),
        window_junctions(WINDOW, predictions, np.full((4, 4), -1, dtype=np.int32), TISSUES),  # empty
    ]
    parquet, bed = tmp_path / "out" / "junctions.parquet", tmp_path / "out" / "junctions.bed"
    table = write_junctions(frames, parquet, bed, contig_order=["chr1", "chr2", "chrX"])
    assert len(table) == sum(len(f) for f in frames)
    assert table["contig"].tolist() == sorted(table["contig"].tolist())  # chr1 before chr2
    keys = list(zip(table["contig"], table["start"], table["end"], table["strand"] == "-", table["tissue_index"]))
    assert keys == sorted(keys)
    assert sorted(os.listdir(tmp_path / "out")) == ["junctions.bed", "junctions.parquet"]  # no temporary files

    back = pq.read_table(parquet)
    assert b"genotile_junctions" in back.schema.metadata
    pd.testing.assert_frame_equal(back.to_pandas(), table)

    lines = bed.read_text().splitlines()
    assert len(lines) == len(table)
    fields = [line.split("\t") for line in lines]
    assert all(len(f) == 6 for f in fields)
    first = table.iloc[0]
    assert fields[0] == [first["contig"], str(first["start"]), str(first["end"]), first["tissue"].replace(" ", "_"),
                         f"{first['value']:.9g}", first["strand"]]
    assert {f[3] for f in fields} == {"Brain_-_Cortex", "Liver"}
    np.testing.assert_array_equal(np.array([f[4] for f in fields], dtype=np.float32), table["value"].to_numpy())

    # first-seen contig order without contig_order; only one format
    table = write_junctions(frames[1:], None, tmp_path / "only.bed")
    assert table["contig"].drop_duplicates().tolist() == ["chr2", "chr1"]
    with pytest.raises(JunctionError, match=r"\['chr2'\].*not in contig_order"):
        write_junctions(frames, None, None, contig_order=["chr1"])
    empty = write_junctions([], tmp_path / "empty.parquet", tmp_path / "empty.bed")
    assert len(empty) == 0 and pq.read_table(tmp_path / "empty.parquet").num_rows == 0
    assert (tmp_path / "empty.bed").read_text() == ""


def test_junctions_touching_an_n_run_are_flagged(tmp_path):
    """touches_n_run: an N anywhere from the first splice site to the last, both sites included."""
    predictions, positions = _crafted()
    width = WINDOW.end - WINDOW.start
    gap = np.zeros(width, dtype=bool)
    gap[2_000:2_100] = True  # inside the introns of (+: 100 -> 5,000) and (-: 4,000 -> 1,000) only
    frame = window_junctions(WINDOW, predictions, positions, TISSUES, n_mask=gap)
    spans = list(zip(frame["donor"] - WINDOW.start, frame["acceptor"] - WINDOW.start))
    assert dict(zip(spans, frame["touches_n_run"])) == {(100, 5_000): True, (3_000, 5_000): False,
                                                        (4_000, 1_000): True, (4_000, 3_500): False}
    assert frame["touches_n_run"].dtype == bool
    site = np.zeros(width, dtype=bool)
    site[5_000] = True  # the + strand acceptor itself
    flagged = window_junctions(WINDOW, predictions, positions, TISSUES, n_mask=site)
    assert flagged["touches_n_run"].tolist() == [True] * 4 + [False] * 4
    bed = tmp_path / "j.bed"
    table = write_junctions([flagged], None, bed)
    names = [line.split("\t")[3] for line in bed.read_text().splitlines()]
    assert names == [t.replace(" ", "_") + ("|touches_n_run" if n else "") for t, n in zip(table["tissue"], table["touches_n_run"])]
    assert "Liver|touches_n_run" in names and "Liver" in names
    with pytest.raises(JunctionError, match="n_mask must be one flag per base"):
        window_junctions(WINDOW, predictions, positions, TISSUES, n_mask=site[:-1])
