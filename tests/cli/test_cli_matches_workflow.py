"""`genotile vcf normalize` + `genotile score` give the workflow's bytes on the demo cohort (they call the same steps).

Reuses the session's demo run (``demo_run`` in tests/conftest.py): no workflow run of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genotile.cli.main import main


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow  # scores the demo cohort with the tiny model (the demo run itself is shared)
def test_cli_gives_the_workflows_bytes_on_the_demo_cohort(demo_run, tmp_path):
    _, run, _ = demo_run
    cohort = run / "variants" / "demo"
    fasta = str(run / "genome" / "demo.fa")
    normalized = tmp_path / "normalized"
    assert main(["vcf", "normalize", "--vcf", str(cohort / "input" / "cohort.vcf.gz"), "--fasta", fasta,
                 "--out", str(normalized / "variants.parquet"), "--rejects", str(normalized / "rejects.parquet")]) == 0
    for name in ("variants.parquet", "rejects.parquet"):
        assert (normalized / name).read_bytes() == (cohort / name).read_bytes(), name

    scored = tmp_path / "scored"  # the demo config: recommended scorers, centered, 16-kb windows, demo annotation
    assert main(["score", "--variants", str(normalized / "variants.parquet"), "--fasta", fasta, "--out", str(scored),
                 "--gtf", str(run / "annotation" / "demo.gtf"), "--pas", str(run / "annotation" / "demo_pas.tsv"),
                 "--window-bp", "16384"]) == 0
    for name in ("failures.parquet", "scores.done.json"):
        assert (scored / name).read_bytes() == (cohort / name).read_bytes(), name
    for folder in ("scores", "scores.zarr"):
        cli, workflow = _files(scored / folder), _files(cohort / folder)
        assert sorted(cli) == sorted(workflow), folder
        assert [name for name in cli if cli[name] != workflow[name]] == [], folder
    assert sorted(p.name for p in scored.iterdir()) == ["failures.parquet", "scores", "scores.done.json", "scores.zarr"]
