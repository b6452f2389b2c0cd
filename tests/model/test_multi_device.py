"""Data parallel over every local device: 4 virtual CPU devices give the same bytes as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HELPER = Path(__file__).resolve().parents[1] / "helpers" / "device_fingerprint.py"


def _fingerprint(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run([sys.executable, str(HELPER)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_four_devices_give_the_prediction_bytes_and_the_scores_of_one():
    one, four = _fingerprint(1), _fingerprint(4)
    assert (one["devices"], four["devices"]) == (1, 4)
    assert one["score_rows"] > 0
    assert four["predict"] == one["predict"], "predictions differ between 1 and 4 devices"
    # Scores: every ALT call is the same single-device program on 1 or N devices
    # (genotile.variants.device_pass.DevicePasses.submit), so one process gives the same score bytes on its first
    # device alone as on all four, and so does an accelerator node with 1 or N devices. Across two processes with
    # 1 and 4 virtual host devices XLA:CPU compiles that program differently (it splits loop fusions over as many
    # parts as there are virtual devices: the HLO differs only in outer_dimension_partitions), which moves last
    # bits of the heads: the same rows, values to float32 rounding.
    assert four["scores"] == four["scores_first_device_only"], "variant score bytes differ between 1 and 4 devices used"
    assert four["score_keys"] == one["score_keys"], "variant score rows differ between 1 and 4 devices"
    for name, values in one["score_values"].items():
        np.testing.assert_allclose(four["score_values"][name], values, rtol=1e-5, atol=1e-6, err_msg=name)


def test_batch_is_split_over_devices_and_padding_dropped():
    """In-process (1 device here): the padded forward returns exactly the requested rows."""
    import numpy as np

    from genotile.model.alphagenome import OutputRequest
    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor

    predictor = Predictor(synthetic_model("tiny", 0), None, precision="float32")
    assert predictor.device_count == len(predictor.mesh.devices)
    dna = np.eye(4, dtype=np.float32)[np.zeros((1, 16_384), int)]
    request = OutputRequest(heads=("dnase",))
    raw = predictor.forward(request, dna, np.zeros(1, np.int32))
    assert raw["dnase"]["predictions_1bp"].shape[0] == 1
