"""Checkpoint shard_variants: cut the sorted variants into shards (only between tiles)."""
from genotile.runtime.rule import rule_context
from genotile.settings import ShardSettings
from genotile.variants.steps import shard_variants

with rule_context(snakemake):  # noqa: F821
    shard_variants(ShardSettings.from_config(snakemake.params.settings), snakemake.input.variants,  # noqa: F821
                   snakemake.input.fasta, snakemake.output.shards)  # noqa: F821
