"""The workflow and the CLI agree on awkward cohort VCFs (issue 12, item 13): one real snakemake run of
only bgzip_vcf + normalize_variants (no model, no scoring) on an unsorted plain-text VCF with no
``##contig`` lines, contigs named without ``chr``, a blank line and an unparseable record."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BIN, WORKFLOW_INSTALLED, copy_workflow, report, snakemake

from genotile.sequence.fasta import Genome
from genotile.variants.normalize import normalize_vcf

pytestmark = pytest.mark.slow

if not WORKFLOW_INSTALLED:  # pragma: no cover
    pytest.skip(f"snakemake/genotile not installed in {BIN}", allow_module_level=True)

SEQ = "GGATCCACACACACTTTGCAAAAAGTCAGTGCATGCTTAG" * 100  # 4 kb per contig


def test_unsorted_vcf_without_contig_lines_and_chr_rename_as_the_cli(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    fasta = tmp_path / "genome.fa"
    fasta.write_text(f">chr1\n{SEQ}\n>chr2\n{SEQ}\n")
    vcf = tmp_path / "cohort.vcf"
    records = [("2", 5, "C", "A"), ("1", 10, "C", "T"), ("1", 3, "A", "C"), ("2", ".", "A", "G")]
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   + "".join(f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t.\n" for c, p, r, a in records) + "\n")
    extra = tmp_path / "vcf.yaml"
    extra.write_text(f"run: vcfin\ngenome: {{fasta: {fasta}}}\nvariants: {{cohorts: {{c: {vcf}}}, rename_chr_prefix: true}}\n")
    run = snakemake(workdir, "results/vcfin/variants/c/rejects.parquet", "--cores", "1", "--configfile", str(extra))
    assert run.returncode == 0, report(run)
    folder = workdir / "results/vcfin/variants/c"
    workflow, rejects = pd.read_parquet(folder / "variants.parquet"), pd.read_parquet(folder / "rejects.parquet")
    cli = normalize_vcf(vcf, Genome(fasta), rename_chr_prefix=True)[0]
    assert workflow.variant_id.tolist() == cli.variant_id.tolist() == ["chr1:3:A>C", "chr1:10:C>T", "chr2:5:C>A"]
    assert rejects.reason.tolist() == ["malformed_record"] and "line 6 of cohort.vcf" in rejects.detail[0]
