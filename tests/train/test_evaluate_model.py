"""evaluate_model: held-out Pearson of the new tracks before and after training, N bases left out, no regression."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from genotile.model.checkpoints import load_checkpoint, synthetic_model
from genotile.model.predictor import Predictor
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.settings import EvaluateModelSettings, PrepareTargetsSettings, SplitWindowsSettings, TrainModelSettings
from genotile.train.data_errors import TrainingDataError
from genotile.train.demo_targets import motif_signal
from genotile.train.evaluate_model import evaluate_model
from genotile.train.steps import prepare_targets, split_windows
from genotile.train.train_model import train_model
from tests.helpers.train_data import random_sequence, write_bigwig, write_fasta, write_sheet

WINDOW = 4096
BASE = (("checkpoint", None), ("size", "tiny"), ("seed", 0))
N_SPAN = (1024, 1324)  # in c2's first window: 300 N bases in three 128-bp bins


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two contigs with the demo's motif track, c2 (with an N block) held out; a 4-step heads-mode fine-tune."""
    folder = tmp_path_factory.mktemp("evaluate_model")
    sequences = {"c1": random_sequence(4 * WINDOW, 1), "c2": random_sequence(3 * WINDOW, 2, [N_SPAN])}
    fasta = write_fasta(folder / "genome.fa", sequences)
    signal = {k: motif_signal(v) for k, v in sequences.items()}
    bigwig = write_bigwig(folder / "signal.bw", {k: len(v) for k, v in sequences.items()}, signal)
    sheet = write_sheet(folder / "sheet.tsv", [["motif", "dnase", ".", str(bigwig), "synthetic", "motifs"]])
    config = {"train": {"tracks_sheet": str(sheet), "window_bp": WINDOW, "stride_bp": WINDOW, "contigs": [],
                        "contig_regex": None, "regions_bed": None, "validation_contigs": ["c2"], "test_contigs": [],
                        "validation_bed": None, "test_bed": None, "max_shift": 64}}
    split_windows(SplitWindowsSettings.from_config(config), fasta, folder / "windows.tsv")
    prepare_targets(PrepareTargetsSettings.from_config(config), fasta, folder / "windows.tsv", folder / "targets.zarr",
                    folder / "qc.tsv", folder / "tracks.tsv")
    settings = TrainModelSettings(mode="heads", steps=4, batch_size=1, learning_rate=1e-2, warmup_steps=0,
                                  weight_decay=0.0, clip_norm=None, unfreeze_last_blocks=0, lora_rank=4,
                                  lora_alpha=8.0, lora_targets=("q_layer", "v_layer"), dropout_rate=0.0, remat=False,
                                  accumulate=1, validate_every=2, seed=3, shuffle_targets=False, gene_loss_weight=0.0,
                                  window_bp=WINDOW, max_shift=64, organism="human", model=BASE)
    train_model(settings, synthetic_model("tiny", 0), str(fasta), str(folder / "windows.tsv"),
                str(folder / "targets.zarr"), str(folder / "tracks.tsv"), str(folder / "model"),
                str(folder / "curve.tsv"), str(folder / "summary.json"), str(folder / "checkpoints"), checkpoint_every=4)
    return folder, fasta


def _settings(**changes) -> EvaluateModelSettings:
    base = EvaluateModelSettings(split="validation", original_tracks=3, seed=3, window_bp=WINDOW, organism="human",
                                 model=BASE)
    return dataclasses.replace(base, **changes)


def _evaluate(folder, fasta, name="eval", **changes) -> pd.DataFrame:
    base = Predictor(synthetic_model("tiny", 0), precision="float32")
    return evaluate_model(_settings(**changes), base, load_checkpoint(folder / "model"), str(fasta),
                          str(folder / "windows.tsv"), str(folder / "targets.zarr"), str(folder / "tracks.tsv"),
                          str(folder / f"{name}.parquet"), str(folder / f"{name}_losses.tsv"),
                          str(folder / f"{name}_region.tsv"))


@pytest.fixture(scope="module")
def evaluated(trained):
    folder, fasta = trained
    return _evaluate(folder, fasta), folder, fasta


def test_every_new_track_scored_for_both_models_at_both_resolutions(evaluated):
    table, folder, _ = evaluated
    assert table.equals(pd.read_parquet(folder / "eval.parquet"))
    new = table[table["kind"] == "new"]
    assert set(new["model"]) == {"untrained", "fine-tuned"} and set(new["compared_with"]) == {"observed"}
    assert sorted(set(zip(new["resolution_bp"], new["scale"]))) == [(1, "linear"), (1, "log1p"), (128, "linear"),
                                                                    (128, "log1p")]
    assert set(new["track"]) == {"motif"} and np.isfinite(new["pearson"]).all()


def test_original_tracks_unmoved_by_a_heads_fine_tune(evaluated):
    table, _, _ = evaluated
    original = table[table["kind"] == "original"]
    from genotile.model.config import GENOME_TRACK_RESOLUTIONS

    assert set(original["head"]) == set(GENOME_TRACK_RESOLUTIONS)  # every head, not only the one with new tracks
    assert original.query("head == 'dnase'")["channel"].nunique() == 3 and set(original["model"]) == {"fine-tuned"}
    assert set(original["compared_with"]) == {"base model"}
    np.testing.assert_array_equal(original["pearson"], 1.0)  # heads mode: the original heads are frozen


def test_pearson_equals_a_direct_computation_without_n_bases(evaluated):
    """The streamed value equals np.corrcoef over the split's windows of a direct prediction, N bins left out."""
    table, folder, fasta = evaluated
    model = Predictor(load_checkpoint(folder / "model"), precision="float32")
    channel = model.config.base_tracks("dnase")
    windows = pd.read_csv(folder / "windows.tsv", sep="\t").query("split == 'validation'")
    genome, sequence = Genome(fasta), {}
    observed, predicted, known = [], [], []
    signal = motif_signal(genome.sequence("c2", 0, genome.length("c2")))
    for _, w in windows.iterrows():
        dna = one_hot(genome.sequence(w.contig, w.start, w.end))
        sequence[w.start] = dna
        out = model.predict(dna[None], 0)["dnase/predictions_128bp"][0, :, channel]
        predicted.append(out)
        observed.append(signal[w.start : w.end].reshape(-1, 128).sum(1))
        known.append((dna.sum(-1) > 0).reshape(-1, 128).all(1))
    keep = np.concatenate(known)
    assert (~keep).sum() == 3  # the N block's bins
    expected = np.corrcoef(np.concatenate(observed)[keep], np.concatenate(predicted)[keep])[0, 1]
    row = table.query("kind == 'new' and model == 'fine-tuned' and resolution_bp == 128 and scale == 'linear'")
    assert row["pairs"].item() == keep.sum()
    np.testing.assert_allclose(row["pearson"].item(), expected, rtol=1e-5)
    one_bp = table.query("kind == 'new' and model == 'fine-tuned' and resolution_bp == 1 and scale == 'linear'")
    assert one_bp["pairs"].item() == len(windows) * WINDOW - (N_SPAN[1] - N_SPAN[0])


def test_losses_and_region_tables(evaluated):
    _, folder, _ = evaluated
    losses = pd.read_csv(folder / "eval_losses.tsv", sep="\t")
    assert set(losses["model"]) == {"untrained", "fine-tuned"} and (losses["head"] == "dnase").all()
    curve = pd.read_csv(folder / "curve.tsv", sep="\t").query("split == 'validation'")
    # the fine-tuned model's loss is the delivered (best) step's validation loss
    tuned = losses.query("model == 'fine-tuned'")["loss"].item()
    np.testing.assert_allclose(tuned, curve["loss"].min(), rtol=1e-4)
    untrained = losses.query("model == 'untrained'")["loss"].item()
    np.testing.assert_allclose(untrained, curve.query("step == 0")["loss"].item(), rtol=1e-4)
    region = pd.read_csv(folder / "eval_region.tsv", sep="\t")
    assert len(region) == WINDOW // 128 and (region["contig"] == "c2").all() and region["masked"].sum() == 3


def test_no_windows_in_the_split_stops_with_the_fix(trained):
    folder, fasta = trained
    with pytest.raises(TrainingDataError, match="no test windows.*train.test_contigs"):
        _evaluate(folder, fasta, name="none", split="test")


def test_overlapping_windows_count_each_base_once():
    from genotile.train.evaluate_model import _counted, _first_new_base

    assert _first_new_base(0, 4096, None) == 0
    assert _first_new_base(4096, 8192, 4096) == 0  # side by side
    assert _first_new_base(2048, 6144, 4096) == 2048  # half overlap: the second half is new
    assert _first_new_base(2000, 6096, 4096) == 2176  # off the 128-bp grid: rounded up to it
    assert _first_new_base(1024, 3072, 4096) == 2048  # wholly inside an earlier window: nothing new
    dna = np.eye(4, dtype=np.float32)[np.zeros(1024, int)]
    dna[700] = 0  # an N
    keep_1, keep_128 = _counted(dna, 1, 512), _counted(dna, 128, 512)
    assert keep_1.sum() == 511 and not keep_1[:512].any()
    assert keep_128.tolist() == [False] * 4 + [True, False, True, True]


def test_genotile_predict_loads_the_delivered_model_with_its_new_track(trained, tmp_path):
    """train_model's train/model is a checkpoint `genotile predict` loads unchanged: the new track is its last channel."""
    from genotile.cli.main import main

    folder, fasta = trained
    out = tmp_path / "p.npz"
    assert main(["predict", "--checkpoint", str(folder / "model"), "--fasta", str(fasta), "--region", "c2:1-4096",
                 "--outputs", "dnase", "--resolution", "128", "--precision", "float32", "--out", str(out)]) == 0
    saved = np.load(out)
    key = next(k for k in saved.files if k.endswith("predictions_128bp") and "scaled" not in k)
    model = load_checkpoint(folder / "model")
    direct = Predictor(model, precision="float32").predict(one_hot(Genome(fasta).sequence("c2", 0, 4096))[None], 0)
    assert saved[key].shape[-1] == model.config.tracks("dnase")
    np.testing.assert_array_equal(saved[key].reshape(direct["dnase/predictions_128bp"].shape),
                                  direct["dnase/predictions_128bp"])
