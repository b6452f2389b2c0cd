"""Rule merge_scores: stream shard scores into one Parquet per scorer and the variant x track Zarr matrix."""
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import mirrored, pulled
from genotile.settings import MergeSettings
from genotile.variants.steps import merge_scores

params = snakemake.params  # noqa: F821
shards = [done.removesuffix(".done") for done in params.shard_dones]
with (rule_context(snakemake),  # noqa: F821
      pulled(shards, params.storage),
      mirrored(f"{params.folder}/scores", params.storage, "none", write=True, fresh=True),
      mirrored(f"{params.folder}/scores.zarr", params.storage, "none", write=True, fresh=True)):
    merge_scores(MergeSettings.from_config(params.settings), snakemake.input.variants, shards, params.folder,  # noqa: F821
                 snakemake.output.failures, snakemake.output.done, shard_dones=list(snakemake.input.shards),  # noqa: F821
                 has_gtf=params.has_gtf, has_pas=params.has_pas)
