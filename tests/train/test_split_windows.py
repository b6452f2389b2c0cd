"""split_windows: held-out contigs / regions, the leakage rule, all-N windows, and the bad splits."""

from __future__ import annotations

import pytest
from helpers.train_data import random_sequence, write_fasta
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.runtime.tables import read_tsv
from genotile.settings import SplitWindowsSettings, schema_defaults
from genotile.tracks.tiling import Window
from genotile.train.data_errors import TrainingDataError
from genotile.train.splits import DROPPED, SPLITS, assign_splits
from genotile.train.steps import split_windows


def _settings(**changes) -> SplitWindowsSettings:
    train = {**schema_defaults("train"), "window_bp": 4096, "max_shift": 0, **changes}
    return SplitWindowsSettings.from_config({"train": train})


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    return str(write_fasta(folder / "g.fa", {
        "c1": random_sequence(16384, 1),
        "c2": random_sequence(8192, 2),
        "c3": random_sequence(12288, 3, n_spans=[(0, 8192)]),  # the first windows are all N
    }))


def test_held_out_contig_and_leakage(fasta, tmp_path):
    table = split_windows(_settings(validation_contigs=["c2"], max_shift=1024), fasta, tmp_path / "w.tsv")
    back = read_tsv(tmp_path / "w.tsv")
    assert list(back.columns) == list(table.columns) and len(back) == len(table)
    assert set(table.loc[table["contig"] == "c2", "split"]) == {"validation"}
    assert list(table.loc[table["contig"] == "c3", "reason"]) == ["all_n", "all_n", "train"]  # N over [0, 8192)
    assert list(table.loc[table["contig"] == "c1", "split"].unique()) == ["train"]  # other contigs never overlap


def test_region_split_drops_the_overlapping_training_windows(fasta, tmp_path):
    (tmp_path / "test.bed").write_text("c1\t8192\t8200\n")
    table = split_windows(_settings(test_bed=str(tmp_path / "test.bed"), max_shift=1024), fasta, tmp_path / "w.tsv")
    c1 = table[table["contig"] == "c1"].set_index("start")
    # [8192, 12288) holds the region; its neighbours' contexts (+-1,024 bp) reach into its context
    assert c1.loc[8192, "reason"] == "test_region"
    assert list(c1.loc[[4096, 12288], "reason"]) == ["overlaps_test", "overlaps_test"]
    assert list(c1.loc[[4096, 12288], "overlaps_window"]) == [c1.loc[8192, "window"]] * 2
    assert c1.loc[0, "split"] == "train"
    without_shift = split_windows(_settings(test_bed=str(tmp_path / "test.bed")), fasta, tmp_path / "w.tsv")
    assert list(without_shift.loc[without_shift["contig"] == "c1", "split"]) == ["train", "train", "test", "train"]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"window_bp": 5000}, "train.window_bp = 5,000 must be a positive multiple of 2,048 bp .* e.g. 4,096 or 6,144"),
    ({"window_bp": 196608}, "train.window_bp = 196,608: a window longer than 131,072 bp must be a whole number of "
                            "the loss's 131,072-bp segments .* e.g. 131,072 or 262,144"),
    ({"stride_bp": 3072}, "train.stride_bp = 3,072 must be a positive multiple of 2,048"),
    ({"stride_bp": 8192}, "train.stride_bp = 8,192 must be at most train.window_bp"),
    ({"window_bp": 8192, "stride_bp": 2048}, "differ from it by a multiple of 4,096 bp .* e.g. 4,096 or 8,192"),
    ({"validation_contigs": ["chrX"]}, r"train.validation_contigs: contig\(s\) \['chrX'\] are not among"),
    ({"validation_contigs": ["c1"], "test_contigs": ["c1"]}, "both name"),
    ({"validation_contigs": ["c1", "c2"], "test_contigs": ["c3"]}, "the split leaves no training windows .*all_n"),
    ({"contigs": ["nope"]}, "train.contigs / train.contig_regex"),
])
def test_bad_splits(fasta, tmp_path, changes, expected):
    with pytest.raises(TrainingDataError, match=expected):
        split_windows(_settings(**changes), fasta, tmp_path / "w.tsv")
    assert not (tmp_path / "w.tsv").exists()


@st.composite
def _layouts(draw):
    contigs = {f"c{i}": draw(st.integers(1, 12)) * 2048 for i in range(draw(st.integers(1, 3)))}
    window = draw(st.sampled_from([2048, 4096, 8192]))
    stride = draw(st.sampled_from([s for s in (2048, 4096, 8192) if s <= window and (window - s) % 4096 == 0]))
    regions: dict[str, dict[str, list[tuple[int, int]]]] = {"v": {}, "t": {}}
    for contig, n in contigs.items():
        for _ in range(draw(st.integers(0, 2))):
            a = draw(st.integers(0, n - 1))
            regions[draw(st.sampled_from("vt"))].setdefault(contig, []).append((a, a + draw(st.integers(1, 3000))))
    return contigs, window, stride, regions, draw(st.integers(0, 3000)), draw(st.integers(0, 6))


@settings(max_examples=30, deadline=None)
@given(_layouts())
def test_no_kept_windows_of_different_splits_share_context(layout):
    from genotile.tracks.tiling import tile_windows

    contigs, window, stride, regions, shift, seed = layout
    windows = tile_windows(contigs, window, stride)
    names = list(contigs)
    held = {"validation_contigs": names[1:2], "test_contigs": names[2:3]}
    table = assign_splits(windows, max_shift=shift, all_n=lambda w: (w.start // 2048 + seed) % 7 == 0,
                          validation_regions=regions["v"] or None, test_regions=regions["t"] or None, **held)
    assert len(table) == len(windows) and set(table["split"]) <= {*SPLITS, DROPPED}
    kept = table[table["split"] != DROPPED]
    for a in kept.itertuples():
        for b in kept.itertuples():
            if a.split != b.split and a.contig == b.contig:
                assert a.context_end <= b.context_start or b.context_end <= a.context_start, (a, b)
    for w, row in zip(windows, table.itertuples()):
        assert (row.contig, row.start, row.end) == (w.contig, w.start, w.end)
        assert row.context_start == w.start - shift and row.context_end == w.end + shift
        if row.split == DROPPED:
            assert row.reason in ("all_n", "overlaps_test", "overlaps_validation")
        if row.reason.startswith("overlaps_"):
            other = table.iloc[row.overlaps_window]
            assert other.split == row.reason.removeprefix("overlaps_") and other.contig == row.contig
        if row.contig in held["test_contigs"] and row.reason != "all_n":
            assert row.split == "test"


def test_window_type_is_the_tilings():
    table = assign_splits([Window("c", 0, 2048, 0, 2048)], max_shift=5, all_n=lambda w: False)
    assert table.iloc[0][["split", "reason", "overlaps_window", "context_start"]].tolist() == ["train", "train", -1, -5]


def test_rule_settings_are_the_train_keys():
    from genotile.runtime.provenance import rule_settings
    from genotile.settings import PrepareTargetsSettings

    config = {"train": {**schema_defaults("train"), "tracks_sheet": "s.tsv"}, "tiling": schema_defaults("tiling")}
    split = rule_settings(config, "split_windows")
    assert set(split) == {"train"} and "tracks_sheet" not in split["train"]
    assert SplitWindowsSettings.from_config(split) == SplitWindowsSettings.from_config(config)
    assert rule_settings(config, "prepare_targets") == {"train": {"tracks_sheet": "s.tsv"}}
    assert PrepareTargetsSettings.from_config(config).tracks_sheet == "s.tsv"


def test_the_segment_checked_before_any_job_is_the_losses():
    from genotile.train.losses import SEGMENT_BP
    from genotile.train.steps import LOSS_SEGMENT_BP

    assert LOSS_SEGMENT_BP == SEGMENT_BP
