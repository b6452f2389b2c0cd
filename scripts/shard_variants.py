"""Checkpoint shard_variants: cut the sorted variants into shards (only between tiles)."""
from _rule import rule_context

from genotile.variants.steps import shard

with rule_context(snakemake):  # noqa: F821
    shard(snakemake.params.settings, snakemake.input.variants, snakemake.input.fasta, snakemake.output.shards)
