"""Checkpoint integrity: per-array checksums verified on load, `model manifest` / `model verify`, damaged
checkpoints through the CLI without tracebacks, and the forward pass's non-finite output check.

One tiny genotile checkpoint is written per module; the damaged copies are made from it once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from genotile.cli import main as cli
from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import (
    CONFIG_FILE,
    MANIFEST_FILE,
    WEIGHTS_DIR,
    CheckpointError,
    LoadedModel,
    _restore_any,
    array_checksums,
    load_checkpoint,
    read_manifest,
    save_checkpoint,
    synthetic_model,
    verify_checkpoint,
    write_manifest,
    write_official,
)
from genotile.model.config import GENOME_TRACK_RESOLUTIONS, TINY
from genotile.model.layout import to_official
from genotile.model.predictor import NonFiniteOutputError, Predictor, TrackMetadata
from genotile.sequence.encoding import one_hot

ROOT = Path(__file__).resolve().parents[2]
GENOTILE = ROOT / ".venv" / "bin" / "genotile"
LENGTH = 4096


@pytest.fixture(scope="module")
def tiny():
    return synthetic_model("tiny", 0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("integrity")


@pytest.fixture(scope="module")
def good(folder, tiny):
    return save_checkpoint(folder / "good", tiny.variables, TINY, note="integrity tests")


@pytest.fixture(scope="module")
def good_checksums(good):
    return json.loads((good / CONFIG_FILE).read_text())["checksums"]


def _orbax_folder(checkpoint: Path) -> Path:
    return checkpoint / WEIGHTS_DIR if (checkpoint / CONFIG_FILE).exists() else checkpoint


def _largest_data_file(checkpoint: Path) -> Path:
    """The OCDBT data file that holds most of the array chunks (the tiny model's is ~14 MB)."""
    files = [p for p in _orbax_folder(checkpoint).rglob("*") if p.is_file() and p.parent.name == "d"]
    return max(files, key=lambda p: p.stat().st_size)


def _damaged_arrays(checkpoint: Path, checksums: dict[str, str]) -> list[str]:
    """The arrays whose restored values differ from the recorded checksums (read without any check)."""
    found = array_checksums(*_restore_any(_orbax_folder(checkpoint)))
    return sorted(k for k in checksums if found[k] != checksums[k])


def _corrupt_copy(source: Path, path: Path, checksums: dict[str, str]) -> tuple[Path, str]:
    """Copy ``source`` to ``path`` with 16 bytes flipped inside an array's stored (compressed) chunk.

    The flip must leave a stream that still restores (the silent case). Which offsets do depends on
    the bytes, so a few are tried. Returns the copy and the first damaged array (as the loader names it).
    """
    for fraction in (0.5, 0.3, 0.7, 0.4, 0.6, 0.2, 0.8):
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(source, path)
        data = _largest_data_file(path)
        raw = bytearray(data.read_bytes())
        offset = int(len(raw) * fraction)
        raw[offset : offset + 16] = bytes(b ^ 0xFF for b in raw[offset : offset + 16])
        data.write_bytes(bytes(raw))
        try:
            damaged = _damaged_arrays(path, checksums)
        except CheckpointError:
            continue  # this flip broke the compressed stream: a truncation-like error, tested separately
        if damaged:
            return path, damaged[0]
    pytest.fail("no 16-byte flip in the data file restored without a decompression error")


@pytest.fixture(scope="module")
def corrupted(folder, good, good_checksums):
    """A genotile checkpoint with flipped bytes in one array's stored data, and that array's name."""
    return _corrupt_copy(good, folder / "corrupted", good_checksums)


@pytest.fixture(scope="module")
def truncated(folder, good):
    """A copy whose main array data file is cut in half."""
    path = folder / "truncated"
    shutil.copytree(good, path)
    data = _largest_data_file(path)
    with data.open("r+b") as handle:
        handle.truncate(data.stat().st_size // 2)
    return path


@pytest.fixture(scope="module")
def deleted(folder, good):
    """A copy whose main array data file is gone."""
    path = folder / "deleted"
    shutil.copytree(good, path)
    _largest_data_file(path).unlink()
    return path


@pytest.fixture(scope="module")
def official(folder, tiny):
    """The same weights in the official layout (no genotile.json, so no built-in checksums)."""
    params, state = to_official(tiny.variables)
    as_np = lambda tree: {m: {n: np.asarray(v, np.float32) for n, v in leaves.items()} for m, leaves in tree.items()}
    return write_official(folder / "official", as_np(params), as_np(state))


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([str(GENOTILE), *args], capture_output=True, text=True, env=env, timeout=300)


# -- checksums on save and load ---------------------------------------------------------------------------------------


def test_save_records_a_checksum_per_array(good, good_checksums, tiny):
    params, state = to_official(tiny.variables)
    n_arrays = sum(len(v) for v in params.values()) + sum(len(v) for v in state.values())
    assert len(good_checksums) == n_arrays
    assert all(k.startswith(("params/", "state/")) for k in good_checksums)
    assert all(len(v) == 64 for v in good_checksums.values())
    # The recorded checksum is sha256 of the array's float32 values, reproducible with numpy + hashlib alone.
    import hashlib

    module, leaves = next(iter(sorted(params.items())))
    name, value = next(iter(sorted(leaves.items())))
    assert good_checksums[f"params/{module}/{name}"] == hashlib.sha256(np.asarray(value, "<f4").tobytes()).hexdigest()
    assert load_checkpoint(good).source == "genotile"  # verified, unchanged


def test_corrupted_array_is_named_on_load(corrupted):
    path, damaged = corrupted
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert f"array {damaged} does not match its checksum" in message
    assert "re-download / re-create the checkpoint" in message
    assert str(path) in message


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_truncated_or_deleted_data_is_one_error_on_load(request, damage):
    path = request.getfixturevalue(damage)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "re-download / re-create the checkpoint" in message


def test_version_1_checkpoint_without_checksums_still_loads(folder, good):
    path = folder / "version1"
    shutil.copytree(good, path)
    meta = json.loads((path / CONFIG_FILE).read_text())
    del meta["checksums"], meta["checksum_algorithm"]
    meta["version"] = 1
    (path / CONFIG_FILE).write_text(json.dumps(meta))
    assert load_checkpoint(path).config == TINY
    with pytest.raises(CheckpointError, match="no checksums to verify against"):
        verify_checkpoint(path)


# -- manifest and verify ----------------------------------------------------------------------------------------------


def test_verify_uses_built_in_checksums(good, good_checksums):
    result = verify_checkpoint(good)
    assert result.arrays == len(good_checksums)
    assert result.values > 0
    assert result.source == str(good / CONFIG_FILE)


def test_manifest_round_trip_on_an_official_checkpoint(folder, official, good_checksums):
    with pytest.raises(CheckpointError, match="no checksums to verify against") as info:
        verify_checkpoint(official)
    assert "genotile model manifest" in str(info.value)

    path, count = write_manifest(official)
    assert path == official / MANIFEST_FILE
    assert count == len(good_checksums)
    # The same weights give the same per-array checksums whichever layout folder holds them.
    assert read_manifest(path) == good_checksums
    assert verify_checkpoint(official).source == str(path)
    assert load_checkpoint(official, "tiny").source == "official"  # checked against the manifest too
    with pytest.raises(CheckpointError, match="already exists"):
        write_manifest(official)

    # A manifest elsewhere, given explicitly.
    elsewhere, _ = write_manifest(official, folder / "official.manifest.json")
    assert verify_checkpoint(official, elsewhere).arrays == count


def test_manifest_catches_damage_to_an_official_checkpoint(folder, official, good_checksums):
    """Damage after the manifest was made (flipped bytes in the official copy's array data)."""
    source = folder / "official_with_manifest"
    shutil.copytree(official, source)
    if not (source / MANIFEST_FILE).exists():
        write_manifest(source)
    damaged, name = _corrupt_copy(source, folder / "official_damaged", good_checksums)
    assert (damaged / MANIFEST_FILE).is_file()
    with pytest.raises(CheckpointError, match=f"array {name} does not match its checksum"):
        verify_checkpoint(damaged)
    with pytest.raises(CheckpointError, match=f"array {name} does not match its checksum"):
        load_checkpoint(damaged, "tiny")


def test_manifest_of_another_checkpoint_is_refused(folder, good, official):
    other = folder / "other"
    save_checkpoint(other, synthetic_model("tiny", 1).variables, TINY)
    manifest, _ = write_manifest(other, folder / "other.manifest.json")
    with pytest.raises(CheckpointError, match="does not match its checksum"):
        verify_checkpoint(good, manifest)
    data = json.loads(manifest.read_text())
    data["arrays"]["params/alphagenome/nowhere/w"] = "0" * 64
    manifest.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="nowhere/w listed in the checksums"):
        verify_checkpoint(good, manifest)
    (folder / "not_a_manifest.json").write_text("[]")
    with pytest.raises(CheckpointError, match="not a genotile checksum manifest"):
        verify_checkpoint(good, folder / "not_a_manifest.json")


def test_cli_verify_ok_and_corrupted(good, corrupted, good_checksums, capsys):
    assert cli.main(["model", "verify", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and f"{len(good_checksums):,} arrays" in out

    path, damaged = corrupted
    assert cli.main(["model", "verify", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genotile: error: ")
    assert damaged in err[0] and "re-download / re-create the checkpoint" in err[0]


def test_cli_manifest_writes_out_file(official, folder, capsys):
    out = folder / "cli.manifest.json"
    assert cli.main(["model", "manifest", str(official), "--out", str(out)]) == 0
    assert "wrote checksums of" in capsys.readouterr().out
    assert cli.main(["model", "verify", str(official), "--manifest", str(out)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


# -- damaged checkpoints through the real CLI: one line, exit 2, no traceback -----------------------------------------


@pytest.fixture(scope="module")
def fasta(folder):
    rng = np.random.default_rng(0)
    path = folder / "genome.fa"
    path.write_text(">chr1\n" + "".join(rng.choice(list("ACGT"), 16_384)) + "\n")
    return path


@pytest.mark.slow  # two CLI processes (~10 s each)
@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_cli_predict_on_a_damaged_checkpoint(request, damage, fasta, folder):
    path = request.getfixturevalue(damage)
    path = path[0] if isinstance(path, tuple) else path
    result = _run_cli("predict", "--fasta", str(fasta), "--region", "chr1:1-4096", "--checkpoint", str(path),
                      "--outputs", "dnase", "--out", str(folder / f"{damage}.npz"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Event loop is closed" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("genotile: error: ")]
    assert len(errors) == 1 and "re-download / re-create the checkpoint" in errors[0]
    assert not (folder / f"{damage}.npz").exists()


def test_cli_verify_on_a_deleted_data_file(deleted, capfd):
    assert cli.main(["model", "verify", str(deleted)]) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Event loop is closed" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genotile: error: ") and str(deleted) in lines[0]
    assert "re-download / re-create the checkpoint" in lines[0]


# -- non-finite outputs -----------------------------------------------------------------------------------------------

REQUEST = OutputRequest(heads=("atac", "dnase"), resolutions=(128,))


@pytest.fixture(scope="module")
def dna():
    rng = np.random.default_rng(0)
    return one_hot("".join(rng.choice(list("ACGT"), LENGTH)))[None]


@pytest.fixture(scope="module")
def padded_predictor(tiny):
    """A healthy predictor whose metadata marks human ATAC tracks 0-2 as padding (NaN nonzero_mean)."""
    frames = {}
    for organism in range(tiny.config.num_organisms):
        frames[organism] = {}
        for head in GENOME_TRACK_RESOLUTIONS:
            means = np.ones(tiny.config.tracks(head))
            if head == "atac" and organism == 0:
                means[:3] = np.nan
            frames[organism][head] = pd.DataFrame({"nonzero_mean": means})
    return Predictor(tiny, TrackMetadata(frames), precision="float32")


def _with_inf_in(variables, head: str):
    """A copy of the variables with one weight of ``head``'s 128-bp linear set to inf."""
    broken = jax.tree.map(np.array, variables)
    w = broken["params"]["head"][head]["resolution_128"]["multi_organism_linear"]["w"]
    w[0, 0, 0] = np.inf
    return broken


def test_non_finite_output_names_the_head(tiny, dna):
    model = LoadedModel(tiny.config, _with_inf_in(tiny.variables, "dnase"), "genotile", "genotile:/data/ckpt")
    predictor = Predictor(model, precision="float32")
    with pytest.raises(NonFiniteOutputError) as info:
        predictor.predict(dna, "human", REQUEST)
    message = str(info.value)
    assert message.startswith("head dnase produced ")
    assert "non-finite values (inf/NaN): the weights are probably corrupted" in message
    assert "run `genotile model verify /data/ckpt`" in message
    assert "atac" not in message  # the healthy head is not blamed
    assert isinstance(info.value, ValueError)  # the CLI and rule scripts turn it into one line


def test_padding_tracks_are_nan_on_purpose_and_not_counted(padded_predictor, dna):
    """Padding tracks (NaN nonzero_mean) predict NaN: that is not a corrupted model."""
    out = padded_predictor.predict(dna, "human", REQUEST)
    values = out["atac/predictions_128bp"]
    assert np.isnan(values[..., :3]).all() and np.isfinite(values[..., 3:]).all()
    assert np.isfinite(out["atac/scaled_predictions_128bp"]).all()


def test_finite_check_leaves_outputs_bit_identical(padded_predictor, dna):
    """The check is a separate computation: outputs equal the compiled forward's alone, byte for byte."""
    p = padded_predictor
    checked = p.predict(dna, "human", REQUEST)
    rows = NamedSharding(p.mesh, PartitionSpec("batch"))  # as Predictor.forward places them: the same compiled call
    dna_device = jax.device_put(np.asarray(dna, np.float32), rows)
    org_device = jax.device_put(np.zeros((1,), np.int32), rows)
    raw = p._forward(REQUEST)(p.variables, dna_device, org_device)
    for name, value in checked.items():
        head, field = name.split("/")
        assert value.tobytes() == np.asarray(raw[head][field], np.float32).tobytes(), name
