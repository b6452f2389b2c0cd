"""The RNA-seq gene-level loss in training (``train.gene_loss_weight``): per-window gene masks from the demo GTF,
their augmentation, and a training step whose loss gains the term."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from genotile.model.alphagenome import AlphaGenome
from genotile.model.checkpoints import synthetic_model
from genotile.model.config import get_precision
from genotile.model.new_tracks import add_new_tracks, new_track_target_reindexing, validate_new_tracks
from genotile.sequence.demo import DEMO_GENES, write_demo_annotation, write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.train.augment import AugmentError, AugmentSettings, TargetSpec, augment, check_batch, draw
from genotile.train.data_errors import TrainingDataError
from genotile.train.gene_masks import gene_masks_fn, max_genes, window_gene_mask
from genotile.train.losses import GENE_MASK_KEY, LossInputError
from genotile.train.train_model import _request, _track_means, new_tracks_loss
from genotile.train.trainer import Trainer, TrainSettings
from genotile.train.windows_source import WindowsSource
from genotile.variants.annotation import read_gtf

WINDOW, MARGIN = 4096, 64
#: A window on the + strand gene ALPHA1's first exons and one on the - strand gene BETA2's last exon (its TSS).
WINDOWS = pd.DataFrame({"contig": ["demo1", "demo1"], "start": [2048, 43008], "end": [2048 + WINDOW, 43008 + WINDOW]})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gene_masks")
    gtf, _ = write_demo_annotation(folder / "demo.gtf", folder / "demo_pas.tsv")
    return read_gtf(gtf), write_demo_genome(folder / "demo.fa"), gtf


def _exons(gene_index: int, start: int, length: int) -> np.ndarray:
    mask = np.zeros(length, bool)
    for transcript in DEMO_GENES[gene_index][5]:
        for lo, hi in transcript:
            mask[max(lo - start, 0):max(min(hi - start, length), 0)] = True
    return mask


def test_the_gene_masks_are_each_genes_exons_on_its_strand_row_padded(demo):
    annotation = demo[0]
    mask = window_gene_mask(annotation, "demo1", 0, 50_000, 3)
    assert mask.shape == (50_000, 2, 3) and mask.dtype == bool
    # ALPHA1 (+, TSS 3,000) then BETA2 (-, TSS 45,000, its End); GAMMA3's TSS (52,000) is outside
    np.testing.assert_array_equal(mask[:, 0, 0], _exons(0, 0, 50_000))
    np.testing.assert_array_equal(mask[:, 1, 1], _exons(1, 0, 50_000))
    assert not mask[:, 1, 0].any() and not mask[:, 0, 1].any() and not mask[:, :, 2].any()  # the padding gene
    assert mask[:, 0, 0].sum() == 400 + 300 + 1500  # two transcripts' exons, united
    # a context that starts before the contig (the shift's margin): positions are the context's
    before = window_gene_mask(annotation, "demo1", -100, 4000, 1)
    np.testing.assert_array_equal(np.flatnonzero(before[:, 0, 0])[[0, -1]], [3100, 3499])
    assert window_gene_mask(annotation, "demo2", 0, 1000, 2).shape == (1000, 2, 2)  # no gene: all empty
    assert not window_gene_mask(annotation, "demo2", 0, 1000, 2).any()
    with pytest.raises(TrainingDataError, match="has 2 genes .* hold 1"):
        window_gene_mask(annotation, "demo1", 0, 50_000, 1)


def test_the_runs_gene_count_is_the_largest_context_count(demo):
    annotation = demo[0]
    assert max_genes(annotation, [WINDOWS], [MARGIN]) == 1
    wide = pd.DataFrame({"contig": ["demo1", "demo3"], "start": [0, 0], "end": [50_000, 8_000]})
    assert max_genes(annotation, [WINDOWS, wide], [MARGIN, 0]) == 2
    assert max_genes(annotation, [wide.iloc[1:]], [0]) == 1  # at least one gene slot: fixed, non-empty shapes
    assert annotation.tss_gene_count("demo1", 0, 50_000) == annotation.exon_masks("demo1", 0, 50_000)[0].shape[1]


def test_augmentation_moves_the_masks_with_the_stranded_targets(demo):
    """A + and a - track equal to the + and - rows of one gene's mask stay equal to them after any shift and strand."""
    annotation = demo[0]
    contexts = [(s - MARGIN, e + MARGIN) for s, e in zip(WINDOWS["start"], WINDOWS["end"])]
    genes = np.stack([window_gene_mask(annotation, "demo1", lo, hi, 2) for lo, hi in contexts])
    genes[0, :, 1, 1] = genes[0, :, 0, 0]  # a gene on both rows, for the strand swap
    rows = len(contexts)
    batch = {
        "dna": np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (rows, WINDOW + 2 * MARGIN))],
        "organism": np.zeros(rows, np.int32),
        "targets": {"rna_seq": genes[..., 0].astype(np.float32)},  # channel 0: + track, 1: - track
        "masks": {"rna_seq": np.ones((rows, 1, 2), bool)},
        GENE_MASK_KEY: genes,
    }
    settings = AugmentSettings(max_shift=MARGIN)
    specs = {"rna_seq": TargetSpec("rna_seq", reindexing=((1, 0), (1, 0)))}
    check_batch(batch, settings, specs)
    seen = set()
    for seed in range(6):
        key = jax.random.key(seed)
        offsets, reverse = draw(key, rows, settings)
        out = augment(batch, key, settings, specs)
        moved = np.asarray(out[GENE_MASK_KEY])
        assert moved.shape == (rows, WINDOW, 2, 2) and moved.dtype == bool
        np.testing.assert_array_equal(np.asarray(out["targets"]["rna_seq"]), moved[..., 0].astype(np.float32))
        for r in range(rows):
            crop = genes[r, int(offsets[r]):int(offsets[r]) + WINDOW]
            np.testing.assert_array_equal(moved[r], crop[::-1, ::-1] if bool(reverse[r]) else crop)
            seen.add(bool(reverse[r]))
    assert seen == {False, True}
    bad = {**batch, GENE_MASK_KEY: genes[:, MARGIN:-MARGIN]}
    with pytest.raises(AugmentError, match="gene masks"):
        check_batch(bad, settings, specs)


def _rna_model():
    table = validate_new_tracks(pd.DataFrame({
        "head": ["rna_seq", "rna_seq"], "name": ["r", "r"], "strand": ["+", "-"], "nonzero_mean": [0.8, 1.2],
        "biosample_name": ["x", "x"], "assay_title": ["y", "y"], "organism": [0, 0]}))
    return add_new_tracks(synthetic_model("tiny", 0), table, seed=0)


def _targets(contig: str, start: int, end: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([start % 1000, end % 1000])
    return {"rna_seq": rng.poisson(2.0, (end - start, 2)).astype(np.float32)}


def test_the_new_tracks_loss_gains_the_gene_term_linearly_in_its_weight(demo):
    annotation, fasta, _ = demo
    model = _rna_model()
    masks = gene_masks_fn(annotation, max_genes(annotation, [WINDOWS], [MARGIN]))
    source = WindowsSource(Genome(fasta), WINDOWS, _targets, margin=MARGIN, batch_size=2, seed=0, organism=0,
                           gene_masks=masks)
    first = source.batch(0)
    assert first[GENE_MASK_KEY].shape == (2, WINDOW + 2 * MARGIN, 2, 1) and first[GENE_MASK_KEY].any()
    request, means = _request(model), _track_means(model)

    # the same forward, three weights: the term is finite, off at 0 and linear in the weight
    module = AlphaGenome(model.config, get_precision("float32"))
    plain = {**first, "dna": first["dna"][:, MARGIN:-MARGIN], GENE_MASK_KEY: first[GENE_MASK_KEY][:, MARGIN:-MARGIN],
             "targets": {"rna_seq": first["targets"]["rna_seq"][:, MARGIN:-MARGIN]}}
    track_means = {k: jnp.asarray(v) for k, v in means.items()}
    predictions = jax.jit(lambda v, b: module.apply(v, b["dna"], b["organism"], track_means, request))(
        model.variables, plain)
    losses = [float(jax.jit(new_tracks_loss(model, WINDOW, 0, w))(predictions, plain)[0]) for w in (0.0, 1.0, 2.0)]
    assert all(math.isfinite(v) for v in losses) and losses[1] != losses[0]
    assert losses[2] - losses[0] == pytest.approx(2 * (losses[1] - losses[0]), rel=1e-4)
    without = {k: v for k, v in plain.items() if k != GENE_MASK_KEY}
    with pytest.raises(LossInputError, match="gene_mask"):
        new_tracks_loss(model, WINDOW, 0, 1.0)(predictions, without)


@pytest.mark.slow
def test_a_training_step_with_the_gene_weight_differs_from_weight_zero(demo):
    """A jit-compiled, augmented training step: same weights and draws, so only the gene term differs."""
    annotation, fasta, _ = demo
    model = _rna_model()
    masks = gene_masks_fn(annotation, max_genes(annotation, [WINDOWS], [MARGIN]))
    source = WindowsSource(Genome(fasta), WINDOWS, _targets, margin=MARGIN, batch_size=2, seed=0, organism=0,
                           gene_masks=masks)
    request, means = _request(model), _track_means(model)
    specs = {"rna_seq": TargetSpec("rna_seq", reindexing=new_track_target_reindexing(model.new_tracks, "rna_seq"))}
    settings = TrainSettings(steps=1, augment=AugmentSettings(max_shift=MARGIN))
    results = [Trainer(model, new_tracks_loss(model, WINDOW, 0, w), settings, targets=specs, request=request,
                       track_means=means).fit(source) for w in (0.0, 1.0)]
    off, on = (r.last_loss for r in results)
    assert math.isfinite(on) and math.isfinite(off) and on != off


def test_a_gene_weight_without_rna_seq_tracks_is_refused():
    table = validate_new_tracks(pd.DataFrame({
        "head": ["dnase"], "name": ["d"], "strand": ["."], "nonzero_mean": [1.0], "biosample_name": ["x"],
        "assay_title": ["y"], "organism": [0]}))
    model = add_new_tracks(synthetic_model("tiny", 0), table, seed=0)
    with pytest.raises(TrainingDataError, match=r"train.gene_loss_weight = 0.5 but there are no new rna_seq tracks"):
        new_tracks_loss(model, WINDOW, 0, 0.5)
    new_tracks_loss(model, WINDOW, 0, 0.0)  # off: fine


@pytest.fixture(scope="module")
def rna_prepared(demo, tmp_path_factory):
    """A stranded RNA-seq track on the demo genome (split and prepared as the workflow does); demo3 validates."""
    from genotile.settings import PrepareTargetsSettings, SplitWindowsSettings
    from genotile.train.demo_targets import motif_signal
    from genotile.train.steps import prepare_targets, split_windows
    from tests.helpers.train_data import write_bigwig, write_sheet

    _, fasta, _ = demo
    folder = tmp_path_factory.mktemp("gene_loss_run")
    genome = Genome(fasta)
    signal = {c: motif_signal(genome.sequence(c, 0, n)) for c, n in genome.contigs.items()}
    plus = write_bigwig(folder / "plus.bw", genome.contigs, signal)
    minus = write_bigwig(folder / "minus.bw", genome.contigs, {c: v[::-1].copy() for c, v in signal.items()})
    sheet = write_sheet(folder / "sheet.tsv", [["r", "rna_seq", "+", str(plus), "x", "RNA-seq", ""],
                                               ["r", "rna_seq", "-", str(minus), "x", "RNA-seq", ""]])
    config = {"train": {"tracks_sheet": str(sheet), "window_bp": WINDOW, "stride_bp": WINDOW, "contigs": [],
                        "contig_regex": None, "regions_bed": None, "validation_contigs": ["demo3"], "test_contigs": [],
                        "validation_bed": None, "test_bed": None, "max_shift": MARGIN}}
    split_windows(SplitWindowsSettings.from_config(config), fasta, folder / "windows.tsv")
    prepare_targets(PrepareTargetsSettings.from_config(config), fasta, folder / "windows.tsv", folder / "targets.zarr",
                    folder / "qc.tsv", folder / "tracks.tsv")
    return folder, fasta, demo[2]


@pytest.mark.slow
def test_train_model_with_the_gene_weight_reads_the_gtf_and_validates_with_the_term(rna_prepared):
    import dataclasses
    import json

    from genotile.settings import TrainModelSettings
    from genotile.train.train_model import train_model

    folder, fasta, gtf = rna_prepared
    base = TrainModelSettings(mode="heads", steps=2, batch_size=1, learning_rate=1e-3, warmup_steps=0, weight_decay=0.0,
                              clip_norm=0.5, unfreeze_last_blocks=0, lora_rank=4, lora_alpha=8.0, lora_targets=("q_layer",),
                              dropout_rate=0.0, remat=False, accumulate=1, validate_every=2, seed=0, shuffle_targets=False,
                              window_bp=WINDOW, max_shift=MARGIN, gene_loss_weight=0.0, organism="human",
                              model=(("checkpoint", None), ("size", "tiny"), ("seed", 0)))

    def run(name, weight, annotation):
        out = folder / name
        summary = train_model(dataclasses.replace(base, gene_loss_weight=weight), synthetic_model("tiny", 0), str(fasta),
                              str(folder / "windows.tsv"), str(folder / "targets.zarr"), str(folder / "tracks.tsv"),
                              str(out / "model"), str(out / "curve.tsv"), str(out / "summary.json"),
                              str(out / "checkpoints"), checkpoint_every=2, gtf=annotation)
        curve = pd.read_csv(out / "curve.tsv", sep="\t")
        return summary, curve[curve["split"] == "validation"].set_index("step")["loss"]

    with pytest.raises(TrainingDataError, match="train.gene_loss_weight is above 0 but the run has no gene annotation"):
        run("no_gtf", 0.5, None)
    summary, on = run("on", 0.5, str(gtf))
    _, off = run("off", 0.0, None)
    assert summary["gene_loss_weight"] == 0.5
    assert json.loads((folder / "on" / "summary.json").read_text())["gene_loss_weight"] == 0.5
    assert np.isfinite(on).all() and on.index.tolist() == [0, 2]
    assert on[0] != off[0]  # the same untrained weights: the validation loss differs by the gene term (DELTA4)


def test_the_resume_fingerprint_has_the_weight_only_when_it_is_on():
    """Weight 0 fingerprints as before the key existed (older runs still resume); a weight above 0 is named."""
    import dataclasses
    from types import SimpleNamespace

    from genotile.settings import TrainModelSettings
    from genotile.train.train_model import _run_config

    settings = TrainModelSettings(
        mode="heads", steps=1, batch_size=1, learning_rate=1e-3, warmup_steps=0, weight_decay=0.0, clip_norm=None,
        unfreeze_last_blocks=0, lora_rank=4, lora_alpha=8.0, lora_targets=("q_layer",), dropout_rate=0.0, remat=False,
        accumulate=1, validate_every=1, seed=0, shuffle_targets=False, window_bp=WINDOW, max_shift=MARGIN,
        gene_loss_weight=0.0, organism="human", model=())
    store = SimpleNamespace(provenance={})
    assert "gene_loss_weight" not in _run_config(settings, WINDOWS, store)["train_model"]
    on = _run_config(dataclasses.replace(settings, gene_loss_weight=0.5), WINDOWS, store)["train_model"]
    assert on["gene_loss_weight"] == 0.5
