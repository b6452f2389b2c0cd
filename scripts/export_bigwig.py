"""Rule export_bigwig: one bigWig per stored track and resolution."""
import json

from _rule import rule_context

from genotile.export import write_bigwigs
from genotile.genome import Genome
from genotile.workflow import log, write_atomically

with rule_context(snakemake):  # noqa: F821
    files = write_bigwigs(snakemake.params.tracks, snakemake.params.out_dir, Genome(snakemake.input.fasta).contigs,
                          progress=log)
    write_atomically(snakemake.output.done, json.dumps({"bigwigs": [str(f) for f in files]}, indent=2) + "\n")
