"""Rule summarize_variants: per-variant, per-gene and per-sample summaries and figures."""
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import mirrored, pulled
from genotile.settings import SummarizeSettings
from genotile.variants.steps import summarize_variants

params = snakemake.params  # noqa: F821
summaries = f"{params.cohort}/summaries"
with (rule_context(snakemake),  # noqa: F821
      pulled([f"{params.cohort}/scores"], params.storage),
      mirrored(summaries, params.storage, "none", write=True, fresh=True)):
    summarize_variants(SummarizeSettings.from_config(params.settings), snakemake.input.vcf,  # noqa: F821
                       snakemake.input.variants, params.cohort, summaries,  # noqa: F821
                       scores_done=snakemake.input.scores, done=snakemake.output.done)  # noqa: F821
