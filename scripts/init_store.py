"""Rule init_store: pre-allocate the track store (and contact-map store) for the run's track selection."""
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import mirrored
from genotile.settings import InitStoreSettings
from genotile.tracks.steps import init_store

params = snakemake.params  # noqa: F821
with (rule_context(snakemake),  # noqa: F821
      mirrored(params.tracks, params.storage, "none", write=True, fresh=True),
      mirrored(params.contacts, params.storage, "none", write=True, fresh=True)):
    init_store(InitStoreSettings.from_config(params.settings), snakemake.input.fasta, snakemake.input.selection,  # noqa: F821
               params.tracks, params.contacts, snakemake.output.marker, fasta_name=params.genome,  # noqa: F821
               n_runs_bed=snakemake.output.n_runs, junction_outputs=tuple(params.junction_outputs))  # noqa: F821
