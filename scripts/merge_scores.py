"""Rule merge_scores: stream shard scores into one Parquet per scorer and the variant x track Zarr matrix."""
from _rule import rule_context

from genotile.runtime.storage_mirror import mirrored, pulled
from genotile.variants.steps import merge

params = snakemake.params  # noqa: F821
shards = [done.removesuffix(".done") for done in params.shard_dones]
with (rule_context(snakemake),  # noqa: F821
      pulled(shards, params.storage),
      mirrored(f"{params.folder}/scores", params.storage, "none", write=True, fresh=True),
      mirrored(f"{params.folder}/scores.zarr", params.storage, "none", write=True, fresh=True)):
    merge(snakemake.input.variants, shards, params.folder, snakemake.output.failures, snakemake.output.done,  # noqa: F821
          shard_dones=list(snakemake.input.shards), cfg=params.get("settings", snakemake.config),  # noqa: F821
          has_gtf=params.get("has_gtf"), has_pas=params.get("has_pas"))
