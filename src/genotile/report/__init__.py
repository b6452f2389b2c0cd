"""The Snakemake report: its figures (track_plot, variant_plot) and pages (tiling, track selection, variant
summaries), the one layer that reads several stages' outputs."""
