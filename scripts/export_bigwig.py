"""Rule export_bigwig: one bigWig per stored track and resolution, listed in done.json."""
import json

from _rule import rule_context

from genotile.export import write_bigwigs
from genotile.genome import Genome
from genotile.storage_mirror import mirrored
from genotile.workflow import log, write_atomically

params = snakemake.params  # noqa: F821
with (rule_context(snakemake),  # noqa: F821
      mirrored(params.tracks, params.storage, "all", write=False),
      mirrored(params.folder, params.storage, "none", write=True, fresh=True)):
    files = write_bigwigs(params.tracks, params.folder, Genome(snakemake.input.fasta).contigs, progress=log)  # noqa: F821
    write_atomically(snakemake.output.done, json.dumps({"bigwigs": [f.name for f in files]}, indent=2) + "\n")  # noqa: F821
