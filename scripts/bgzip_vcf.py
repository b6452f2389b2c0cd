"""Rule bgzip_vcf: bgzip and tabix-index a plain-text cohort VCF."""
from genotile.runtime.rule import rule_context
from genotile.variants.steps import bgzip_vcf

with rule_context(snakemake):  # noqa: F821
    bgzip_vcf(snakemake.input.vcf, snakemake.output.vcf)
