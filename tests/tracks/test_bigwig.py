"""bigWig export: values exactly as stored (float32), NaN regions absent, last bin clipped, header, names."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from genotile.tracks.bigwig import ExportError, bigwig_name, write_bigwigs
from genotile.tracks.store import TrackSet, create_store, open_track_array, write_window
from genotile.tracks.tiling import tile_windows

WINDOW_BP, OWNED_BP = 8_192, 4_096
CONTIGS = {"chrA": 10_000, "chrB": 3_000}  # neither a multiple of 128: partial last bins
# header order differs from the store, and has a contig without predictions
CHROM_SIZES = {"chrB": 3_000, "chrUn": 5_000, "chrA": 10_000}


def _tracksets() -> list[TrackSet]:
    atac = pd.DataFrame({"track_index": [0, 2, 7], "name": ["UBERON:0000955 ATAC-seq", "CL:0000236/x", "EFO:0002067"]})
    dnase = pd.DataFrame({"track_index": [42, 3], "name": ["EFO:0002784 DNase-seq", "  weird  name!! "]})
    return [TrackSet("atac", 1, atac), TrackSet("dnase", 128, dnase)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("export") / "tracks.zarr"
    tracksets = _tracksets()
    create_store(path, CONTIGS, tracksets, chunk_bp=OWNED_BP, attrs={"run": "test"}, owned_bp=OWNED_BP)
    windows = tile_windows(CONTIGS, WINDOW_BP, OWNED_BP)
    rng = np.random.default_rng(0)
    skipped = [w for w in windows if w.contig == "chrA"][1]  # owned 4,096-8,192 of chrA stays NaN
    for w in windows:
        if w == skipped:
            continue
        outputs = {}
        for ts in tracksets:
            full = rng.normal(size=((w.end - w.start) // ts.resolution, ts.n_tracks)).astype(np.float32) * 100
            full[5:9, 0] = np.nan  # a model NaN inside a written region splits a run
            outputs[ts.key] = full  # write_window keeps the owned bins
        write_window(path, w, outputs)
    return path, skipped


def _expected_bases(path, head, res, contig, column) -> np.ndarray:
    """Per-base values a bigWig should return: bin value repeated res times, cut at the contig end."""
    stored = np.asarray(open_track_array(path, head, res, contig).values[:, column], dtype=np.float32)
    return np.repeat(stored, res)[: CONTIGS[contig]]


def test_bigwig_name():
    assert bigwig_name("dnase", 128, 42, "EFO:0002784 DNase-seq") == "dnase.128bp.0042.EFO_0002784_DNase-seq.bw"
    assert bigwig_name("atac", 1, 3, "a/b\\c d") == "atac.1bp.0003.a_b_c_d.bw"
    assert bigwig_name("atac", 1, 12345, "") == "atac.1bp.12345.track.bw"
    assert bigwig_name("atac", 1, 0, "../..") == "atac.1bp.0000.track.bw"
    assert len(bigwig_name("atac", 1, 0, "x" * 1000)) < 200
    with pytest.raises(ExportError):
        bigwig_name("atac", 1, -1, "x")


def test_export_matches_store(store, tmp_path):
    path, skipped = store
    messages: list[str] = []
    # small blocks and max_open=2: several blocks per contig and two passes over the 3 atac tracks
    files = write_bigwigs(path, tmp_path / "bw", CHROM_SIZES, progress=messages.append, block_bp=4_096, max_open=2)
    names = [f.name for f in files]
    assert names == [
        "atac.1bp.0000.UBERON_0000955_ATAC-seq.bw",
        "atac.1bp.0002.CL_0000236_x.bw",
        "atac.1bp.0007.EFO_0002067.bw",
        "dnase.128bp.0042.EFO_0002784_DNase-seq.bw",
        "dnase.128bp.0003.weird_name.bw",
    ]
    assert sorted(os.listdir(tmp_path / "bw")) == sorted(names)  # no temporary files left
    assert any("chrA" in m for m in messages) and any("dnase/128bp" in m for m in messages)
    columns = [("atac", 1, 0), ("atac", 1, 1), ("atac", 1, 2), ("dnase", 128, 0), ("dnase", 128, 1)]
    for file, (head, res, column) in zip(files, columns):
        bw = pyBigWig.open(str(file))
        assert bw.chroms() == CHROM_SIZES
        assert list(bw.chroms()) == list(CHROM_SIZES)  # header in the given order
        assert bw.intervals("chrUn") is None
        for contig, length in CONTIGS.items():
            expected = _expected_bases(path, head, res, contig, column)
            got = bw.values(contig, 0, length, numpy=True)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, expected)  # exact, NaN where the store is NaN
            intervals = bw.intervals(contig)
            ends = np.array([e for _, e, _ in intervals])
            starts = np.array([s for s, _, _ in intervals])
            assert ends.max() <= length
            covered = np.zeros(length, dtype=bool)
            for s, e, v in intervals:
                covered[s:e] = True
                assert np.float32(v) == expected[s]
            np.testing.assert_array_equal(covered, np.isfinite(expected))  # NaN regions have no entries
            if np.isfinite(expected[-1]):
                assert ends[-1] == length  # the partial last bin is clipped at the contig end
                if res > 1:
                    assert ends[-1] - starts[-1] == length % res
        skipped_values = bw.values("chrA", skipped.own_start, skipped.own_end, numpy=True)
        assert np.isnan(skipped_values).all()
        bw.close()


def test_export_selected_group(store, tmp_path):
    path, _ = store
    files = write_bigwigs(path, tmp_path, CHROM_SIZES, groups=[("dnase", 128)])
    assert [f.name.split(".")[0] for f in files] == ["dnase", "dnase"]
    with pytest.raises(ExportError, match=r"no chip_tf/128bp in the store; it has \('atac', 1\)"):
        write_bigwigs(path, tmp_path, CHROM_SIZES, groups=[("chip_tf", 128)])


def test_export_errors(store, tmp_path):
    path, _ = store
    with pytest.raises(ExportError, match="chrB.*not in chrom_sizes"):
        write_bigwigs(path, tmp_path, {"chrA": 10_000})
    with pytest.raises(ExportError, match="lengths differ.*chrA"):
        write_bigwigs(path, tmp_path, {"chrA": 10_001, "chrB": 3_000})
    with pytest.raises(ExportError, match="not a genotile track store"):
        write_bigwigs(tmp_path, tmp_path / "out", CHROM_SIZES)
    with pytest.raises(ExportError, match="no such track store"):
        write_bigwigs(tmp_path / "missing.zarr", tmp_path / "out", CHROM_SIZES)
    assert issubclass(ExportError, ValueError)


def _splice_store(tmp_path, with_metadata: bool):
    """A splice-site class store: 5 channels, the fifth the padding class; with or without metadata strands."""
    from genotile.tracks.selection import SPLICE_CLASS_NAMES

    if with_metadata:
        tracks = pd.DataFrame({"track_index": range(5), "name": ["donor", "acceptor", "donor", "acceptor", "Padding"],
                               "strand": ["+", "+", "-", "-", "."]})
    else:
        tracks = pd.DataFrame({"track_index": range(5), "name": list(SPLICE_CLASS_NAMES)})
    path = tmp_path / "splice.zarr"
    ts = TrackSet("splice_sites_classification", 1, tracks)
    create_store(path, {"chrB": 3_000}, [ts], chunk_bp=OWNED_BP, attrs={}, owned_bp=OWNED_BP)
    values = np.arange(3_000 * 5, dtype=np.float32).reshape(3_000, 5)
    from genotile.tracks.tiling import Window

    full = np.full((WINDOW_BP, 5), np.nan, dtype=np.float32)  # the prediction of a window past the contig end
    full[:3_000] = values
    write_window(path, Window("chrB", 0, WINDOW_BP, 0, 3_000), {ts.key: full})
    return path, values


@pytest.mark.parametrize("with_metadata", [True, False], ids=["metadata", "no-metadata"])
def test_splice_classes_carry_the_strand_and_padding_is_not_exported(tmp_path, with_metadata):
    path, values = _splice_store(tmp_path, with_metadata)
    files = write_bigwigs(path, tmp_path / "bw", {"chrB": 3_000})
    assert [f.name for f in files] == [
        "splice_sites_classification.1bp.0000.donor.plus.bw",
        "splice_sites_classification.1bp.0001.acceptor.plus.bw",
        "splice_sites_classification.1bp.0002.donor.minus.bw",
        "splice_sites_classification.1bp.0003.acceptor.minus.bw",
    ]
    assert sorted(os.listdir(tmp_path / "bw")) == sorted(f.name for f in files)
    for column, file in enumerate(files):
        with pyBigWig.open(str(file)) as bw:
            np.testing.assert_array_equal(bw.values("chrB", 0, 3_000, numpy=True), values[:, column])


def test_bigwig_name_strand():
    assert bigwig_name("cage", 128, 7, "LQhCAGE CL:0000077", "-") == "cage.128bp.0007.LQhCAGE_CL_0000077.minus.bw"
    assert bigwig_name("cage", 128, 7, "LQhCAGE CL:0000077", ".") == "cage.128bp.0007.LQhCAGE_CL_0000077.bw"
    assert bigwig_name("splice_sites_classification", 1, 0, "donor+") == "splice_sites_classification.1bp.0000.donor.plus.bw"


def test_rerun_removes_stale_bigwigs_and_leftover_temporary_files(store, tmp_path):
    """What the folder holds is exactly this export: old selections' bigWigs and a killed export's temp files go."""
    path, _ = store
    out = tmp_path / "bw"
    out.mkdir()
    (out / "rna_seq.128bp.0000.track_0.bw").write_bytes(b"a track the run no longer selects")
    killed = out / ".dnase.128bp.0042.EFO_0002784_DNase-seq.bw.x1y2.tmp"  # what a SIGKILL mid-export leaves
    killed.write_bytes(b"half")
    other_temp = out / ".atac.1bp.0000.UBERON_0000955_ATAC-seq.bw.q9.tmp"
    other_temp.write_bytes(b"half")
    (out / "notes.txt").write_text("not genotile's")
    # a shared folder (prune=False): only the leftovers of the files written go
    files = write_bigwigs(path, out, CHROM_SIZES, groups=[("dnase", 128)])
    assert not killed.exists() and other_temp.exists() and (out / "rna_seq.128bp.0000.track_0.bw").exists()
    messages: list[str] = []
    files = write_bigwigs(path, out, CHROM_SIZES, groups=[("dnase", 128)], prune=True, progress=messages.append)
    assert sorted(os.listdir(out)) == sorted([f.name for f in files] + ["notes.txt"])
    assert any("temporary file" in m for m in messages) and any("no longer selected" in m for m in messages)


def test_a_killed_export_leaves_temp_files_that_the_next_export_removes(store, tmp_path):
    """SIGKILL in the middle of an export (no cleanup runs), then the workflow's export into the same folder."""
    import signal
    import subprocess
    import sys
    import time

    from genotile.runtime.run_digest import leftovers

    path, _ = store
    out = tmp_path / "run" / "bigwig"
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from genotile.tracks.bigwig import write_bigwigs\n"
        f"write_bigwigs({str(path)!r}, {str(out)!r}, {CHROM_SIZES!r}, block_bp=4096, progress=lambda m: time.sleep(0.5))"
    )])  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir())):
            assert child.poll() is None and time.monotonic() < deadline, "the export ended before it could be killed"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    left = leftovers(tmp_path / "run")
    assert left and all(p.startswith("bigwig/.") and p.endswith(".tmp") for p in left)
    files = write_bigwigs(path, out, CHROM_SIZES, prune=True)
    assert sorted(os.listdir(out)) == sorted(f.name for f in files) and leftovers(tmp_path / "run") == []
