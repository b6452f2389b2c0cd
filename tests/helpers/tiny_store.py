"""A tiny track store and its windows table, shared by the report's plot and page tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from genotile.tracks.store import TrackSet, create_store, write_window
from genotile.tracks.tiling import tile_windows

WINDOW_BP, OWNED_BP = 16_384, 8_192
CONTIGS = {"chrA": 24_576}


def tiny_store(path: Path) -> Path:
    """A two-group store (dnase 1 bp x 2 tracks, rna_seq 128 bp x 1 track) with every window written (a sine)."""
    tracksets = [
        TrackSet("dnase", 1, pd.DataFrame({"track_index": [0, 1], "name": ["dnase a", "dnase b"], "strand": [".", "."]})),
        TrackSet("rna_seq", 128, pd.DataFrame({"track_index": [3], "name": ["rna +"], "strand": ["+"]})),
    ]
    create_store(path, CONTIGS, tracksets, chunk_bp=OWNED_BP, attrs={}, owned_bp=OWNED_BP)
    for w in tile_windows(CONTIGS, WINDOW_BP, OWNED_BP):
        outputs = {}
        for ts in tracksets:
            bins = np.arange(w.start, w.end, ts.resolution, dtype=np.float32)
            full = np.stack([np.sin(bins / 500 + k) for k in range(ts.n_tracks)], axis=1).astype(np.float32)
            outputs[ts.key] = full  # write_window crops to the owned region
        write_window(path, w, outputs)
    return path


def tiny_windows() -> pd.DataFrame:
    windows = tile_windows(CONTIGS, WINDOW_BP, OWNED_BP)
    return pd.DataFrame({"window": range(len(windows)), "contig": [w.contig for w in windows],
                         "start": [w.start for w in windows], "end": [w.end for w in windows],
                         "own_start": [w.own_start for w in windows], "own_end": [w.own_end for w in windows],
                         "batch": 0, "all_n": [True] + [False] * (len(windows) - 1)})


GTF = (
    'chrA\tdemo\tgene\t9001\t12000\t.\t+\t.\tgene_id "G1"; gene_name "GENE1"; gene_type "protein_coding";\n'
    'chrA\tdemo\ttranscript\t9001\t12000\t.\t+\t.\tgene_id "G1"; gene_name "GENE1"; gene_type "protein_coding"; '
    'transcript_id "T1"; transcript_type "protein_coding";\n'
    'chrA\tdemo\texon\t9001\t9500\t.\t+\t.\tgene_id "G1"; gene_name "GENE1"; gene_type "protein_coding"; '
    'transcript_id "T1"; transcript_type "protein_coding";\n'
)
