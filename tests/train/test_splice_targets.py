"""Splice targets from STAR SJ.out.tab: per-window site classes, site slots and junction counts; stored by
prepare_targets; moved by the augmentation with the sequence; trained in the splice heads."""

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
from genotile.model.config import new_head_scope
from genotile.outputs import SPLICE_JUNCTIONS, SPLICE_SITES
from genotile.sequence.demo import write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.settings import PrepareTargetsSettings, SplitWindowsSettings, TrainModelSettings
from genotile.train.augment import SITE_POSITIONS, AugmentSettings, TargetSpec, augment, draw
from genotile.train.data_errors import TrainingDataError
from genotile.train.demo_targets import motif_signal
from genotile.train.freezing import flat
from genotile.train.splice_targets import NONE_CLASS, SpliceJunctions, window_splice_targets
from genotile.train.steps import prepare_targets, split_windows
from genotile.train.targets import TargetsStore
from genotile.train.train_model import junction_channels, train_model
from genotile.train.windows_source import WindowsSource, store_targets

WINDOW, MARGIN, SLOTS = 8192, 64, 128


def _junctions(rows, channels=1):
    frame = pd.DataFrame(rows, columns=["contig", "start", "end", "strand", "channel", "unique_reads"])
    return SpliceJunctions.from_frame(frame, channels)


def test_window_targets_are_in_the_models_convention():
    # + intron [100, 200): donor 99, acceptor 200; - intron [300, 500): donor 500, acceptor 299; sample 1 shares one
    junctions = _junctions([("c", 100, 200, "+", 0, 5), ("c", 300, 500, "-", 0, 7), ("c", 100, 200, "+", 1, 2),
                            ("c", 900, 5000, "+", 0, 4), ("c", 10, 20, "+", 1, 0)], channels=2)
    classes, positions, counts = window_splice_targets(junctions, "c", 50, 1050, slots=4)
    assert classes.shape == (1000, 5) and positions.shape == (4, 4) and counts.shape == (4, 4, 4)
    sites = {tuple(x) for x in np.argwhere(classes[:, :NONE_CLASS])}
    # window frame: position - 50; the junction to 5000 has its donor (899) inside, its acceptor outside
    assert sites == {(49, 0), (150, 1), (450, 2), (249, 3), (849, 0)}
    assert classes[:, NONE_CLASS].sum() == 1000 - 5 and classes.sum(axis=1).min() == 1
    assert positions.tolist() == [[49, -1, -1, -1], [150, -1, -1, -1], [450, -1, -1, -1], [249, -1, -1, -1]]
    assert counts[0, 0].tolist() == [5, 2, 7, 0] and counts.sum() == 14  # + channels 0, 1; - channels 2, 3
    empty = window_splice_targets(junctions, "other", 0, 100, slots=4)
    assert empty[0][:, NONE_CLASS].all() and (empty[1] == -1).all() and not empty[2].any()


def test_slots_keep_the_best_supported_sites():
    rows = [("c", 100 + 10 * i, 1000, "+", 0, reads) for i, reads in enumerate((1, 9, 3, 7))]
    classes, positions, counts = window_splice_targets(_junctions(rows), "c", 0, 2000, slots=2)
    assert positions[0].tolist() == [109, 129]  # donors of the 9 and 7 read junctions, ascending
    assert positions[1].tolist() == [1000, -1]
    assert counts[:, :, 0].tolist() == [[9, 0], [7, 0]]
    assert classes[[99, 109, 119, 129], 0].all()  # every site is still a class target


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The demo genome with two splice samples and one bigWig track; demo3 held out for validation."""
    folder = tmp_path_factory.mktemp("splice")
    fasta = write_demo_genome(folder / "demo.fa")
    genome = Genome(fasta)
    sj = [write_sj_out_tab(folder / "a.SJ.out.tab"),
          write_sj_out_tab(folder / "b.SJ.out.tab", [r[:6] + (r[6] * 2,) + r[7:] for r in DEMO_JUNCTIONS[:4]])]
    bigwig = write_bigwig(folder / "signal.bw", genome.contigs,
                          {c: motif_signal(genome.sequence(c, 0, n)) for c, n in genome.contigs.items()})
    sheet = write_sheet(folder / "sheet.tsv", [
        ["liver", "splice_junctions", ".", str(sj[0]), "liver", "RNA-seq", ""],
        ["motif", "dnase", ".", str(bigwig), "synthetic", "motifs", ""],
        ["brain", "splice_junctions", ".", str(sj[1]), "brain", "RNA-seq", ""]])
    config = {"train": {"tracks_sheet": str(sheet), "window_bp": WINDOW, "stride_bp": WINDOW, "contigs": [],
                        "contig_regex": None, "regions_bed": None, "validation_contigs": ["demo3"], "test_contigs": [],
                        "validation_bed": None, "test_bed": None, "max_shift": MARGIN}}
    split_windows(SplitWindowsSettings.from_config(config), fasta, folder / "windows.tsv")
    result = prepare_targets(PrepareTargetsSettings.from_config(config), fasta, folder / "windows.tsv",
                             folder / "targets.zarr", folder / "qc.tsv", folder / "tracks.tsv")
    return folder, fasta, config, result


def test_prepare_targets_stores_the_samples(prepared):
    folder, _, _, result = prepared
    store = TargetsStore(folder / "targets.zarr")
    samples = store.splice_samples()
    assert samples[["name", "channel"]].values.tolist() == [["liver", 0], ["brain", 1]]
    assert list(result.tracks["output_type"]) == ["dnase"]  # tracks.tsv: the bigWig tracks (the new heads)
    qc = result.qc.set_index("name")
    assert qc.loc["liver", "output_type"] == "splice_junctions" and qc.loc["brain", "sum"] == 2 * 30  # the others cross a window edge
    junctions = store.splice_junctions()
    assert junctions.channels == 2 and set(junctions.contigs) == {"demo1", "demo3"}  # demo2: unstranded only
    assert len(junctions.contigs["demo1"]["reads"]) == 6 + 4


def _bad(folder, name, rows):
    return write_sj_out_tab(folder / name, rows)


@pytest.mark.parametrize(("rows", "expected"), [
    ([("demo1", 3401, 6000, 1, 1, 1, 30, 2, 40), ("chrdemo2", 1001, 2000, 1, 1, 1, 3, 0, 10)],
     r"line 2: contig chrdemo2 is not in the FASTA .*name contigs differently: align to the FASTA"),
    ([("chr1", 3401, 6000, 1, 1, 1, 30, 2, 40)], r"line 1: contig chr1 is not in the FASTA"),
    ([("demo1", 3401, 6000, 1, 1, 1, 30, 2, 40), ("demo2", 11001, 12500, 1, 1, 1, 3, 0, 10)],
     r"line 2: junction demo2:11001-12500 does not fit contig demo2 of 12,000 bp .*another genome build; align"),
    ([("demo1", 3401, 6000, 1, 1, 1, 30, 2, 40), ("demo1", 3401, 6000, 1)],
     r"line 2: not STAR's SJ.out.tab format .*give the SJ.out.tab STAR wrote"),
    ([("demo1", 3401, 6000, 1, 1, 1, 30, 2, 40), ("demo1", 3401, 6000, 1, 1, 1, 30, 2, 40, 7)],
     r"line 2: not STAR.s SJ.out.tab format .*give the SJ.out.tab STAR wrote"),
    ([("demo1", 3401, 6000, 1, 1, 1, 30, 2, 40), ("demo1", 3401, 6000, 3, 1, 1, 30, 2, 40)],
     r"line 2: strand must be 0/1/2"),
])
def test_bad_sj_out_tab_stops_naming_file_line_and_fix(prepared, tmp_path, rows, expected):
    folder, fasta, config, _ = prepared
    table = _bad(tmp_path, "bad.SJ.out.tab", rows)
    sheet = write_sheet(tmp_path / "sheet.tsv", [["s", "splice_junctions", ".", str(table), "x", "RNA-seq", ""]])
    settings = PrepareTargetsSettings(str(sheet))
    with pytest.raises(TrainingDataError, match=expected) as info:
        prepare_targets(settings, fasta, folder / "windows.tsv", tmp_path / "t.zarr", tmp_path / "qc.tsv",
                        tmp_path / "tracks.tsv")
    assert str(table) in str(info.value)
    assert not (tmp_path / "t.zarr").exists()


def test_a_sample_without_junctions_in_the_windows_stops(prepared, tmp_path):
    folder, fasta, _, _ = prepared
    table = _bad(tmp_path, "far.SJ.out.tab", [("demo2", 1001, 2000, 0, 0, 0, 3, 0, 10)])  # unstranded only
    sheet = write_sheet(tmp_path / "sheet.tsv", [["s", "splice_junctions", ".", str(table), "x", "RNA-seq", ""]])
    with pytest.raises(TrainingDataError, match=r"line 2, .*far.SJ.out.tab: no stranded junction .* drop its row"):
        prepare_targets(PrepareTargetsSettings(str(sheet)), fasta, folder / "windows.tsv", tmp_path / "t.zarr",
                        tmp_path / "qc.tsv", tmp_path / "tracks.tsv")


def _source(prepared, margin=MARGIN):
    folder, fasta, _, _ = prepared
    windows = pd.read_csv(folder / "windows.tsv", sep="\t")
    windows = windows[windows["split"] == "train"].reset_index(drop=True)
    store = TargetsStore(folder / "targets.zarr")
    return WindowsSource(Genome(fasta), windows, store_targets(store, ["dnase"], SLOTS), margin=margin,
                         batch_size=len(windows), seed=0, organism=0)


def test_augmentation_moves_the_site_slots_with_the_sequence(prepared):
    batch = _source(prepared).batch(0)
    rows = batch["dna"].shape[0]
    assert batch[SITE_POSITIONS].shape == (rows, 4, SLOTS) and batch["targets"][SPLICE_JUNCTIONS.head].shape == (
        rows, SLOTS, SLOTS, 4)
    specs = {"dnase": TargetSpec("dnase"), SPLICE_SITES.head: TargetSpec(SPLICE_SITES.head),
             SPLICE_JUNCTIONS.head: TargetSpec(SPLICE_JUNCTIONS.head)}
    settings = AugmentSettings(max_shift=MARGIN)
    strands, slots_seen = set(), 0
    for seed in range(3):
        key = jax.random.key(seed)
        out = jax.device_get(jax.jit(lambda b, k: augment(b, k, settings, specs))(batch, key))
        offsets, reverse = map(np.asarray, draw(key, rows, settings))
        assert out[SITE_POSITIONS].shape == (rows, 4, SLOTS)
        for b in range(rows):
            positions, classes = out[SITE_POSITIONS][b], out["targets"][SPLICE_SITES.head][b]
            for row in range(4):  # every slot is a site of its row's class in the moved frame
                valid = positions[row][positions[row] >= 0]
                assert classes[valid, row].all()
                slots_seen += len(valid)
                before = batch[SITE_POSITIONS][b, (2, 3, 0, 1)[row] if reverse[b] else row]
                assert len(valid) == int(((before >= offsets[b]) & (before < offsets[b] + WINDOW)).sum())
            counts = batch["targets"][SPLICE_JUNCTIONS.head][b]
            want = counts[..., [2, 3, 0, 1]] if reverse[b] else counts  # the strand halves swap
            np.testing.assert_array_equal(out["targets"][SPLICE_JUNCTIONS.head][b], want)
        strands |= set(reverse.tolist())
    assert strands == {True, False} and slots_seen, "the seeds should draw both strands, the windows hold junctions"


def test_the_junction_head_runs_on_the_targets_sites():
    """target_sites_apply: the junction predictions are on the batch's slots, not on the classification's picks."""
    from genotile.model.alphagenome import AlphaGenome, OutputRequest
    from genotile.model.config import get_precision
    from genotile.train.trainer import target_sites_apply

    model = synthetic_model("tiny", 0)
    module = AlphaGenome(model.config, get_precision("float32"))
    positions = np.full((1, 4, SLOTS), -1, np.int32)
    positions[0, :, :2] = [[10, 700], [400, 1500], [900, 2000], [5, 333]]
    batch = {"dna": np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (1, 2048))],
             "organism": np.zeros(1, np.int32), SITE_POSITIONS: positions}
    request = OutputRequest(heads=(SPLICE_SITES.head, SPLICE_JUNCTIONS.head), resolutions=(1,))
    out, _ = jax.jit(target_sites_apply(module, request, {}, None))(model.variables, batch, None)
    junctions = out[SPLICE_JUNCTIONS.head]
    np.testing.assert_array_equal(np.asarray(junctions["splice_site_positions"]), positions)
    mask = np.asarray(junctions["splice_junction_mask"])
    assert mask.shape == (1, SLOTS, SLOTS, 734) and mask[0, :2, :2].all() and not mask[0, 2:].any()
    assert set(out) == {SPLICE_SITES.head, SPLICE_JUNCTIONS.head}  # the embeddings it used are not returned


def _settings(**changes):
    base = TrainModelSettings(mode="heads", steps=1, batch_size=1, learning_rate=1e-2, warmup_steps=0, weight_decay=0.0,
                              clip_norm=0.5, unfreeze_last_blocks=0, lora_rank=4, lora_alpha=8.0,
                              lora_targets=("q_layer", "v_layer"), dropout_rate=0.0, remat=False, accumulate=1,
                              validate_every=1, seed=0, shuffle_targets=False, gene_loss_weight=0.0, window_bp=WINDOW, max_shift=MARGIN,
                              organism="human", model=(("checkpoint", None), ("size", "tiny"), ("seed", 0)))
    return dataclasses.replace(base, **changes)


def test_one_step_trains_the_splice_heads_and_nothing_else(prepared, caplog):
    folder, fasta, _, _ = prepared
    base = synthetic_model("tiny", 0)
    out = folder / "run"
    windows = pd.read_csv(folder / "windows.tsv", sep="\t")
    first = (windows["split"] == "train") & (windows["contig"] == "demo1") & (windows["start"] == 0)
    windows = windows[first | (windows["split"] != "train")]  # the training window with whole junctions (3.4-6 kb)
    windows.to_csv(out.with_name("windows_one.tsv"), sep="\t", index=False)
    with caplog.at_level(logging.INFO, logger="genotile.train.trainer"):
        summary = train_model(_settings(), base, str(fasta), str(out.with_name("windows_one.tsv")),
                              str(folder / "targets.zarr"),
                              str(folder / "tracks.tsv"), str(out / "model"), str(out / "curve.tsv"),
                              str(out / "summary.json"), str(out / "checkpoints"))
    assert summary["splice_samples"] == 2 and summary["new_tracks"] == 1
    assert summary["splice_junction_channels"] == {"liver": 0, "brain": 1}
    step = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("step 1/1"))
    parts = dict(re.findall(r"(\w+) ([-+.\deE]+|nan|inf)[,)]", step))
    for head in ("dnase", SPLICE_SITES.head, SPLICE_JUNCTIONS.head):
        assert np.isfinite(float(parts[head])) and float(parts[head]) > 0, step
    curve = pd.read_csv(out / "curve.tsv", sep="\t")
    assert np.isfinite(curve["loss"]).all() and set(curve["split"]) == {"train", "validation"}

    before, after = flat(base.variables["params"]), flat(load_checkpoint(out / "model").variables["params"])
    changed = {p for p in before if not np.array_equal(np.asarray(before[p]), np.asarray(after[p]))}
    scopes = {p.split("/")[1] for p in changed if p.startswith("head/")}
    assert scopes == {SPLICE_SITES.head, SPLICE_JUNCTIONS.head}  # dnase_new is new: not in the base
    assert all(p.startswith("head/") for p in changed)  # the trunk and the other heads are the base's
    new = [p for p in after if p.startswith(f"head/{new_head_scope('dnase')}/")]
    assert new  # the new bigWig head trained beside them (its values are checked in test_train_model)


def test_junction_channels_are_the_samples_on_both_strands():
    cfg = synthetic_model("tiny", 0).config
    assert junction_channels(cfg, 2).tolist() == [0, 1, 367, 368]
    with pytest.raises(TrainingDataError, match="at most 367 splice_junctions rows"):
        junction_channels(cfg, 368)


@pytest.mark.slow
def test_splice_samples_alone_train_and_evaluate(prepared, tmp_path):
    """A sheet of SJ.out.tab rows only: no head is added, the splice heads train, evaluate_model reports their losses."""
    from genotile.model.predictor import Predictor
    from genotile.report.training_plot import plot_observed_vs_predicted
    from genotile.settings import EvaluateModelSettings
    from genotile.train.evaluate_model import evaluate_model

    folder, fasta, config, _ = prepared
    sheet = write_sheet(tmp_path / "sheet.tsv", [["liver", "splice_junctions", ".", str(folder / "a.SJ.out.tab"),
                                                 "liver", "RNA-seq", ""]])
    windows = pd.read_csv(folder / "windows.tsv", sep="\t")
    keep = (windows["split"] != "train") | ((windows["contig"] == "demo1") & (windows["start"] == 0))
    windows[keep].to_csv(tmp_path / "windows.tsv", sep="\t", index=False)
    prepare_targets(PrepareTargetsSettings(str(sheet)), fasta, tmp_path / "windows.tsv", tmp_path / "targets.zarr",
                    tmp_path / "qc.tsv", tmp_path / "tracks.tsv")
    assert pd.read_csv(tmp_path / "tracks.tsv", sep="\t").empty
    base = synthetic_model("tiny", 0)
    summary = train_model(_settings(steps=2, validate_every=2), base, str(fasta), str(tmp_path / "windows.tsv"),
                          str(tmp_path / "targets.zarr"), str(tmp_path / "tracks.tsv"), str(tmp_path / "model"),
                          str(tmp_path / "curve.tsv"), str(tmp_path / "summary.json"), str(tmp_path / "checkpoints"))
    assert summary["new_tracks"] == 0 and summary["splice_samples"] == 1
    settings = EvaluateModelSettings(split="validation", original_tracks=2, seed=0, window_bp=WINDOW, organism="human",
                                     model=(("checkpoint", None), ("size", "tiny"), ("seed", 0)))
    table = evaluate_model(settings, Predictor(base, precision="float32"), load_checkpoint(tmp_path / "model"),
                           str(fasta), str(tmp_path / "windows.tsv"), str(tmp_path / "targets.zarr"),
                           str(tmp_path / "tracks.tsv"), str(tmp_path / "e.parquet"), str(tmp_path / "e_losses.tsv"),
                           str(tmp_path / "e_region.tsv"))
    assert set(table["kind"]) == {"original"}  # no new track; the original genome tracks are checked for drift
    np.testing.assert_array_equal(table["pearson"], 1.0)  # heads mode: only the splice heads trained
    losses = pd.read_csv(tmp_path / "e_losses.tsv", sep="\t")
    assert set(losses["head"]) == {SPLICE_SITES.head, SPLICE_JUNCTIONS.head}
    assert set(losses["model"]) == {"untrained", "fine-tuned"} and np.isfinite(losses["loss"]).all()
    junction = losses[losses["head"] == SPLICE_JUNCTIONS.head].set_index("model")["loss"]
    assert junction["untrained"] > 0  # demo3's validation window holds a whole junction
    assert plot_observed_vs_predicted(pd.read_csv(tmp_path / "e_region.tsv", sep="\t")) is not None


def test_junction_counts_without_their_slots_stop_with_the_fix():
    from genotile.train.augment import AugmentError, check_batch

    batch = {"dna": np.zeros((1, 2048 + 2 * MARGIN, 4), np.float32), "organism": np.zeros(1, np.int32),
             "targets": {SPLICE_JUNCTIONS.head: np.zeros((1, 8, 8, 2), np.float32)}}
    specs = {SPLICE_JUNCTIONS.head: TargetSpec(SPLICE_JUNCTIONS.head)}
    with pytest.raises(AugmentError, match=r"need their site slots batch\['splice_site_positions'\] \[batch, 4, K\]"):
        check_batch(batch, AugmentSettings(max_shift=MARGIN), specs)
    check_batch({**batch, SITE_POSITIONS: np.full((1, 4, 8), -1, np.int32)}, AugmentSettings(max_shift=MARGIN), specs)
