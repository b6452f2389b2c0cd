"""Per-sample dosages of the scored (normalised) alleles, read from the cohort VCF with cyvcf2.

Why a second pass over the VCF: normalisation keeps, per scored variant, the source record
and ALT index (``record_index``, ``allele_index``); a multi-allelic record is split into one
variant per ALT, and a sample's dosage of each is the number of its GT alleles equal to that
ALT index (``1/2`` carries one copy of ALT 1 and one of ALT 2). Missing calls (``.``) count as
no copy; a sample with any missing allele at a record gets ``missing = True`` for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genotile.variants.normalize import VcfError

__all__ = ["dosage_matrix", "sample_names"]


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
    same file (and the same ``region``, whose record numbering it used).
    """
    import cyvcf2

    path = Path(vcf_path)
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
        iterator = reader(region) if region else reader
        last = max(wanted)
        index = -1
        while index < last:
            try:
                record = next(iterator)
            except StopIteration:
                break
            except Exception:  # a record htslib cannot parse was a rejected record in normalisation too
                index += 1
                continue
            index += 1
            rows = wanted.get(index)
            if rows is None:
                continue
            gt = record.genotype.array()[:, :-1] if record.genotype is not None else np.full((n, 2), -1)
            absent = (gt < 0).any(axis=1)
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
