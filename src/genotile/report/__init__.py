"""The Snakemake report's pages: views of a run's outputs (tiling, track selection, variant summaries) that a browser shows inline."""
