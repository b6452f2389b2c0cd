"""Rule normalize_variants: split/left-align/REF-check a cohort VCF into variants + rejects tables."""
from _rule import rule_context

from genotile.variants.steps import normalize

with rule_context(snakemake):  # noqa: F821
    normalize(snakemake.params.settings, snakemake.input.vcf, snakemake.input.fasta,
              snakemake.output.variants, snakemake.output.rejects)
