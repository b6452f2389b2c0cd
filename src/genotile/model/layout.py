"""The mapping between genotile's Flax variables and the official Haiku checkpoint tree.

Because module and parameter names match the reference (see ``layers``),
the mapping is structural: Flax ``{'params': {a: {b: {'w': x}}}}`` is Haiku
``{'alphagenome/a/b': {'w': x}}``, and the ``state`` collection holds the
``var_ema`` arrays the same way. Shapes come from ``jax.eval_shape`` of the
model's init, so no listing is kept by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genotile.model.alphagenome import ALL_OUTPUTS, AlphaGenome
from genotile.model.config import F32, ModelConfig, Precision, get_config
from genotile.outputs import MODEL_HEADS, by_head
from genotile.sequence.encoding import GRID_BP

ROOT = "alphagenome"
MIN_LENGTH = GRID_BP  # the shortest input the model takes
HaikuTree = dict[str, dict[str, Any]]


def default_track_means(cfg: ModelConfig) -> dict[str, np.ndarray]:
    """All-ones track means: what the reference uses when metadata carries no ``nonzero_mean``."""
    return {
        head: np.ones((cfg.num_organisms, cfg.tracks(head)), np.float32)
        for head in MODEL_HEADS
        if by_head(head).genome_track
    }


def build_model(cfg: ModelConfig | str, precision: Precision = F32) -> AlphaGenome:
    return AlphaGenome(get_config(cfg), precision)


def init_variables(cfg: ModelConfig | str, rng: jax.Array | int = 0) -> dict[str, Any]:
    """Freshly initialised variables (official initialisers; standardised conv kernels start at zero)."""
    cfg = get_config(cfg)
    if isinstance(rng, int):
        rng = jax.random.PRNGKey(rng)
    model = build_model(cfg)
    dna = jnp.zeros((1, MIN_LENGTH, 4), jnp.float32)
    org = jnp.zeros((1,), jnp.int32)
    return model.init(rng, dna, org, default_track_means(cfg), ALL_OUTPUTS)


@functools.cache
def variable_shapes(cfg: ModelConfig) -> dict[str, Any]:
    """Shape tree of the variables, without allocating them."""
    return jax.eval_shape(lambda: init_variables(cfg))


def flatten_collection(tree: Mapping[str, Any], prefix: str = ROOT) -> HaikuTree:
    """Nested Flax dict -> Haiku ``{module_path: {name: leaf}}``."""
    out: HaikuTree = {}

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, path + (key,))
            else:
                out.setdefault("/".join((prefix,) + path), {})[key] = value

    walk(tree, ())
    return out


def unflatten_collection(tree: Mapping[str, Mapping[str, Any]], prefix: str = ROOT) -> dict[str, Any]:
    """Haiku ``{module_path: {name: leaf}}`` -> nested Flax dict."""
    out: dict[str, Any] = {}
    for module, leaves in tree.items():
        parts = module.split("/")
        if parts[0] != prefix:
            raise KeyError(f"module path {module!r} does not start with {prefix!r}")
        node = out
        for part in parts[1:]:
            node = node.setdefault(part, {})
        for name, leaf in leaves.items():
            node[name] = leaf
    return out


def to_official(variables: Mapping[str, Any]) -> tuple[HaikuTree, HaikuTree]:
    """Flax variables -> the reference's ``(params, state)`` pair."""
    return flatten_collection(variables["params"]), flatten_collection(variables.get("state", {}))


def from_official(params: Mapping[str, Mapping[str, Any]], state: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The reference's ``(params, state)`` pair -> Flax variables."""
    return {"params": unflatten_collection(params), "state": unflatten_collection(state)}


def official_shapes(cfg: ModelConfig | str) -> tuple[dict[str, dict[str, tuple[int, ...]]], dict[str, dict[str, tuple[int, ...]]]]:
    """``{module_path: {name: shape}}`` for params and state of a model size."""
    params, state = to_official(variable_shapes(get_config(cfg)))
    as_shapes = lambda tree: {m: {n: tuple(v.shape) for n, v in leaves.items()} for m, leaves in tree.items()}
    return as_shapes(params), as_shapes(state)


def count_values(tree: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(int(np.prod(getattr(v, "shape", v))) for leaves in tree.values() for v in leaves.values())
