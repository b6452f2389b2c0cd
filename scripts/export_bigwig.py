"""Rule export_bigwig: one bigWig per stored track and resolution, listed in done.json.

The folder is genotile's output: bigWigs of tracks the run no longer selects, and temporary files of
an interrupted export, are removed (genotile.tracks.bigwig.write_bigwigs, prune=True). A run whose selection
has no 1-D tracks (no track store) leaves the folder with no bigWig.
"""
import json
from pathlib import Path

from _rule import rule_context

from genotile.tracks.bigwig import sweep, write_bigwigs
from genotile.sequence.fasta import Genome
from genotile.runtime.storage_mirror import mirrored
from genotile.tracks.steps import log, write_atomically

params = snakemake.params  # noqa: F821
with (rule_context(snakemake),  # noqa: F821
      mirrored(params.tracks, params.storage, "all", write=False),
      mirrored(params.folder, params.storage, "none", write=True, fresh=True)):
    if Path(params.tracks).exists():
        files = write_bigwigs(params.tracks, params.folder, Genome(snakemake.input.fasta).contigs, progress=log,  # noqa: F821
                              prune=True)
    else:
        log(f"no track store ({params.tracks}): the selection has no 1-D tracks to export")
        files = []
        sweep(params.folder, keep=[])
    write_atomically(snakemake.output.done, json.dumps({"bigwigs": [f.name for f in files]}, indent=2) + "\n")  # noqa: F821
