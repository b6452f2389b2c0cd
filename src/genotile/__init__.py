"""genotile: genome-wide AlphaGenome-class inference as a Snakemake workflow."""

__version__ = "0.1.0"
