"""``variants.batch_size`` / ``ism.batch_size``: ``auto`` sizes the ALT batch from the device's free memory."""

from __future__ import annotations

import pytest

from genotile.model.checkpoints import synthetic_model
from genotile.model.predictor import Predictor
from genotile.variants import device_pass
from genotile.variants.device_pass import MAX_AUTO_BATCH_CPU, auto_batch_size, device_passes, row_bytes
from genotile.variants.engine import parse_scorers
from genotile.variants.predict import VariantModel
from genotile.variants.steps import resolved_batch_size

WINDOW = 16_384


@pytest.fixture(scope="module")
def job():
    specs = parse_scorers([
        {"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_LOG2_SUM"},
        {"scorer": "GeneMaskSplicing", "output": "SPLICE_SITES"},  # a host scorer: its outputs count in a row's bytes
    ])
    predictor = Predictor(synthetic_model("tiny", 0), None, precision="float32")
    return VariantModel(predictor, {s.output for s in specs}), specs


@pytest.mark.parametrize(("free_rows", "expected"), [(0.0, 1), (0.5, 1), (3.0, 3), (1e6, MAX_AUTO_BATCH_CPU)])  # the CPU cap here
def test_auto_takes_a_quarter_of_free_memory_between_one_row_and_the_cap(job, monkeypatch, free_rows, expected):
    model, specs = job
    assert model.predictor.devices[0].platform == "cpu"
    per_row = row_bytes(device_passes(model, specs, WINDOW))
    free = int(free_rows * per_row / device_pass.AUTO_BATCH_MEMORY_SHARE)
    monkeypatch.setattr(device_pass, "free_device_memory", lambda device: free)
    assert auto_batch_size(model, specs, WINDOW) == expected * len(model.predictor.devices)


def test_auto_without_memory_statistics_is_one_row_per_device(job, monkeypatch):
    model, specs = job
    monkeypatch.setattr(device_pass, "free_device_memory", lambda device: None)
    assert auto_batch_size(model, specs, WINDOW) == len(model.predictor.devices)


def test_a_row_holds_its_input_and_the_host_scorers_outputs(job, monkeypatch):
    from genotile.variants.device_pass import DevicePasses
    from genotile.variants.scorers.gene_mask_splicing import GeneMaskSplicing

    model, specs = job
    device_only = row_bytes(DevicePasses(model, specs, WINDOW))
    assert device_only >= WINDOW * 4 * 4  # the one-hot ALT input, float32
    monkeypatch.setattr(GeneMaskSplicing, "device_read", lambda self, spec: None)  # a kind that reduces on the host
    with_host = row_bytes(DevicePasses(model, specs, WINDOW))
    assert with_host > device_only  # + the splice-site head's whole-window outputs copied to the host


def test_resolved_batch_size(job, monkeypatch):
    model, specs = job
    monkeypatch.setattr(device_pass, "free_device_memory", lambda device: None)
    assert resolved_batch_size("auto", model, specs, WINDOW) == len(model.predictor.devices)
    assert resolved_batch_size(3, model, specs, WINDOW) == 3
    assert resolved_batch_size("5", model, specs, WINDOW) == 5
    assert resolved_batch_size(0, model, specs, WINDOW) == 1
