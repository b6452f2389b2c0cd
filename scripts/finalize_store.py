"""Rule finalize_store: check all batches finished, write the run summary."""
from _rule import rule_context

from genotile.tracks.steps import finalize

with rule_context(snakemake):  # noqa: F821
    finalize(list(snakemake.input.done), snakemake.output.summary, snakemake.params.tracks)
