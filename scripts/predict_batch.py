"""Rule predict_batch: predict one batch of windows into the store."""
from _rule import rule_context

from genotile.runtime.storage_mirror import mirrored
from genotile.tracks.steps import predict_batch

params = snakemake.params  # noqa: F821
with (rule_context(snakemake),  # noqa: F821
      mirrored(params.tracks, params.storage, "metadata", write=True),
      mirrored(params.contacts, params.storage, "metadata", write=True)):
    predict_batch(snakemake.params.settings, snakemake.input.fasta, snakemake.input.windows,
                  int(snakemake.wildcards.batch), snakemake.params.tracks, snakemake.params.contacts,
                  snakemake.output.junctions, snakemake.output.done,
                  windows_per_pass=int(snakemake.config["inference"]["windows_per_pass"]))
