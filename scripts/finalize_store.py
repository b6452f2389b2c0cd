"""Rule finalize_store: check all batches finished, write the run summary."""
from genotile.runtime.rule import rule_context
from genotile.tracks.steps import finalize_store

with rule_context(snakemake):  # noqa: F821
    finalize_store(list(snakemake.input.done), snakemake.output.summary, snakemake.params.tracks)  # noqa: F821
