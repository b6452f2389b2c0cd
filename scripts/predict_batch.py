"""Rule predict_batch: predict one batch of windows into the store."""
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import mirrored
from genotile.settings import PredictBatchSettings
from genotile.tracks.steps import predict_batch

params = snakemake.params  # noqa: F821
with (rule_context(snakemake),  # noqa: F821
      mirrored(params.tracks, params.storage, "metadata", write=True),
      mirrored(params.contacts, params.storage, "metadata", write=True)):
    predict_batch(PredictBatchSettings.from_config(params.settings), snakemake.input.fasta,  # noqa: F821
                  snakemake.input.windows, snakemake.input.selection, int(snakemake.wildcards.batch),  # noqa: F821
                  params.tracks, params.contacts, snakemake.output.junctions, snakemake.output.done,  # noqa: F821
                  windows_per_pass=int(snakemake.config["inference"]["windows_per_pass"]))  # noqa: F821 (speed only: no params, no rerun)
