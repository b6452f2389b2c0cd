"""Splice-site usage targets from STAR junctions + raw coverage: the per-site estimate, the sheet rows, the store,
the per-window scatter (moved by the augmentation with the sequence) and the usage head in training."""

from __future__ import annotations

import dataclasses
import logging
import re

import jax
import numpy as np
import pandas as pd
import pytest
from helpers.train_data import DEMO_JUNCTIONS, write_bigwig, write_sheet, write_sj_out_tab

from genotile.model.checkpoints import load_checkpoint, synthetic_model
from genotile.model.predictor import reverse_complement_output
from genotile.outputs import SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES
from genotile.sequence.demo import write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.settings import PrepareTargetsSettings, SplitWindowsSettings, TrainModelSettings
from genotile.train.augment import SITE_POSITIONS, AugmentSettings, TargetSpec, augment, draw
from genotile.train.data_errors import TrainingDataError
from genotile.train.freezing import flat
from genotile.train.splice_targets import SiteUsage, window_usage_targets
from genotile.train.splice_usage import site_usage
from genotile.train.steps import prepare_targets, split_windows
from genotile.train.targets import TargetsStore
from genotile.train.tracks_sheet import read_tracks_sheet
from genotile.train.train_model import train_model, usage_channels
from genotile.train.windows_source import WindowsSource, store_targets

WINDOW, MARGIN, SLOTS = 8192, 64, 128
USAGE = SPLICE_SITE_USAGE.head


def test_usage_by_hand_on_both_strands():
    # + introns: A [100, 200) 10 reads, B [100, 300) 4 reads (skips the exon 200-249), C [250, 300) 6 reads;
    # - intron D [400, 500) 5 reads. Coverage: + strand = the position (199 has no data), - strand 2 everywhere.
    junctions = pd.DataFrame({"contig": "c", "start": [100, 100, 250, 400], "end": [200, 300, 300, 500],
                              "strand": ["+", "+", "+", "-"], "unique_reads": [10, 4, 6, 5]})
    coverage = {"+": np.arange(1000, dtype=float), "-": np.full(1000, 2.0)}
    coverage["+"][199] = np.nan
    asked = []
    table = site_usage(junctions, lambda contig, strand, p: asked.append((strand, p.tolist())) or coverage[strand][p])
    got = {(r.position, r.class_index): (r.alpha, r.beta1, r.beta2, r.no_coverage) for r in table.itertuples()}
    assert got == {
        (99, 0): (14, 100, 0, False),    # donor+ of A and B; neighbour 100; no + intron contains 99
        (200, 1): (10, 0, 4, True),      # acceptor+ of A; neighbour 199 has no data (0); B skips it
        (249, 0): (6, 250, 4, False),    # donor+ of C; neighbour 250; B skips it
        (300, 1): (10, 299, 0, False),   # acceptor+ of B and C; neighbour 299
        (399, 3): (5, 2, 0, False),      # acceptor- of D (intron start - 1); neighbour 400
        (500, 2): (5, 2, 0, False),      # donor- of D (intron end); neighbour 499
    }
    np.testing.assert_allclose(table["usage"], [14 / 114, 10 / 14, 6 / 260, 10 / 309, 5 / 7, 5 / 7])
    assert sorted(asked) == [("+", [100, 199, 250, 299]), ("-", [400, 499])]


def _frame(rows):
    return pd.DataFrame(rows, columns=["contig", "position", "class_index", "sample", "usage"])


def test_window_scatter_and_its_reverse_complement():
    rows = [("c", 10, 0, 0, 0.5), ("c", 30, 1, 1, 0.25), ("c", 40, 2, 0, 0.75), ("c", 41, 3, 1, 1.0),
            ("c", 10, 1, 0, 0.9), ("c", 500, 0, 0, 1.0), ("d", 5, 0, 0, 1.0)]
    usage = SiteUsage.from_frame(_frame(rows), samples=2)
    out = window_usage_targets(usage, "c", 0, 100)
    assert out.shape == (100, 4) and out.dtype == np.float32
    assert {tuple(x): out[tuple(x)] for x in np.argwhere(out)} == {
        (10, 0): 0.9, (30, 1): 0.25, (40, 2): 0.75, (41, 3): 1.0}  # a 1-bp exon's two + sites: the larger
    assert not window_usage_targets(usage, "e", 0, 100).any()
    np.testing.assert_array_equal(window_usage_targets(usage, "c", 20, 45), out[20:45])
    # the targets of the reversed contig (positions mirrored, strands swapped) are the augmentation's map of these
    length = 100
    mirrored = [(c, length - 1 - p, (k + 2) % 4, s, u) for c, p, k, s, u in rows if c == "c" and p < length]
    table = TargetSpec(USAGE).reindex_table(4, 2)
    assert table[0].tolist() == [2, 3, 0, 1]
    flipped = reverse_complement_output(USAGE, "predictions", out[None], table[0], length)[0]
    np.testing.assert_array_equal(window_usage_targets(SiteUsage.from_frame(_frame(mirrored), 2), "c", 0, length),
                                  flipped)
    np.testing.assert_array_equal(reverse_complement_output(USAGE, "predictions", flipped[None], table[0], length)[0], out)


def test_usage_channels_are_the_samples_on_both_strands():
    cfg = synthetic_model("tiny", 0).config
    assert usage_channels(cfg, [0, 2]).tolist() == [0, 2, 367, 369]
    with pytest.raises(TrainingDataError, match="at most 367 splice_junctions rows"):
        usage_channels(cfg, [367])


def _sheet_rows(folder, files):
    return [["liver", "splice_junctions", ".", str(files["liver_sj"]), "liver", "RNA-seq", ""],
            ["brain", "splice_junctions", ".", str(files["brain_sj"]), "brain", "RNA-seq", ""],
            ["liver", "splice_site_usage", ".", str(files["liver_cov"]), "liver", "RNA-seq", ""],
            ["brain", "splice_site_usage", "+", str(files["brain_plus"]), "brain", "RNA-seq", ""],
            ["brain", "splice_site_usage", "-", str(files["brain_minus"]), "brain", "RNA-seq", ""]]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The demo genome, two splice samples with coverage (liver unstranded: 2 reads per base; brain + 2, - 5)."""
    folder = tmp_path_factory.mktemp("usage")
    fasta = write_demo_genome(folder / "demo.fa")
    contigs = Genome(fasta).contigs
    constant = lambda value: {c: np.full(n, value, float) for c, n in contigs.items() if c != "demo2"}
    files = {"liver_sj": write_sj_out_tab(folder / "a.SJ.out.tab"),
             "brain_sj": write_sj_out_tab(folder / "b.SJ.out.tab",
                                          [r[:6] + (r[6] * 2,) + r[7:] for r in DEMO_JUNCTIONS[:4]]),
             "liver_cov": write_bigwig(folder / "liver.bw", contigs, constant(2)),
             "brain_plus": write_bigwig(folder / "brain_plus.bw", contigs, constant(2)),
             "brain_minus": write_bigwig(folder / "brain_minus.bw", contigs, constant(5))}
    sheet = write_sheet(folder / "sheet.tsv", _sheet_rows(folder, files))
    config = {"train": {"tracks_sheet": str(sheet), "window_bp": WINDOW, "stride_bp": WINDOW, "contigs": [],
                        "contig_regex": None, "regions_bed": None, "validation_contigs": ["demo3"], "test_contigs": [],
                        "validation_bed": None, "test_bed": None, "max_shift": MARGIN}}
    split_windows(SplitWindowsSettings.from_config(config), fasta, folder / "windows.tsv")
    result = prepare_targets(PrepareTargetsSettings.from_config(config), fasta, folder / "windows.tsv",
                             folder / "targets.zarr", folder / "qc.tsv", folder / "tracks.tsv")
    return folder, fasta, files, result


def test_prepare_targets_stores_each_samples_site_usage(prepared):
    folder, _, _, result = prepared
    store = TargetsStore(folder / "targets.zarr")
    samples = store.usage_samples()
    assert samples[["name", "channel", "usage_channel", "strand"]].values.tolist() == [
        ["liver", 0, 0, "."], ["brain", 1, 1, "+,-"]]
    assert result.tracks.empty  # usage rows train an existing head: no new track
    usage = store.site_usage()
    assert usage.channels == 4
    out = window_usage_targets(usage, "demo1", 0, WINDOW)
    # demo1 + introns [3400, 6000) (liver 30 reads, brain 60) and [3400, 9500) (8, 16): donor 3399 (neighbour 3400),
    # acceptor 6000 (neighbour 5999, skipped by the longer intron); - intron [30900, 36000): in another window
    assert out[3399].tolist() == pytest.approx([38 / 40, 76 / 78, 0, 0])
    assert out[6000].tolist() == pytest.approx([30 / 40, 60 / 78, 0, 0])
    minus = window_usage_targets(usage, "demo1", 4 * WINDOW, 5 * WINDOW)
    assert minus[36000 - 4 * WINDOW].tolist() == pytest.approx([0, 0, 12 / 14, 24 / 29])  # donor-: neighbour 35999
    assert (out > 0).sum() == 2 * 3  # 3399, 6000, 6299 (acceptor 9,500 is in the next window), each sample
    qc = result.qc[result.qc["output_type"] == "splice_site_usage"].set_index("name")
    assert qc.loc["brain", "strand"] == "+,-" and qc.loc["liver", "nan_fraction"] == 0
    assert 0 < qc.loc["liver", "nonzero_mean"] < 1 and qc.loc["liver", "bases"] > 0


def test_sheet_checks_the_usage_rows(prepared, tmp_path):
    folder, _, files, _ = prepared
    rows = _sheet_rows(folder, files)
    cases = [
        ([rows[0], rows[1], ["heart", *rows[2][1:]]],
         r"line 4: splice_site_usage track 'heart' has no splice_junctions row of that name .*add its SJ.out.tab"),
        (rows[:4], r"line 5: track 'brain' \(splice_site_usage\) has a \+ strand file but no - strand partner"),
        ([*rows[:2], rows[2][:-1] + ["3"]], r"line 4 .*splice_site_usage row .* leave nonzero_mean empty"),
    ]
    for sheet_rows, expected in cases:
        sheet = write_sheet(tmp_path / "sheet.tsv", sheet_rows)
        with pytest.raises(TrainingDataError, match=expected) as info:
            read_tracks_sheet(sheet)
        assert str(sheet) in str(info.value)
    ordered = read_tracks_sheet(write_sheet(tmp_path / "sheet.tsv", [rows[2], rows[0]]))
    assert list(ordered["output_type"]) == ["splice_junctions", "splice_site_usage"]


@pytest.mark.parametrize(("kind", "expected"), [
    ("build", r"liver_bad.bw: contig demo1 is 65,000 bp in the bigWig but 65,536 bp .*another genome build"),
    ("names", r"liver_bad.bw: has no contig demo1 but has chrdemo1 .*name contigs differently"),
    ("negative", r"line 4, .*liver_bad.bw \(splice_site_usage track 'liver', strand \.\): has negative values "
                 r"\(down to -1\).*--outWigNorm None"),
    ("empty", r"line\(s\) 4, .*liver_bad.bw \(splice_site_usage track 'liver'\): no coverage at the intronic "
              r"neighbour of any"),
])
def test_bad_coverage_stops_naming_file_row_and_fix(prepared, tmp_path, kind, expected):
    folder, fasta, files, _ = prepared
    contigs = Genome(fasta).contigs
    values = {c: np.full(n, 2.0) for c, n in contigs.items()}
    chroms = dict(contigs)
    if kind == "build":
        chroms["demo1"] = 65_000
        values["demo1"] = values["demo1"][:65_000]
    elif kind == "names":
        chroms = {f"chr{c}": n for c, n in contigs.items()}
        values = {f"chr{c}": v for c, v in values.items()}
    elif kind == "negative":
        values["demo2"][5] = -1
    else:
        values = {c: np.full(n, np.nan) for c, n in contigs.items()}
        values["demo2"][:] = 1
    bad = write_bigwig(tmp_path / "liver_bad.bw", chroms, values)
    rows = _sheet_rows(folder, {**files, "liver_cov": bad})[:3]
    sheet = write_sheet(tmp_path / "sheet.tsv", rows)
    with pytest.raises(TrainingDataError, match=expected) as info:
        prepare_targets(PrepareTargetsSettings(str(sheet)), fasta, folder / "windows.tsv", tmp_path / "t.zarr",
                        tmp_path / "qc.tsv", tmp_path / "tracks.tsv")
    assert str(bad) in str(info.value) and not (tmp_path / "t.zarr").exists()


def _one_window(folder):
    """The training window with whole junctions (demo1:0-8,192) and the validation windows."""
    windows = pd.read_csv(folder / "windows.tsv", sep="\t")
    first = (windows["split"] == "train") & (windows["contig"] == "demo1") & (windows["start"] == 0)
    windows = windows[first | (windows["split"] != "train")]
    windows.to_csv(folder / "windows_one.tsv", sep="\t", index=False)
    return folder / "windows_one.tsv"


def test_augmentation_moves_usage_with_the_site_classes(prepared):
    folder, fasta, _, _ = prepared
    windows = pd.read_csv(_one_window(folder), sep="\t")
    windows = windows[windows["split"] == "train"].reset_index(drop=True)
    source = WindowsSource(Genome(fasta), pd.concat([windows] * 2, ignore_index=True),
                           store_targets(TargetsStore(folder / "targets.zarr"), [], SLOTS), margin=MARGIN,
                           batch_size=2, seed=0, organism=0)
    batch = source.batch(0)
    assert batch["targets"][USAGE].shape == (2, WINDOW + 2 * MARGIN, 4)
    specs = {h: TargetSpec(h) for h in (SPLICE_SITES.head, SPLICE_JUNCTIONS.head, USAGE)}
    settings = AugmentSettings(max_shift=MARGIN)
    seen = set()
    for seed in range(4):
        key = jax.random.key(seed)
        out = jax.device_get(jax.jit(lambda b, k: augment(b, k, settings, specs))(batch, key))
        offsets, reverse = map(np.asarray, draw(key, 2, settings))
        for b in range(2):
            usage, classes = out["targets"][USAGE][b], out["targets"][SPLICE_SITES.head][b]
            # a + strand usage is at a + strand site of the moved frame, a - strand one at a - strand site
            assert classes[usage[:, :2].any(axis=1), :2].any(axis=1).all()
            assert classes[usage[:, 2:].any(axis=1), 2:4].any(axis=1).all()
            crop = batch["targets"][USAGE][b, offsets[b]: offsets[b] + WINDOW]
            want = crop[::-1][:, [2, 3, 0, 1]] if reverse[b] else crop
            np.testing.assert_array_equal(usage, want)
            seen.add(bool(reverse[b]))
        assert SITE_POSITIONS in out
    assert seen == {True, False}


def _settings(**changes):
    base = TrainModelSettings(mode="heads", steps=2, batch_size=1, learning_rate=1e-2, warmup_steps=0, weight_decay=0.0,
                              clip_norm=0.5, unfreeze_last_blocks=0, lora_rank=4, lora_alpha=8.0,
                              lora_targets=("q_layer", "v_layer"), dropout_rate=0.0, remat=False, accumulate=1,
                              validate_every=2, seed=0, shuffle_targets=False, gene_loss_weight=0.0, window_bp=WINDOW,
                              max_shift=MARGIN, organism="human", model=(("checkpoint", None), ("size", "tiny"), ("seed", 0)))
    return dataclasses.replace(base, **changes)


def test_heads_mode_trains_the_usage_head_and_evaluates_it(prepared, caplog):
    from genotile.model.config import get_precision
    from genotile.sequence.encoding import one_hot
    from genotile.train.evaluate_model import FINE_TUNED, UNTRAINED, _SpliceLosses

    folder, fasta, _, _ = prepared
    base, out = synthetic_model("tiny", 0), folder / "run"
    with caplog.at_level(logging.INFO, logger="genotile"):
        summary = train_model(_settings(), base, str(fasta), str(_one_window(folder)), str(folder / "targets.zarr"),
                              str(folder / "tracks.tsv"), str(out / "model"), str(out / "curve.tsv"),
                              str(out / "summary.json"), str(out / "checkpoints"))
    assert summary["splice_site_usage_channels"] == {"liver": [0, 367], "brain": [1, 368]}
    steps = [r.getMessage() for r in caplog.records if re.match(r"step \d/2", r.getMessage())]
    parts = dict(re.findall(r"(\w+) ([-+.\deE]+|nan|inf)[,)]", steps[-1]))
    assert np.isfinite(float(parts[USAGE])) and float(parts[USAGE]) > 0, steps
    tuned = load_checkpoint(out / "model")
    before, after = flat(base.variables["params"]), flat(tuned.variables["params"])
    changed = {p for p in before if not np.array_equal(np.asarray(before[p]), np.asarray(after[p]))}
    assert {p.split("/")[1] for p in changed} == {SPLICE_SITES.head, SPLICE_JUNCTIONS.head, USAGE}
    assert all(p.startswith("head/") for p in changed)  # the trunk is the base's
    kernel = next(p for p in changed if p.startswith(f"head/{USAGE}/"))
    moved = np.flatnonzero(np.abs(np.asarray(after[kernel]) - np.asarray(before[kernel])).reshape(
        -1, np.asarray(before[kernel]).shape[-1]).max(axis=0))
    assert set(moved.tolist()) == {0, 1, 367, 368}  # only the samples' usage channels (no weight decay here)
    # evaluate_model's splice losses include the usage head's, for both models
    windows = pd.read_csv(folder / "windows.tsv", sep="\t")
    held = windows[windows["split"] == "validation"].iloc[0]
    genome = Genome(fasta)
    losses = _SpliceLosses(TargetsStore(folder / "targets.zarr"), base, tuned, get_precision("float32"))(
        one_hot(genome.sequence(held["contig"], int(held["start"]), int(held["end"]))), 0, str(held["contig"]),
        int(held["start"]), int(held["end"]))
    assert {(USAGE, UNTRAINED), (USAGE, FINE_TUNED)} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())
