"""Rule plot_training: the fine-tune's learning curve, held-out region and evaluation page, for the report."""
from genotile.report.training_plot import plot_training
from genotile.runtime.rule import rule_context

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    i, o = snakemake.input, snakemake.output  # noqa: F821
    plot_training(i.curve, i.region, i.evaluation, i.losses, o.curve, o.region, o.page)
