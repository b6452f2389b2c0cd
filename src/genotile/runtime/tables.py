"""Reading back the tables the workflow writes, with contig names kept as text.

Why this module: pandas guesses column types. A contig column holding Ensembl/GRCh37 names
(``1`` ... ``22``, ``20``) is read back as integers, and ``'20' != 20``, so a windows table
read without a dtype sends contig ``20`` (an int) to a FASTA that has ``'20'`` (a str), and
every prediction job fails. Every table genotile writes and reads back (windows, shards,
variants, junctions, scores, summaries) goes through :func:`read_tsv` / :func:`read_parquet`,
which keep the contig columns as ``str``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO, Any

import pandas as pd

__all__ = ["CONTIG_COLUMNS", "contigs_as_text", "read_parquet", "read_tsv"]

#: Columns that hold contig names in genotile's tables (and in the PAS/GTF conventions).
CONTIG_COLUMNS = ("contig", "chrom", "chromosome", "Chromosome", "seqname", "span")


def read_tsv(path: str | os.PathLike[str] | IO[Any], **kwargs: Any) -> pd.DataFrame:
    """A tab-separated table with every contig column (:data:`CONTIG_COLUMNS`) read as ``str``.

    ``path`` may be an open handle (Snakemake's ``.open()`` of a checkpoint output). Other
    keyword arguments go to :func:`pandas.read_csv`; a ``dtype`` given there is extended.
    """
    dtype = {name: str for name in CONTIG_COLUMNS}
    given = kwargs.pop("dtype", None)
    if isinstance(given, dict):
        dtype.update(given)
    elif given is not None:
        raise TypeError("read_tsv: dtype must be a {column: type} mapping (contig columns are always str)")
    table = pd.read_csv(path, sep="\t", dtype=dtype, **kwargs)
    return contigs_as_text(table)


def read_parquet(path: str | os.PathLike[str], columns: Iterable[str] | None = None, **kwargs: Any) -> pd.DataFrame:
    """A Parquet table with every contig column as ``str`` (in case a writer stored them as numbers)."""
    table = pd.read_parquet(path, columns=list(columns) if columns is not None else None, **kwargs)
    return contigs_as_text(table)


def contigs_as_text(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with any numeric contig column turned into text (``20`` -> ``'20'``; missing stays missing)."""
    for name in CONTIG_COLUMNS:
        if name in table.columns and not (pd.api.types.is_object_dtype(table[name]) or pd.api.types.is_string_dtype(table[name])):
            column = table[name]
            table[name] = column.astype(object).where(column.isna(), column.astype(str))
    return table
