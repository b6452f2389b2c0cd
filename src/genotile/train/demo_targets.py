"""A synthetic measured track for the fine-tuning demo: its value is a fixed function of sequence motifs.

Why: the demo genome is random sequence and the tiny model's weights are random, so no real assay exists
for it. A track that is a known function of the sequence is one a model *can* learn from the sequence
alone, so a short fine-tune visibly raises the held-out Pearson correlation, which proves the training loop
learns rather than merely runs. The function is local (each motif adds a bump centred on itself), like the
signal of a chromatin-accessibility assay around bound factors, and has no randomness: the same genome gives
the same bigWig bytes.

signal(x) = BASELINE + sum over motif occurrences m covering the forward strand or its reverse complement of
    HEIGHT[m] * max(0, 1 - |x - centre(m)| / HALF_WIDTH)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from genotile.runtime.atomic import write_file
from genotile.sequence.encoding import reverse_complement
from genotile.sequence.fasta import Genome

__all__ = ["BASELINE", "HALF_WIDTH", "MOTIF_HEIGHTS", "motif_signal", "write_demo_targets"]

#: Motif -> bump height. Palindromes and their reverse complements are counted once per position.
MOTIF_HEIGHTS: Mapping[str, float] = {"GATAA": 4.0, "CACGTG": 8.0, "TGACTCA": 6.0}
HALF_WIDTH = 48  # bp from a motif's centre to where its bump reaches zero
BASELINE = 0.05  # signal away from every motif (a mapped, non-zero background)


def _motif_centres(sequence: str, motif: str) -> np.ndarray:
    """Centres (float bp) of every occurrence of ``motif`` or its reverse complement, overlaps included."""
    starts: set[int] = set()
    for word in {motif, reverse_complement(motif)}:
        starts.update(m.start() for m in re.finditer(f"(?={word})", sequence))
    return np.array(sorted(starts), dtype=np.float64) + (len(motif) - 1) / 2


def motif_signal(sequence: str) -> np.ndarray:
    """The demo track over ``sequence`` (upper or lower case; N never matches), float32, one value per base."""
    sequence = sequence.upper()
    positions = np.arange(len(sequence), dtype=np.float64)
    signal = np.full(len(sequence), BASELINE, dtype=np.float64)
    for motif, height in MOTIF_HEIGHTS.items():
        for centre in _motif_centres(sequence, motif):
            lo, hi = max(0, int(np.ceil(centre - HALF_WIDTH))), min(len(sequence), int(centre + HALF_WIDTH) + 1)
            if lo < hi:
                signal[lo:hi] += height * np.maximum(0.0, 1.0 - np.abs(positions[lo:hi] - centre) / HALF_WIDTH)
    return signal.astype(np.float32)


def write_demo_targets(fasta: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write the demo track of every contig of ``fasta`` as a bigWig at ``path`` (atomically)."""
    import pyBigWig

    with Genome(fasta) as genome:
        contigs = genome.contigs
        tracks = {name: motif_signal(genome.sequence(name, 0, length)) for name, length in contigs.items()}

    def write(tmp: Path) -> None:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader(list(contigs.items()), maxZooms=4)
            for name, values in tracks.items():
                bw.addEntries(name, 0, values=values.tolist(), span=1, step=1)
        finally:
            bw.close()

    return write_file(path, write)
