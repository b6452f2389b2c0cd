"""Splice-site usage of one sample from its STAR junctions and its raw RNA-seq coverage (SpliSER's estimate).

Why coverage beside ``SJ.out.tab``: usage is the fraction of the reads over a site that splice there,
and the reads that cross the exon-intron boundary *unspliced* are not in the junction table. A raw
(read-count, not normalised) coverage bigWig holds them: the coverage at the site's intronic
neighbour base counts the reads that continue into the intron. Per site, sample and strand::

    usage = alpha / (alpha + beta1 + beta2)

* ``alpha``: unique reads of the sample's junctions that use the site (as the kind it is: a donor's
  junctions for a donor), the reads :func:`genotile.train.splice_junctions.splice_sites` sums;
* ``beta1``: the coverage at the site's intronic neighbour (the unspliced reads crossing the boundary):
  + donor ``d``: ``d + 1``; + acceptor ``a``: ``a - 1``; - donor ``d``: ``d - 1``; - acceptor ``a``: ``a + 1``
  (sites are the exon bases flanking an intron, :mod:`genotile.train.splice_junctions`; so the neighbour
  is the intron's first or last base);
* ``beta2``: unique reads of the sample's same-strand junctions whose intron ``[start, end)`` contains
  the site base (they splice over it: an exon skipped, a competing site upstream).

Only sites with ``alpha > 0`` get a value; every other base's usage target is 0 (the reference's usage
targets are per base, 0 off sites). Coverage with no data at the neighbour (NaN, the bigWig has no
entry there) counts as 0 reads, as every bigWig value is read for training (:mod:`genotile.train.targets`):
such a site's usage is ``alpha / (alpha + beta2)``, and its ``no_coverage`` is True (``targets_qc.tsv``
reports the fraction of such sites as ``nan_fraction``). It is an estimate: reads that start at the neighbour base count as
crossing, and an unstranded coverage (strand ``.``) counts the other strand's reads too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from genotile.train.splice_junctions import SITE_CLASSES, splice_sites

__all__ = ["NEIGHBOUR_OFFSET", "USAGE_COLUMNS", "intronic_neighbours", "site_usage"]

#: The intronic neighbour of each site kind, as an offset from the site (module doc).
NEIGHBOUR_OFFSET = {"donor+": 1, "acceptor+": -1, "donor-": -1, "acceptor-": 1}
USAGE_COLUMNS = ("contig", "position", "class_index", "alpha", "beta1", "beta2", "usage", "no_coverage")
#: ``(contig, strand "+"/"-", positions) -> coverage`` (NaN = no data) at those 0-based positions.
CoverageFn = Callable[[str, str, np.ndarray], np.ndarray]
_OFFSET_OF_CLASS = np.array([NEIGHBOUR_OFFSET[k] for k in sorted(SITE_CLASSES, key=SITE_CLASSES.get)], np.int64)


def intronic_neighbours(sites: pd.DataFrame) -> np.ndarray:
    """The intronic neighbour base of each site (``position`` and ``class_index`` columns; module doc)."""
    return sites["position"].to_numpy(np.int64) + _OFFSET_OF_CLASS[sites["class_index"].to_numpy(np.int64)]


def _skipping_reads(junctions: pd.DataFrame, contig: str, strand: str, positions: np.ndarray) -> np.ndarray:
    """Unique reads of the ``strand`` junctions on ``contig`` whose intron ``[start, end)`` contains each position."""
    rows = junctions[(junctions["contig"] == contig) & (junctions["strand"] == strand)]
    reads = rows["unique_reads"].to_numpy(np.float64)
    starts, ends = rows["start"].to_numpy(np.int64), rows["end"].to_numpy(np.int64)
    by_start, by_end = np.argsort(starts, kind="stable"), np.argsort(ends, kind="stable")
    started = np.concatenate([[0.0], np.cumsum(reads[by_start])])[np.searchsorted(starts[by_start], positions, "right")]
    ended = np.concatenate([[0.0], np.cumsum(reads[by_end])])[np.searchsorted(ends[by_end], positions, "right")]
    return started - ended  # start <= p, minus those that also end <= p (end > p is what is left)


def site_usage(junctions: pd.DataFrame, coverage: CoverageFn) -> pd.DataFrame:
    """The usage of every site of one sample's stranded junctions with unique reads (:data:`USAGE_COLUMNS`;
    ``no_coverage``: the coverage had no data, NaN, at the site's intronic neighbour).

    ``junctions``: the sample's junctions (``contig, start, end, strand, unique_reads``; intron 0-based
    half-open, :func:`genotile.train.splice_junctions.read_sj_out_tab`). ``coverage``: the sample's raw
    coverage on each strand (:data:`CoverageFn`); its NaN counts as 0 (module doc).
    """
    sites = splice_sites(junctions, min_unique_reads=1)
    out = sites[["contig", "position", "class_index"]].copy()
    out["alpha"] = sites["unique_reads"].to_numpy(np.float64)
    beta1, beta2, missing = np.zeros(len(out)), np.zeros(len(out)), np.zeros(len(out), bool)
    neighbours = intronic_neighbours(out)
    strand = np.where(out["class_index"].to_numpy() < SITE_CLASSES["donor-"], "+", "-")
    for (contig, sign), index in out.groupby([out["contig"], strand], sort=False).indices.items():
        values = np.asarray(coverage(str(contig), str(sign), neighbours[index]), np.float64)
        missing[index] = np.isnan(values)
        beta1[index] = np.nan_to_num(values, nan=0.0)
        beta2[index] = _skipping_reads(junctions, str(contig), str(sign), out["position"].to_numpy(np.int64)[index])
    out["beta1"], out["beta2"] = beta1, beta2
    out["usage"] = out["alpha"] / (out["alpha"] + out["beta1"] + out["beta2"])
    out["no_coverage"] = missing
    return out.reset_index(drop=True)[list(USAGE_COLUMNS)]
