"""Rule export_bigwig: one bigWig per stored track and resolution, listed in done.json."""
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import mirrored
from genotile.tracks.steps import export_bigwig

params = snakemake.params  # noqa: F821
with (rule_context(snakemake),  # noqa: F821
      mirrored(params.tracks, params.storage, "all", write=False),
      mirrored(params.folder, params.storage, "none", write=True, fresh=True)):
    export_bigwig(snakemake.input.fasta, params.tracks, params.folder, snakemake.output.done)  # noqa: F821
