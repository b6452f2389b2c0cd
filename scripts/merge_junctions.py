"""Rule merge_junctions: the batches' junction tables as one Parquet file and one BED file."""
from genotile.runtime.rule import rule_context
from genotile.tracks.steps import merge_junctions

with rule_context(snakemake):  # noqa: F821
    merge_junctions(list(snakemake.input.batches), snakemake.output.parquet, snakemake.output.bed)  # noqa: F821
