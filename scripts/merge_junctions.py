"""Rule merge_junctions: the batches' junction tables as one Parquet file and one BED file."""
import os

from _rule import rule_context

from genotile.tracks.junctions import write_junctions
from genotile.runtime.tables import read_parquet

with rule_context(snakemake):  # noqa: F821
    frames = [read_parquet(f) for f in snakemake.input.batches if os.path.getsize(f) > 0]
    write_junctions(frames, snakemake.output.parquet, snakemake.output.bed)
