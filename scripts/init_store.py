"""Rule init_store: pre-allocate the track store (and contact-map store)."""
from _rule import rule_context

from genotile.workflow import init_stores

with rule_context(snakemake):  # noqa: F821
    init_stores(snakemake.params.settings, snakemake.input.fasta, snakemake.params.tracks,
                snakemake.params.contacts, snakemake.output.marker)
