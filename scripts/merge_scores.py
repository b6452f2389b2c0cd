"""Rule merge_scores: stream shard scores into one Parquet per scorer and the variant x track Zarr matrix."""
from _rule import rule_context

from genotile.variants.steps import merge

with rule_context(snakemake):  # noqa: F821
    merge(snakemake.input.variants, list(snakemake.input.shards), snakemake.params.out, snakemake.output.done)
