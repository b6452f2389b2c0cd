"""Step ``train_model``: fine-tune the base model's new heads (or more) on the prepared targets.

The model is the base model plus one new head per output type of the tracks sheet
(:func:`genotile.model.new_tracks.add_new_tracks`, scaled by each track's ``nonzero_mean``); the loss is
the reference's genome-track loss (:func:`genotile.train.losses.head_loss`) on the new tracks only, with
loss segments of ``min(131,072 bp, window)``. Every ``validate_every`` steps the loss on the validation
windows (fixed, not augmented) joins the learning curve; the delivered checkpoint (``train/model``) is the
step with the lowest validation loss (the last step when there are no validation windows).

Splice samples (tracks-sheet rows of output type ``splice_junctions``, STAR ``SJ.out.tab`` files; stored by
``prepare_targets``) add the splice heads to the loss, with the reference's losses and weights: the
splice-site classification (cross-entropy on every base, 1.0) and the junction counts (0.2) on the
samples' junction channels (sample ``c``: channels ``c`` and ``T + c`` of the ``T`` tissues), with the
junction head run on the targets' site slots (:func:`genotile.train.trainer.target_sites_apply`). Splice
samples with a raw coverage bigWig (rows of output type ``splice_site_usage``) add the splice-site usage
loss (sigmoid cross-entropy, weight 1.0) on their usage channels (the junction channel ``c`` of the sample:
usage channels ``c`` and ``T + c``), with targets from their junctions and coverage
(:mod:`genotile.train.splice_usage`); the usage head computes only those channels (its weights are sliced,
:func:`usage_channels`), which is the reference's loss with a track mask on them. In modes ``heads`` and
``lora`` only the heads the loss reads train (the new genome-track heads, the two splice heads, and the
usage head when the sheet has usage rows).

The gene-level term (``train.gene_loss_weight`` above 0, the reference's optional ``gene_loss_weight`` of the
RNA-seq head, :func:`genotile.train.losses.gene_cross_track_loss`): the new ``rna_seq`` head's 1-bp loss gains
``weight x`` the cross-track gene loss, on per-window exon masks from ``annotation.gtf``
(:mod:`genotile.train.gene_masks`, padded to the run's largest gene count), in training and validation alike.
``evaluate_model``'s loss per head stays the plain genome-track loss (comparable with the untrained model's); the
gene term, unweighted, is its own row (head ``rna_seq_gene``, :data:`GENE_LOSS_PART`), for both models.

Resume: the trainer's checkpoints (``checkpoint_dir``) hold the weights, optimizer, RNG and the batch
stream's position; the learning curve and the best model so far are kept beside them, each written
atomically, so a killed job rerun by Snakemake continues where it stopped and ends with the same bytes.
A rerun whose settings differ (Snakemake reruns the rule when its params change; the checkpoints are not an
output, so they stay) stops with the changed settings named as config keys and the fix (:func:`resume_refused`).

Delta checkpoint (``train.delta_checkpoint``, ``delta_dir``): the best model also as a
:func:`genotile.model.checkpoints.save_delta_checkpoint` against the base (the new heads, the leaves training
changed, in mode ``lora`` the adapters un-merged), recording the base weights' identity. It changes what is
written, not what is trained, so it is not in the resume fingerprint: turning it on after a run finished resumes
at the last step and writes it (:mod:`genotile.train.delta_output`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from genotile.model.alphagenome import AlphaGenome, OutputRequest
from genotile.model.checkpoints import LoadedModel, save_checkpoint
from genotile.model.config import GENOME_TRACK_RESOLUTIONS, new_head_scope
from genotile.model.layers import TrainMode
from genotile.model.metadata import organism_index
from genotile.model.new_tracks import (
    add_new_tracks,
    head_rows,
    new_track_means,
    new_track_target_reindexing,
    new_tracks_from_targets,
)
from genotile.outputs import OUTPUT_TYPE_OF_HEAD, RNA_SEQ, SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES
from genotile.runtime.atomic import write_table, write_text
from genotile.runtime.tables import read_tsv
from genotile.sequence.fasta import Genome
from genotile.settings import TrainModelSettings
from genotile.train.augment import AugmentSettings, TargetSpec
from genotile.train.checkpointing import ResumeError
from genotile.train.data_errors import TrainingDataError
from genotile.train.delta_output import clear_best_delta, deliver_delta, save_best_delta
from genotile.train.freezing import Trainable
from genotile.train.gene_masks import gene_masks_fn, max_genes
from genotile.train.lora import LoraSettings
from genotile.train.losses import (
    GENE_CROSS_TRACK_WEIGHT,
    GENE_MASK_KEY,
    LOSS_WEIGHTS,
    SEGMENT_BP,
    head_loss,
    splice_junctions_loss,
    splice_sites_classification_loss,
    splice_sites_usage_loss,
    sum_pool,
)
from genotile.train.optimizer import OptimizerSettings
from genotile.train.targets import TargetsStore
from genotile.train.trainer import Trainer, TrainSettings, target_sites_apply
from genotile.train.windows_source import WindowsSource, stack_rows, store_targets

__all__ = ["CURVE_COLUMNS", "SPLICE_HEADS", "USAGE_HEAD", "junction_channels", "resume_refused", "splice_loss",
           "splice_request", "train_model", "usage_channels"]

log = logging.getLogger("genotile")

#: ``learning_curve.tsv``: one row per logged training step and per validation.
CURVE_COLUMNS = ("step", "split", "loss")
BEST_DIR = "best_model"
CURVE_FILE = "learning_curve.tsv"


#: The heads a fine-tune on splice samples trains (and :data:`USAGE_HEAD` when samples have coverage: module doc).
SPLICE_HEADS = (SPLICE_SITES.head, SPLICE_JUNCTIONS.head)
USAGE_HEAD = SPLICE_SITE_USAGE.head


def splice_request(usage: np.ndarray | None = None, heads: tuple[str, ...] = (), resolutions: tuple[int, ...] = (1,),
                   channels: tuple[tuple[str, tuple[int, ...]], ...] = ()) -> OutputRequest:
    """``heads`` plus the splice heads, and the usage head on only the ``usage`` channels (:func:`usage_channels`)."""
    splice = SPLICE_HEADS + ((USAGE_HEAD,) if usage is not None else ())
    if usage is not None:
        channels = (*channels, (USAGE_HEAD, tuple(int(c) for c in usage)))
    return OutputRequest(heads=heads + splice, resolutions=resolutions, channels=channels)


def _request(model: LoadedModel, splice: bool = False, usage: np.ndarray | None = None) -> OutputRequest:
    """Only the new tracks' channels, at every resolution their heads predict; the splice heads with splice samples
    (the usage head on ``usage``'s channels)."""
    cfg = model.config
    heads = tuple(h for h, _ in cfg.new_tracks)
    channels = tuple((h, tuple(range(cfg.base_tracks(h), cfg.tracks(h)))) for h in heads)
    resolutions = tuple(sorted({r for h in heads for r in GENOME_TRACK_RESOLUTIONS[h]})) or (1,)
    if splice:
        return splice_request(usage, heads, resolutions, channels)
    return OutputRequest(heads=heads, resolutions=resolutions, channels=channels)


def _trained_heads(model: LoadedModel, splice: bool, usage: bool = False) -> tuple[str, ...] | None:
    """The head scopes that train in modes heads/lora: None (the default rule) without splice samples."""
    if not splice:
        return None
    return tuple(new_head_scope(h) for h, _ in model.config.new_tracks) + SPLICE_HEADS + ((USAGE_HEAD,) if usage else ())


def junction_channels(cfg: Any, samples: int) -> np.ndarray:
    """The junction head's channels of splice sample ``c`` (``c`` then ``T + c``, T tissues): + strand, - strand."""
    tissues = cfg.tracks(SPLICE_JUNCTIONS.head)
    if samples > tissues:
        raise TrainingDataError(f"{samples} splice samples but the junction head has {tissues} tissue channels; "
                                f"give at most {tissues} splice_junctions rows")
    return np.concatenate([np.arange(samples), tissues + np.arange(samples)])


def usage_channels(cfg: Any, samples: Any) -> np.ndarray:
    """The usage head's channels of the usage samples (their junction channels ``c``): every ``c`` (+ strand), then
    every ``T + c`` (- strand), T tissues: the order of the usage targets' ``[L, 2 m]`` channels."""
    tissues = cfg.tracks(USAGE_HEAD) // 2
    samples = np.asarray(samples, np.int64)
    if len(samples) and samples.max() >= tissues:
        raise TrainingDataError(f"splice sample channel {int(samples.max())} but the usage head has {tissues} tissue "
                                f"channels; give at most {tissues} splice_junctions rows")
    return np.concatenate([samples, tissues + samples])


def splice_loss(cfg: Any, samples: int, usage: np.ndarray | None = None):
    """``(predictions, batch) -> {head: loss}`` of the splice heads: the reference's classification and junction
    losses (unweighted; :data:`genotile.train.losses.LOSS_WEIGHTS` weighs them), the junctions on the samples'
    channels only; with ``usage`` (:func:`usage_channels`) also the usage loss on those channels (every one counts:
    the reference's loss with a track mask that is True on them only)."""
    channels = jnp.asarray(junction_channels(cfg, samples))
    usage_index = None if usage is None else jnp.asarray(usage)

    def loss_fn(predictions, batch):
        classes = splice_sites_classification_loss(predictions[SPLICE_SITES.head]["logits"],
                                                   batch["targets"][SPLICE_SITES.head])["loss"]
        junctions = predictions[SPLICE_JUNCTIONS.head]
        counts = splice_junctions_loss(junctions["predictions"][..., channels],
                                       junctions["splice_junction_mask"][..., channels],
                                       batch["targets"][SPLICE_JUNCTIONS.head])["loss"]
        out = {SPLICE_SITES.head: classes, SPLICE_JUNCTIONS.head: counts}
        if usage_index is not None:
            logits = predictions[USAGE_HEAD]["logits"]
            if logits.shape[-1] != usage_index.shape[0]:  # the whole head (not sliced by the request)
                logits = logits[..., usage_index]
            target = batch["targets"][USAGE_HEAD]
            mask = jnp.ones((target.shape[0], 1, target.shape[-1]), bool)
            out[USAGE_HEAD] = splice_sites_usage_loss(logits, target, mask)["loss"]
        return out

    return loss_fn


def _track_means(model: LoadedModel) -> dict[str, np.ndarray]:
    """Scale 1 for the original tracks (they are not trained), each new track's ``nonzero_mean`` after them."""
    cfg = model.config
    means = {h: np.ones((cfg.num_organisms, cfg.base_tracks(h)), np.float32) for h in GENOME_TRACK_RESOLUTIONS}
    for head, added in new_track_means(cfg, model.new_tracks).items():
        means[head] = np.concatenate([means[head], added], axis=-1)
    return means


#: The head the gene-level term (``train.gene_loss_weight``) applies to.
GENE_LOSS_HEAD = RNA_SEQ.head
#: The loss part of the unweighted gene-level term on its own (the step log; ``evaluate_model``'s row of that name).
GENE_LOSS_PART = f"{GENE_LOSS_HEAD}_gene"


def new_track_strands(model: LoadedModel, head: str) -> np.ndarray:
    """``[num_organisms, C]`` strand strings of a head's new tracks (what the gene-level loss reads per gene strand)."""
    strands = head_rows(model.new_tracks, head)["strand"].astype(str).to_numpy()
    return np.tile(strands, (model.config.num_organisms, 1))


def new_tracks_loss(model: LoadedModel, window_bp: int, splice_samples: int = 0, gene_loss_weight: float = 0.0,
                    usage: np.ndarray | None = None):
    """``loss_fn(predictions, batch)`` of the trainer: the reference's genome-track loss per new head, summed,
    plus the weighted splice losses (:func:`splice_loss`) with ``splice_samples`` (and the usage loss on the
    ``usage`` channels).

    ``gene_loss_weight`` above 0: the new ``rna_seq`` head's loss gains the gene-level term, reading the batch's
    ``gene_mask`` (``[B, S, 2, G]``), and the parts gain the term alone, unweighted (:data:`GENE_LOSS_PART`, not in
    the total twice); a model without new RNA-seq tracks is refused (the weight would do nothing)."""
    cfg = model.config
    added = new_track_means(cfg, model.new_tracks) if model.new_tracks is not None else {}
    segment = min(SEGMENT_BP, window_bp)
    splice = splice_loss(cfg, splice_samples, usage) if splice_samples else None
    gene_weight = float(gene_loss_weight)
    gene_kwargs: dict[str, Any] = {}
    if gene_weight > 0:
        if GENE_LOSS_HEAD not in dict(cfg.new_tracks):
            raise TrainingDataError(
                f"train.gene_loss_weight = {gene_weight} but there are no new {GENE_LOSS_HEAD} tracks (the term applies "
                f"to the RNA-seq head only); fix: add rna_seq rows to train.tracks_sheet, or set train.gene_loss_weight: 0")
        gene_kwargs = {"gene_loss_weights": {GENE_LOSS_HEAD: gene_weight},
                       "track_strands": {GENE_LOSS_HEAD: new_track_strands(model, GENE_LOSS_HEAD)}}

    def loss_fn(predictions, batch):
        total, parts = jnp.zeros((), jnp.float32), {}
        if splice is not None:
            for head, value in splice(predictions, batch).items():
                parts[head] = value
                total = total + LOSS_WEIGHTS[head] * value
        for head, _ in cfg.new_tracks:
            key = OUTPUT_TYPE_OF_HEAD[head]
            target = batch["targets"][head]
            if min(GENOME_TRACK_RESOLUTIONS[head]) > 1:  # ChIP heads predict at 128 bp only
                target = sum_pool(target, min(GENOME_TRACK_RESOLUTIONS[head]))
            head_batch = {"organism_index": batch["organism"], key: target, f"{key}_mask": batch["masks"][head]}
            extra = gene_kwargs if head == GENE_LOSS_HEAD else {}
            if extra and GENE_MASK_KEY in batch:  # absent: head_loss says so, naming the key
                head_batch[GENE_MASK_KEY] = batch[GENE_MASK_KEY]
            terms = head_loss(head, predictions[head], head_batch, track_means={head: added[head]}, segment_bp=segment,
                              **extra)
            parts[head] = terms["loss"]
            if extra:  # the gene term alone, unweighted (it is inside parts[head], weighted): logged and evaluated
                parts[GENE_LOSS_PART] = (terms["gene_loss_total_count_1bp"]
                                         + GENE_CROSS_TRACK_WEIGHT * terms["gene_loss_positional_1bp"])
            total = total + terms["loss"]
        return total, parts

    return loss_fn


def _gene_masks(gtf: str | None, train_windows: pd.DataFrame, validation_windows: pd.DataFrame,
                margin: int):
    """The gene-mask reader of a run with the gene-level loss, and what identifies it (the GTF's bytes, G)."""
    from genotile.variants.annotation import read_gtf

    if not gtf:
        raise TrainingDataError("train.gene_loss_weight is above 0 but the run has no gene annotation; fix: set "
                                "annotation.gtf (a GENCODE/Ensembl GTF), or set train.gene_loss_weight: 0")
    contigs = sorted(set(train_windows["contig"].astype(str)) | set(validation_windows["contig"].astype(str)))
    annotation = read_gtf(gtf, contigs=contigs)  # only the windows' contigs: a whole-genome GTF stays small
    genes = max_genes(annotation, (train_windows, validation_windows), (margin, 0))
    log.info("train_model: gene-level loss on %s, gene masks padded to %d genes per window", gtf, genes)
    digest = hashlib.sha256(Path(gtf).read_bytes()).hexdigest()
    return gene_masks_fn(annotation, genes), {"gtf_sha256": digest, "genes_per_window": genes}


def _windows(path: str | os.PathLike[str], split: str) -> pd.DataFrame:
    table = read_tsv(path)
    return table[table["split"] == split].reset_index(drop=True)


def _settings(settings: TrainModelSettings, checkpoint_every: int,
              only_heads: tuple[str, ...] | None = None) -> TrainSettings:
    updates = -(-settings.steps // settings.accumulate)  # optimizer updates: the schedule counts these
    optimizer = OptimizerSettings(learning_rate=settings.learning_rate, warmup_steps=settings.warmup_steps,
                                  decay_steps=max(updates, settings.warmup_steps, 1),
                                  weight_decay=settings.weight_decay, clip_global_norm=settings.clip_norm,
                                  accumulate=settings.accumulate)
    return TrainSettings(
        steps=settings.steps, trainable=Trainable(mode=settings.mode, unfreeze_last_blocks=settings.unfreeze_last_blocks,
                                                  only_heads=only_heads),
        optimizer=optimizer, augment=AugmentSettings(max_shift=settings.max_shift),
        lora=LoraSettings(rank=settings.lora_rank, alpha=settings.lora_alpha, targets=settings.lora_targets),
        seed=settings.seed,
        model_mode=TrainMode(dropout_rate=settings.dropout_rate, remat=settings.remat) if settings.mode == "full" else None,
        checkpoint_every=checkpoint_every, log_every=max(1, min(settings.validate_every, 50)),
    )


def _run_config(settings: TrainModelSettings, validation_windows: pd.DataFrame, store: TargetsStore) -> dict[str, Any]:
    """What else the resume fingerprint must cover (the trainer's covers the base weights, the training windows
    and tracks): every train setting, the validation windows (the best-so-far model and the curve beside the
    checkpoints are judged on them) and the FASTA the targets were prepared on (the windows' sequence)."""
    validation = validation_windows[["contig", "start", "end"]].to_csv(sep="\t", index=False)
    train = {k: v for k, v in vars(settings).items() if k != "model"}
    if not train["gene_loss_weight"]:  # absent when off, as before the key existed: older runs still resume
        train.pop("gene_loss_weight")
    return {"train_model": train,
            "validation_windows": hashlib.sha256(validation.encode()).hexdigest(),
            "targets": {"fasta_checksum": store.provenance.get("fasta_checksum")}}


class _Validation:
    """The loss on the validation windows (centred, no augmentation), with the inference forward."""

    def __init__(self, model: LoadedModel, source: WindowsSource | None, loss_fn, track_means, request,
                 target_sites: bool = False) -> None:
        self.source, self.loss_fn = source, loss_fn
        module = AlphaGenome(model.config, _precision())
        means = {k: jnp.asarray(v) for k, v in track_means.items()}
        forward = target_sites_apply(module, request, means, None) if target_sites else None
        self._apply = jax.jit(
            (lambda variables, batch: forward(variables, batch, None)[0]) if forward is not None
            else (lambda variables, batch: module.apply(variables, batch["dna"], batch["organism"], means, request)))

    def __call__(self, variables: Mapping[str, Any]) -> float | None:
        if self.source is None:
            return None
        margin, losses = self.source.margin, []
        for i in range(len(self.source)):
            if margin:
                raise ValueError("validation windows are read without margins (margin=0)")
            batch = stack_rows([self.source.row(i)], self.source.organism)
            predictions = self._apply(variables, batch)
            loss, _ = self.loss_fn(jax.tree.map(lambda x: x.astype(jnp.float32), predictions), batch)
            losses.append(float(loss))
        return float(np.mean(losses))


def _precision():
    from genotile.model.config import get_precision

    return get_precision("float32" if jax.default_backend() == "cpu" else "bfloat16")


#: Where the keys of the resume fingerprint come from, in the config's terms (first matching prefix wins);
#: ``None``: the key is a train setting (``run_config.train_model.<key>`` is ``train.<key>``).
_SETTING_SOURCES = (
    ("run_config.train_model.organism", "organism"),
    ("run_config.train_model.", None),
    ("run_config.validation_windows", "the validation windows (train/windows.tsv: train.validation_contigs, "
                                      "train.validation_bed, ...)"),
    ("run_config.targets", "the FASTA the targets were prepared on (genome.fasta)"),
    ("source.windows_sha256", "the training windows (train/windows.tsv: train.window_bp, train.stride_bp, "
                              "train.contigs, the held-out contigs and regions)"),
    ("source.rows", "the training windows (train/windows.tsv: train.window_bp, train.stride_bp, "
                    "train.contigs, the held-out contigs and regions)"),
    ("source.tracks", "the tracks (train/tracks.tsv, from train.tracks_sheet)"),
    ("source.splice_samples", "the splice samples (the tracks sheet's splice_junctions rows)"),
    ("source.usage_samples", "the splice samples' coverage (the tracks sheet's splice_site_usage rows)"),
    ("source.gene_annotation", "the gene annotation of the gene-level loss (annotation.gtf)"),
    ("model.config.new_tracks", "the tracks (train/tracks.tsv, from train.tracks_sheet)"),
    ("model.", "the base model (train.base_checkpoint / model.*)"),
)


def resume_refused(error: ResumeError, checkpoint_dir: str | os.PathLike[str]) -> ResumeError:
    """The trainer's refusal to resume another run's checkpoints, said in config keys with the rule's fix.

    Why: the trainer names keys of its run description (``run_config.train_model.learning_rate``,
    ``settings.optimizer.decay_steps``, ``source.windows_sha256``); a user changed ``train.learning_rate``
    or the tracks sheet. Settings derived from the named ones (the optimizer's decay from ``train.steps``)
    are counted, not listed; a change nothing above explains (the precision of another backend) is shown as is.
    """
    named: list[str] = []
    derived: list[str] = []
    for change in error.changes:
        key = change.split(":", 1)[0]
        source = next(((prefix, label) for prefix, label in _SETTING_SOURCES if key.startswith(prefix)), None)
        if source is None:
            derived.append(change)
            continue
        prefix, label = source
        line = "train." + change.removeprefix(prefix) if label is None else (
            change.replace(key, label, 1) if label == "organism" else label)
        if line not in named:
            named.append(line)
    shown = "; ".join(named) + (f" (and {len(derived)} setting(s) derived from them)" if named and derived else "")
    shown = shown or "; ".join(derived) or "the settings' fingerprint"
    directory = Path(checkpoint_dir)
    step = f" (step {error.step:,})" if error.step is not None else ""
    return ResumeError(
        f"train_model: the resume checkpoints in {directory}{step} are of a run with other settings: {shown}. "
        f"Fix: set them back to continue that run, or delete {directory} to train from the start with the new "
        "settings (a rerun resumes from that folder; it is not an output Snakemake removes)",
        step=error.step, changes=error.changes)


def _read_curve(path: Path, up_to: int) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    curve = pd.read_csv(path, sep="\t")
    return curve[curve["step"] <= up_to].reset_index(drop=True)


def _with_resumed_train_row(curve: pd.DataFrame, trainer: Trainer, settings: TrainModelSettings) -> pd.DataFrame:
    """The curve with the train row of the step a run resumes at, when that step ends a chunk and a kill came
    between its checkpoint and the curve's write (the checkpoint holds that step's loss): the resumed curve is
    then the uninterrupted one, byte for byte."""
    step = trainer.step
    ends_chunk = step > 0 and (step % settings.validate_every == 0 or step == settings.steps)
    if not ends_chunk or ((curve["split"] == "train") & (curve["step"] == step)).any():
        return curve
    row = pd.DataFrame([{"step": step, "split": "train", "loss": trainer.last_step_loss}])
    return pd.concat([curve, row], ignore_index=True) if len(curve) else row


def _recover_best(path: Path) -> None:
    """Put back the best model a job killed inside :func:`_save_model`'s swap left as ``<path>.old``.

    Between its two renames there is no ``path``; the learning curve (written after the swap) still says
    the old one is the best, so the old one is what the run has, not whatever step comes next.
    """
    old = path.with_name(path.name + ".old")
    if old.is_dir() and not path.exists():
        old.rename(path)


def _save_model(path: Path, variables: Mapping[str, Any], model: LoadedModel, note: str) -> None:
    """Replace the checkpoint at ``path`` atomically (write beside it, then swap; :func:`_recover_best`)."""
    temporary = path.with_name(path.name + ".partial")
    shutil.rmtree(temporary, ignore_errors=True)
    save_checkpoint(temporary, variables, model.config, note, new_tracks=model.new_tracks)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    temporary.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def train_model(settings: TrainModelSettings, base: LoadedModel, fasta: str, windows_path: str, targets_path: str,
                tracks_path: str, model_dir: str, curve_path: str, summary_path: str, checkpoint_dir: str, *,
                checkpoint_every: int = 100, gtf: str | None = None, delta_dir: str | None = None) -> dict[str, Any]:
    """Fine-tune ``base`` on ``targets_path``'s tracks; write the delivered model, the curve and a summary.

    ``gtf``: the gene annotation of the gene-level loss, needed when ``settings.gene_loss_weight`` is above 0.
    ``delta_dir``: where to write the best model as a delta checkpoint against ``base`` (``train.delta_checkpoint``);
    None: none, and a stale ``<model_dir>_delta`` of an earlier run is removed."""
    organism = organism_index(settings.organism)
    tracks = read_tsv(tracks_path)
    store = TargetsStore(targets_path)
    samples = store.splice_samples()
    if len(tracks):
        model = add_new_tracks(base, new_tracks_from_targets(tracks, organism), seed=settings.seed)
    elif len(samples):
        model = base  # splice samples only: the splice heads train, no head is added
    else:
        raise TrainingDataError(f"{tracks_path}: no tracks and {targets_path} no splice samples; nothing to train on "
                                "(check train.tracks_sheet and re-run prepare_targets)")
    splice = bool(len(samples))
    tissues = model.config.tracks(SPLICE_JUNCTIONS.head)
    for sample in samples.itertuples():
        log.info("train_model: splice sample %s trains junction tissue channel %d (channels %d +, %d -)",
                 sample.name, sample.channel, sample.channel, tissues + sample.channel)
    usage_samples = store.usage_samples()
    usage = usage_channels(model.config, usage_samples["channel"]) if len(usage_samples) else None
    usage_of = {str(name): [int(c), int(c) + model.config.tracks(USAGE_HEAD) // 2]
                for name, c in zip(usage_samples["name"], usage_samples["channel"])}
    for name, (plus, minus) in usage_of.items():
        log.info("train_model: splice sample %s trains splice-site usage channels %d +, %d -", name, plus, minus)
    heads = [h for h, _ in model.config.new_tracks]
    slots = model.config.num_splice_sites if splice else None
    genome = Genome(fasta)
    identity = {"targets": str(targets_path), "tracks": tracks.to_csv(sep="\t", index=False)}
    if splice:
        identity["splice_samples"] = samples.to_csv(sep="\t", index=False)
    if usage is not None:  # absent without usage rows, as before they existed: older runs still resume
        identity["usage_samples"] = usage_samples.to_csv(sep="\t", index=False)
    train_windows = _windows(windows_path, "train")
    if train_windows.empty:
        raise TrainingDataError(f"{windows_path}: no training windows; re-run split_windows with fewer held-out regions")
    if settings.batch_size > len(train_windows):
        raise TrainingDataError(
            f"{windows_path}: {len(train_windows)} training window(s) but train.batch_size = {settings.batch_size}; "
            f"set train.batch_size to at most {len(train_windows)}, or add training windows (more train.contigs, "
            "fewer held-out contigs or regions, a smaller train.stride_bp)")
    validation_windows = _windows(windows_path, "validation")
    loss_fn = new_tracks_loss(model, settings.window_bp, len(samples), settings.gene_loss_weight, usage)
    gene_masks = None
    if settings.gene_loss_weight > 0:
        gene_masks, identity["gene_annotation"] = _gene_masks(gtf, train_windows, validation_windows,
                                                              settings.max_shift)
    source = WindowsSource(genome, train_windows, store_targets(store, heads, slots), margin=settings.max_shift,
                           batch_size=settings.batch_size, seed=settings.seed, organism=organism,
                           shuffle_targets=settings.shuffle_targets, identity=identity, gene_masks=gene_masks)
    validation_source = None if validation_windows.empty else WindowsSource(
        genome, validation_windows, store_targets(store, heads, slots), margin=0, batch_size=1, seed=0,
        organism=organism, gene_masks=gene_masks)
    request, means = _request(model, splice, usage), _track_means(model)
    targets = {h: TargetSpec(h, reindexing=new_track_target_reindexing(model.new_tracks, h)) for h in heads}
    if splice:
        targets.update({h: TargetSpec(h) for h in SPLICE_HEADS + ((USAGE_HEAD,) if usage is not None else ())})
    trainer = Trainer(model, loss_fn, _settings(settings, checkpoint_every, _trained_heads(model, splice, usage is not None)),
                      targets=targets, request=request, track_means=means, checkpoint_dir=checkpoint_dir,
                      run_config=_run_config(settings, validation_windows, store), junctions_on_target_sites=splice)
    validate = _Validation(model, validation_source, loss_fn, means, request, target_sites=splice)
    state_dir = Path(checkpoint_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    _recover_best(state_dir / BEST_DIR)
    try:
        trainer.fit(source, stop_after=0)  # resume (if a checkpoint of this run exists) without a step
    except ResumeError as exc:
        raise resume_refused(exc, checkpoint_dir) from None
    curve = _read_curve(state_dir / CURVE_FILE, trainer.step)
    curve = _with_resumed_train_row(curve, trainer, settings)
    started, first = time.perf_counter(), trainer.step
    if validation_source is None:
        log.warning("train_model: no validation windows; the delivered model is the last step's")
    while True:
        step = trainer.step
        if (step % settings.validate_every == 0 or step == settings.steps) and step not in set(
                curve.loc[curve["split"] == "validation", "step"]):
            loss = validate(trainer.variables())
            if loss is not None:
                seen = curve.loc[curve["split"] == "validation", "loss"]
                best = float(seen.min()) if len(seen) else np.inf
                log.info("train_model: step %s validation loss %.5g%s", f"{step:,}", loss,
                         " (best so far)" if loss < best else "")
                if loss < best or not (state_dir / BEST_DIR).exists():
                    clear_best_delta(state_dir)
                    _save_model(state_dir / BEST_DIR, trainer.variables(), model, f"train_model step {step}")
                    save_best_delta(state_dir, trainer, model, base, f"train_model step {step}", delta_dir)
                curve = pd.concat([curve, pd.DataFrame([{"step": step, "split": "validation", "loss": loss}])],
                                  ignore_index=True)
                write_table(curve, state_dir / CURVE_FILE, TrainingDataError, sep="\t", index=False)
        if step >= settings.steps:
            break
        chunk = min(settings.validate_every - step % settings.validate_every, settings.steps - step)
        result = trainer.fit(source, stop_after=chunk)
        if result.last_loss is not None:
            curve = pd.concat([curve, pd.DataFrame([{"step": result.step, "split": "train", "loss": result.last_loss}])],
                              ignore_index=True)
            write_table(curve, state_dir / CURVE_FILE, TrainingDataError, sep="\t", index=False)  # a kill keeps it
    if validation_source is None:
        clear_best_delta(state_dir)
        _save_model(state_dir / BEST_DIR, trainer.variables(), model, f"train_model step {trainer.step}")
        save_best_delta(state_dir, trainer, model, base, f"train_model step {trainer.step}", delta_dir)
    seconds = time.perf_counter() - started
    validation = curve[curve["split"] == "validation"]
    best_step = int(validation.loc[validation["loss"].idxmin(), "step"]) if len(validation) else trainer.step
    out = Path(model_dir)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)  # left by a killed copy
    shutil.copytree(state_dir / BEST_DIR, partial)
    partial.rename(out)
    deliver_delta(state_dir, base, out, delta_dir)
    write_table(curve, curve_path, TrainingDataError, sep="\t", index=False)
    summary = {"mode": settings.mode, "steps": settings.steps, "best_step": best_step,
               "best_validation_loss": None if not len(validation) else float(validation["loss"].min()),
               "new_tracks": 0 if model.new_tracks is None else int(len(model.new_tracks)),
               "splice_samples": int(len(samples)),
               "splice_junction_channels": {str(r.name): int(r.channel) for r in samples.itertuples()},
               "splice_site_usage_channels": usage_of,
               "devices": len(jax.local_devices()),
               "backend": jax.default_backend(), "steps_this_call": trainer.step - first,
               "seconds_this_call": round(seconds, 1), "shuffle_targets": settings.shuffle_targets,
               "gene_loss_weight": settings.gene_loss_weight}
    write_text(summary_path, json.dumps(summary, indent=1) + "\n")
    log.info("train_model: best validation step %s of %s; model in %s", f"{best_step:,}", f"{settings.steps:,}", out)
    return summary
