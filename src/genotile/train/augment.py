"""Training augmentation inside the jit: a random shift and a reverse complement (p = 0.5) per row.

Why inside the jit: both are a few gathers on arrays already on the device; done on the host they
would cost a copy of every 1 Mb batch and make the sampler's output depend on the augmentation.
The draws come from the step's key, so a resumed run draws the same shifts and strands.

Shift: the batch carries ``max_shift`` extra bases on both sides (``dna [B, S + 2 max_shift, 4]``,
1-bp targets likewise) and each row is cropped to ``S`` at an offset drawn uniformly in
``[0, 2 max_shift]``. Targets at coarser resolutions cannot move by single bases, so shifting needs
1-bp targets (the losses sum-pool them to 128 bp, as the reference does); contact maps (2,048-bp
bins) are only flipped, and need ``max_shift: 0``.

Reverse complement: the sequence is reverse-complemented and each target is mapped into the
reversed window's frame with the *inference* map, ``genotile.model.predictor.reverse_complement_output``
(reverse, strand swap by the organism's re-indexing, DNase's one-base shift, contact maps flipped on
both axes). That map is its own inverse except that DNase's first base becomes 0 (a target of 0 at
one position: harmless in the loss), so predictions on the reversed sequence are compared with
targets in the same frame, and masks get the same channel swap.

Splice junctions: their targets ``[B, K, K, C]`` are counts on site slots, and the slots' positions
(``batch[SITE_POSITIONS]``, ``[B, 4, K]``, in the batch row's frame) move instead: a shift subtracts
the crop offset (a site cropped out becomes ``-1``, so the junction head masks its junctions), a reverse
complement mirrors them and reorders the rows with the inference map (the - strand's sites become the +
strand's); the counts only swap their strand halves (the target's ``reindexing``).

Splice-site usage (``[B, S + 2 max_shift, 2 m]``, + strand channels then - strand ones) moves as the 1-bp
targets: cropped, and on a reverse complement flipped with its strand halves swapped (a + strand site at
``p`` is a - strand site at ``S - 1 - p`` of the reversed window), as the classes swap their strands.

Gene masks (``batch["gene_mask"]``, ``[B, S + 2 max_shift, 2, G]``, the RNA-seq loss's gene-level term): a
shift crops them as the 1-bp targets; a reverse complement reverses them along the sequence and swaps the
two strand rows (a + strand gene of the window is a - strand gene of the reversed one, and reads the
reversed window's - strand tracks, which the targets' strand swap filled with its + strand data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genotile.model.predictor import SPLICE_CLASS_REINDEXING, reverse_complement_output
from genotile.outputs import CONTACT_MAPS, SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES
from genotile.sequence.encoding import GRID_BP, reverse_complement_one_hot
from genotile.train.losses import GENE_MASK_KEY

Batch = dict[str, Any]
#: The batch key of the junction targets' site slots ``[B, 4, K]`` (the reference's ``splice_site_positions``).
SITE_POSITIONS = "splice_site_positions"


class AugmentError(ValueError):
    """A batch or target description the augmentation cannot handle, with the fix."""


@dataclasses.dataclass(frozen=True)
class AugmentSettings:
    max_shift: int = 1024  # bases each side; 0 turns shifting off
    reverse_complement: bool = True  # with probability 0.5 per row

    def __post_init__(self) -> None:
        if self.max_shift < 0:
            raise AugmentError(f"augmentation max_shift must be 0 or more, got {self.max_shift}")

    @property
    def active(self) -> bool:
        return self.max_shift > 0 or self.reverse_complement


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """How one target array moves with the sequence.

    ``output_head``: the model head whose reverse-complement rule applies (``dnase`` gets the one-base
    shift, ``contact_maps`` is flipped on both axes, every other head is reversed along positions).
    ``reindexing``: per organism, the strand re-indexing of the target's channels (row o: channel c of
    the reversed window reads channel ``reindexing[o][c]``); None for unstranded targets (the splice-site
    classes default to the model's class swap, junction counts and site usage to swapping their + and - strand
    halves).
    """

    output_head: str
    field: str = "predictions_1bp"
    reindexing: tuple[tuple[int, ...], ...] | None = None

    @property
    def pair_map(self) -> bool:
        return self.output_head == CONTACT_MAPS.head

    def reindex_table(self, channels: int, organisms: int) -> np.ndarray | None:
        if self.reindexing is not None:
            return np.asarray(self.reindexing, np.int32)
        if self.output_head == SPLICE_SITES.head:
            return np.tile(SPLICE_CLASS_REINDEXING.astype(np.int32), (organisms, 1))
        if self.output_head in (SPLICE_JUNCTIONS.head, SPLICE_SITE_USAGE.head):  # + strand channels, then - strand
            half = channels // 2
            return np.tile(np.r_[half:channels, 0:half].astype(np.int32), (organisms, 1))
        return None


def window_length(batch_length: int, settings: AugmentSettings) -> int:
    """The model's input length for a batch whose sequences are ``batch_length`` bp (margins included)."""
    return batch_length - 2 * settings.max_shift


def check_batch(batch: Mapping[str, Any], settings: AugmentSettings, specs: Mapping[str, TargetSpec]) -> None:
    """Stop before the first step when a batch cannot be augmented (shapes, margins, unknown targets)."""
    dna = batch["dna"]
    length = int(dna.shape[1])
    window = window_length(length, settings)
    if window <= 0 or window % GRID_BP:
        raise AugmentError(
            f"batch sequences are {length:,} bp with max_shift {settings.max_shift:,}, so the model would see "
            f"{window:,} bp, not a positive multiple of {GRID_BP:,}; fix: deliver windows of S + 2 x max_shift bp "
            f"with S a multiple of {GRID_BP:,}"
        )
    if not settings.active:
        return
    genes = batch.get(GENE_MASK_KEY)
    if genes is not None and (genes.ndim != 4 or int(genes.shape[1]) != length or int(genes.shape[2]) != 2):
        raise AugmentError(
            f"batch[{GENE_MASK_KEY!r}] has shape {list(genes.shape)}; augmentation needs gene masks [batch, {length:,}, "
            "2 strands, genes] with the sequence's margins; fix: build them over each window's context (gene_masks_fn)"
        )
    for name, target in batch.get("targets", {}).items():
        spec = specs.get(name)
        if spec is None:
            raise AugmentError(
                f"target {name!r} has no TargetSpec, so it cannot be shifted or reverse-complemented with the "
                "sequence; fix: pass targets={name: TargetSpec(output_head=...)} to the trainer"
            )
        if spec.output_head == SPLICE_JUNCTIONS.head:
            positions = batch.get(SITE_POSITIONS)
            if positions is None or positions.ndim != 3 or positions.shape[1] != 4 or target.ndim != 4 or not (
                    int(target.shape[1]) == int(target.shape[2]) == int(positions.shape[2])):
                raise AugmentError(
                    f"target {name!r}: junction counts [batch, K, K, channels] need their site slots "
                    f"batch[{SITE_POSITIONS!r}] [batch, 4, K]; got {list(target.shape)} and "
                    f"{None if positions is None else list(positions.shape)}; fix: deliver both (store_targets does)"
                )
            continue
        if spec.pair_map:
            if settings.max_shift:
                raise AugmentError(
                    f"target {name!r}: contact maps (2,048-bp bins) cannot be shifted by single bases; fix: max_shift: 0"
                )
        elif target.ndim != 3 or int(target.shape[1]) != length:
            raise AugmentError(
                f"target {name!r} has shape {list(target.shape)}; augmentation needs 1-bp targets [batch, {length:,}, "
                "channels] with the sequence's margins; fix: deliver 1-bp targets (the loss pools them)"
            )


def draw(key: jax.Array, rows: int, settings: AugmentSettings) -> tuple[jax.Array, jax.Array]:
    """Per row: crop offset in [0, 2 max_shift] and whether to reverse-complement."""
    shift_key, strand_key = jax.random.split(key)
    offsets = jax.random.randint(shift_key, (rows,), 0, 2 * settings.max_shift + 1, dtype=jnp.int32)
    reverse = jax.random.bernoulli(strand_key, 0.5, (rows,)) if settings.reverse_complement else jnp.zeros(rows, bool)
    return offsets, reverse


def augment(batch: Batch, key: jax.Array, settings: AugmentSettings, specs: Mapping[str, TargetSpec]) -> Batch:
    """The batch the model sees: rows cropped to the window, reverse-complemented ones with targets and masks
    mapped into the reversed frame. Keys other than dna/targets/masks pass through unchanged."""
    dna = batch["dna"]
    window = window_length(dna.shape[1], settings)
    if not settings.active:
        return batch
    organisms = batch["organism"]
    offsets, reverse = draw(key, dna.shape[0], settings)
    targets = dict(batch.get("targets", {}))
    masks = dict(batch.get("masks", {}))
    tables = {
        name: (
            None
            if (table := specs[name].reindex_table(int(t.shape[-1]), 2)) is None
            else jnp.asarray(table)
        )
        for name, t in targets.items()
    }

    def one_row(row_dna, row_targets, row_masks, organism, offset, rc):
        seq = jax.lax.dynamic_slice_in_dim(row_dna, offset, window, axis=0)
        seq = jnp.where(rc, reverse_complement_one_hot(seq), seq)
        new_targets, new_masks = {}, {}
        for name, value in row_targets.items():
            spec = specs[name]
            if not spec.pair_map and spec.output_head != SPLICE_JUNCTIONS.head:
                value = jax.lax.dynamic_slice_in_dim(value, offset, window, axis=0)
            reindex = None if tables[name] is None else tables[name][organism]
            flipped = reverse_complement_output(spec.output_head, spec.field, value[None], reindex, window)[0]
            new_targets[name] = jnp.where(rc, flipped, value)
        for name, mask in row_masks.items():
            table = tables.get(name)
            new_masks[name] = mask if table is None else jnp.where(rc, mask[..., table[organism]], mask)
        return seq, new_targets, new_masks

    seq, targets, masks = jax.vmap(one_row)(dna, targets, masks, organisms, offsets, reverse)
    out = {**batch, "dna": seq, "targets": targets, "masks": masks}
    if SITE_POSITIONS in batch:
        out[SITE_POSITIONS] = move_site_positions(batch[SITE_POSITIONS], offsets, reverse, window)
    if GENE_MASK_KEY in batch:
        out[GENE_MASK_KEY] = move_gene_masks(batch[GENE_MASK_KEY], offsets, reverse, window)
    return out


def move_gene_masks(masks: jax.Array, offsets: jax.Array, reverse: jax.Array, window: int) -> jax.Array:
    """Gene masks ``[B, L, 2, G]`` cropped to ``[offset, offset + window)`` per row; reversed rows flipped along
    the sequence with their + and - strand rows swapped."""

    def one_row(mask, offset, rc):
        mask = jax.lax.dynamic_slice_in_dim(mask, offset, window, axis=0)
        return jnp.where(rc, mask[::-1, ::-1, :], mask)

    return jax.vmap(one_row)(jnp.asarray(masks), offsets, reverse)


def move_site_positions(positions: jax.Array, offsets: jax.Array, reverse: jax.Array, window: int) -> jax.Array:
    """Site slots ``[B, 4, K]`` of the batch rows in the cropped (and, where ``reverse``, reversed) window's frame.

    A site outside the crop becomes ``-1`` (the junction head masks it); reversed rows are mirrored and their
    rows reordered as the inference map does (``reverse_complement_output``, field ``splice_site_positions``)."""
    positions = jnp.asarray(positions, jnp.int32)
    moved = positions - offsets[:, None, None]
    moved = jnp.where((positions >= 0) & (moved >= 0) & (moved < window), moved, -1)
    flipped = reverse_complement_output(SPLICE_JUNCTIONS.head, SITE_POSITIONS, moved, None, window)
    return jnp.where(reverse[:, None, None], flipped, moved)
