"""train.delta_checkpoint: train_model also writes the best model as a delta against its base, which the
user-facing loader (``model.checkpoint`` / ``--checkpoint``: genotile.model.loading.load_predictor) opens on
the recorded base, and refuses on other weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from genotile.model.checkpoints import CheckpointError, load_checkpoint, save_checkpoint, synthetic_model
from genotile.model.loading import load_predictor
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.train.delta_output import BEST_DELTA_DIR, delta_path
from genotile.train.train_model import train_model
from tests.train.test_train_model import QUICK, WINDOW, prepared, settings  # noqa: F401 (prepared: a fixture)


def _model_cfg(checkpoint: Path) -> dict:
    return {"checkpoint": str(checkpoint), "size": "tiny", "seed": 0, "metadata": None, "precision": "float32"}


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _train(folder: Path, fasta, out: Path, base_dir: Path, delta: bool, **changes) -> dict:
    return train_model(settings(**{**QUICK, **changes}), load_checkpoint(base_dir), str(fasta), str(folder / "windows.tsv"),
                       str(folder / "targets.zarr"), str(folder / "tracks.tsv"), str(out / "model"),
                       str(out / "curve.tsv"), str(out / "summary.json"), str(out / "checkpoints"), checkpoint_every=2,
                       delta_dir=str(delta_path(out / "model")) if delta else None)


def _leaves(model) -> dict[str, np.ndarray]:
    from genotile.model.checkpoints import _flat_official

    return _flat_official(model.variables)


@pytest.fixture(scope="module")
def heads_run(prepared, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """Two heads-mode steps on a base that is a genotile checkpoint on disk, the delta on."""
    folder, fasta = prepared
    out = tmp_path_factory.mktemp("delta_heads")
    base_dir = save_checkpoint(out / "base", synthetic_model("tiny", 0).variables, synthetic_model("tiny", 0).config)
    _train(folder, fasta, out, base_dir, delta=True)
    return folder, fasta, out, base_dir


def test_the_delta_predicts_what_the_full_checkpoint_predicts_bit_for_bit(heads_run):
    folder, fasta, out, base_dir = heads_run
    delta = out / "model_delta"
    meta = json.loads((delta / "genotile.json").read_text())
    assert meta["format"] == "genotile-delta" and meta["base"]["source"] == f"genotile:{base_dir}"
    assert meta["note"] == json.loads((out / "model" / "genotile.json").read_text())["note"]  # the same best step
    full, from_delta = load_predictor(_model_cfg(out / "model")), load_predictor(_model_cfg(delta))
    assert from_delta.model.identity == f"genotile-delta:{delta}"
    assert from_delta.config == full.config
    full_leaves, delta_leaves = _leaves(full.model), _leaves(from_delta.model)
    assert full_leaves.keys() == delta_leaves.keys()
    for key, value in full_leaves.items():
        np.testing.assert_array_equal(delta_leaves[key], value, err_msg=key)
    dna = one_hot(Genome(fasta).sequence("c2", 0, WINDOW))[None]
    a, b = full.predict(dna, 0), from_delta.predict(dna, 0)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(b[key]), np.asarray(a[key]), err_msg=key)
    # heads mode: the new head only (its linear and scale), far smaller than the whole model
    assert _size(delta / "weights") * 10 < _size(out / "model" / "weights")
    stored = {k for k in meta["checksums"]}
    assert stored and all("/head/dnase_new/" in k for k in stored)


def test_the_delta_refuses_other_base_weights_naming_both(heads_run, tmp_path):
    _, _, out, base_dir = heads_run
    copy = tmp_path / "delta"
    shutil.copytree(out / "model_delta", copy)
    meta = json.loads((copy / "genotile.json").read_text())
    moved = tmp_path / "other_base"
    save_checkpoint(moved, synthetic_model("tiny", 1).variables, synthetic_model("tiny", 1).config)
    meta["base"]["source"] = f"genotile:{moved}"  # the base checkpoint replaced by other weights
    (copy / "genotile.json").write_text(json.dumps(meta))
    other = load_checkpoint(moved)
    from genotile.model.checkpoints import weights_identity

    with pytest.raises(CheckpointError) as error:
        load_predictor(_model_cfg(copy))
    message = str(error.value)
    assert meta["base"]["identity"] in message and weights_identity(other.variables) in message
    assert f"genotile:{moved}" in message and "fix: load it on those weights" in message
    meta["base"]["source"] = f"genotile:{tmp_path / 'gone'}"
    (copy / "genotile.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="base weights .*gone.* are not found"):
        load_predictor(_model_cfg(copy))


def test_the_key_is_not_in_the_resume_fingerprint_and_off_removes_a_stale_delta(heads_run):
    """Off, then on again: both reruns resume the finished run (no ResumeError); off removes train/model_delta,
    on without the saved delta makes it from the delivered model (the same weights in heads mode)."""
    folder, fasta, out, base_dir = heads_run
    before = {k: v.copy() for k, v in _leaves(load_checkpoint(out / "model_delta")).items()}
    summary = _train(folder, fasta, out, base_dir, delta=False)
    assert summary["steps_this_call"] == 0 and not (out / "model_delta").exists()
    shutil.rmtree(out / "checkpoints" / BEST_DELTA_DIR)  # as if the key had been off during training
    summary = _train(folder, fasta, out, base_dir, delta=True)
    assert summary["steps_this_call"] == 0 and (out / "model_delta").is_dir()
    after = _leaves(load_checkpoint(out / "model_delta"))
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def test_a_lora_delta_keeps_the_adapters_unmerged(prepared, tmp_path):  # noqa: F811
    """lora with the last block unfrozen: the frozen kernels' adapters are stored (not the kernels), the trained
    block's adapted kernels whole; loaded, the weights equal the full checkpoint's up to the float32 rounding of
    W + scale A B (numpy's matmul on load, XLA's in training: equal bits on a CPU today, not promised, and on a
    GPU the training merge may run in TF32)."""
    folder, fasta = prepared
    base_dir = save_checkpoint(tmp_path / "base", synthetic_model("tiny", 0).variables, synthetic_model("tiny", 0).config)
    _train(folder, fasta, tmp_path, base_dir, delta=True, mode="lora", unfreeze_last_blocks=1,
           lora_targets=("q_layer", "v_layer"))
    delta = tmp_path / "model_delta"
    meta = json.loads((delta / "genotile.json").read_text())
    keys = list(meta["checksums"])
    adapters = [k for k in keys if k.startswith("params/lora_adapters/")]
    assert adapters and meta["lora_scale"] == 8.0 / 4
    full = load_checkpoint(tmp_path / "model")
    trained_block = max(int(k.split("mha_block_")[1].split("/")[0]) for k in _leaves(full) if "mha_block_" in k)
    assert not any(f"mha_block_{trained_block}|" in k for k in adapters)  # its kernels train: stored whole
    assert any(f"mha_block_{trained_block}/q_layer/w" in k for k in keys)
    assert not any("mha_block_0/q_layer/w" in k and "lora" not in k for k in keys)
    loaded = _leaves(load_predictor(_model_cfg(delta)).model)
    for key, value in _leaves(full).items():
        np.testing.assert_allclose(loaded[key], value, rtol=1e-6, atol=1e-7, err_msg=key)  # equal on x86 CPU today


def test_genotile_predict_loads_the_delta_and_says_why_not_on_other_weights(heads_run, tmp_path, capsys):
    from genotile.cli.main import main

    _, fasta, out, _ = heads_run
    args = ["--fasta", str(fasta), "--region", "c2:1-4096", "--outputs", "dnase", "--resolution", "128",
            "--precision", "float32"]
    for name in ("model", "model_delta"):
        assert main(["predict", "--checkpoint", str(out / name), *args, "--out", str(tmp_path / f"{name}.npz")]) == 0
    full, delta = np.load(tmp_path / "model.npz"), np.load(tmp_path / "model_delta.npz")
    key = next(k for k in full.files if k.endswith("predictions_128bp"))
    np.testing.assert_array_equal(delta[key], full[key])
    copy = tmp_path / "moved_delta"
    shutil.copytree(out / "model_delta", copy)
    meta = json.loads((copy / "genotile.json").read_text())
    meta["base"]["identity"] = "sha256:" + "0" * 64  # as if made on other weights
    (copy / "genotile.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(copy), *args, "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "sha256:" + "0" * 64 in err and "but the base given is sha256:" in err and "Traceback" not in err


def test_genotile_train_writes_the_delta_when_the_key_is_on(tmp_path):
    from genotile.cli.main import main
    from tests.cli.test_cli_train import _config

    config = _config(tmp_path, delta_checkpoint=True)
    assert main(["train", "--configfile", config, "--until", "train_model"]) == 0
    train = tmp_path / "results" / "cli" / "train"
    assert json.loads((train / "model_delta" / "genotile.json").read_text())["format"] == "genotile-delta"
    assert load_predictor(_model_cfg(train / "model_delta")).config == load_checkpoint(train / "model").config


@pytest.mark.slow
def test_genotile_score_scores_the_new_track_with_the_full_and_the_delta_checkpoint(heads_run, tmp_path):
    """The fine-tuned checkpoint feeds variant scoring unchanged: its new track is scored beside the original
    ones, and the delta gives the same scores."""
    import pandas as pd

    from genotile.cli.main import main

    _, fasta, out, _ = heads_run
    sequence = Genome(fasta).sequence("c2", 0, WINDOW)
    alt = {"A": "G", "C": "T", "G": "A", "T": "C"}
    records = "".join(f"c2\t{p}\t.\t{sequence[p - 1]}\t{alt[sequence[p - 1]]}\t.\tPASS\t.\n" for p in (1500, 2048, 3000))
    vcf = tmp_path / "few.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=c2>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + records)
    scores = {}
    for name in ("model", "model_delta"):
        assert main(["score", "--vcf", str(vcf), "--fasta", str(fasta), "--out", str(tmp_path / name), "--checkpoint",
                     str(out / name), "--size", "tiny", "--window-bp", str(2 * WINDOW), "--precision", "float32",
                     "--scorer", "CenterMask:DNASE:501:DIFF_MEAN"]) == 0
        scores[name] = pd.read_parquet(tmp_path / name / "scores" / "CenterMask.DNASE.501.DIFF_MEAN.parquet")
    full = scores["model"]
    tracks = load_checkpoint(out / "model").config.tracks("dnase")
    assert len(full) == 3 * tracks and "motif" in set(full["track_name"])
    pd.testing.assert_frame_equal(scores["model_delta"], full)
