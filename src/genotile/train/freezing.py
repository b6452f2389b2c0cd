"""Which parameters train: the mode (``heads`` / ``lora`` / ``full``), the last N tower layers, extra path prefixes.

Why a partition rather than a masked optimizer: a frozen leaf must carry *no* optimizer state (Adam
keeps two moments per value: for the full model that is 3.6 GB of f32 for weights that never move).
``optax.multi_transform`` with ``set_to_zero`` still builds the inner optimizer over a tree that
names every leaf, so here the parameter tree is split into a trainable tree and a frozen tree; the
optimizer is built over the trainable tree only and gradients are taken only with respect to it (so
a frozen trunk below the trainable leaves is not even differentiated).

Paths are the module paths of the checkpoint, '/'-joined (``head/dnase/resolution_1/...``,
``transformer_tower/mha_block_3/q_layer/w``), the reference's Haiku names.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Literal

from flax import traverse_util

from genotile.model.config import GENOME_TRACK_RESOLUTIONS, new_head_scope

Tree = Mapping[str, Any]
Mode = Literal["heads", "lora", "full"]
MODES: tuple[str, ...] = ("heads", "lora", "full")
HEAD_SCOPE = "head"
TOWER_SCOPE = "transformer_tower"
# Tower modules per layer i: attention_bias_block_i, mha_block_i, mlp_block_i; pair_update_block_j runs before
# layer 2j (see genotile.model.tower.TransformerTower).
NEW_HEAD_SCOPES = frozenset(new_head_scope(h) for h in GENOME_TRACK_RESOLUTIONS)
_TOWER_BLOCK = re.compile(r"^(attention_bias_block|mha_block|mlp_block|pair_update_block)(?:_(\d+))?$")


class FreezingError(ValueError):
    """Training settings that select parameters the model does not have, with the fix."""


@dataclasses.dataclass(frozen=True)
class Trainable:
    """What trains. ``heads``: every ``head/...`` parameter, plus the last ``unfreeze_last_blocks`` tower
    layers and any path starting with one of ``extra_prefixes``; ``lora``: the same plus low-rank adapters
    on the tower (``genotile.train.lora``; the adapted kernels themselves stay frozen); ``full``: everything.

    ``new_heads_only`` (effective when the model has new heads, ``head/<head>_new``): of the heads, only
    the new ones train, so the original tracks predict exactly what the base model predicts.

    ``only_heads`` (modes heads and lora): when given, exactly these head scopes train (``dnase_new``,
    ``splice_sites_classification``, ...), new or not: a splice fine-tune trains the splice heads and leaves
    the heads its loss does not read untouched (weight decay would move them otherwise)."""

    mode: Mode = "heads"
    unfreeze_last_blocks: int = 0
    extra_prefixes: tuple[str, ...] = ()
    new_heads_only: bool = True
    only_heads: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FreezingError(f"unknown training mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if self.unfreeze_last_blocks < 0:
            raise FreezingError(f"unfreeze_last_blocks must be 0 or more, got {self.unfreeze_last_blocks}")


def flat(tree: Tree) -> dict[str, Any]:
    """``{'a': {'b': x}}`` -> ``{'a/b': x}``."""
    return traverse_util.flatten_dict(tree, sep="/")


def nested(flat_tree: Mapping[str, Any]) -> dict[str, Any]:
    return traverse_util.unflatten_dict(dict(flat_tree), sep="/")


def tower_layer(path: str) -> int | None:
    """The tower layer a parameter path belongs to (None outside the tower); pair-update block j -> layer 2j."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != TOWER_SCOPE:
        return None
    match = _TOWER_BLOCK.match(parts[1])
    if match is None:
        return None
    index = int(match.group(2) or 0)
    return 2 * index if match.group(1) == "pair_update_block" else index


def is_new_head(path: str) -> bool:
    """Whether a parameter path belongs to a head added for new tracks (``head/<head>_new/...``)."""
    parts = path.split("/")
    return len(parts) > 1 and parts[0] == HEAD_SCOPE and parts[1] in NEW_HEAD_SCOPES


def trainable_paths(params: Tree, trainable: Trainable) -> set[str]:
    """The '/'-joined paths of the leaves that train (checked against the tree: nothing silently empty)."""
    paths = list(flat(params))
    if trainable.mode == "full":
        return set(paths)
    layers = sorted({layer for p in paths if (layer := tower_layer(p)) is not None})
    if trainable.unfreeze_last_blocks > len(layers):
        raise FreezingError(
            f"unfreeze_last_blocks is {trainable.unfreeze_last_blocks}, but the model's tower has {len(layers)} "
            f"layers; fix: choose at most {len(layers)} (or mode: full)"
        )
    open_layers = set(layers[len(layers) - trainable.unfreeze_last_blocks :]) if trainable.unfreeze_last_blocks else set()
    only_new = trainable.new_heads_only and any(is_new_head(p) for p in paths)
    if trainable.only_heads is not None:
        scopes = {p.split("/")[1] for p in paths if p.split("/")[0] == HEAD_SCOPE and "/" in p}
        missing = sorted(set(trainable.only_heads) - scopes)
        if missing:
            raise FreezingError(f"only_heads names head(s) {missing} the model does not have (it has {sorted(scopes)})")

    def trained_head(p: str) -> bool:
        parts = p.split("/")
        if parts[0] != HEAD_SCOPE:
            return False
        if trainable.only_heads is not None:
            return len(parts) > 1 and parts[1] in trainable.only_heads
        return is_new_head(p) or not only_new

    chosen = set()
    for p in paths:
        layer = tower_layer(p)
        if trained_head(p) or layer in open_layers:
            chosen.add(p)
        elif any(p == prefix or p.startswith(prefix.rstrip("/") + "/") for prefix in trainable.extra_prefixes):
            chosen.add(p)
    unknown = [x for x in trainable.extra_prefixes if not any(p == x or p.startswith(x.rstrip("/") + "/") for p in paths)]
    if unknown:
        raise FreezingError(
            f"trainable prefix(es) {unknown} name no parameter of the model; fix: use module paths such as "
            "'output_embedder' or 'transformer_tower/mlp_block_1'"
        )
    if not chosen:
        raise FreezingError("no parameter would train: the model has no 'head/...' parameters; fix: mode: full")
    return chosen


def partition(params: Tree, paths: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split into (trainable, frozen) nested trees; each holds only its own leaves."""
    leaves = flat(params)
    return (
        nested({p: v for p, v in leaves.items() if p in paths}),
        nested({p: v for p, v in leaves.items() if p not in paths}),
    )


def merge(trainable: Tree, frozen: Tree) -> dict[str, Any]:
    """The full parameter tree again (the inverse of :func:`partition`)."""
    return nested({**flat(frozen), **flat(trainable)})
