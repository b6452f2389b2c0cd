"""Loading and saving model weights: the official AlphaGenome Orbax checkpoint, and genotile's own.

The official checkpoint (Kaggle / Hugging Face, behind the model terms) is an
Orbax ``StandardCheckpointer`` directory holding the Haiku pair
``(params, state)``. Loading is strict: before a byte of weights is read,
the checkpoint's own metadata is compared with the tree this model expects,
and the first missing, extra or mis-shaped array is named, so a user who
points at the wrong folder or a truncated download gets a one-line answer
rather than a failure deep inside a forward pass.

genotile's own checkpoints are the same Orbax layout under ``weights/`` plus
``genotile.json`` recording the model config, so a tiny or fine-tuned model
re-opens with the right shapes without the user restating them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genotile.model.config import FULL, ModelConfig, get_config
from genotile.model.layout import HaikuTree, from_official, official_shapes, to_official
from genotile.model.synthetic import synthetic_tree

CONFIG_FILE = "genotile.json"
WEIGHTS_DIR = "weights"
FORMAT_VERSION = 1
Variables = dict[str, Any]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason and the fix."""


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """Weights plus what is needed to rebuild the module that uses them."""

    config: ModelConfig
    variables: Variables
    source: str  # "official", "genotile" or "synthetic"
    identity: str  # a human-readable identity recorded as provenance


def _orbax():
    import orbax.checkpoint as ocp  # imported lazily: orbax pulls in tensorstore (slow import)

    return ocp


def _is_orbax_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in ("_METADATA", "_CHECKPOINT_METADATA", "manifest.ocdbt"))


def _checkpoint_metadata(path: Path) -> list[Mapping[str, Mapping[str, Any]]]:
    ocp = _orbax()
    try:
        meta = ocp.StandardCheckpointer().metadata(path)
    except Exception as exc:  # orbax raises many types; all mean "not a readable checkpoint"
        raise CheckpointError(f"{path}: cannot read the Orbax checkpoint metadata ({type(exc).__name__}: {exc})") from None
    tree = getattr(meta, "item_metadata", meta)
    tree = getattr(tree, "tree", tree)
    if not isinstance(tree, (list, tuple)) or len(tree) != 2:
        raise CheckpointError(
            f"{path}: expected the pair (params, state) that AlphaGenome checkpoints hold, "
            f"found a {type(tree).__name__}; is this an AlphaGenome checkpoint?"
        )
    return list(tree)


def _compare(kind: str, path: Path, found: Mapping[str, Mapping[str, Any]], expected: HaikuTree) -> None:
    """Raise on the first difference between a checkpoint's arrays and the model's, in a stable order."""
    found_keys = {(m, n): tuple(v.shape) for m, leaves in found.items() for n, v in leaves.items()}
    expected_keys = {(m, n): tuple(s) for m, leaves in expected.items() for n, s in leaves.items()}
    missing = sorted(expected_keys.keys() - found_keys.keys())
    extra = sorted(found_keys.keys() - expected_keys.keys())
    if missing:
        m, n = missing[0]
        raise CheckpointError(
            f"{path}: {kind} array {m}/{n} {list(expected_keys[(m, n)])} is missing "
            f"({len(missing)} missing in all). The checkpoint is incomplete or is not this model size."
        )
    if extra:
        m, n = extra[0]
        raise CheckpointError(
            f"{path}: unexpected {kind} array {m}/{n} {list(found_keys[(m, n)])} "
            f"({len(extra)} extra in all). The checkpoint is for a different model or size."
        )
    for key in sorted(expected_keys):
        if found_keys[key] != expected_keys[key]:
            raise CheckpointError(
                f"{path}: {kind} array {key[0]}/{key[1]} has shape {list(found_keys[key])}, "
                f"the model expects {list(expected_keys[key])}. The checkpoint is for a different model size."
            )


def read_official(path: str | os.PathLike[str], config: ModelConfig | str = FULL) -> Variables:
    """Strictly restore an official-layout ``(params, state)`` Orbax checkpoint into Flax variables."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint folder not found")
    if not _is_orbax_dir(path):
        raise CheckpointError(
            f"{path}: not an Orbax checkpoint (no _METADATA or manifest.ocdbt). Point at the folder "
            "downloaded from Kaggle/Hugging Face that holds those files."
        )
    cfg = get_config(config)
    expected_params, expected_state = official_shapes(cfg)
    found_params, found_state = _checkpoint_metadata(path)
    _compare("parameter", path, found_params, expected_params)
    _compare("state", path, found_state, expected_state)
    ocp = _orbax()
    target = [
        {m: {n: np.zeros(s, np.float32) for n, s in leaves.items()} for m, leaves in tree.items()}
        for tree in (expected_params, expected_state)
    ]
    try:
        params, state = ocp.StandardCheckpointer().restore(path, target=target)
    except Exception as exc:
        raise CheckpointError(f"{path}: restoring the arrays failed ({type(exc).__name__}: {exc})") from None
    as_f32 = lambda tree: {m: {n: np.asarray(v, np.float32) for n, v in leaves.items()} for m, leaves in tree.items()}
    return from_official(as_f32(params), as_f32(state))


def write_official(path: str | os.PathLike[str], params: HaikuTree, state: HaikuTree) -> Path:
    """Write ``(params, state)`` in the official Orbax layout (what the reference's ``create`` restores)."""
    path = Path(path).expanduser().resolve()
    if path.exists():
        raise CheckpointError(f"{path}: already exists; choose a new folder or delete it first")
    ocp = _orbax()
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, (params, state))
    checkpointer.wait_until_finished()
    return path


def save_checkpoint(path: str | os.PathLike[str], variables: Variables, config: ModelConfig, note: str = "") -> Path:
    """Save a genotile checkpoint: official-layout weights plus the model config that shapes them."""
    path = Path(path).expanduser().resolve()
    if path.exists():
        raise CheckpointError(f"{path}: already exists; choose a new folder or delete it first")
    path.mkdir(parents=True)
    params, state = to_official(variables)
    as_np = lambda tree: {m: {n: np.asarray(v, np.float32) for n, v in leaves.items()} for m, leaves in tree.items()}
    write_official(path / WEIGHTS_DIR, as_np(params), as_np(state))
    meta = {"format": "genotile", "version": FORMAT_VERSION, "config": dataclasses.asdict(config), "note": note}
    (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    return path


def _config_from_json(path: Path) -> ModelConfig:
    try:
        meta = json.loads((path / CONFIG_FILE).read_text())
        fields = dict(meta["config"])
        fields["head_tracks"] = tuple((str(k), int(v)) for k, v in fields["head_tracks"])
        return ModelConfig(**fields)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE}: unreadable genotile checkpoint config ({exc})") from None


def load_checkpoint(path: str | os.PathLike[str], config: ModelConfig | str | None = None) -> LoadedModel:
    """Open either kind of checkpoint: genotile's (config read from it) or official (``full`` by default)."""
    path = Path(path).expanduser().resolve()
    if (path / CONFIG_FILE).exists():
        cfg = _config_from_json(path)
        if config is not None and get_config(config) != cfg:
            raise CheckpointError(f"{path}: holds a {cfg.name!r} model, but {get_config(config).name!r} was asked for")
        return LoadedModel(cfg, read_official(path / WEIGHTS_DIR, cfg), "genotile", f"genotile:{path}")
    cfg = get_config(config or FULL)
    return LoadedModel(cfg, read_official(path, cfg), "official", f"official:{path}")


def synthetic_variables(config: ModelConfig | str, seed: int) -> Variables:
    """Deterministic pseudo-random weights for any size (tests, demos: not biologically meaningful)."""
    params, state = official_shapes(get_config(config))
    return from_official(synthetic_tree(params, seed), synthetic_tree(state, seed))


def synthetic_model(config: ModelConfig | str, seed: int) -> LoadedModel:
    cfg = get_config(config)
    return LoadedModel(cfg, synthetic_variables(cfg, seed), "synthetic", f"synthetic:{cfg.name}:seed={seed}")
