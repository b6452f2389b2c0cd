"""Rule plot_variant: REF vs ALT tracks around the cohort's strongest variant, for the report."""
from genotile.report.variant_plot import plot_variant
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import pulled

params = snakemake.params  # noqa: F821
with rule_context(snakemake), pulled([f"{params.cohort}/summaries"], params.storage):  # noqa: F821
    plot_variant(params.model, snakemake.input.fasta, snakemake.input.variants,  # noqa: F821
                 f"{params.cohort}/summaries/summary_variants.parquet", snakemake.output.png,  # noqa: F821
                 params.window_bp, params.organism, snakemake.input.get("gtf"))  # noqa: F821
