"""prepare_targets: bigWig values into the targets store (1 bp and 128-bp sums), nonzero_mean, QC and bad tracks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr
from helpers.train_data import random_sequence, write_bigwig, write_fasta, write_sheet

from genotile.runtime.tables import read_tsv
from genotile.settings import PrepareTargetsSettings, SplitWindowsSettings, schema_defaults
from genotile.train.data_errors import TrainingDataError
from genotile.train.steps import prepare_targets, split_windows
from genotile.train.targets import QC_COLUMNS, TargetsStore, read_targets, targets_info

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared/realdata/grch37_chr22_20-21Mb"
LENGTHS = {"c1": 16384, "c2": 8292}  # c2 ends inside a 128-bp bin


def _signal(seed: int, nan_every: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {}
    for contig, length in LENGTHS.items():
        v = np.where(rng.random(length) < 0.3, rng.integers(1, 9, length).astype(float), 0.0)
        if nan_every:
            v[::nan_every] = np.nan
        values[contig] = v
    return values


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("targets")
    fasta = str(write_fasta(folder / "g.fa", {c: random_sequence(n, i) for i, (c, n) in enumerate(LENGTHS.items())}))
    values = {"dn": _signal(1, nan_every=5), "plus": _signal(2), "minus": _signal(3), "chip": _signal(4)}
    files = {k: str(write_bigwig(folder / f"{k}.bw", LENGTHS, v)) for k, v in values.items()}
    sheet = write_sheet(folder / "tracks.tsv", [
        ["H3K27ac", "chip_histone", ".", files["chip"], "liver", "ChIP-seq", "3.5"],
        ["rna", "rna_seq", "+", files["plus"], "liver", "total RNA-seq", ""],
        ["rna", "rna_seq", "-", files["minus"], "liver", "total RNA-seq", ""],
        ["dn", "dnase", ".", files["dn"], "liver", "DNase-seq", ""],
    ])
    split = SplitWindowsSettings.from_config({"train": {**schema_defaults("train"), "window_bp": 4096, "max_shift": 0,
                                                        "validation_contigs": ["c2"]}})
    windows = split_windows(split, fasta, folder / "windows.tsv")
    out = folder / "out"
    result = prepare_targets(PrepareTargetsSettings(str(sheet)), fasta, folder / "windows.tsv", out / "targets.zarr",
                             out / "qc.tsv", out / "tracks.tsv")
    return {"folder": folder, "fasta": fasta, "values": values, "files": files, "sheet": sheet, "windows": windows,
            "out": out, "result": result}


def _expected(values: np.ndarray) -> np.ndarray:
    return np.nan_to_num(values, nan=0.0).astype(np.float32)


def test_values_and_sums(inputs):
    store = inputs["out"] / "targets.zarr"
    info = targets_info(store)
    assert info["contigs"] == LENGTHS
    assert [(t["group"], t["n_tracks"]) for t in info["tracksets"]] == [
        ("dnase/1bp", 1), ("dnase/128bp", 1), ("rna_seq/1bp", 2), ("rna_seq/128bp", 2), ("chip_histone/128bp", 1)]
    for contig, length in LENGTHS.items():
        rna = np.stack([_expected(inputs["values"][k][contig]) for k in ("plus", "minus")], axis=1)
        one = read_targets(store, "rna_seq", 1, contig, 0, length)
        np.testing.assert_array_equal(one, rna)
        padded = -(-length // 128) * 128
        sums = read_targets(store, "rna_seq", 128, contig, 0, padded)
        want = np.concatenate([rna, np.zeros((padded - length, 2), np.float32)]).reshape(-1, 128, 2).sum(1)
        np.testing.assert_allclose(sums, want, rtol=1e-6)
        chip = read_targets(store, "chip_histone", 128, contig, 0, padded)[:, 0]
        np.testing.assert_allclose(chip[: length // 128], _expected(inputs["values"]["chip"][contig])[: length // 128 * 128]
                                   .reshape(-1, 128).sum(1), rtol=1e-6)
    array = zarr.open_array(str(store), path="rna_seq/1bp/c2/targets", mode="r")
    assert array.dtype == np.float32 and array.shape == (8292, 2) and array.metadata.dimension_names == ("position", "track")
    assert not (store / "chip_histone" / "1bp").exists()
    # zero past the contig end and before 0 (padding), the window grid enforced
    edge = read_targets(store, "dnase", 1, "c2", 8192, 8192 + 4096)
    np.testing.assert_array_equal(edge[100:], 0)
    np.testing.assert_array_equal(read_targets(store, "dnase", 1, "c1", -2048, 0), 0)
    with pytest.raises(TrainingDataError, match="on the 128-bp grid"):
        read_targets(store, "dnase", 128, "c1", 1, 129)
    reader = TargetsStore(store)
    assert list(reader.tracks("rna_seq", 128)["strand"]) == ["+", "-"]
    with pytest.raises(TrainingDataError, match=r"no targets chip_histone/1bp \(it has dnase/1bp"):
        reader.read("chip_histone", 1, "c1", 0, 2048)
    attrs = zarr.open_group(str(store), mode="r").attrs["genotile_provenance"]
    assert attrs["fasta"] == inputs["fasta"] and len(attrs["fasta_checksum"]) == 64


def test_nonzero_mean_and_tables(inputs):
    tracks = read_tsv(inputs["out"] / "tracks.tsv")
    assert list(tracks["head"]) == ["dnase", "rna_seq", "rna_seq", "chip_histone"]
    assert list(tracks["channel"]) == [0, 0, 1, 0] and list(tracks["strand_partner"]) == [0, 1, 0, 0]
    train = inputs["windows"]
    assert set(train.loc[train["split"] == "train", "contig"]) == {"c1"}  # c2 is validation: not in the scale

    def nonzero_mean(values):
        v = _expected(values["c1"])
        return v.sum(dtype=np.float64) / np.count_nonzero(v)

    v = inputs["values"]
    np.testing.assert_allclose(tracks["nonzero_mean"], [
        nonzero_mean(v["dn"]), *[(nonzero_mean(v["plus"]) + nonzero_mean(v["minus"])) / 2] * 2, 3.5], rtol=1e-9)
    assert list(tracks["nonzero_mean_source"]) == ["computed", "computed", "computed", "sheet"]
    stored = zarr.open_array(str(inputs["out"] / "targets.zarr"), path="rna_seq/128bp/nonzero_mean", mode="r")[:]
    np.testing.assert_allclose(stored, tracks["nonzero_mean"][1:3])
    names = zarr.open_array(str(inputs["out"] / "targets.zarr"), path="rna_seq/1bp/strand", mode="r")[:]
    assert list(names) == ["+", "-"]
    qc = read_tsv(inputs["out"] / "qc.tsv")
    assert list(qc.columns) == list(QC_COLUMNS)
    dn = qc.iloc[0]
    bases = sum(LENGTHS.values())
    assert dn["bases"] == bases and dn["contigs"] == "c1,c2"
    assert dn["nan_fraction"] == pytest.approx(sum(len(range(0, n, 5)) for n in LENGTHS.values()) / bases)
    assert dn["coverage"] == pytest.approx(sum(np.count_nonzero(_expected(x)) for x in v["dn"].values()) / bases)


def _run(inputs, tmp_path, rows, fasta=None):
    sheet = write_sheet(tmp_path / "tracks.tsv", rows)
    out = tmp_path / "out"
    with pytest.raises(TrainingDataError) as info:
        prepare_targets(PrepareTargetsSettings(str(sheet)), fasta or inputs["fasta"], inputs["folder"] / "windows.tsv",
                        out / "targets.zarr", out / "qc.tsv", out / "tracks.tsv")
    assert not (out / "targets.zarr").exists() and not (out / "qc.tsv").exists()
    return str(info.value)


@pytest.mark.parametrize(("chroms", "values", "expected"), [
    ({"c1": 16000, "c2": 8292}, None, "contig c1 is 16,000 bp in the bigWig but 16,384 bp in the FASTA .* another genome build"),
    ({"chrc1": 16384, "chrc2": 8292}, None, "has no contig c1 but has chrc1 .* name contigs differently; rename"),
    ({"c1": 16384}, None, "has no contig c2, which the training windows use"),
    (LENGTHS, {c: np.zeros(n) for c, n in LENGTHS.items()}, "all zero over the 24,676 bases of the kept windows"),
    (LENGTHS, {}, r"empty, no value \(all NaN\)"),
    (LENGTHS, {"c2": np.ones(8292)}, "all zero over the training windows, so its nonzero_mean cannot be computed"),
])
def test_bad_tracks(inputs, tmp_path, chroms, values, expected):
    values = {c: np.ones(n) for c, n in chroms.items()} if values is None else values
    bad = write_bigwig(tmp_path / "bad.bw", chroms, values)
    message = _run(inputs, tmp_path, [["dn", "dnase", ".", str(bad), "x", "y", ""]])
    assert str(bad) in message
    assert re.search(expected, message), message


def test_not_a_bigwig(inputs, tmp_path):
    (tmp_path / "x.bw").write_text("not a bigwig\n")
    assert "not a readable bigWig" in _run(inputs, tmp_path, [["dn", "dnase", ".", str(tmp_path / "x.bw"), "x", "y", ""]])


@pytest.mark.skipif(not (REAL / "ENCFF826FLP.bw").exists(), reason="real chr22 data absent")
def test_real_chr22_encode_track(tmp_path):
    import pyBigWig

    (tmp_path / "real.bed").write_text("chr22\t20000000\t21000000\n")
    sheet = write_sheet(tmp_path / "tracks.tsv", [["ENCFF826FLP", "dnase", ".", str(REAL / "ENCFF826FLP.bw"), "x", "y", ""]])
    split = SplitWindowsSettings.from_config({"train": {**schema_defaults("train"), "window_bp": 131072,
                                                        "regions_bed": str(tmp_path / "real.bed"), "max_shift": 0}})
    windows = split_windows(split, str(REAL / "chr22.fa.gz"), tmp_path / "windows.tsv")
    train = windows[windows["split"] == "train"]
    assert len(train) >= 6 and set(windows["reason"]) <= {"train", "all_n"}
    result = prepare_targets(PrepareTargetsSettings(str(sheet)), str(REAL / "chr22.fa.gz"), tmp_path / "windows.tsv",
                             tmp_path / "targets.zarr", tmp_path / "qc.tsv", tmp_path / "tracks.tsv")
    bw = pyBigWig.open(str(REAL / "ENCFF826FLP.bw"))
    covered = np.zeros(51_304_566, dtype=bool)
    for row in train.itertuples():
        covered[row.start : row.end] = True
    start, end = int(np.flatnonzero(covered)[0]), int(np.flatnonzero(covered)[-1]) + 1
    values = np.nan_to_num(np.asarray(bw.values("chr22", start, end, numpy=True), dtype=np.float32), nan=0.0)
    inside = values[covered[start:end]]
    want = inside.sum(dtype=np.float64) / np.count_nonzero(inside)
    assert result.tracks["nonzero_mean"].iloc[0] == pytest.approx(want, rel=1e-6)
    region = (20_100_000 // 2048 * 2048, 20_100_000 // 2048 * 2048 + 65536)
    got = read_targets(tmp_path / "targets.zarr", "dnase", 1, "chr22", *region)[:, 0]
    np.testing.assert_array_equal(got, np.nan_to_num(np.asarray(bw.values("chr22", *region, numpy=True), np.float32)))
    qc = result.qc.iloc[0]
    assert 0 < qc["coverage"] < 1 and qc["max"] <= 31
    pd.testing.assert_frame_equal(read_tsv(tmp_path / "qc.tsv"), result.qc, check_dtype=False)


def test_only_the_kept_windows_contexts_are_prepared(inputs, tmp_path):
    from genotile.train.targets import prepare_targets_store
    from genotile.train.tracks_sheet import read_tracks_sheet

    windows = inputs["windows"].copy()
    windows.loc[(windows["contig"] == "c1") & (windows["start"] >= 8192), ["split", "reason"]] = ["dropped", "all_n"]
    sheet = read_tracks_sheet(inputs["sheet"])
    prepare_targets_store(sheet, windows, LENGTHS, tmp_path / "t.zarr", chunk_bp=4096)
    reader = TargetsStore(tmp_path / "t.zarr")
    assert reader.read("dnase", 1, "c1", 4096, 8192).shape == (4096, 1)
    with pytest.raises(TrainingDataError, match="c1:8,192-12,288 were not prepared"):
        reader.read("dnase", 1, "c1", 8192, 12288)
