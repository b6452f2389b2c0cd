"""The track pipeline: tiling, track selection, the Zarr store, contact maps, junctions, bigWig export, and the steps the track rules call."""
