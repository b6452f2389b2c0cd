"""A changed track selection leaves exactly the new selection's outputs (slow: two small snakemake runs).

One 12 kb contig (one window) of the demo genome with the tiny model, so each run takes well under a minute.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import BIN, WORKFLOW_INSTALLED, copy_workflow, edit_config, report, snakemake

from genotile.runtime.run_digest import leftovers

pytestmark = pytest.mark.slow

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)


def test_new_selection_removes_old_exports_and_leftovers(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    edit_config(workdir, {
        "tiling": {"contigs": ["demo2"]},
        "variants": {"cohorts": {}},
        "tracks": [{"output": "dnase", "resolutions": [128], "indices": [0, 1]},
                   {"output": "rna_seq", "resolutions": [128], "indices": [0]}, {"output": "contact_maps", "indices": [0]}],
    })  # fmt: skip  (128 bp only: no decoder to compile)
    first = snakemake(workdir, "--cores", "2")
    assert first.returncode == 0, report(first)
    run_dir = workdir / "results" / "demo"
    bigwig = run_dir / "bigwig"
    assert len(json.loads((bigwig / "done.json").read_text())["bigwigs"]) == 2 + 1
    assert (run_dir / "contact_maps.zarr").is_dir()
    # what a SIGKILL in the middle of an export leaves behind; the digest does not call such a run clean
    killed = bigwig / ".dnase.128bp.0000.track_0.bw.k3j2.tmp"
    killed.write_bytes(b"half a bigWig")
    assert leftovers(run_dir) == ["bigwig/.dnase.128bp.0000.track_0.bw.k3j2.tmp"]

    edit_config(workdir, {"tracks": [{"output": "dnase", "resolutions": [128], "indices": [1]}]})
    second = snakemake(workdir, "--cores", "2")
    assert second.returncode == 0, report(second)
    assert json.loads((bigwig / "done.json").read_text())["bigwigs"] == ["dnase.128bp.0001.track_1.bw"]
    assert sorted(os.listdir(bigwig)) == ["dnase.128bp.0001.track_1.bw", "done.json"]  # old tracks and temp files gone
    assert not (run_dir / "contact_maps.zarr").exists()  # no contact maps selected any more
    store = run_dir / "tracks.zarr"
    assert sorted(p.name for p in store.iterdir() if p.is_dir()) == ["dnase", "n_mask"]  # the old rna_seq group is gone
    assert leftovers(run_dir) == []
