"""Deterministic pseudo-random weights in any parameter layout.

Why this exists: the exactness test needs a *full-size* checkpoint that both
the reference implementation and genotile can load, and that the test can
regenerate bit-for-bit on any machine, with any numpy version, in seconds.
numpy's RNG streams are not promised to be stable across versions, so the
values come from a counter-based hash (splitmix64) of (seed, array name,
element index): array ``k`` of a tree never depends on which other arrays
exist or in what order they are generated.

The value *scales* are chosen so that a forward pass of the real
architecture stays finite and non-trivial (no saturated softmax, no
all-zero heads): fan-in scaled weights, norms near identity, stored
variances in [0.5, 1.5]. They are not meant to be biologically meaningful.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

import numpy as np

Shape = tuple[int, ...]
ShapeTree = Mapping[str, Mapping[str, Shape]]
ArrayTree = dict[str, dict[str, np.ndarray]]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_CHUNK = 1 << 22
_RESIDUAL_BRANCH_ENDS = ("standardized_conv1_d", "rms_batch_norm_1")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def hashed_uniform(key: str, seed: int, size: int) -> np.ndarray:
    """``size`` float32 values uniform in [-1, 1), a pure function of (key, seed, index)."""
    base = np.uint64(((zlib.crc32(key.encode()) & 0xFFFFFFFF) << 32) | (seed & 0xFFFFFFFF))
    out = np.empty(size, dtype=np.float32)
    with np.errstate(over="ignore"):
        for start in range(0, size, _CHUNK):
            stop = min(size, start + _CHUNK)
            counters = np.arange(start, stop, dtype=np.uint64) + _splitmix64(np.array([base]))[0]
            bits = _splitmix64(counters) >> np.uint64(40)  # top 24 bits
            out[start:stop] = bits.astype(np.float32) * np.float32(2.0 / (1 << 24)) - np.float32(1.0)
    return out


def value_rule(module: str, name: str, shape: Shape) -> tuple[float, float]:
    """(mean, standard deviation) used for one array, by its role in the model."""
    if name == "var_ema":
        return 1.0, 0.5 / math.sqrt(3.0)  # uniform in [0.5, 1.5]
    if name == "scale" and module.endswith(_RESIDUAL_BRANCH_ENDS):
        # Residual branches add to the stream with a small gain, so that ~60
        # stacked residual blocks keep activations O(1) instead of growing
        # geometrically (the stored variances do not track them as trained
        # statistics would); saturated softmaxes would make tests insensitive.
        return 0.25, 0.05
    if name in ("scale", "residual_scale", "learnt_scale"):
        return 1.0, 0.1
    if name in ("offset", "bias", "b", "q_r_bias", "k_r_bias"):
        return 0.0, 0.05
    if name == "embeddings":
        return 0.0, 0.1
    if name in ("w", "kernel"):
        if module.endswith("multi_organism_linear"):
            fan_in = shape[-2]
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        return 0.0, 1.0 / math.sqrt(max(fan_in, 1))
    return 0.0, 0.05


def synthetic_array(module: str, name: str, shape: Shape, seed: int) -> np.ndarray:
    """One float32 array: mean + std * sqrt(3) * U[-1, 1)."""
    mean, std = value_rule(module, name, shape)
    size = int(np.prod(shape)) if shape else 1
    u = hashed_uniform(f"{module}/{name}", seed, size)
    values = np.float32(mean) + np.float32(std * math.sqrt(3.0)) * u
    return values.reshape(shape).astype(np.float32)


def synthetic_tree(shapes: ShapeTree, seed: int) -> ArrayTree:
    """Fill a Haiku-style two-level tree ``{module_path: {name: shape}}`` with values."""
    return {
        module: {name: synthetic_array(module, name, tuple(shape), seed) for name, shape in leaves.items()}
        for module, leaves in shapes.items()
    }
