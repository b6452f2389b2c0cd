"""Rule plot_tracks: the store's selected tracks over the gene annotation in one region, for the report."""
from genotile.report.track_plot import plot_tracks
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import pulled

params = snakemake.params  # noqa: F821
with rule_context(snakemake), pulled([params.tracks], params.storage):  # noqa: F821
    plot_tracks(params.tracks, snakemake.input.windows, snakemake.output.png, snakemake.input.get("gtf"))  # noqa: F821
