"""The workflow steps' N-run handling and clean re-initialisation (the tiny model on a few 16 kb windows)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from genotile.sequence.fasta import Genome
from genotile.tracks.contact_maps import create_contact_store
from genotile.tracks.n_runs import read_n_runs_bed, span_touches, unknown_bases
from genotile.tracks.steps import init_store, plan_windows, predict_batch
from genotile.tracks.store import open_track_array, read_n_mask

LENGTH = 32_768
GAP = (4_000, 20_000)  # owned region [8,192, 16,384) of the second window is all N; the others are partly N
CONFIG = {
    "run": "t",
    "organism": "human",
    "model": {"size": "tiny", "seed": 0, "metadata": None, "checkpoint": None, "precision": "float32"},
    "tiling": {"window_bp": 16_384, "owned_bp": 8_192, "contigs": [], "contig_regex": None, "regions_bed": None,
               "windows_per_batch": 8},
    "store": {"chunk_bp": 8_192, "dtype": "float32"},
    "inference": {"average_strands": False},
    "export": {"junction_min_value": 0.0},
    "tracks": [{"output": "dnase", "resolutions": [1, 128], "indices": [0, 1]},
               {"output": "splice_junctions", "indices": [0]}],
}  # fmt: skip


class StubPredictor:
    """The tiny model's configuration with deterministic, finite outputs everywhere (N runs included): the
    steps' masking and flagging are under test here, not the model (the demo run covers the real one)."""

    DONORS = (1_000, 9_000, 12_500)  # window-relative splice sites, + strand; - strand mirrored
    ACCEPTORS = (3_000, 11_000, 14_000)

    def __init__(self) -> None:
        from genotile.model.config import get_config

        self.config = get_config("tiny")
        self.metadata = None

    def predict(self, dna, organism, request, negative_strand=False):
        batch, length, _ = dna.shape
        out = {}
        channels = request.channels_for("dnase")
        for res in request.head_resolutions("dnase") if "dnase" in request.heads else ():
            bins = np.arange(length // res, dtype=np.float32)[:, None] + np.arange(len(channels), dtype=np.float32)
            out[f"dnase/predictions_{res}bp"] = np.broadcast_to(bins + 1, (batch, *bins.shape)).copy()
        k = self.config.num_splice_sites
        positions = np.full((batch, 4, k), -1, dtype=np.int32)
        for row, sites in enumerate((self.DONORS, self.ACCEPTORS, self.ACCEPTORS, self.DONORS)):
            positions[:, row, : len(sites)] = sites
        tissues = self.config.tracks("splice_sites_junction")
        out["splice_sites_junction/predictions"] = np.ones((batch, k, k, 2 * tissues), dtype=np.float32)
        out["splice_sites_junction/splice_site_positions"] = positions
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, step_settings):
    """The same batch predicted into two stores: predictions as they are, and with mask_n_runs."""
    import genotile.tracks.steps as steps

    folder = tmp_path_factory.mktemp("nmask")
    rng = np.random.default_rng(1)
    bases = np.array(list("ACGT"))[rng.integers(0, 4, LENGTH)]
    bases[GAP[0] : GAP[1]] = "N"
    bases[30_001] = "n"  # a single lower-case N: a 1-bp run
    fasta = folder / "g.fa"
    fasta.write_text(">c\n" + "\n".join("".join(bases[i : i + 80]) for i in range(0, LENGTH, 80)) + "\n")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(steps, "load_predictor", lambda cfg: StubPredictor())
        for masked in (False, True):
            run = folder / ("masked" if masked else "plain")
            run.mkdir()
            config = copy.deepcopy(CONFIG)
            config["store"]["mask_n_runs"] = masked
            _plan(step_settings, config, fasta, run)
            init_store(step_settings(config, "init_store"), str(fasta), str(run / "track_selection.tsv"),
                       str(run / "tracks.zarr"), str(run / "contacts.zarr"), str(run / "store.created"),
                       n_runs_bed=str(run / "n_runs.bed"))
            predict_batch(step_settings(config, "predict_batch"), str(fasta), str(run / "windows.tsv"),
                          str(run / "track_selection.tsv"), 0, str(run / "tracks.zarr"), str(run / "contacts.zarr"),
                          str(run / "junctions.parquet"), str(run / "batch_0.done"), windows_per_pass=2)
            out[masked] = run
    return fasta, out


def _plan(step_settings, config, fasta, run):
    plan_windows(step_settings(config, "plan_windows"), str(fasta), str(run / "windows.tsv"), str(run / "report.txt"),
                 str(run / "track_selection.tsv"))


def _init(step_settings, config, fasta, run, **kwargs):
    init_store(step_settings(config, "init_store"), str(fasta), str(run / "track_selection.tsv"), str(run / "tracks.zarr"),
               str(run / "contacts.zarr"), str(run / "store.created"), **kwargs)


def test_n_runs_bed_and_store_mask(runs):
    fasta, out = runs
    bed = read_n_runs_bed(out[False] / "n_runs.bed")
    assert bed.values.tolist() == [["c", GAP[0], GAP[1]], ["c", 30_001, 30_002]]
    np.testing.assert_array_equal(read_n_mask(out[False] / "tracks.zarr", "c"), unknown_bases(Genome(fasta).sequence("c", 0, LENGTH)))
    info = json.loads((out[True] / "tracks.zarr" / "zarr.json").read_text())["attributes"]["genotile_store"]["n_mask"]
    assert info == {"group": "n_mask", "resolution": 1, "n_runs": 2, "masked": True}


def test_mask_n_runs_writes_nan_over_all_n_bins_only(runs):
    _, out = runs
    unknown = read_n_mask(out[False] / "tracks.zarr", "c")
    for res in (1, 128):
        plain = open_track_array(out[False] / "tracks.zarr", "dnase", res, "c").values
        masked = open_track_array(out[True] / "tracks.zarr", "dnase", res, "c").values
        assert np.isfinite(plain).all()  # by default N runs are predicted like any sequence (the reference's behaviour)
        all_n = unknown.reshape(-1, res).all(axis=1)
        assert all_n.any()
        assert np.isnan(masked[all_n]).all()
        np.testing.assert_array_equal(masked[~all_n], plain[~all_n])  # every bin with a real base keeps its value


def test_junctions_touching_n_runs_are_flagged(runs):
    _, out = runs
    table = pd.read_parquet(out[False] / "junctions.parquet")
    assert len(table) > 0 and table["touches_n_run"].dtype == bool
    lo = np.minimum(table["donor"], table["acceptor"]).to_numpy()
    hi = np.maximum(table["donor"], table["acceptor"]).to_numpy() + 1
    expected = span_touches(lo, hi, np.array([GAP[0], 30_001]), np.array([GAP[1], 30_002]))
    np.testing.assert_array_equal(table["touches_n_run"].to_numpy(), expected)
    assert table["touches_n_run"].any() and not table["touches_n_run"].all()


def test_a_new_selection_leaves_no_stale_store(runs, tmp_path, step_settings):
    """Re-initialising with a selection without 1-D tracks or contact maps removes the stores of the old one."""
    import genotile.tracks.steps as steps

    fasta, out = runs
    run = tmp_path / "run"
    run.mkdir()
    config = copy.deepcopy(CONFIG)
    _plan(step_settings, config, fasta, run)
    _init(step_settings, config, fasta, run)
    create_contact_store(run / "contacts.zarr", pd.DataFrame({"track_index": [0], "name": ["x"]}), {})
    (run / "junctions.bed").write_text("old\n")
    assert (run / "tracks.zarr").is_dir()
    config["tracks"] = [{"output": "splice_junctions", "indices": [0]}]
    _plan(step_settings, config, fasta, run)
    _init(step_settings, config, fasta, run, junction_outputs=(str(run / "junctions.bed"),))
    files = ["report.txt", "store.created", "track_selection.tsv", "windows.tsv"]
    assert sorted(p.name for p in run.iterdir()) == ["junctions.bed", *files]
    with pytest.MonkeyPatch.context() as mp:  # a selection without 1-D tracks predicts without a track store
        mp.setattr(steps, "load_predictor", lambda cfg: StubPredictor())
        predict_batch(step_settings(config, "predict_batch"), str(fasta), str(run / "windows.tsv"),
                      str(run / "track_selection.tsv"), 0, str(run / "tracks.zarr"), str(run / "contacts.zarr"),
                      str(run / "batch_0.junctions.parquet"), str(run / "batch_0.done"))
    assert len(pd.read_parquet(run / "batch_0.junctions.parquet")) > 0
    for name in ("batch_0.junctions.parquet", "batch_0.done"):
        (run / name).unlink()
    config["tracks"] = [{"output": "dnase", "resolutions": [128], "indices": [0]}]
    _plan(step_settings, config, fasta, run)
    _init(step_settings, config, fasta, run, junction_outputs=(str(run / "junctions.bed"),))
    assert sorted(p.name for p in run.iterdir()) == sorted([*files, "tracks.zarr"])
