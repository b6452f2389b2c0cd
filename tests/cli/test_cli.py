"""The ``genotile`` command line, run in-process: model summary/init, predict, and one-line errors (exit 2)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from genotile.cli.main import main
from genotile.model.prediction_io import read_predictions
from genotile.sequence.demo import write_demo_genome

METADATA = Path(__file__).resolve().parents[3] / "shared/alphagenome/metadata"
needs_metadata = pytest.mark.skipif(not METADATA.is_dir(), reason=f"track metadata not found at {METADATA}")

REGION = "demo1:1-4096"


@pytest.fixture(scope="module", autouse=True)
def _persistent_compilation_cache(tmp_path_factory):
    """Share XLA executables between the predict runs of this module (each builds a fresh jit).

    Only a speed-up: every run still traces the model; identical programs are compiled once. The
    process's previous settings are restored afterwards. Skipped silently if jax's API moves.
    """
    import jax

    try:
        from jax._src import compilation_cache
    except ImportError:  # pragma: no cover - private API
        yield
        return
    settings = {
        "jax_compilation_cache_dir": str(tmp_path_factory.mktemp("xla_cache")),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": -1,
    }
    try:
        old = {name: getattr(jax.config, name) for name in settings}
        for name, value in settings.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()
    except Exception:  # pragma: no cover - private API
        yield
        return
    try:
        yield
    finally:
        for name, value in old.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()


@pytest.fixture(scope="module")
def fasta(tmp_path_factory) -> Path:
    return write_demo_genome(tmp_path_factory.mktemp("genome") / "demo.fa", seed=0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """``genotile model init --size tiny --seed 1 --out DIR`` (a genotile checkpoint)."""
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert main(["model", "init", "--size", "tiny", "--seed", "1", "--out", str(out)]) == 0
    assert (out / "genotile.json").is_file()
    return out


@pytest.fixture(scope="module")
def npz_run(checkpoint, fasta, tmp_path_factory):
    out = tmp_path_factory.mktemp("npz") / "X.npz"
    code = main(["predict", "--checkpoint", str(checkpoint), "--fasta", str(fasta), "--region", REGION,
                 "--outputs", "atac", "contact_maps", "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def _error_line(capsys) -> str:
    """The single ``genotile: error: ...`` line on stderr (log lines aside); no traceback anywhere."""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("genotile: error: ")]
    assert len(errors) == 1, captured.err
    assert lines[-1] == errors[0]
    assert all(line.startswith("[genotile ") for line in lines[:-1]), captured.err
    return errors[0]


# -- model summary / init ---------------------------------------------------------------------------------------------


def _section(text: str, name: str) -> str:
    match = re.search(rf"^  {name}\s+([\d,]+)\s+([\d,]+)$", text.split("sections:")[1], re.M)
    assert match, f"no section row {name!r}"
    return match[1]


def test_model_summary_full(capsys):
    assert main(["model", "summary", "--size", "full"]) == 0
    out = capsys.readouterr().out
    assert "450,452,613" in out and "100,608" in out
    assert re.search(r"^total\s+450,452,613\s+100,608$", out, re.M)
    # spec §5 section totals
    assert _section(out, "sequence_encoder") == "89,972,992"
    assert _section(out, "transformer_tower") == "191,801,088"
    assert _section(out, "sequence_decoder") == "111,501,447"
    assert _section(out, "head") == "46,533,630"
    assert "589 arrays" in out and "81 arrays" in out


def test_model_summary_default_is_full(capsys):
    assert main(["model", "summary"]) == 0
    assert "450,452,613" in capsys.readouterr().out


def test_model_summary_tiny(capsys):
    assert main(["model", "summary", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "'tiny'" in out
    assert re.search(r"^total\s+4,485,477\s+4,144$", out, re.M)


def test_model_init_refuses_an_existing_folder(checkpoint, capsys):
    assert main(["model", "init", "--size", "tiny", "--out", str(checkpoint)]) == 2
    assert "already exists" in _error_line(capsys)


# -- predict ----------------------------------------------------------------------------------------------------------


def test_predict_npz(npz_run, checkpoint, fasta):
    outputs, attrs = read_predictions(npz_run)
    assert outputs["atac/predictions_1bp"].shape == (1, 4096, 256)
    assert outputs["atac/predictions_128bp"].shape == (1, 32, 256)
    assert outputs["contact_maps/predictions"].shape == (1, 2, 2, 28)
    assert all(name.split("/")[0] in ("atac", "contact_maps") for name in outputs)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in outputs.values())
    assert attrs["region"] == REGION
    assert (attrs["contig"], attrs["start"], attrs["end"], attrs["strand"]) == ("demo1", 0, 4096, "+")
    assert attrs["organism"] == "human"
    assert attrs["model"] == f"genotile:{checkpoint.resolve()}"
    assert attrs["model_size"] == "tiny"
    assert attrs["precision"] == "float32"
    assert attrs["metadata"] is None
    assert attrs["fasta"] == str(fasta)
    assert attrs["genotile_version"]


def test_predict_zarr_matches_npz(npz_run, checkpoint, fasta, tmp_path, capsys):
    out = tmp_path / "X.zarr"
    code = main(["predict", "--checkpoint", str(checkpoint), "--fasta", str(fasta), "--region", REGION,
                 "--outputs", "atac", "contact_maps", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert f"wrote 5 arrays to {out}" in capsys.readouterr().out
    assert out.is_dir()
    outputs, attrs = read_predictions(out)
    reference, reference_attrs = read_predictions(npz_run)
    assert sorted(outputs) == sorted(reference)
    for name, value in reference.items():
        np.testing.assert_array_equal(outputs[name], value, err_msg=name)
    assert attrs == reference_attrs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.zarr"]  # no temporary left behind


def test_predict_official_layout_checkpoint(npz_run, fasta, tmp_path, capsys):
    """``model init --official`` writes the same weights in the official layout; it needs ``--size tiny``."""
    official = tmp_path / "official"
    assert main(["model", "init", "--size", "tiny", "--seed", "1", "--official", "--out", str(official)]) == 0
    assert not (official / "genotile.json").exists()
    out = tmp_path / "X.npz"
    args = ["predict", "--checkpoint", str(official), "--fasta", str(fasta), "--region", REGION,
            "--outputs", "atac", "contact_maps", "--out", str(out)]  # fmt: skip
    capsys.readouterr()

    # Official checkpoints are taken as full-size unless told otherwise: the tiny one is refused, naming an array.
    assert main(args) == 2
    assert re.search(r"array alphagenome/\S+", _error_line(capsys))
    assert not out.exists()

    assert main(args + ["--size", "tiny"]) == 0
    outputs, attrs = read_predictions(out)
    reference, _ = read_predictions(npz_run)
    for name, value in reference.items():
        np.testing.assert_array_equal(outputs[name], value, err_msg=name)
    assert attrs["model"] == f"official:{official.resolve()}"


def test_predict_genotile_checkpoint_with_the_wrong_size(checkpoint, fasta, tmp_path, capsys):
    code = main(["predict", "--checkpoint", str(checkpoint), "--size", "full", "--fasta", str(fasta),
                 "--region", REGION, "--outputs", "contact_maps", "--out", str(tmp_path / "X.npz")])  # fmt: skip
    assert code == 2
    line = _error_line(capsys)
    assert "'tiny'" in line and "'full'" in line


def test_predict_negative_strand(checkpoint, fasta, tmp_path, capsys):
    base = ["predict", "--checkpoint", str(checkpoint), "--fasta", str(fasta), "--region", REGION]
    minus, plus = tmp_path / "minus.npz", tmp_path / "plus.npz"

    # Heads whose channels are strand-paired need the metadata to be re-indexed: refused up front, clearly.
    assert main(base + ["--strand", "-", "--outputs", "atac", "contact_maps", "--out", str(minus)]) == 2
    line = _error_line(capsys)
    assert "metadata" in line and "atac" in line
    assert not minus.exists()

    # Contact maps need no metadata (they are flipped on both axes).
    assert main(base + ["--strand", "-", "--outputs", "contact_maps", "--out", str(minus)]) == 0
    assert main(base + ["--strand", "+", "--outputs", "contact_maps", "--out", str(plus)]) == 0
    got, attrs = read_predictions(minus)
    forward, _ = read_predictions(plus)
    assert sorted(got) == ["contact_maps/predictions"]
    assert got["contact_maps/predictions"].shape == (1, 2, 2, 28)
    assert np.isfinite(got["contact_maps/predictions"]).all()
    assert attrs["strand"] == "-"
    assert not np.array_equal(got["contact_maps/predictions"], forward["contact_maps/predictions"])


# -- bad inputs: exit 2, one line, no traceback ------------------------------------------------------------------------


def _bad_input_cases(tmp: Path, fasta: Path) -> dict[str, tuple[list[str], list[str]]]:
    (tmp / "not_a_checkpoint").mkdir()
    (tmp / "afile").write_text("a regular file: nothing can be created under it, even by root")
    return {
        "length": (["--region", "demo1:1-4000"], ["4,000", "2,048"]),
        "contig": (["--region", "chrZ:1-4096"], ["chrZ", str(fasta)]),
        "bare-contig": (["--region", "chrZ"], ["chrZ"]),
        "organism": (["--organism", "martian"], ["martian", "organism"]),
        "fasta": (["--fasta", str(tmp / "missing.fa")], [str(tmp / "missing.fa"), "not found"]),
        "checkpoint": (["--checkpoint", str(tmp / "not_a_checkpoint")], [str(tmp / "not_a_checkpoint"), "Orbax"]),
        "checkpoint-missing": (["--checkpoint", str(tmp / "nowhere")], [str(tmp / "nowhere"), "not found"]),
        "metadata": (["--metadata", "/nonexistent"], ["/nonexistent", "metadata"]),
        "suffix": (["--out", str(tmp / "X.h5")], ["X.h5", ".zarr or .npz"]),
        "unwritable": (["--out", str(tmp / "afile" / "x.zarr")], [str(tmp / "afile"), "cannot write"]),
        "regex-without-metadata": (["--track-regex", "GM12878"], ["--track-regex", "--metadata"]),
    }


CASES = ["length", "contig", "bare-contig", "organism", "fasta", "checkpoint", "checkpoint-missing", "metadata",
         "suffix", "unwritable", "regex-without-metadata"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line(case, fasta, tmp_path, capsys):
    extra, expected = _bad_input_cases(tmp_path, fasta)[case]
    args = {"--fasta": str(fasta), "--region": REGION, "--outputs": "contact_maps", "--out": str(tmp_path / "X.npz")}
    for flag, value in zip(extra[::2], extra[1::2]):
        args[flag] = value
    argv = ["predict"] + [token for flag, value in args.items() for token in (flag, value)]
    assert main(argv) == 2
    line = _error_line(capsys)
    for text in expected:
        assert text in line, (text, line)
    assert not (tmp_path / "X.npz").exists()
    # Nothing but the inputs the case made: no output, no temporary folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "not_a_checkpoint"]


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["predict", "--fasta", "x.fa", "--region", REGION, "--out", "x.npz", "--outputs", "nonsense"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- track metadata ---------------------------------------------------------------------------------------------------


@needs_metadata
def test_track_regex_keeps_matching_tracks(checkpoint, fasta, tmp_path, capsys):
    from genotile.model.metadata import load_metadata

    dnase = load_metadata(METADATA, "human")["dnase"]
    # Track names are '<ontology CURIE> <assay>' (e.g. 'EFO:0002784 DNase-seq'); GM12878 is EFO:0002784.
    gm12878 = dnase.loc[dnase["biosample_name"] == "GM12878", "index"].to_numpy()
    assert len(gm12878) >= 1
    regex = "EFO:0002784"
    assert dnase.loc[gm12878, "name"].str.contains(regex).all()
    matching = dnase.loc[dnase["name"].str.contains(regex) & ~dnase["padding"], "index"].to_numpy()

    base = ["predict", "--checkpoint", str(checkpoint), "--fasta", str(fasta), "--region", "demo1:1-2048",
            "--metadata", str(METADATA), "--outputs", "dnase"]  # fmt: skip
    assert main(base + ["--out", str(tmp_path / "all.npz")]) == 0
    assert main(base + ["--track-regex", regex, "--out", str(tmp_path / "some.npz")]) == 0
    everything, _ = read_predictions(tmp_path / "all.npz")
    some, attrs = read_predictions(tmp_path / "some.npz")
    assert attrs["metadata"] == str(METADATA)
    assert sorted(some) == sorted(everything) == ["dnase/predictions_128bp", "dnase/predictions_1bp",
                                                  "dnase/scaled_predictions_128bp", "dnase/scaled_predictions_1bp"]  # fmt: skip
    for name, value in everything.items():
        assert value.shape[-1] == 384
        assert some[name].shape == value.shape[:-1] + (len(matching),)
        np.testing.assert_array_equal(some[name], value[..., matching], err_msg=name)

    capsys.readouterr()
    assert main(base + ["--track-regex", "no-such-track-xyz", "--out", str(tmp_path / "none.npz")]) == 2
    line = _error_line(capsys)
    assert "no-such-track-xyz" in line and "matches no track" in line and "dnase" in line
    assert not (tmp_path / "none.npz").exists()


@needs_metadata
def test_invalid_track_regex(fasta, tmp_path, capsys):
    code = main(["predict", "--fasta", str(fasta), "--region", REGION, "--metadata", str(METADATA),
                 "--outputs", "dnase", "--track-regex", "(", "--out", str(tmp_path / "X.npz")])  # fmt: skip
    assert code == 2
    line = _error_line(capsys)
    assert "--track-regex" in line and "regular expression" in line


@needs_metadata
def test_negative_strand_with_metadata(checkpoint, fasta, tmp_path):
    """With metadata the strand-paired heads reverse-complement fine."""
    out = tmp_path / "X.npz"
    code = main(["predict", "--checkpoint", str(checkpoint), "--fasta", str(fasta), "--region", "demo1:1-2048",
                 "--metadata", str(METADATA), "--outputs", "dnase", "--strand", "-", "--out", str(out)])  # fmt: skip
    assert code == 0
    outputs, attrs = read_predictions(out)
    assert attrs["strand"] == "-"
    assert outputs["dnase/predictions_1bp"].shape == (1, 2048, 384)
