"""Gene and polyadenylation-site annotation for the gene-level variant scorers.

The reference scorers read a GENCODE GTF (as a pyranges-style table: 0-based ``Start``,
``End`` as in the GTF) and, for polyadenylation, a PAS table. This module reads both with
pandas and answers the four queries the scorers make, with the reference's exact rules
(``alphagenome_research/model/variant_scoring/gene_mask_extractor.py``):

* :meth:`GeneAnnotation.exon_masks` -- GeneMaskLFC / GeneMaskActive: every transcript whose
  TSS lies in the window (TSS = ``Start`` on +, ``End`` on −, i.e. one past the last base,
  as the reference's ``extract_tss`` takes it) contributes its exons; a gene's mask is the
  union over its transcripts; genes in first-seen GTF order.
* :meth:`GeneAnnotation.overlapping_genes` / :meth:`GeneAnnotation.body_masks` --
  GeneMaskSplicing, SpliceJunction (protein-coding genes only), Polyadenylation and the
  junction head's splice-site mask: genes whose body overlaps
  ``[start, max(start + len(REF), start + len(ALT)))``; masks are the gene bodies.
* :func:`pas_masks` -- Polyadenylation: per overlapping gene, its same-strand PAS if at least
  80 % of them fall in the window and at least two do.

Why not pyranges: the queries are one-dimensional range filters on a single contig, which
sorted numpy arrays answer directly; reading the GTF is pandas' ``read_csv``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from genotile.runtime.tables import contigs_as_text
from genotile.variants.scorers import MAX_GENES, MAX_PAS, pas_window_intervals

__all__ = [
    "AnnotationError", "GeneAnnotation", "PAS_COLUMNS", "PasTable", "pas_intervals", "pas_masks", "read_gtf", "read_pas_table",
]  # fmt: skip

log = logging.getLogger(__name__)

_GTF_COLUMNS: Final = ("Chromosome", "Source", "Feature", "Start", "End", "Score", "Strand", "Frame", "attributes")
_FEATURES: Final = ("gene", "transcript", "exon")
_ATTRIBUTES: Final = ("gene_id", "gene_name", "gene_type", "transcript_id", "transcript_type")
#: Ensembl GTFs say ``*_biotype`` where GENCODE says ``*_type``.
_ALIASES: Final = {"gene_type": "gene_biotype", "transcript_type": "transcript_biotype"}
PAS_COLUMNS: Final = ("Chromosome", "Start", "End", "pas_strand", "gene_id")
#: The reference pads gene masks to 256 genes and refuses more (``GeneVariantScorer``).
MAX_GENES_PER_WINDOW: Final = 256


class AnnotationError(ValueError):
    """An annotation file genotile cannot use, with the file and the fix."""


@dataclass(frozen=True)
class _ContigIndex:
    """Rows of one contig with their coordinates as numpy arrays (filters without pandas overhead)."""

    frame: pd.DataFrame
    start: np.ndarray
    end: np.ndarray


def _by_contig(frame: pd.DataFrame) -> dict[str, _ContigIndex]:
    return {
        str(contig): _ContigIndex(rows, rows["Start"].to_numpy(np.int64), rows["End"].to_numpy(np.int64))
        for contig, rows in frame.groupby("Chromosome", sort=False, observed=True)
    }


@dataclass
class GeneAnnotation:
    """Genes, transcripts and exons of a GTF (0-based half-open ``Start``/``End``), in file order."""

    genes: pd.DataFrame
    transcripts: pd.DataFrame
    exons: pd.DataFrame
    source: str = ""
    _genes: dict[str, _ContigIndex] = field(init=False, repr=False)
    _tss: dict[str, tuple[pd.DataFrame, np.ndarray]] = field(init=False, repr=False)
    _exons_of: dict[str, np.ndarray] = field(init=False, repr=False)
    _gene_rows: dict[str, pd.DataFrame] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._genes = _by_contig(self.genes)
        tss = np.where(self.transcripts["Strand"].to_numpy() == "-", self.transcripts["End"], self.transcripts["Start"])
        transcripts = self.transcripts.assign(tss=tss.astype(np.int64))
        self._tss = {
            str(c): (rows, rows["tss"].to_numpy(np.int64))
            for c, rows in transcripts.groupby("Chromosome", sort=False, observed=True)
        }
        exon_cols = self.exons[["Chromosome", "Start", "End"]]
        self._exons_of = {
            str(t): exon_cols.loc[idx].to_numpy(object)
            for t, idx in self.exons.groupby("transcript_id", sort=False).groups.items()
        }
        self._gene_rows = {str(g): rows for g, rows in self.genes.groupby("gene_id", sort=False)}

    @property
    def contigs(self) -> list[str]:
        return list(self._genes)

    # -- queries -------------------------------------------------------------------

    def exon_masks(self, chrom: str, start: int, length: int) -> tuple[npt.NDArray[np.bool_], pd.DataFrame]:
        """``[S, G]`` exon masks and gene table for GeneMaskLFC/Active over ``[start, start+length)``.

        Why: expression is measured on exons, and a gene counts for a window only if one of its
        transcripts starts there (``INTERVAL_CONTAINED`` query on transcript TSS).
        """
        if chrom not in self._tss:
            return np.zeros((length, 0), bool), self._gene_table([])
        rows, tss = self._tss[chrom]
        chosen = rows[(tss >= start) & (tss < start + length)]
        order: list[str] = []
        masks: dict[str, np.ndarray] = {}
        for transcript_id, gene_id in zip(chosen["transcript_id"], chosen["gene_id"]):
            mask = masks.get(gene_id)
            if mask is None:
                mask = masks[gene_id] = np.zeros(length, bool)
                order.append(gene_id)
            for exon_chrom, exon_start, exon_end in self._exons_of.get(transcript_id, ()):
                if exon_chrom == chrom:
                    _paint(mask, int(exon_start) - start, int(exon_end) - start)
        self._check_gene_count(len(order), chrom, start, length)
        stacked = np.stack([masks[g] for g in order], axis=1) if order else np.zeros((length, 0), bool)
        return stacked, self._gene_table(order)

    def tss_gene_count(self, chrom: str, start: int, length: int) -> int:
        """How many genes :meth:`exon_masks` would return for ``[start, start+length)``, without building masks.

        Why: a fine-tune pads every window's gene masks to one gene count (fixed shapes per run,
        :mod:`genotile.train.gene_masks`); counting over thousands of 1-Mb windows must not allocate their masks.
        """
        if chrom not in self._tss:
            return 0
        rows, tss = self._tss[chrom]
        return int(rows.loc[(tss >= start) & (tss < start + length), "gene_id"].nunique())

    def overlapping_genes(
        self, chrom: str, variant_start0: int, ref_len: int, alt_len: int, *, protein_coding: bool = False
    ) -> pd.DataFrame:
        """Genes whose body overlaps the variant (``VARIANT_OVERLAPPING``), in GTF order.

        Why: splicing, junction and polyadenylation effects are attributed to the genes the
        variant sits in. The variant spans ``[start, max(start + len(REF), start + len(ALT)))``.
        ``protein_coding`` keeps ``gene_type == 'protein_coding'`` (the junction scorer's filter).
        """
        index = self._genes.get(chrom)
        if index is None:
            return self._gene_table([])
        end = max(variant_start0 + ref_len, variant_start0 + alt_len)
        rows = index.frame[(index.end > variant_start0) & (index.start < end)]
        if protein_coding:
            rows = rows[rows["gene_type"] == "protein_coding"]
        return _gene_columns(rows)

    def body_masks(self, genes: pd.DataFrame, chrom: str, start: int, length: int) -> npt.NDArray[np.bool_]:
        """``[S, G]`` gene-body masks of ``genes`` clipped to ``[start, start+length)``."""
        intervals, owners = self.body_intervals(genes, chrom, start, length)
        out = np.zeros((length, len(genes)), bool)
        for (lo, hi), g in zip(intervals.tolist(), owners.tolist()):
            out[lo:hi, g] = True
        return out

    def body_intervals(
        self, genes: pd.DataFrame, chrom: str, start: int, length: int
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """The gene bodies of :meth:`body_masks` as intervals: ``[I, 2]`` window-relative ``[lo, hi)`` (clipped, non-empty,
        disjoint and sorted within a gene) and ``[I]`` the gene (row of ``genes``) each belongs to.

        Why: a body mask is one interval (rarely a few: a gene with several records on the contig), so the device
        reductions (:mod:`genotile.variants.device_intervals`) take a few integers per gene instead of a ``[S]`` mask."""
        self._check_gene_count(len(genes), chrom, start, length)
        intervals: list[tuple[int, int]] = []
        owners: list[int] = []
        for g, gene_id in enumerate(genes["gene_id"]):
            spans = sorted(
                (max(int(row.Start) - start, 0), min(int(row.End) - start, length))
                for row in self._gene_rows[gene_id].itertuples()
                if row.Chromosome == chrom
            )
            merged: list[list[int]] = []
            for lo, hi in spans:
                if hi <= lo:
                    continue
                if merged and lo <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], hi)
                else:
                    merged.append([lo, hi])
            intervals.extend((lo, hi) for lo, hi in merged)
            owners.extend([g] * len(merged))
        return np.asarray(intervals, np.int32).reshape(-1, 2), np.asarray(owners, np.int32)

    # -- helpers ---------------------------------------------------------------------

    def _gene_table(self, gene_ids: Sequence[str]) -> pd.DataFrame:
        if not gene_ids:
            return _gene_columns(self.genes.iloc[:0])
        first = pd.concat([self._gene_rows[g].iloc[:1] for g in gene_ids])
        return _gene_columns(first)

    @staticmethod
    def _check_gene_count(n: int, chrom: str, start: int, length: int) -> None:
        if n > MAX_GENES_PER_WINDOW:
            raise AnnotationError(
                f"{n} genes in {chrom}:{start + 1:,}-{start + length:,}; the gene scorers handle at most "
                f"{MAX_GENES_PER_WINDOW} per window (as the reference does). Fix: use a shorter window"
            )


def _paint(mask: np.ndarray, lo: int, hi: int) -> None:
    lo, hi = max(lo, 0), min(hi, mask.shape[0])
    if hi > lo:
        mask[lo:hi] = True


def _gene_columns(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "gene_id": rows["gene_id"].to_numpy(object),
        "gene_name": rows["gene_name"].to_numpy(object),
        "gene_type": rows["gene_type"].to_numpy(object),
        "gene_strand": rows["Strand"].to_numpy(object),
        "gene_chrom": rows["Chromosome"].astype(str).to_numpy(object),
        "gene_start": rows["Start"].to_numpy(np.int64),
        "gene_end": rows["End"].to_numpy(np.int64),
    })


def _attribute(attributes: pd.Series, key: str) -> pd.Series:
    return attributes.str.extract(rf'(?:^|;)\s*{key} "([^"]*)"', expand=False)


def read_gtf(path: str | os.PathLike[str], contigs: Sequence[str] | None = None) -> GeneAnnotation:
    """Read the gene, transcript and exon lines of a GTF (plain or gzip) into a :class:`GeneAnnotation`.

    Why these checks: a GFF3 given as GTF, or a GTF without ``gene`` lines (some RefSeq/UCSC
    exports), would otherwise give silently empty gene scores. ``contigs`` restricts to those
    contigs (the FASTA's), which keeps a whole-genome GENCODE GTF small in memory.
    """
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"GTF {p} does not exist. Fix: set annotation.gtf in the config to a GENCODE/Ensembl GTF")
    try:
        frame = pd.read_csv(
            p, sep="\t", header=None, names=list(_GTF_COLUMNS), comment=None, dtype=str,
            quoting=3, na_filter=False, engine="c", on_bad_lines="error",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as err:
        raise AnnotationError(f"cannot read GTF {p} ({err}). Fix: give a tab-separated GTF with 9 columns (gzip is fine)") from None
    frame = frame[~frame["Chromosome"].str.startswith("#")]
    frame = frame[frame["Feature"].isin(_FEATURES)]
    if contigs is not None:
        frame = frame[frame["Chromosome"].isin(set(contigs))]
    if frame.empty:
        where = f" on contigs {', '.join(list(contigs)[:5])}" if contigs is not None else ""
        raise AnnotationError(f"GTF {p} has no gene/transcript/exon lines{where}. Fix: check the file and its contig names")
    attrs = frame["attributes"]
    if not attrs.str.contains('gene_id "', regex=False).any():
        raise AnnotationError(f"GTF {p} has no 'gene_id \"...\"' attributes; is it GFF3? Fix: convert with `gffread -T` or `agat`")
    for key in _ATTRIBUTES:
        values = _attribute(attrs, key)
        if values.isna().all() and key in _ALIASES:
            values = _attribute(attrs, _ALIASES[key])
        frame[key] = values.fillna("")
    frame = frame.drop(columns=["attributes", "Source", "Score", "Frame"])
    try:
        frame["Start"] = frame["Start"].astype(np.int64) - 1  # GTF is 1-based inclusive
        frame["End"] = frame["End"].astype(np.int64)
    except ValueError:
        bad = frame[~frame["Start"].str.fullmatch(r"\d+") | ~frame["End"].str.fullmatch(r"\d+")].iloc[0]
        raise AnnotationError(f"GTF {p}: non-numeric start/end {bad['Start']!r}/{bad['End']!r} on a {bad['Feature']} line") from None
    genes = frame[frame["Feature"] == "gene"].reset_index(drop=True)
    if genes.empty:
        raise AnnotationError(
            f"GTF {p} has no 'gene' lines; the gene scorers need gene bodies. Fix: use a GENCODE/Ensembl GTF, or add "
            "gene lines (`agat_convert_sp_gxf2gxf.pl`)"
        )
    transcripts = frame[frame["Feature"] == "transcript"].reset_index(drop=True)
    exons = frame[frame["Feature"] == "exon"].reset_index(drop=True)
    log.info("GTF %s: %d genes, %d transcripts, %d exons", p, len(genes), len(transcripts), len(exons))
    return GeneAnnotation(genes, transcripts, exons, source=str(p))


# --------------------------------------------------------------------------- polyadenylation


@dataclass
class PasTable:
    """Polyadenylation sites grouped by unversioned gene id (``ENSG...`` without ``.N``)."""

    by_gene: dict[str, pd.DataFrame]
    source: str = ""


_VERSION: Final = re.compile(r"\..*$")


def read_pas_table(path: str | os.PathLike[str]) -> PasTable:
    """Read a PAS table (TSV/CSV, Parquet or Feather) with columns :data:`PAS_COLUMNS`.

    Why those columns: they are the reference's PolyADB-derived table's (0-based ``Start``;
    ``pas_strand``; ``gene_id`` with or without version). Rows keep file order -- it matters
    (a quirk of the reference's polyadenylation scorer, kept for parity).
    """
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"PAS table {p} does not exist. Fix: set annotation.pas to a table with columns {', '.join(PAS_COLUMNS)}")
    try:
        if p.suffix == ".parquet":
            table = contigs_as_text(pd.read_parquet(p))  # Ensembl names (1, 20) may be stored as numbers
        elif p.suffix == ".feather":
            table = contigs_as_text(pd.read_feather(p))
        else:
            table = pd.read_csv(p, sep="," if p.suffix == ".csv" else "\t", dtype={"Chromosome": str, "gene_id": str})
    except Exception as err:  # pandas/pyarrow raise many types for unreadable files
        raise AnnotationError(f"cannot read PAS table {p} ({err})") from None
    missing = [c for c in PAS_COLUMNS if c not in table.columns]
    if missing:
        raise AnnotationError(f"PAS table {p} lacks column(s) {missing}; it needs {', '.join(PAS_COLUMNS)} (0-based Start)")
    bad_strand = ~table["pas_strand"].isin(["+", "-"])
    if bad_strand.any():
        row = int(np.flatnonzero(bad_strand.to_numpy())[0])
        raise AnnotationError(f"PAS table {p}, row {row + 1}: pas_strand {table['pas_strand'].iloc[row]!r} is not '+' or '-'")
    table = table.assign(gene_id_nopatch=table["gene_id"].astype(str).str.replace(_VERSION, "", regex=True))
    return PasTable({str(g): rows for g, rows in table.groupby("gene_id_nopatch", sort=False)}, source=str(p))


def pas_masks(
    genes: pd.DataFrame, pas: PasTable, interval_start: int, length: int, variant_pos_1based: int
) -> tuple[npt.NDArray[np.bool_], pd.DataFrame]:
    """``[S, G', MAX_PAS]`` PAS coverage masks and the table of the ``G'`` genes scored.

    Why: the reference keeps a gene only if at least 80 % of its same-strand PAS lie in the
    window (``Start >= start`` and ``End < end``) and at least two do; slots follow the quirk of
    :func:`genotile.variants.scorers.pas_window_masks`. ``min_pas_var_distance`` compares the
    0-based PAS ``Start`` with the 1-based variant position, as the reference does.
    """
    intervals, table = pas_intervals(genes, pas, interval_start, length, variant_pos_1based)
    masks = np.zeros((length, len(table), MAX_PAS), bool)
    for g, gene in enumerate(intervals):
        for slot, (lo, hi) in enumerate(gene.tolist()):
            masks[lo:hi, g, slot] = True
    return masks, table


def pas_intervals(
    genes: pd.DataFrame, pas: PasTable, interval_start: int, length: int, variant_pos_1based: int
) -> tuple[list[npt.NDArray[np.int32]], pd.DataFrame]:
    """:func:`pas_masks` as intervals: per gene scored, its PAS windows ``[P_g, 2]`` (window-relative ``[lo, hi)``,
    :func:`genotile.variants.scorers.pas_window_intervals`), and the same table (the device reduction takes these)."""
    if len(genes) > MAX_GENES:
        raise AnnotationError(f"{len(genes)} genes overlap the variant; the polyadenylation scorer handles at most {MAX_GENES}")
    end = interval_start + length
    kept: list[np.ndarray] = []
    rows: list[dict] = []
    for gene in genes.itertuples(index=False):
        sites = pas.by_gene.get(_VERSION.sub("", str(gene.gene_id)))
        if sites is None:
            continue
        sites = sites[sites["pas_strand"] == gene.gene_strand]
        starts = sites["Start"].to_numpy(np.int64)
        ends = sites["End"].to_numpy(np.int64)
        if len(sites) == 0 or np.mean(starts >= interval_start) < 0.8 or np.mean(ends < end) < 0.8:
            continue
        inside = (starts >= interval_start) & (ends < end)
        if inside.sum() < 2:
            continue
        if inside.sum() > MAX_PAS:
            raise AnnotationError(f"gene {gene.gene_id} has {inside.sum()} PAS in the window; at most {MAX_PAS} are supported")
        kept.append(pas_window_intervals(starts[inside], gene.gene_strand, interval_start, length))
        row = gene._asdict()
        row.update(num_pas=int(inside.sum()), min_pas_var_distance=int(np.abs(starts[inside] - variant_pos_1based).min()))
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*genes.columns, "num_pas", "min_pas_var_distance"])
    return kept, table
