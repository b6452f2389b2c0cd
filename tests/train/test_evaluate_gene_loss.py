"""evaluate_model with train.gene_loss_weight above 0: the gene-level term is a row of its own (``rna_seq_gene``),
for both models, on the masks training's validation reads; the plain ``rna_seq`` rows are unchanged."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from genotile.model.alphagenome import AlphaGenome
from genotile.model.checkpoints import synthetic_model
from genotile.model.config import get_precision
from genotile.model.new_tracks import add_new_tracks, new_tracks_from_targets
from genotile.model.predictor import Predictor
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.settings import EvaluateModelSettings
from genotile.train.data_errors import TrainingDataError
from genotile.train.evaluate_model import evaluate_model
from genotile.train.losses import GENE_MASK_KEY
from genotile.train.train_model import GENE_LOSS_PART, _gene_masks, _request, _track_means, new_tracks_loss
from genotile.train.windows_source import store_targets
from tests.train.test_gene_masks import WINDOW, demo, rna_prepared  # noqa: F401 (fixtures)

WEIGHT = 0.5


def _models(folder):
    tracks = pd.read_csv(folder / "tracks.tsv", sep="\t")
    base = synthetic_model("tiny", 0)
    # the fine-tuned model: other seeded new heads stand in for trained ones (evaluate_model only reads weights)
    return base, add_new_tracks(base, new_tracks_from_targets(tracks, 0), seed=7)


def _evaluate(folder, fasta, name, weight, gtf):
    base, tuned = _models(folder)
    settings = EvaluateModelSettings(split="validation", original_tracks=1, seed=3, window_bp=WINDOW, organism="human",
                                     model=(), gene_loss_weight=weight)
    evaluate_model(settings, Predictor(base, precision="float32"), tuned, str(fasta), str(folder / "windows.tsv"),
                   str(folder / "targets.zarr"), str(folder / "tracks.tsv"), str(folder / f"{name}.parquet"),
                   str(folder / f"{name}_losses.tsv"), str(folder / f"{name}_region.tsv"), gtf=gtf)
    return pd.read_csv(folder / f"{name}_losses.tsv", sep="\t").set_index(["head", "model"])


def _validation_gene_term(folder, fasta, gtf, model) -> float:
    """What training's validation adds for the term (weight x the term), per window, divided by the weight: the
    masks of train_model's _gene_masks (padded to the train and validation windows' largest count)."""
    from genotile.train.targets import TargetsStore

    windows = pd.read_csv(folder / "windows.tsv", sep="\t")
    train, validation = (windows[windows["split"] == s].reset_index(drop=True) for s in ("train", "validation"))
    masks, _ = _gene_masks(gtf, train, validation, 64)
    targets = store_targets(TargetsStore(folder / "targets.zarr"), ["rna_seq"], None)
    request, means = _request(model), {k: jnp.asarray(v) for k, v in _track_means(model).items()}
    module = AlphaGenome(model.config, get_precision("float32"))
    forward = jax.jit(lambda v, dna: module.apply(v, dna, jnp.zeros(1, jnp.int32), means, request))
    terms, genome = [], Genome(fasta)
    for contig, start, end in validation[["contig", "start", "end"]].itertuples(index=False):
        predictions = forward(model.variables, one_hot(genome.sequence(contig, start, end))[None])
        target = targets(contig, start, end)
        batch = {"organism": np.zeros(1, np.int32), "targets": {"rna_seq": target["rna_seq"][None]},
                 "masks": {"rna_seq": np.ones((1, 1, 2), bool)}, GENE_MASK_KEY: masks(contig, start, end)[None]}
        with_term = float(new_tracks_loss(model, WINDOW, 0, WEIGHT)(predictions, batch)[0])
        plain = float(new_tracks_loss(model, WINDOW)(predictions, batch)[0])
        terms.append((with_term - plain) / WEIGHT)
    return float(np.mean(terms))


def test_the_gene_term_is_its_own_row_and_the_plain_rows_stay(rna_prepared, tmp_path):  # noqa: F811
    folder, fasta, gtf = rna_prepared
    off = _evaluate(folder, fasta, "off", 0.0, None)
    on = _evaluate(folder, fasta, "on", WEIGHT, str(gtf))
    assert GENE_LOSS_PART == "rna_seq_gene" and not any(h == GENE_LOSS_PART for h, _ in off.index)
    pd.testing.assert_frame_equal(on.drop(index=GENE_LOSS_PART, level="head"), off)  # the plain rows: unchanged
    gene = on.loc[GENE_LOSS_PART]
    assert set(gene.index) == {"untrained", "fine-tuned"}
    assert (gene["windows"] == off.loc["rna_seq", "windows"]).all() and np.isfinite(gene["loss"]).all()
    assert (gene["loss"] > 0).all()  # demo3 holds DELTA4's TSS: the term is not empty
    assert gene.loc["untrained", "loss"] != gene.loc["fine-tuned", "loss"]
    untrained, tuned = _models(folder)[0], _models(folder)[1]
    untrained = add_new_tracks(untrained, tuned.new_tracks, seed=3)  # what evaluate_model's untrained model is
    for model, name in ((untrained, "untrained"), (tuned, "fine-tuned")):
        expected = _validation_gene_term(folder, fasta, gtf, model)
        assert gene.loc[name, "loss"] == pytest.approx(expected, rel=1e-3), name
    with pytest.raises(TrainingDataError, match="evaluate_model has no gene annotation"):
        _evaluate(folder, fasta, "no_gtf", WEIGHT, None)
