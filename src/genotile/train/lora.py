"""LoRA: low-rank adapters on the tower's attention projections and MLP, as a re-parametrisation of the weights.

Why at the parameter tree and not in the modules: the adapted kernel is ``W + (alpha / r) A B``
(``A [in, r]``, ``B [r, out]``, B zero at the start so training starts from the base model), and
computing that sum before the forward pass gives the same function as an adapter branch inside the
layer. It needs no change to the model, keeps inference bit-identical, and merging for inference is
just keeping the sum: the delivered weights are ordinary weights that every loader reads unchanged.
The cost is one ``[in, out]`` sum per adapted kernel per step (small next to the activations).

Targets are module names inside the tower's ``mha_block_i`` (``q_layer``, ``k_layer``, ``v_layer``,
``linear_embedding``: the output projection) and ``mlp_block_i`` (``linear``, ``linear_1``) scopes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from genotile.train.freezing import TOWER_SCOPE, FreezingError, flat, nested

ATTENTION_TARGETS = ("q_layer", "k_layer", "v_layer", "linear_embedding")
MLP_TARGETS = ("linear", "linear_1")
_BLOCKS = {"mha_block": ATTENTION_TARGETS, "mlp_block": MLP_TARGETS}
KERNEL = "w"


@dataclasses.dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: float = 16.0  # the update is scaled by alpha / rank
    targets: tuple[str, ...] = ATTENTION_TARGETS + MLP_TARGETS

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise FreezingError(f"lora rank must be at least 1, got {self.rank}")
        known = set(ATTENTION_TARGETS + MLP_TARGETS)
        unknown = sorted(set(self.targets) - known)
        if unknown or not self.targets:
            raise FreezingError(f"unknown lora target(s) {unknown or '(none given)'}; choose from: {', '.join(sorted(known))}")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def _block_kind(block: str) -> str | None:
    for kind in _BLOCKS:
        if block == kind or (block.startswith(kind + "_") and block[len(kind) + 1 :].isdigit()):
            return kind
    return None


def adapted_kernels(params: Mapping[str, Any], settings: LoraSettings) -> list[str]:
    """The '/'-joined paths of the kernels that get an adapter (checked: never silently none)."""
    found = []
    for path in flat(params):
        parts = path.split("/")
        if len(parts) == 4 and parts[0] == TOWER_SCOPE and parts[3] == KERNEL:
            kind = _block_kind(parts[1])
            if kind is not None and parts[2] in _BLOCKS[kind] and parts[2] in settings.targets:
                found.append(path)
    if not found:
        raise FreezingError(f"no tower kernel matches the lora targets {list(settings.targets)}; fix: mode: heads or full")
    return sorted(found)


def init_adapters(params: Mapping[str, Any], settings: LoraSettings, key: jax.Array) -> dict[str, Any]:
    """``{kernel path: {'a': [in, r], 'b': [r, out]}}`` (nested), A ~ N(0, 1/in), B = 0."""
    leaves = flat(params)
    adapters = {}
    for i, path in enumerate(adapted_kernels(params, settings)):
        w = leaves[path]
        fan_in, fan_out = int(w.shape[0]), int(w.shape[-1])
        a = jax.random.normal(jax.random.fold_in(key, i), (fan_in, settings.rank), jnp.float32) / math.sqrt(fan_in)
        adapters[f"{path}/a"] = a
        adapters[f"{path}/b"] = jnp.zeros((settings.rank, fan_out), jnp.float32)
    return nested(adapters)


def apply_adapters(params: Mapping[str, Any], adapters: Mapping[str, Any], settings: LoraSettings) -> dict[str, Any]:
    """The parameter tree with every adapted kernel replaced by ``W + scale A B`` (the merged weights)."""
    leaves = flat(params)
    pieces = flat(adapters)
    for path in {p.rsplit("/", 1)[0] for p in pieces}:
        w = leaves[path]
        leaves[path] = w + settings.scale * (pieces[f"{path}/a"] @ pieces[f"{path}/b"]).astype(w.dtype)
    return nested(leaves)
