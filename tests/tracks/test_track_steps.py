"""The track stage's steps (genotile.tracks.steps), grouped per step: plan_windows, init_store, predict_batch,
finalize_store, export_bigwig, merge_junctions (fast; the Snakemake runs are in test_workflow.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genotile.sequence.demo import write_demo_genome
from genotile.sequence.encoding import GRID_BP
from genotile.tracks.steps import _average_strands, plan_windows

CONFIG = {
    "run": "t",
    "organism": "human",
    "model": {"size": "tiny", "seed": 0, "metadata": None, "checkpoint": None, "precision": "float32"},
    "tiling": {"window_bp": 16384, "owned_bp": 8192, "contigs": [], "contig_regex": None, "regions_bed": None,
               "windows_per_batch": 3},
    "store": {"chunk_bp": 8192, "dtype": "float32"},
    "tracks": [{"output": "dnase", "resolutions": [128], "indices": [0, 1]}],
}  # fmt: skip


@pytest.fixture
def plan(step_settings):
    """plan_windows with a config's settings as the workflow builds them; the selection next to the windows."""

    def run(config, fasta, windows, report):
        selection = str(Path(windows).with_name("track_selection.tsv"))
        return plan_windows(step_settings(config, "plan_windows"), fasta, windows, report, selection)

    return run


# ----------------------------------------------------------------------------------------- plan_windows


def test_plan_writes_windows_and_storage_report(tmp_path, capsys, plan):
    fasta = write_demo_genome(tmp_path / "g.fa")
    table = plan(CONFIG, str(fasta), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))
    read = pd.read_csv(tmp_path / "w.tsv", sep="\t")
    assert list(read.columns) == ["window", "contig", "start", "end", "own_start", "own_end", "pad_right", "batch", "all_n"]
    assert read.equals(table)
    assert (read["start"] % GRID_BP == 0).all() and read["batch"].max() == (len(read) - 1) // 3
    gap = read[read["all_n"]]
    assert len(gap) >= 1 and set(gap["contig"]) == {"demo3"}  # the demo genome's long N gap
    report = (tmp_path / "r.txt").read_text()
    assert "1 all-N window will be skipped" in report and "dnase" in report and "128 bp" in report
    assert "windows of 16,384 bp (owned 8,192 bp, " in report and "at contig ends" in report and "5 batches" in report
    assert "storage the selection will need" in capsys.readouterr().err
    assert not (tmp_path / "w.tsv.tmp").exists()


def test_plan_regex_selection(tmp_path, plan):
    fasta = write_demo_genome(tmp_path / "g.fa")
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["tiling"]["contig_regex"] = "demo[12]"
    table = plan(config, str(fasta), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))
    assert set(table["contig"]) == {"demo1", "demo2"}


def test_plan_writes_the_selection_once_and_later_steps_read_it_back(tmp_path, plan, step_settings):
    """track_selection.tsv lists every stored track; read back it is the selection plan_windows resolved."""
    from genotile.tracks.steps import read_track_selection, resolve_track_selection

    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["tracks"] = [{"output": "dnase", "resolutions": [1, 128], "indices": [3, 1]},
                        {"output": "splice_sites"}, {"output": "contact_maps", "indices": [1]},
                        {"output": "splice_junctions", "indices": [2, 0]}]
    plan(config, str(write_demo_genome(tmp_path / "g.fa")), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))
    table = pd.read_csv(tmp_path / "track_selection.tsv", sep="\t")
    assert list(table.columns[:4]) == ["head", "resolution", "track_index", "name"]
    assert list(zip(table["head"], table["resolution"], table["track_index"])) == [
        ("dnase", 1, 1), ("dnase", 1, 3), ("dnase", 128, 1), ("dnase", 128, 3), *(("splice_sites_classification", 1, i) for i in range(5)),
        ("contact_maps", 2048, 1), ("splice_sites_junction", 1, 0), ("splice_sites_junction", 1, 2)]  # fmt: skip
    settings = step_settings(config, "predict_batch").selection
    read, resolved = read_track_selection(str(tmp_path / "track_selection.tsv"), settings), resolve_track_selection(settings)
    assert [(t.head, t.resolution, t.dtype) for t in read.tracksets] == [(t.head, t.resolution, t.dtype) for t in resolved.tracksets]
    for got, want in zip(read.tracksets, resolved.tracksets):
        pd.testing.assert_frame_equal(got.tracks, want.tracks)
    pd.testing.assert_frame_equal(read.contact_tracks, resolved.contact_tracks)
    pd.testing.assert_frame_equal(read.junction_tissues, resolved.junction_tissues)
    assert read.junction_names == resolved.junction_names and read.request() == resolved.request()


def test_a_selection_file_the_model_no_longer_matches_names_the_fix(tmp_path, step_settings):
    from genotile.tracks.selection import TrackSelectionError
    from genotile.tracks.steps import read_track_selection

    path = tmp_path / "track_selection.tsv"
    path.write_text("head\tresolution\ttrack_index\tname\ndnase\t128\t999\tx\n")
    with pytest.raises(TrackSelectionError, match=r"track_selection\.tsv: dnase track_index \[999\].*re-run plan_windows"):
        read_track_selection(str(path), step_settings(CONFIG, "plan_windows").selection)


def test_step_settings_are_frozen_and_read_only_their_rules_keys(step_settings):
    """Each step's settings come from its rule's params.settings alone (settings_for builds them from
    rule_settings, so reading another key fails) and cannot be changed by a step."""
    import dataclasses

    from genotile.runtime.provenance import RULE_SETTINGS
    from genotile.settings import InitStoreSettings, PlanWindowsSettings, PredictBatchSettings

    for rule, cls in (("plan_windows", PlanWindowsSettings), ("init_store", InitStoreSettings),
                      ("predict_batch", PredictBatchSettings)):
        assert RULE_SETTINGS[rule] == cls.CONFIG_KEYS
        settings = step_settings(CONFIG, rule)
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.selection = None
    predict = step_settings(CONFIG, "predict_batch")
    assert (predict.average_strands, predict.mask_n_runs, predict.junction_min_value) == (False, False, 0.1)  # schema defaults
    assert step_settings(CONFIG, "init_store").tiling.windows_per_batch is None  # not an init_store key


# ----------------------------------------------------------------------------------------- predict_batch


def test_strand_averaging_keeps_junctions_forward_only():
    forward = {"dnase/predictions_1bp": np.array([[1.0, 3.0]], np.float32),
               "splice_sites_junction/predictions": np.array([1.0], np.float32),
               "splice_sites_junction/splice_site_positions": np.array([[5]], np.int32)}
    reverse = {"dnase/predictions_1bp": np.array([[3.0, 5.0]], np.float32),
               "splice_sites_junction/predictions": np.array([9.0], np.float32),
               "splice_sites_junction/splice_site_positions": np.array([[7]], np.int32)}  # fmt: skip
    averaged = _average_strands(forward, reverse)
    np.testing.assert_array_equal(averaged["dnase/predictions_1bp"], [[2.0, 4.0]])
    assert averaged["splice_sites_junction/predictions"][0] == 1.0
    assert averaged["splice_sites_junction/splice_site_positions"][0, 0] == 5


def test_plan_reports_a_missing_contig(tmp_path, plan):
    fasta = write_demo_genome(tmp_path / "g.fa")
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["tiling"]["contigs"] = ["chr1"]
    with pytest.raises(ValueError, match="not in the FASTA"):
        plan(config, str(fasta), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))


# ------------------------------------------------------------------ numeric (Ensembl/GRCh37-style) contig names


def _numeric_fasta(path, lengths=None):
    """A FASTA whose contigs are named like GRCh37/Ensembl's ('1', '20', 'MT'), with seeded bases."""
    rng = np.random.default_rng(0)
    lengths = lengths or {"1": 12_000, "20": 20_000, "MT": 5_000}
    with open(path, "w") as handle:
        for name, length in lengths.items():
            bases = "".join(rng.choice(list("ACGT"), length))
            handle.write(f">{name}\n" + "\n".join(bases[i : i + 60] for i in range(0, length, 60)) + "\n")
    return path


@pytest.mark.slow  # loads and compiles the tiny model (about 20 s)
def test_plan_then_predict_batch_with_numeric_contig_names(tmp_path, capsys, monkeypatch, plan, step_settings):
    """Contigs named 1, 20, MT survive windows.tsv (pandas would read them back as integers)."""
    from genotile.tracks.steps import init_store, predict_batch
    from genotile.tracks.store import open_track_array

    monkeypatch.setenv("GENOTILE_PROGRESS_SECONDS", "0")
    fasta = str(_numeric_fasta(tmp_path / "ensembl.fa"))
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["tiling"]["windows_per_batch"] = 8
    config["inference"] = {"average_strands": False}
    config["export"] = {"junction_min_value": 0.1}
    table = plan(config, fasta, str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))
    assert list(dict.fromkeys(table["contig"])) == ["1", "20", "MT"] and table["batch"].nunique() == 1
    tracks, contacts = str(tmp_path / "tracks.zarr"), str(tmp_path / "contacts.zarr")
    selection = str(tmp_path / "track_selection.tsv")
    init_store(step_settings(config, "init_store"), fasta, selection, tracks, contacts, str(tmp_path / "store.created"))
    capsys.readouterr()
    predict_batch(step_settings(config, "predict_batch"), fasta, str(tmp_path / "w.tsv"), selection, 0, tracks, contacts,
                  str(tmp_path / "j.parquet"), str(tmp_path / "batch_0.done"))
    err = capsys.readouterr().err
    assert (tmp_path / "batch_0.done").exists()
    for contig in ("1", "20", "MT"):
        values = open_track_array(tracks, "dnase", 128, contig).values
        assert np.isfinite(values).all(), contig
    # progress lines: done/total, rate and ETA (interval 0: one per pass)
    lines = [line for line in err.splitlines() if "batch 0:" in line and "/4 windows written" in line]
    assert len(lines) == 4 and "4/4 windows written (100%)" in lines[-1] and "windows/s" in lines[-1] and "ETA" in lines[-1]


def test_a_number_for_a_contig_name_says_so(tmp_path):
    from genotile.sequence.fasta import Genome, GenomeError

    genome = Genome(_numeric_fasta(tmp_path / "ensembl.fa"))
    with pytest.raises(GenomeError, match=r"contig 20 is a int, not a name: FASTA .* has the contig '20' \(text\).*Fix"):
        genome.sequence(20, 0, 10)
    assert genome.sequence("20", 0, 4) and "20" in genome


def test_plan_stops_on_digits_in_sequence_lines(tmp_path, plan):
    """pyfaidx counts every character as a base; a digit must stop the run with the file, contig and position."""
    path = _numeric_fasta(tmp_path / "broken.fa", {"1": 9_000})
    text = path.read_text().splitlines()
    text[3] = text[3][:10] + "7" + text[3][11:]  # line 4 = bases 121-180: position 131
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match=r"broken\.fa: contig '1' has '7' at position 131 \(1-based\).*Fix:"):
        plan(CONFIG, str(path), str(tmp_path / "w.tsv"), str(tmp_path / "r.txt"))


# ------------------------------------------------------------------- finalize_store, export_bigwig, merge_junctions


def test_finalize_store_sums_the_batches(tmp_path):
    import json

    from genotile.tracks.steps import finalize_store

    done = []
    for batch, (windows, skipped) in enumerate((([0, 1], []), ([3], [2]))):
        done.append(tmp_path / f"batch_{batch}.done")
        done[-1].write_text(json.dumps({"batch": batch, "windows": windows, "skipped_all_n": skipped}))
    finalize_store([str(p) for p in done], str(tmp_path / "summary.json"), "t.zarr")
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "store": "t.zarr", "windows_predicted": 3, "windows_skipped_all_n": [2]}


def test_export_bigwig_without_a_track_store_lists_no_bigwig(tmp_path):
    import json

    from genotile.tracks.steps import export_bigwig

    folder = tmp_path / "bigwig"
    folder.mkdir()
    (folder / "stale.bw").write_text("old")
    export_bigwig(str(write_demo_genome(tmp_path / "g.fa")), str(tmp_path / "none.zarr"), str(folder), str(folder / "done.json"))
    assert json.loads((folder / "done.json").read_text()) == {"bigwigs": []} and not (folder / "stale.bw").exists()


def test_merge_junctions_skips_empty_batch_files(tmp_path):
    from genotile.tracks.steps import merge_junctions

    (tmp_path / "b0.parquet").write_text("")  # a batch without junctions
    merge_junctions([str(tmp_path / "b0.parquet")], str(tmp_path / "j.parquet"), str(tmp_path / "j.bed"))
    assert (tmp_path / "j.parquet").exists() and (tmp_path / "j.bed").exists()
