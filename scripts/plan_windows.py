"""Rule plan_windows: tile the genome, write windows.tsv and the storage report."""
from _rule import rule_context

from genotile.tracks.steps import plan

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    plan(snakemake.params.settings, snakemake.input.fasta, snakemake.output.windows, snakemake.output.report)
