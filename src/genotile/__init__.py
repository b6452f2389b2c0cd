"""genotile: genome-wide AlphaGenome-class inference as a Snakemake workflow."""

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "open_tracks"]


def __getattr__(name: str) -> Any:
    """``genotile.open_tracks`` on first use: importing the package (every Snakemake job parses the Snakefile,
    which imports genotile modules) then costs no Zarr/xarray import."""
    if name == "open_tracks":
        from genotile.tracks.store import open_tracks

        return open_tracks
    raise AttributeError(f"module 'genotile' has no attribute {name!r}")
