"""Rule summarize_variants: per-variant, per-gene and per-sample summaries and figures."""
from _rule import rule_context

from genotile.atomic import write_text
from genotile.variants.steps import summarize

with rule_context(snakemake):  # noqa: F821
    summarize(snakemake.params.settings, snakemake.input.vcf, snakemake.input.variants, snakemake.params.scores,
              snakemake.params.out)
    write_text(snakemake.output.done, '{"done": true}\n')
