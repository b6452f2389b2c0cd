"""Rule normalize_variants: split/left-align/REF-check a cohort VCF into variants + rejects tables."""
from genotile.runtime.rule import rule_context
from genotile.settings import NormalizeSettings
from genotile.variants.steps import normalize_variants

with rule_context(snakemake):  # noqa: F821
    normalize_variants(NormalizeSettings.from_config(snakemake.params.settings), snakemake.input.vcf,  # noqa: F821
                       snakemake.input.fasta, snakemake.output.variants, snakemake.output.rejects)  # noqa: F821
