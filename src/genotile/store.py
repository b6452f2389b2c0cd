"""``genotile.store``: the name under which every track store documents how to read it.

Each ``tracks.zarr`` carries its layout text in its root attributes (``genotile.tracks.store_format.LAYOUT``), and
that text tells the reader to call ``genotile.store.open_track_array`` / ``read_n_mask`` / ``open_tracks``. Stores
written before the package was cut into stages say the same, so this name stays importable: it is the store
reader's public address, and the code lives in :mod:`genotile.tracks.store`.
"""

from genotile.tracks.store import open_track_array, open_tracks, read_n_mask

__all__ = ["open_track_array", "open_tracks", "read_n_mask"]
