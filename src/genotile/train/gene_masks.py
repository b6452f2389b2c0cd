"""Per-window gene masks for the optional gene-level term of the RNA-seq loss (``train.gene_loss_weight``).

The term (:func:`genotile.train.losses.gene_cross_track_loss`) reads ``gene_mask``, bool ``[S, 2, G]`` per
batch row (the reference's ``DataBatch.gene_mask``): ``[:, 0, g]`` marks gene g's exonic bases when the gene
is on the + strand, ``[:, 1, g]`` when it is on the - strand. Which genes and which bases are the gene
scorers' rule (:meth:`genotile.variants.annotation.GeneAnnotation.exon_masks`): every gene with a transcript
whose TSS lies in the window, masked on the union of those transcripts' exons, in GTF order. Genes whose
strand is neither + nor - have no row to go in and are left empty (the loss skips empty genes).

Why a fixed G per run: the trainer's step is one jit-compiled function, and a gene count that changed from
window to window would recompile it on every new count. :func:`max_genes` finds the largest count over the
run's windows (their contexts, margins included) once, and every mask is padded to it with empty genes.

Memory: a row's mask is ``S x 2 x G`` bytes on the host (1 Mb and 100 genes: 200 MB) and four times that as
float32 in the loss on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from genotile.train.data_errors import TrainingDataError
from genotile.variants.annotation import GeneAnnotation

__all__ = ["GeneMaskFn", "gene_masks_fn", "max_genes", "window_gene_mask"]

#: ``(contig, start, end) -> [end - start, 2, G]`` bool: the gene masks of a window's context.
GeneMaskFn = Callable[[str, int, int], np.ndarray]
_STRAND_ROW = {"+": 0, "-": 1}


def window_gene_mask(annotation: GeneAnnotation, contig: str, start: int, end: int, genes: int) -> np.ndarray:
    """``[end - start, 2, genes]`` bool exon masks of ``[start, end)`` (``start`` may be negative: a margin
    before the contig), padded with empty genes to ``genes``."""
    length = int(end) - int(start)
    exons, table = annotation.exon_masks(str(contig), int(start), length)
    if exons.shape[1] > genes:
        raise TrainingDataError(
            f"{contig}:{int(start) + 1:,}-{int(end):,} has {exons.shape[1]} genes of {annotation.source or 'the GTF'} "
            f"but the run's gene masks hold {genes}; fix: count the genes over every window the run reads (max_genes)")
    out = np.zeros((length, 2, int(genes)), bool)
    for g, strand in enumerate(table["gene_strand"].astype(str)):
        row = _STRAND_ROW.get(strand)
        if row is not None:
            out[:, row, g] = exons[:, g]
    return out


def max_genes(annotation: GeneAnnotation, windows: Iterable[pd.DataFrame], margins: Iterable[int]) -> int:
    """The largest gene count of any window context (``[start - margin, end + margin)``), at least 1.

    ``windows``: tables with ``contig, start, end``; ``margins``: each table's margin (training windows are
    read with the shift's margin, validation windows without)."""
    most = 0
    for table, margin in zip(windows, margins, strict=True):
        for contig, start, end in table[["contig", "start", "end"]].itertuples(index=False):
            lo, hi = int(start) - int(margin), int(end) + int(margin)
            most = max(most, annotation.tss_gene_count(str(contig), lo, hi - lo))
    return max(most, 1)


def gene_masks_fn(annotation: GeneAnnotation, genes: int) -> GeneMaskFn:
    """A :data:`GeneMaskFn` of ``annotation`` padded to ``genes`` (for :class:`genotile.train.windows_source.WindowsSource`)."""

    def read(contig: str, start: int, end: int) -> np.ndarray:
        return window_gene_mask(annotation, contig, start, end, genes)

    return read
