"""Per-sample dosages of the scored (normalised) alleles, read from the cohort VCF with cyvcf2.

Why a second pass over the VCF: normalisation keeps, per scored variant, the source record
and ALT index (``record_index``, ``allele_index``); a multi-allelic record is split into one
variant per ALT, and a sample's dosage of each is the number of its GT alleles equal to that
ALT index (``1/2`` carries one copy of ALT 1 and one of ALT 2). The records are read through
:func:`genotile.variants.normalize.read_records`, the reader normalisation used, so record numbers
agree and a malformed line never reaches htslib's record accessors.

Missing calls stay distinguishable from ``0/0``: a missing allele (``.``) counts as no copy, and the
sample gets ``missing = True`` at that record, for every ALT split from it. So ``./.`` is dosage 0,
missing; ``./1`` is dosage 1 of ALT 1 (0 of ALT 2), missing (the dosage is a lower bound);
``0/0`` is dosage 0, not missing. A haploid call (``1`` among diploid ones) is not missing: htslib
pads it with an end-of-vector marker, which is not a missing allele. A record without GT makes every
sample missing. :func:`call_rates` turns the missing matrix into per-sample and per-variant call rates.

A GT allele index beyond the record's ALT count is malformed: normalisation rejects such records
(``gt_allele_out_of_range``), so none is scored; meeting one here means the VCF changed since.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genotile.variants.normalize import VcfError, _sniff, read_records, region_query

__all__ = ["call_rates", "dosage_matrix", "sample_names"]

_MISSING = -1  # cyvcf2's genotype.array(): -1 is a missing allele, -2 the end of a shorter (haploid) call


def sample_names(vcf_path: str | os.PathLike[str]) -> list[str]:
    import cyvcf2

    reader = cyvcf2.VCF(str(vcf_path), lazy=True)
    try:
        return list(reader.samples)
    finally:
        reader.close()


def dosage_matrix(
    vcf_path: str | os.PathLike[str], variants: pd.DataFrame, region: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(dosage int8 [V, N], missing bool [V, N], samples)`` for the rows of ``variants``.

    ``variants`` must carry ``record_index`` and ``allele_index`` from ``normalize_vcf`` run on the
    same file (and the same ``region``, whose record numbering it used; in the VCF's or the FASTA's
    contig names). See the module docstring for what ``missing`` means.
    """
    import cyvcf2

    path = Path(vcf_path)
    kind, n_header_lines = _sniff(path)
    reader = cyvcf2.VCF(str(path), lazy=True, gts012=False)
    try:
        samples = list(reader.samples)
        n = len(samples)
        dosage = np.zeros((len(variants), n), np.int8)
        missing = np.zeros((len(variants), n), bool)
        if n == 0 or variants.empty:
            return dosage, missing, samples
        wanted: dict[int, list[tuple[int, int]]] = {}
        for row, (rec_i, allele_i) in enumerate(zip(variants["record_index"], variants["allele_index"])):
            wanted.setdefault(int(rec_i), []).append((row, int(allele_i)))
        query = region_query(reader, path, region) if region else None
        last = max(wanted)
        index = -1
        for index, line, record, _problem in read_records(reader, path, kind, n_header_lines, query):
            if index > last:
                break
            rows = wanted.get(index)
            if rows is None:
                continue
            if record is None:
                raise VcfError(f"VCF {path}: record {index + 1:,} was scored but cannot be read now; was the file "
                               "changed after normalisation? Fix: re-run normalisation on this file")
            gt = _alleles(record, n)
            n_alts = len(record.ALT)
            if (gt > n_alts).any():
                raise VcfError(
                    f"VCF {path}, record {index + 1:,}" + (f" (line {line:,})" if line else "") + f": a GT allele "
                    f"index is beyond the record's {n_alts} ALT allele(s); normalisation rejects such records "
                    "(gt_allele_out_of_range), so the file changed since. Fix: re-run normalisation on this file"
                )
            absent = (gt == _MISSING).any(axis=1)
            for row, allele in rows:
                dosage[row] = (gt == allele).sum(axis=1).astype(np.int8)
                missing[row] = absent
        if index < last:
            raise VcfError(
                f"VCF {path} has fewer records than the normalised variants refer to (record {last + 1:,}); "
                "was it changed after normalisation? Fix: re-run normalisation on this file"
            )
        return dosage, missing, samples
    finally:
        reader.close()


def _alleles(record, n: int) -> np.ndarray:
    """GT allele indexes ``[N, ploidy]`` (``-1`` missing, ``-2`` padding); all missing without GT."""
    genotype = record.genotype
    return genotype.array()[:, :-1] if genotype is not None else np.full((n, 2), _MISSING)


def call_rates(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(per_sample [N], per_variant [V])``: the fraction of calls that are not missing (float64).

    ``missing`` is :func:`dosage_matrix`'s ``[V, N]`` matrix. A sample's rate is over the variants, a
    variant's over the samples; with no variants (or no samples) the rates along that axis are NaN,
    not 1, since nothing was called.
    """
    called = ~np.asarray(missing, bool)
    v, n = called.shape
    per_sample = called.mean(axis=0) if v else np.full(n, np.nan)
    per_variant = called.mean(axis=1) if n else np.full(v, np.nan)
    return per_sample.astype(np.float64), per_variant.astype(np.float64)
