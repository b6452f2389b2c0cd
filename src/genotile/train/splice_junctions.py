"""Splice targets from STAR's ``SJ.out.tab``: junction counts per sample, and the splice sites they use.

Why STAR's table: it is what RNA-seq pipelines already write, one per sample, with unique and
multi-mapping read counts per intron. This module reads and checks one (against the FASTA, as
bigWigs are checked) and derives the two targets a splice fine-tune needs:

* :func:`read_sj_out_tab` - the junctions: ``contig, start, end`` (the intron, 0-based half-open),
  ``strand`` (``+``/``-``/``.``), ``motif``, ``annotated``, ``unique_reads``, ``multi_reads``, ``max_overhang``;
* :func:`splice_sites` - the splice sites of the junctions with enough reads, in the convention of
  the junction head's outputs (:mod:`genotile.tracks.junctions`, spec §4.7: a + strand junction with
  donor ``d`` and acceptor ``a`` is the intron ``[d + 1, a)``, a - strand one ``[a + 1, d)``; so the
  sites are the exon bases flanking the intron), with the model's class index (0 donor+,
  1 acceptor+, 2 donor-, 3 acceptor-) and the reads supporting each.

The per-window targets the trainer reads (site classes, site slots, junction counts) are built from
these junctions by :mod:`genotile.train.splice_targets`.

Not from the table alone: splice-site *usage* (the fraction of the reads over a site that splice
there, what the usage head predicts) needs the reads that cross the site unspliced, which
``SJ.out.tab`` does not hold. A junction-only stand-in (a site's share of the reads of the junctions
sharing its partner) is another quantity: it is 1 for every site of a constitutive exon however
rarely that exon is spliced, so training the usage head on it would teach it something else. With
the sample's raw coverage bigWig beside it (a ``splice_site_usage`` row of the tracks sheet), usage is
estimated per site by :mod:`genotile.train.splice_usage`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from genotile.train.data_errors import TrainingDataError

__all__ = ["JUNCTION_COLUMNS", "SITE_CLASSES", "SITE_COLUMNS", "read_sj_out_tab", "splice_sites"]

#: STAR's nine columns (STAR manual, "Splice junctions").
_STAR_COLUMNS = ("contig", "first", "last", "strand_code", "motif_code", "annotated", "unique_reads", "multi_reads",
                 "max_overhang")
JUNCTION_COLUMNS = ("contig", "start", "end", "strand", "motif", "annotated", "unique_reads", "multi_reads",
                    "max_overhang")
_MOTIFS = ("non-canonical", "GT/AG", "CT/AC", "GC/AG", "CT/GC", "AT/AC", "GT/AT")
#: Class index of each site kind in the splice-site classification head (``genotile.outputs.SPLICE_SITES``).
SITE_CLASSES = {"donor+": 0, "acceptor+": 1, "donor-": 2, "acceptor-": 3}
SITE_COLUMNS = ("contig", "position", "site", "class_index", "unique_reads", "junctions")


def read_sj_out_tab(path: str | os.PathLike[str], contigs: Mapping[str, int]) -> pd.DataFrame:
    """The junctions of one ``SJ.out.tab`` on the FASTA's ``contigs`` (:data:`JUNCTION_COLUMNS`).

    Stops, naming the file, line and fix, on a malformed line, a contig the FASTA lacks (with the
    fix when only the naming differs, chr1 vs 1) and an intron past its contig's end (another build).
    Junctions on contigs not in ``contigs`` at all are an error only when the names look like another
    convention; otherwise (unplaced contigs STAR saw but training does not use) they are left out.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such SJ.out.tab; give STAR's splice junction table")
    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype={0: str}, comment="#")
    except pd.errors.EmptyDataError:
        raise TrainingDataError(f"{path}: empty; a STAR SJ.out.tab has one line per junction") from None
    except (pd.errors.ParserError, UnicodeDecodeError):
        raise _malformed(path) from None
    if raw.shape[1] != len(_STAR_COLUMNS) or not all(pd.api.types.is_integer_dtype(raw[c]) for c in range(1, 9)):
        raise _malformed(path)
    raw.columns = list(_STAR_COLUMNS)
    raw["contig"] = raw["contig"].astype(str)
    known = raw["contig"].isin(list(contigs))
    if not known.all():
        unknown = sorted(set(raw.loc[~known, "contig"]))
        renamed = [c for c in unknown if (c[3:] if c.startswith("chr") else f"chr{c}") in contigs]
        if renamed or not known.any():
            first = int(np.flatnonzero(~known)[0]) + 1
            raise TrainingDataError(
                f"{path}, line {first}: contig {raw['contig'].iloc[first - 1]} is not in the FASTA (it has "
                f"{', '.join(list(contigs)[:6])}{' ...' if len(contigs) > 6 else ''}); the files name contigs "
                "differently: align to the FASTA the model reads, or rename the table's contigs")
    raw = raw[known].reset_index(drop=True)
    lengths = raw["contig"].map(dict(contigs)).astype(np.int64)
    bad = np.flatnonzero((raw["first"] < 1) | (raw["last"] < raw["first"]) | (raw["last"] > lengths))
    if len(bad):
        row = raw.iloc[bad[0]]
        line = int(np.flatnonzero(known)[bad[0]]) + 1
        raise TrainingDataError(
            f"{path}, line {line}: junction {row['contig']}:{row['first']}-{row['last']} does not fit contig "
            f"{row['contig']} of {int(lengths.iloc[bad[0]]):,} bp in the FASTA: the table is of another genome build; "
            "align the reads to the FASTA the model reads (or give that build's FASTA)")
    codes = ~raw["strand_code"].isin((0, 1, 2)) | ~raw["motif_code"].between(0, 6)
    if codes.any():
        line = int(np.flatnonzero(known)[int(np.flatnonzero(codes)[0])]) + 1
        raise TrainingDataError(f"{path}, line {line}: strand must be 0/1/2 and motif 0-6 (STAR's codes); give the "
                                "SJ.out.tab STAR wrote")
    return pd.DataFrame({
        "contig": raw["contig"], "start": (raw["first"] - 1).astype(np.int64), "end": raw["last"].astype(np.int64),
        "strand": raw["strand_code"].map({0: ".", 1: "+", 2: "-"}), "motif": raw["motif_code"].map(dict(enumerate(_MOTIFS))),
        "annotated": raw["annotated"].astype(bool), "unique_reads": raw["unique_reads"].astype(np.int64),
        "multi_reads": raw["multi_reads"].astype(np.int64), "max_overhang": raw["max_overhang"].astype(np.int64),
    }, columns=list(JUNCTION_COLUMNS))


def _malformed(path: Path) -> TrainingDataError:
    return TrainingDataError(f"{path}, line {_first_malformed_line(path)}: not STAR's SJ.out.tab format (9 "
                             "tab-separated columns: contig, intron first and last base, strand 0/1/2, motif 0-6, "
                             "annotated 0/1, unique, multi, overhang); give the SJ.out.tab STAR wrote")


def _first_malformed_line(path: Path) -> int:
    """The first line (1-based) that is not nine tab-separated fields with integers after the contig."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("#"):
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != len(_STAR_COLUMNS) or not all(f.strip().lstrip("-").isdigit() for f in fields[1:]):
                return number
    return 1


def _sites(junctions: pd.DataFrame, position: pd.Series, site: str) -> pd.DataFrame:
    return pd.DataFrame({"contig": junctions["contig"], "position": position.astype(np.int64), "site": site,
                         "unique_reads": junctions["unique_reads"]})


def splice_sites(junctions: pd.DataFrame, min_unique_reads: int = 1) -> pd.DataFrame:
    """The donor and acceptor sites of the stranded junctions with ``unique_reads >= min_unique_reads`` (:data:`SITE_COLUMNS`).

    One row per (contig, position, site): the reads and junctions using it, summed. Positions are
    0-based in the model's convention (module doc). Unstranded junctions (strand ``.``) give no site.
    """
    used = junctions[(junctions["unique_reads"] >= int(min_unique_reads)) & junctions["strand"].isin(("+", "-"))]
    plus, minus = used[used["strand"] == "+"], used[used["strand"] == "-"]
    parts = [
        _sites(plus, plus["start"] - 1, "donor+"), _sites(plus, plus["end"], "acceptor+"),
        _sites(minus, minus["end"], "donor-"), _sites(minus, minus["start"] - 1, "acceptor-"),
    ]
    sites = pd.concat(parts, ignore_index=True)
    sites = sites[sites["position"] >= 0]  # an intron starting at base 0 has no donor/acceptor before it
    sites = (sites.assign(junctions=1).groupby(["contig", "position", "site"], sort=False, as_index=False)
             .agg(unique_reads=("unique_reads", "sum"), junctions=("junctions", "sum")))
    sites["class_index"] = sites["site"].map(SITE_CLASSES).astype(np.int64)
    order = {c: i for i, c in enumerate(dict.fromkeys(junctions["contig"]))}
    sites = sites.sort_values(["contig", "position", "class_index"], key=lambda s: s.map(order) if s.name == "contig" else s)
    return sites.reset_index(drop=True)[list(SITE_COLUMNS)]
