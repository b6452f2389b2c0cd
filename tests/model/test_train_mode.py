"""The train-mode model: batch-statistic RMSBatchNorm with an EMA, dropout, rematerialisation.

Inference must not move: ``test_inference_bytes_frozen`` compares a digest of
the tiny model's outputs with one computed at the commit *before* train mode
existed (XLA:CPU, float32, jitted as the predictor does).
"""

from __future__ import annotations

import hashlib

import jax
import numpy as np
import pytest

from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import synthetic_model
from genotile.model.config import F32
from genotile.model.layout import build_model, default_track_means

#: sha256 of the tiny model's outputs (``_digest``) before train mode was added (commit 3a73823).
FROZEN_DIGEST = "9d10d4df26279833be242aaa1ce5402f5776152a7bc7fa1e1b437388d765385a"
DIGEST_REQUEST = OutputRequest(heads=("dnase", "contact_maps"), embeddings=True)


@pytest.fixture(scope="module")
def tiny():
    return synthetic_model("tiny", 0)


def _onehot(length: int, batch: int = 1, seed: int = 14) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (batch, length))]


def _digest(tree) -> str:
    """sha256 over (name, dtype, bytes) of every leaf, in name order."""
    flat = {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v) for path, v in jax.tree_util.tree_leaves_with_path(tree)}
    h = hashlib.sha256()
    for name in sorted(flat):
        h.update(name.encode())
        h.update(str(flat[name].dtype).encode())
        h.update(np.ascontiguousarray(flat[name]).tobytes())
    return h.hexdigest()


def test_inference_bytes_frozen(tiny):
    """The default call (what predictor and variants use) gives today's bytes, not merely close values."""
    if jax.default_backend() != "cpu":
        pytest.skip("the frozen digest was computed with XLA:CPU")
    model = build_model(tiny.config, F32)
    means = default_track_means(tiny.config)
    fn = jax.jit(lambda v, d, o: model.apply(v, d, o, means, DIGEST_REQUEST))
    out = fn(tiny.variables, _onehot(4096), np.zeros((1,), np.int32))
    assert _digest(out) == FROZEN_DIGEST
