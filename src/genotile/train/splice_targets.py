"""One window's splice targets from the splice samples' junctions: site classes, site slots, junction counts.

Why per window at batch time rather than stored per base: the junctions of a few samples are a small
table (one row per intron and sample), while the junction head's targets are ``[K, K, 2 n]`` per
window; building them from the table costs a fraction of reading the window's sequence.

What a window gets (``start, end``: the bases the batch row covers, margins included; positions are
relative to ``start``), in the model's conventions (:mod:`genotile.train.splice_junctions`):

* ``classes`` ``[L, 5]`` bool: the splice-site classification targets. A base is a donor/acceptor of
  its strand when any sample has a junction with a unique read using it; every other base is class 4
  ("none"), so the classification loss scores every base (a site no sample expresses is "none": the
  targets say what the samples show, not the annotation);
* ``positions`` ``[4, K]`` int32: the site slots (rows donor+, acceptor+, donor-, acceptor-), the sites
  of the junctions with *both* sites inside the window, ascending, ``-1`` after them (the reference's
  ``splice_site_positions``; the junction head runs on them in training). Over ``K`` sites of one class:
  the ``K`` with the most reads;
* ``counts`` ``[K, K, 2 n]`` float32: unique reads of the junction between donor slot ``d`` and acceptor
  slot ``a`` of sample ``c``, channel ``c`` for + strand junctions and ``n + c`` for - strand ones (the
  junction head's tissue x strand layout, restricted to the ``n`` samples);
* ``usage`` ``[L, 2 m]`` float32 (:func:`window_usage_targets`, only for the ``m`` samples with a coverage
  bigWig): each site's usage (:mod:`genotile.train.splice_usage`) at its base, channel ``k`` for + strand
  sites of usage sample ``k`` and ``m + k`` for - strand ones (the usage head's tissue x strand layout,
  restricted to those samples), 0 at every other base. A base that is a site of two kinds on one strand of
  a sample (a 1-bp exon) gets the larger usage.

Multi-mapping reads (STAR's column 8) are not counted: STAR assigns them to every locus they map to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["NONE_CLASS", "SiteUsage", "SpliceJunctions", "window_splice_targets", "window_usage_targets"]

NONE_CLASS = 4
#: Rows of the site slots and class index of each: donor+, acceptor+, donor-, acceptor-.
_ROWS = 4


@dataclass(frozen=True)
class SpliceJunctions:
    """The stranded junctions of all splice samples, per contig: donor, acceptor (0-based site positions),
    strand (+1 / -1), channel (the sample) and unique reads; ``channels``: the number of samples."""

    contigs: Mapping[str, Mapping[str, np.ndarray]]
    channels: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, channels: int) -> "SpliceJunctions":
        """From a table with ``contig, start, end`` (the intron, 0-based half-open), ``strand`` (``+``/``-``),
        ``channel`` and ``unique_reads``; unstranded and read-less junctions are left out."""
        used = frame[frame["strand"].isin(("+", "-")) & (frame["unique_reads"] > 0)]
        contigs = {}
        for contig, rows in used.groupby("contig", sort=False):
            plus = (rows["strand"] == "+").to_numpy()
            start, end = rows["start"].to_numpy(np.int64), rows["end"].to_numpy(np.int64)
            contigs[str(contig)] = {
                "donor": np.where(plus, start - 1, end), "acceptor": np.where(plus, end, start - 1),
                "strand": np.where(plus, 1, -1).astype(np.int8), "channel": rows["channel"].to_numpy(np.int64),
                "reads": rows["unique_reads"].to_numpy(np.float64),
            }
        return cls(contigs, int(channels))


def _slots(positions: np.ndarray, reads: np.ndarray, k: int) -> np.ndarray:
    """The distinct ``positions``, at most ``k`` (those with the most reads), ascending."""
    sites, inverse = np.unique(positions, return_inverse=True)
    if len(sites) > k:
        totals = np.bincount(inverse, weights=reads, minlength=len(sites))
        keep = np.lexsort((sites, -totals))[:k]  # most reads first, ties by position
        sites = np.sort(sites[keep])
    return sites


def window_splice_targets(junctions: SpliceJunctions, contig: str, start: int, end: int,
                          slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes [L, 5] bool, positions [4, K] int32, counts [K, K, 2 n] float32)`` of bases ``[start, end)``
    (module doc; ``K = slots``, ``L = end - start``)."""
    length, n = int(end - start), junctions.channels
    classes = np.zeros((length, NONE_CLASS + 1), bool)
    positions = np.full((_ROWS, slots), -1, np.int32)
    counts = np.zeros((slots, slots, 2 * n), np.float32)
    table = junctions.contigs.get(contig)
    if table is None:
        classes[:, NONE_CLASS] = True
        return classes, positions, counts
    donor, acceptor, strand = table["donor"] - start, table["acceptor"] - start, table["strand"]
    minus = (strand < 0).astype(np.int64)
    for site, offset in ((donor, 0), (acceptor, 1)):  # class = 2 x (strand is -) + (0 donor, 1 acceptor)
        inside = (site >= 0) & (site < length)
        classes[site[inside], 2 * minus[inside] + offset] = True
    classes[:, NONE_CLASS] = ~classes[:, :NONE_CLASS].any(axis=1)
    both = (donor >= 0) & (donor < length) & (acceptor >= 0) & (acceptor < length)
    d, a, m = donor[both], acceptor[both], minus[both]
    channel, reads = table["channel"][both] + n * m, table["reads"][both]
    d_slot, a_slot = np.full(len(d), -1), np.full(len(d), -1)
    for is_minus in (0, 1):
        chosen = m == is_minus
        for row, site, slot in ((2 * is_minus, d, d_slot), (2 * is_minus + 1, a, a_slot)):
            kept = _slots(site[chosen], reads[chosen], slots)
            positions[row, : len(kept)] = kept
            index = np.searchsorted(kept, site[chosen])
            found = np.isin(site[chosen], kept)  # a site left out of the K slots drops its junctions
            slot[np.flatnonzero(chosen)] = np.where(found, index, -1)
    counted = (d_slot >= 0) & (a_slot >= 0)
    np.add.at(counts, (d_slot[counted], a_slot[counted], channel[counted]), reads[counted].astype(np.float32))
    return classes, positions, counts


@dataclass(frozen=True)
class SiteUsage:
    """The usage of the usage samples' splice sites, per contig: position (0-based), channel (``k`` + strand,
    ``m + k`` - strand of usage sample ``k``) and usage; ``channels``: ``2 m``."""

    contigs: Mapping[str, Mapping[str, np.ndarray]]
    channels: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, samples: int) -> "SiteUsage":
        """From a table with ``contig, position, class_index`` (0-3, :data:`genotile.train.splice_junctions.SITE_CLASSES`),
        ``sample`` (the usage sample ``k``) and ``usage``."""
        contigs = {}
        for contig, rows in frame.groupby("contig", sort=False):
            minus = (rows["class_index"].to_numpy(np.int64) >= 2).astype(np.int64)
            contigs[str(contig)] = {"position": rows["position"].to_numpy(np.int64),
                                    "channel": rows["sample"].to_numpy(np.int64) + samples * minus,
                                    "usage": rows["usage"].to_numpy(np.float32)}
        return cls(contigs, 2 * int(samples))


def window_usage_targets(usage: SiteUsage, contig: str, start: int, end: int) -> np.ndarray:
    """``[L, 2 m]`` float32 usage targets of bases ``[start, end)`` (module doc; ``L = end - start``)."""
    out = np.zeros((int(end - start), usage.channels), np.float32)
    table = usage.contigs.get(contig)
    if table is None:
        return out
    position = table["position"] - start
    inside = (position >= 0) & (position < len(out))
    np.maximum.at(out, (position[inside], table["channel"][inside]), table["usage"][inside])
    return out
