"""The whole workflow on a genome whose contigs are named like GRCh37/Ensembl's (``1``, ``20``).

Every table the workflow writes and reads back (windows.tsv, shards.tsv, variants, scores) used to
turn such names into integers, and every prediction job stopped with "contig 20 is not in FASTA".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BIN, WORKFLOW_INSTALLED, copy_workflow, report, snakemake

pytestmark = pytest.mark.slow

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)

LENGTHS = {"1": 20_000, "20": 30_000}


def _genome_and_cohort(folder):
    rng = np.random.default_rng(12)
    seqs = {name: "".join(rng.choice(list("ACGT"), n)) for name, n in LENGTHS.items()}
    fasta = folder / "ensembl.fa"
    fasta.write_text("".join(f">{n}\n" + "\n".join(s[i : i + 60] for i in range(0, len(s), 60)) + "\n" for n, s in seqs.items()))
    lines = ["##fileformat=VCFv4.2", *(f"##contig=<ID={n},length={v}>" for n, v in LENGTHS.items()),
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1"]
    for chrom, pos in (("1", 5_000), ("20", 2_000), ("20", 15_000)):
        ref = seqs[chrom][pos - 1]
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{'A' if ref != 'A' else 'C'}\t.\tPASS\t.\tGT\t0/1")
    vcf = folder / "cohort.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    return fasta, vcf


def test_the_workflow_runs_on_numeric_contig_names(tmp_path):
    from genotile.tracks.store import open_track_array

    fasta, vcf = _genome_and_cohort(tmp_path)
    config = {
        "run": "ensembl", "results": str(tmp_path / "results"),
        "genome": {"fasta": str(fasta)},
        "tiling": {"window_bp": 16_384, "owned_bp": 8_192, "windows_per_batch": 8},
        "store": {"chunk_bp": 8_192},
        "tracks": [{"output": "dnase", "resolutions": [128], "indices": [0]}],
        "variants": {"cohorts": {"c": str(vcf)}, "window_bp": 16_384, "variants_per_shard": 2,
                     "scorers": [{"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_MEAN"}]},
    }
    user = tmp_path / "user.yaml"
    user.write_text(yaml.safe_dump(config, sort_keys=False))
    workdir = copy_workflow(tmp_path / "wf")
    result = snakemake(workdir, "--cores", "2", "--configfile", str(user), demo=False, timeout=1500)
    assert result.returncode == 0, report(result)
    run = tmp_path / "results" / "ensembl"
    for contig in LENGTHS:
        assert np.isfinite(open_track_array(run / "tracks.zarr", "dnase", 128, contig).values).all(), contig
    assert sorted(p.name for p in (run / "bigwig").glob("*.bw"))
    scores = pd.read_parquet(next((run / "variants" / "c" / "scores").glob("CenterMask*.parquet")))
    assert sorted(set(scores["chrom"])) == ["1", "20"]
    logs = "".join(p.read_text() for p in (run / "logs").glob("predict_batch_*.log"))
    assert "windows written (100%)" in logs and "ETA" in logs  # progress in the job's log ...
    assert "windows written (100%)" in result.stderr  # ... and on the terminal Snakemake shows
