"""genotile: genome-wide AlphaGenome-class inference as a Snakemake workflow."""

__version__ = "0.1.0"

from genotile.tracks.store import open_tracks  # noqa: E402

__all__ = ["__version__", "open_tracks"]
