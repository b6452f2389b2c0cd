"""Rule bgzip_vcf: bgzip and tabix-index a plain-text cohort VCF."""
from _rule import rule_context

from genotile.variants.steps import compress_vcf

with rule_context(snakemake):  # noqa: F821
    compress_vcf(snakemake.input.vcf, snakemake.output.vcf)
