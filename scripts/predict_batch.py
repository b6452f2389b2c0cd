"""Rule predict_batch: predict one batch of windows into the store."""
from _rule import rule_context

from genotile.workflow import predict_batch

with rule_context(snakemake):  # noqa: F821
    predict_batch(snakemake.params.settings, snakemake.input.fasta, snakemake.input.windows,
                  int(snakemake.wildcards.batch), snakemake.params.tracks, snakemake.params.contacts,
                  snakemake.output.junctions, snakemake.output.done,
                  windows_per_pass=int(snakemake.config["inference"]["windows_per_pass"]))
