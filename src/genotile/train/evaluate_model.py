"""Step ``evaluate_model``: does the fine-tune predict the held-out data better than before, and at no cost?

Three models see the windows of one held-out split (``train.evaluate_split``):

* **untrained**: the base model with the same seeded new heads training started from
  (:func:`genotile.model.new_tracks.add_new_tracks` with ``train.seed``);
* **fine-tuned**: ``train/model``, the checkpoint ``train_model`` delivered;
* **base**: the original tracks of the untrained model *are* the base model's (its new heads add channels
  and touch nothing else), so one forward pass per model and window serves both comparisons.

For every new track: Pearson's r (linear and ``log1p``) of observed against predicted, at 1 bp and at
128 bp (128-bp sums), for the untrained and the fine-tuned model. For a seeded sample of the original tracks
of *every* genome-track head (``lora`` and ``full`` move heads that got no new track too): r of the fine-tuned
against the base model's predictions (1 in ``heads`` mode; below 1 shows how far training moved them).
Positions whose base is not A/C/G/T (and 128-bp bins holding any) are left out: there the model sees no sequence and the targets are usually zero, and counting
them rewards a model for knowing where the gaps are. Where held-out windows overlap (a stride below the
window), each base is counted once, in the first window that holds it. The loss per head (the training loss, unaugmented)
for both models, and observed / predicted values at 128 bp over the first held-out window for the
report's figure, complete the outputs.

With splice samples (tracks-sheet rows of output type ``splice_junctions``), the loss table also has the
splice heads' losses (classification, junction counts on the samples' channels, the junction head run on
the targets' sites; splice-site usage on the usage samples' channels when the sheet has splice_site_usage
rows) for the untrained model (the base's splice heads) and the fine-tuned one; a sheet of
splice samples alone has only those, Pearson rows of original tracks only, and an empty region table.

With the gene-level term (``train.gene_loss_weight`` above 0; ``gtf``: ``annotation.gtf``), the rows of head
``rna_seq`` stay the plain genome-track loss (comparable with a run without the term) and the term itself,
unweighted, is a row of its own, head ``rna_seq_gene`` (:data:`genotile.train.train_model.GENE_LOSS_PART`), for
both models: on each window's gene masks as training's validation reads them (:mod:`genotile.train.gene_masks`;
padded to the split's largest gene count, which changes no value: padding genes are empty and not counted).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import LoadedModel
from genotile.model.config import GENOME_TRACK_RESOLUTIONS
from genotile.model.metadata import organism_index
from genotile.model.new_tracks import add_new_tracks, new_tracks_from_targets
from genotile.model.predictor import Predictor, TrackMetadata
from genotile.runtime.atomic import write_parquet, write_table
from genotile.runtime.progress import format_duration
from genotile.runtime.tables import read_tsv
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.settings import EvaluateModelSettings
from genotile.train.data_errors import TrainingDataError
from genotile.train.evaluation import PearsonAccumulator, sample_channels
from genotile.train.targets import TargetsStore
from genotile.train.train_model import GENE_LOSS_PART, new_tracks_loss

__all__ = ["EVALUATION_COLUMNS", "LOSS_COLUMNS", "REGION_COLUMNS", "evaluate_model"]

log = logging.getLogger("genotile")

UNTRAINED, FINE_TUNED = "untrained", "fine-tuned"
OBSERVED, BASE = "observed", "base model"
#: ``evaluation.parquet``: one row per track, model, resolution and scale.
EVALUATION_COLUMNS = ("split", "head", "channel", "track", "kind", "model", "compared_with", "resolution_bp",
                      "scale", "pearson", "pairs", "reason")
#: ``evaluation_losses.tsv``: the training loss per head and model on the split (mean over its windows).
LOSS_COLUMNS = ("split", "head", "model", "loss", "windows")
#: ``evaluation_region.tsv``: 128-bp values over the first window of the split (``masked``: a bin with N).
REGION_COLUMNS = ("contig", "start", "end", "head", "track", "observed", UNTRAINED, FINE_TUNED, "masked")
PLOT_BP = 128


@dataclass(frozen=True)
class _Channels:
    """The channels of one head that are evaluated: original ones (sampled) first, then the new ones."""

    head: str
    original: np.ndarray
    new: np.ndarray
    names: tuple[str, ...]

    @property
    def all(self) -> np.ndarray:
        return np.concatenate([self.original, self.new]).astype(np.int64)

    def kind(self, column: int) -> str:
        return "original" if column < len(self.original) else "new"


def _original_names(metadata: TrackMetadata | None, organism: int, head: str, channels: np.ndarray) -> list[str]:
    if metadata is None:
        return [f"{head}_track_{int(c)}" for c in channels]
    frame = metadata.frame(organism, head)
    return [str(frame["name"].iloc[int(c)]) for c in channels]


def _is_real_track(metadata: TrackMetadata | None, organism: int, head: str):
    """Padding rows of the real metadata are never sampled (they predict NaN by design)."""
    if metadata is None:
        return None
    padding = metadata.frame(organism, head)["padding"].to_numpy(bool)
    return lambda channel: not padding[channel]


def _channels(model: LoadedModel, metadata: TrackMetadata | None, organism: int, count: int, seed: int) -> list[_Channels]:
    """Every genome-track head's sampled original tracks (modes ``lora`` and ``full`` move heads that got no new
    track too: a regression there must show), followed by the head's new tracks, if any."""
    cfg, table = model.config, model.new_tracks
    out = []
    for head in GENOME_TRACK_RESOLUTIONS:
        base = cfg.base_tracks(head)
        original = sample_channels(np.arange(base), count, seed, _is_real_track(metadata, organism, head))
        new = np.arange(base, cfg.tracks(head))
        if not len(original) and not len(new):
            continue
        names = _original_names(metadata, organism, head, original)
        if len(new):
            names += [str(n) for n in table.loc[table["head"] == head, "name"]]
        out.append(_Channels(head, original.astype(np.int64), new, tuple(names)))
    return out


def _request(channels: Sequence[_Channels]) -> OutputRequest:
    heads = tuple(c.head for c in channels)
    resolutions = tuple(sorted({r for h in heads for r in GENOME_TRACK_RESOLUTIONS[h]}))
    return OutputRequest(heads=heads, resolutions=resolutions,
                         channels=tuple((c.head, tuple(int(i) for i in c.all)) for c in channels))


def _bins(values: np.ndarray, resolution: int) -> np.ndarray:
    if resolution == 1:
        return values
    return values.reshape(values.shape[0] // resolution, resolution, values.shape[-1]).sum(axis=1)


def _known_bases(dna: np.ndarray, resolution: int) -> np.ndarray:
    """``[L // resolution]`` bool: every base of the bin is A, C, G or T."""
    known = dna.sum(axis=-1) > 0
    return known.reshape(-1, resolution).all(axis=1) if resolution > 1 else known


def _first_new_base(start: int, end: int, covered_to: int | None) -> int:
    """Offset in ``[start, end)`` of the first base no earlier window of the contig counted, on the 128-bp grid."""
    if covered_to is None or covered_to <= start:
        return 0
    return min(end - start, -(-(covered_to - start) // PLOT_BP) * PLOT_BP)


def _counted(dna: np.ndarray, resolution: int, first_new: int) -> np.ndarray:
    """The bins that enter the Pearson sums: known bases only, each base once."""
    keep = _known_bases(dna, resolution)
    keep[: first_new // resolution] = False
    return keep


class _Scores:
    """Pearson accumulators per (head, model, resolution, scale): observed or base model against a model."""

    def __init__(self, channels: Sequence[_Channels]) -> None:
        self.channels = {c.head: c for c in channels}
        self.acc: dict[tuple[str, str, int, str], PearsonAccumulator] = {}
        for c in channels:
            for res in GENOME_TRACK_RESOLUTIONS[c.head]:
                for model in (UNTRAINED, FINE_TUNED):
                    for scale in ("linear", "log1p"):
                        self.acc[(c.head, model, res, scale)] = PearsonAccumulator(
                            len(c.all), log1p=scale == "log1p", x_name="observed", y_name=f"the {model} model")

    def update(self, head: str, resolution: int, keep: np.ndarray, observed: np.ndarray,
               untrained: np.ndarray, fine_tuned: np.ndarray) -> None:
        c = self.channels[head]
        n_original = len(c.original)
        # the original tracks are compared with the base model (the untrained model's original channels)
        reference = np.concatenate([untrained[:, :n_original], observed], axis=-1)[keep]
        for model, predicted in ((UNTRAINED, untrained), (FINE_TUNED, fine_tuned)):
            for scale in ("linear", "log1p"):
                self.acc[(head, model, resolution, scale)].update(reference, predicted[keep])

    def rows(self, split: str) -> list[dict[str, Any]]:
        rows = []
        for (head, model, resolution, scale), acc in self.acc.items():
            c, result = self.channels[head], acc.result()
            for column, channel in enumerate(c.all):
                kind = c.kind(column)
                if kind == "original" and model == UNTRAINED:
                    continue  # the untrained model's original tracks are the base model's: r = 1 by construction
                reason = result.reason[column]
                if kind == "original":
                    reason = reason.replace("observed", "the base model")
                rows.append({"split": split, "head": head, "channel": int(channel), "track": c.names[column],
                             "kind": kind, "model": model, "compared_with": BASE if kind == "original" else OBSERVED,
                             "resolution_bp": int(resolution), "scale": scale,
                             "pearson": float(result.pearson[column]), "pairs": int(result.n[column]),
                             "reason": reason})
        return rows


def _predict(predictor: Predictor, request: OutputRequest, dna: np.ndarray, organism: int) -> dict[str, np.ndarray]:
    return predictor.predict(dna[None], organism, request)


def _loss_inputs(outputs: Mapping[str, np.ndarray], channels: Sequence[_Channels]) -> dict[str, dict[str, np.ndarray]]:
    """The new channels' scaled predictions, as the training loss reads them."""
    predictions = {}
    for c in channels:
        new = slice(len(c.original), None)
        predictions[c.head] = {f"scaled_predictions_{r}bp": outputs[f"{c.head}/scaled_predictions_{r}bp"][..., new]
                               for r in GENOME_TRACK_RESOLUTIONS[c.head]}
    return predictions


def _held_out_windows(path: str | os.PathLike[str], split: str) -> pd.DataFrame:
    table = read_tsv(path)
    windows = table[table["split"] == split].sort_values(["contig", "start"], kind="stable").reset_index(drop=True)
    if windows.empty:
        raise TrainingDataError(
            f"{path}: no {split} windows to evaluate on; hold some out (train.{split}_contigs or "
            f"train.{split}_bed) or set train.evaluate_split to a split that has windows")
    return windows


def evaluate_model(settings: EvaluateModelSettings, base: Predictor, fine_tuned: LoadedModel, fasta: str,
                   windows_path: str, targets_path: str, tracks_path: str, table_path: str, losses_path: str,
                   region_path: str, gtf: str | None = None) -> pd.DataFrame:
    """Score the untrained and the fine-tuned model on the held-out split; write the three tables.

    ``gtf``: the gene annotation of the gene-level term's row, needed when ``settings.gene_loss_weight`` is above 0."""
    import time

    organism = organism_index(settings.organism)
    tracks = read_tsv(tracks_path)
    untrained_model = (add_new_tracks(base.model, new_tracks_from_targets(tracks, organism), seed=settings.seed)
                       if len(tracks) else base.model)
    if untrained_model.config.new_tracks != fine_tuned.config.new_tracks:
        raise TrainingDataError(
            f"{tracks_path}: the fine-tuned model's new tracks {dict(fine_tuned.config.new_tracks)} are not this "
            f"sheet's {dict(untrained_model.config.new_tracks)}; re-run train_model")
    metadata = base.metadata
    untrained = Predictor(untrained_model, metadata, precision=base.precision)
    tuned = Predictor(fine_tuned, metadata, precision=base.precision)
    channels = _channels(untrained_model, untrained.metadata, organism, settings.original_tracks, settings.seed)
    request = _request(channels)
    windows = _held_out_windows(windows_path, settings.split)
    store, genome = TargetsStore(targets_path), Genome(fasta)
    scores, loss_fn = _Scores(channels), new_tracks_loss(untrained_model, settings.window_bp)
    splice = _SpliceLosses(store, untrained_model, fine_tuned, base.precision) if len(store.splice_samples()) else None
    trained = [c for c in channels if len(c.new)]  # the heads with new tracks: observed targets, loss, figure
    gene = _GeneLoss(untrained_model, settings, gtf, windows) if settings.gene_loss_weight > 0 and trained else None
    losses: dict[tuple[str, str], list[float]] = {}
    region_rows: list[pd.DataFrame] = []
    started, covered_to = time.perf_counter(), {}
    for i, (contig, start, end) in enumerate(windows[["contig", "start", "end"]].itertuples(index=False)):
        contig, start, end = str(contig), int(start), int(end)
        first_new = _first_new_base(start, end, covered_to.get(contig))
        covered_to[contig] = max(end, covered_to.get(contig, end))
        dna = one_hot(genome.sequence(contig, start, end))
        if splice is not None:
            for key, value in splice(dna, organism, contig, start, end).items():
                losses.setdefault(key, []).append(value)
        if not channels:
            continue
        outputs = {UNTRAINED: _predict(untrained, request, dna, organism),
                   FINE_TUNED: _predict(tuned, request, dna, organism)}
        observed_1bp = {c.head: store.read(c.head, 1, contig, start, end) if len(c.new)
                        else np.zeros((end - start, 0), np.float32) for c in channels}
        for c in channels:
            for res in GENOME_TRACK_RESOLUTIONS[c.head]:
                observed = _bins(observed_1bp[c.head], res)
                predicted = {m: outputs[m][f"{c.head}/predictions_{res}bp"][0].astype(np.float64) for m in outputs}
                scores.update(c.head, res, _counted(dna, res, first_new), observed, predicted[UNTRAINED],
                              predicted[FINE_TUNED])
        batch = {"organism": np.full(1, organism, np.int32),
                 "targets": {c.head: observed_1bp[c.head][None] for c in trained},
                 "masks": {c.head: np.ones((1, 1, len(c.new)), bool) for c in trained}}
        for model, out in outputs.items() if trained else ():
            _, parts = loss_fn(_loss_inputs(out, trained), batch)
            for head, value in parts.items():
                losses.setdefault((head, model), []).append(float(value))
            if gene is not None:
                losses.setdefault((GENE_LOSS_PART, model), []).append(gene(out, trained, batch, contig, start, end))
        if i == 0:
            region_rows = [_region(c, contig, start, dna, observed_1bp[c.head], outputs) for c in trained]
        elapsed = time.perf_counter() - started
        log.info("evaluate_model: window %d of %d (%s:%d-%d) done, %s elapsed", i + 1, len(windows), contig, start,
                 end, format_duration(elapsed))
    table = pd.DataFrame(scores.rows(settings.split), columns=list(EVALUATION_COLUMNS))
    table = table.sort_values(["head", "kind", "channel", "model", "resolution_bp", "scale"],
                              kind="stable").reset_index(drop=True)
    loss_table = pd.DataFrame([{"split": settings.split, "head": h, "model": m, "loss": float(np.mean(v)),
                                "windows": len(v)} for (h, m), v in sorted(losses.items())], columns=list(LOSS_COLUMNS))
    write_parquet(table, table_path, TrainingDataError, index=False)
    write_table(loss_table, losses_path, TrainingDataError, sep="\t", index=False, float_format="%.6g")
    region = pd.concat(region_rows, ignore_index=True) if region_rows else pd.DataFrame(columns=list(REGION_COLUMNS))
    write_table(region, region_path, TrainingDataError, sep="\t", index=False, float_format="%.6g")
    _log_summary(table)
    return table


class _GeneLoss:
    """The gene-level term alone (unweighted) of one model's predictions on one window, on its gene masks."""

    def __init__(self, model: LoadedModel, settings: EvaluateModelSettings, gtf: str | None, windows: pd.DataFrame) -> None:
        from genotile.train.gene_masks import gene_masks_fn, max_genes
        from genotile.variants.annotation import read_gtf

        if not gtf:
            raise TrainingDataError("train.gene_loss_weight is above 0 but evaluate_model has no gene annotation; fix: "
                                    "set annotation.gtf (a GENCODE/Ensembl GTF), or set train.gene_loss_weight: 0")
        annotation = read_gtf(gtf, contigs=sorted(set(windows["contig"].astype(str))))
        self.masks = gene_masks_fn(annotation, max_genes(annotation, [windows], [0]))
        self.loss_fn = new_tracks_loss(model, settings.window_bp, gene_loss_weight=settings.gene_loss_weight)

    def __call__(self, outputs: Mapping[str, np.ndarray], channels: Sequence[_Channels], batch: Mapping[str, Any],
                 contig: str, start: int, end: int) -> float:
        from genotile.train.losses import GENE_MASK_KEY

        _, parts = self.loss_fn(_loss_inputs(outputs, channels), {**batch, GENE_MASK_KEY: self.masks(contig, start, end)[None]})
        return float(parts[GENE_LOSS_PART])


class _SpliceLosses:
    """The splice heads' training losses (unweighted) of the untrained and the fine-tuned model on one window."""

    def __init__(self, store: TargetsStore, untrained: LoadedModel, fine_tuned: LoadedModel, precision: Any) -> None:
        import jax

        from genotile.model.alphagenome import AlphaGenome
        from genotile.train.train_model import splice_loss, splice_request, usage_channels
        from genotile.train.trainer import target_sites_apply
        from genotile.train.windows_source import store_targets

        samples, with_usage = len(store.splice_samples()), store.usage_samples()
        usage = usage_channels(untrained.config, with_usage["channel"]) if len(with_usage) else None
        self.targets = store_targets(store, [], untrained.config.num_splice_sites)
        module = AlphaGenome(untrained.config, precision)
        forward = target_sites_apply(module, splice_request(usage), {}, None)
        loss = splice_loss(untrained.config, samples, usage)
        as_f32 = lambda tree: jax.tree.map(lambda x: x.astype("float32") if x.dtype.kind == "f" else x, tree)
        self._loss = jax.jit(lambda variables, batch: loss(as_f32(forward(variables, batch, None)[0]), batch))
        self.models = {UNTRAINED: untrained.variables, FINE_TUNED: fine_tuned.variables}

    def __call__(self, dna: np.ndarray, organism: int, contig: str, start: int, end: int) -> dict[tuple[str, str], float]:
        from genotile.train.windows_source import SITE_POSITIONS

        targets = self.targets(contig, start, end)
        batch = {"dna": dna[None], "organism": np.full(1, organism, np.int32), SITE_POSITIONS: targets.pop(SITE_POSITIONS)[None],
                 "targets": {h: v[None] for h, v in targets.items()}}
        out = {}
        for model, variables in self.models.items():
            for head, value in self._loss(variables, batch).items():
                out[(head, model)] = float(value)
        return out


def _region(c: _Channels, contig: str, start: int, dna: np.ndarray, observed_1bp: np.ndarray,
            outputs: Mapping[str, Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """The new tracks' 128-bp values over one window (the report's observed-vs-predicted figure)."""
    res = PLOT_BP if PLOT_BP in GENOME_TRACK_RESOLUTIONS[c.head] else max(GENOME_TRACK_RESOLUTIONS[c.head])
    observed = _bins(observed_1bp, res)
    masked = ~_known_bases(dna, res)
    frames = []
    for k, channel in enumerate(c.new):
        column = len(c.original) + k
        bins = np.arange(observed.shape[0])
        frames.append(pd.DataFrame({
            "contig": contig, "start": start + bins * res, "end": start + (bins + 1) * res, "head": c.head,
            "track": c.names[column], "observed": observed[:, k],
            UNTRAINED: outputs[UNTRAINED][f"{c.head}/predictions_{res}bp"][0][:, column],
            FINE_TUNED: outputs[FINE_TUNED][f"{c.head}/predictions_{res}bp"][0][:, column],
            "masked": masked}))
    return pd.concat(frames, ignore_index=True)


def _log_summary(table: pd.DataFrame) -> None:
    new = table[(table["kind"] == "new") & (table["scale"] == "linear")]
    for (head, track, res), rows in new.groupby(["head", "track", "resolution_bp"], sort=True):
        r = dict(zip(rows["model"], rows["pearson"]))
        log.info("evaluate_model: %s %s at %d bp: Pearson %.3f untrained -> %.3f fine-tuned", head, track, res,
                 r.get(UNTRAINED, np.nan), r.get(FINE_TUNED, np.nan))
    original = table[(table["kind"] == "original") & (table["scale"] == "linear")]
    if len(original):
        log.info("evaluate_model: original tracks, fine-tuned vs base model: Pearson min %.4f, median %.4f over %d",
                 original["pearson"].min(), original["pearson"].median(), len(original))

