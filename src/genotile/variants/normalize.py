"""VCF/BCF normalisation: what ``bcftools norm -m- -f ref.fa`` does, plus REF checks and a rejects table.

:func:`normalize_vcf` reads a VCF or BCF (plain, gzip/bgzip; read with cyvcf2), splits multi-allelic
records into one row per ALT, trims each REF/ALT pair and left-aligns indels against the FASTA with the
standard algorithm (bcftools norm / vt normalize: while the last bases of REF and ALT agree drop them; if
an allele becomes empty, prepend the preceding reference base to both and move left; finally drop common
leading bases while both alleles are longer than 1). Records need not be sorted: the output is sorted by
contig (FASTA order), position, REF and ALT, and exact duplicates are dropped (first kept, the rest noted
in the rejects table as ``duplicate``).

REF check: REF is compared with the FASTA case-insensitively and character by character. ``N`` and IUPAC
codes get no special treatment: a FASTA ``N`` only matches a REF ``N`` (so a REF ``A`` over an ``N`` in the
FASTA is a mismatch), and a REF containing ``N`` matches only FASTA ``N``. Records whose REF disagrees are
rejected (``ref_mismatch``); when more than ``max_ref_mismatch_fraction`` of the checked records disagree
the VCF and FASTA are almost certainly different builds and :class:`VcfError` is raised instead.

Every rejected record or allele gets one row in the rejects table with a ``reason`` from
:data:`REJECT_REASONS` and a human ``detail``. Record-level rejects (``ref_mismatch``,
``contig_not_in_fasta``, ``position_past_contig_end``, ``malformed_record``) have ``allele_index`` 0;
allele-level rejects carry the 1-based ALT index.

An unindexed VCF is fine for reading the whole file; a ``region`` needs a bgzipped, tabix-indexed file
(``bgzip in.vcf && tabix -p vcf in.vcf.gz``; genotile cannot build indexes itself).
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import pandas as pd

from genotile.genome import Genome, parse_region

__all__ = [
    "REJECT_REASONS", "REJECT_COLUMNS", "VARIANT_COLUMNS", "VcfError", "chr_prefix_rename",
    "left_align", "normalize_vcf",
]  # fmt: skip

log = logging.getLogger(__name__)

#: Why a record or allele was rejected.
REJECT_REASONS: Final = (
    "ref_mismatch",  # REF differs from the FASTA
    "symbolic_allele",  # <DEL>, <*>, <NON_REF>, <*:DEL>, ...
    "breakend",  # A[chr2:123[ and friends, or single breakends (A. / .A)
    "star_allele",  # '*' (spanning deletion)
    "indel_too_long",  # len(REF) - 1 or len(ALT) - 1 (after normalisation) > max_indel_length
    "contig_not_in_fasta",
    "position_past_contig_end",
    "no_alt",  # ALT is '.', or equals REF
    "malformed_record",  # cyvcf2/htslib cannot parse the record, or the alleles are not A/C/G/T/N
    "duplicate",  # same normalised variant as an earlier record (the first one is kept)
)
VARIANT_COLUMNS: Final = (
    "variant_id", "chrom", "pos", "ref", "alt", "source_chrom", "source_pos", "source_ref", "source_alts",
    "record_index", "allele_index",
)  # fmt: skip
REJECT_COLUMNS: Final = ("record_index", "allele_index", "chrom", "pos", "ref", "alt", "reason", "detail")

_BASES: Final = re.compile(r"^[ACGTN]+$")
_BREAKEND: Final = re.compile(r"[\[\]]|^\.[ACGTN]+$|^[ACGTN]+\.$")
_MAX_MALFORMED: Final = 100_000
_BLOCK: Final = 1 << 16


class VcfError(ValueError):
    """A VCF that cannot be used as given (the message names the file, the problem and the fix)."""


# -- allele normalisation ------------------------------------------------------------


def left_align(pos0: int, ref: str, alt: str, base_at) -> tuple[int, str, str]:
    """Trim and left-align one REF/ALT pair (bcftools norm / vt normalize).

    ``pos0`` is the 0-based position of ``ref``; ``base_at(i)`` returns the reference base at 0-based ``i``.
    Returns ``(pos0, ref, alt)`` normalised. ``ref`` must differ from ``alt``.
    """
    if ref == alt:
        raise ValueError(f"REF and ALT are identical ({ref!r}); nothing to normalise")
    while True:
        changed = False
        if ref and alt and ref[-1] == alt[-1]:
            ref, alt = ref[:-1], alt[:-1]
            changed = True
        if not ref or not alt:
            if pos0 == 0:
                # At the contig start there is no base to the left: pad on the right (VCF allows this).
                nxt = base_at(len(ref))
                return 0, ref + nxt, alt + nxt
            pos0 -= 1
            base = base_at(pos0)
            ref, alt = base + ref, base + alt
            changed = True
        if not changed:
            break
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt = ref[1:], alt[1:]
        pos0 += 1
    return pos0, ref, alt


class _RefCache:
    """Upper-case FASTA bases in 64 kb blocks (records are usually sorted, so few fetches)."""

    def __init__(self, genome: Genome) -> None:
        self.genome = genome
        self.lengths = genome.contigs
        self._block = functools.lru_cache(maxsize=64)(self._fetch_block)

    def _fetch_block(self, contig: str, block: int) -> str:
        start = block * _BLOCK
        end = min(start + _BLOCK, self.lengths[contig])
        return self.genome.sequence(contig, start, end).upper()

    def seq(self, contig: str, start: int, end: int) -> str:
        parts = []
        for block in range(start // _BLOCK, (end - 1) // _BLOCK + 1):
            text = self._block(contig, block)
            lo = max(start - block * _BLOCK, 0)
            hi = min(end - block * _BLOCK, len(text))
            parts.append(text[lo:hi])
        return "".join(parts)

    def base(self, contig: str, pos0: int) -> str:
        return self.seq(contig, pos0, pos0 + 1)


# -- contig names ------------------------------------------------------------------


def chr_prefix_rename(vcf_contigs: Iterable[str], fasta_contigs: Iterable[str]) -> dict[str, str]:
    """VCF contig -> FASTA contig for names that differ only by a ``chr`` prefix (``1`` -> ``chr1`` or
    ``chr1`` -> ``1``); names the FASTA already has, or has no counterpart for, are left out."""
    fasta = set(fasta_contigs)
    mapping = {}
    for name in vcf_contigs:
        if name in fasta:
            continue
        other = name[3:] if name.startswith("chr") else "chr" + name
        if other in fasta:
            mapping[name] = other
    return mapping


# -- file checks -------------------------------------------------------------------


def _sniff(path: Path) -> tuple[str, int]:
    """('vcf' or 'bcf', number of header lines) after checking the file looks like a VCF/BCF."""
    if not path.exists():
        raise VcfError(f"VCF file {path} does not exist. Fix: check the path.")
    if path.is_dir():
        raise VcfError(f"VCF path {path} is a folder, not a file. Fix: point --vcf at the .vcf/.vcf.gz/.bcf file.")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as err:
        raise VcfError(f"cannot read VCF {path}: {err.strerror}. Fix: check the file's permissions.") from None
    opener = gzip.open if magic[:2] == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(5)
            if head[:3] == b"BCF":
                return "bcf", 0
            fh.seek(0)
            for number, raw in enumerate(fh, start=1):
                line = raw.rstrip(b"\r\n")
                if number == 1 and not line.startswith(b"##fileformat=VCF") and not line.startswith(b"#CHROM"):
                    shown = line[:60].decode("latin-1")
                    raise VcfError(
                        f"{path} is not a VCF file: its first line is {shown!r}, not '##fileformat=VCFv4.x'. "
                        "Fix: point --vcf at a VCF/BCF file (plain, bgzipped .vcf.gz, or .bcf)."
                    )
                if line.startswith(b"#CHROM"):
                    return "vcf", number
                if not line.startswith(b"#"):
                    raise VcfError(
                        f"VCF {path} has no '#CHROM' header line: line {number} is a data line but the header "
                        "never named the columns. Fix: add the '#CHROM\\tPOS\\tID\\tREF\\tALT\\tQUAL\\tFILTER\\tINFO"
                        "' line (tab-separated) after the '##' lines."
                    )
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise VcfError(f"cannot read VCF {path}: {err} (truncated or corrupt compressed file?). Fix: re-create it.") from None
    raise VcfError(
        f"VCF {path} has no '#CHROM' header line (the file ends inside the '##' header). Fix: add the "
        "'#CHROM\\tPOS\\tID\\tREF\\tALT\\tQUAL\\tFILTER\\tINFO' line, or re-export the VCF."
    )


def _has_index(path: Path) -> bool:
    return any(Path(f"{path}{suffix}").exists() for suffix in (".tbi", ".csi"))


def _empty_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    variants = pd.DataFrame({c: pd.Series(dtype="int64" if c in ("pos", "source_pos", "record_index", "allele_index") else "object") for c in VARIANT_COLUMNS})
    rejects = pd.DataFrame({c: pd.Series(dtype="int64" if c in ("pos", "record_index", "allele_index") else "object") for c in REJECT_COLUMNS})
    return variants, rejects


# -- main entry point --------------------------------------------------------------


def normalize_vcf(
    vcf_path: str | os.PathLike[str],
    genome: Genome,
    *,
    max_indel_length: int = 50,
    max_ref_mismatch_fraction: float = 0.1,
    contig_rename: Mapping[str, str] | None = None,
    region: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split, trim, left-align and REF-check every ALT allele of a VCF/BCF against ``genome``.

    Returns ``(variants, rejects)`` (columns :data:`VARIANT_COLUMNS` and :data:`REJECT_COLUMNS`).
    ``contig_rename`` maps VCF contig names to FASTA names (see :func:`chr_prefix_rename`); ``region``
    (``'chr1:1,000-2,000'`` or a contig name, in the VCF's or the renamed FASTA's names) needs a
    tabix/CSI index. Input need not be sorted. A VCF with no records (or a 0-byte file) gives two empty
    tables and a logged warning. Raises :class:`VcfError` for unusable files, contig names that differ
    from the FASTA's only by a ``chr`` prefix (when no rename is given), and likely build mismatches.
    """
    import cyvcf2

    path = Path(vcf_path)
    if max_indel_length < 0:
        raise VcfError(f"max_indel_length must be >= 0, got {max_indel_length}")
    if not 0 <= max_ref_mismatch_fraction <= 1:
        raise VcfError(f"max_ref_mismatch_fraction must be between 0 and 1, got {max_ref_mismatch_fraction}")
    if path.is_file() and path.stat().st_size == 0:
        log.warning("VCF %s is empty (0 bytes: no header and no records); there is nothing to normalise", path)
        return _empty_tables()
    kind, n_header_lines = _sniff(path)
    rename = dict(contig_rename or {})
    if region is not None and not _has_index(path):
        raise VcfError(
            f"--region {region!r} needs an index for VCF {path}, and there is no {path.name}.tbi or .csi. Fix: "
            + ("`tabix -p vcf` it (or `bcftools index`)" if path.suffix in (".gz", ".bgz") else
               f"`bgzip {path.name}` and `tabix -p vcf {path.name}.gz` (then use the .gz)" if kind == "vcf" else
               f"`bcftools index {path.name}`")
            + ", or drop --region to read the whole file (genotile cannot create indexes)."
        )
    try:
        reader = cyvcf2.VCF(str(path), lazy=True)
    except Exception as err:  # cyvcf2 raises bare Exception / OSError for header problems
        raise VcfError(
            f"cannot parse the header of VCF {path} ({err}; htslib's message above says which line). Fix: "
            "repair the header (e.g. no trailing tab on the '#CHROM' line, every sample named), or re-export "
            "the VCF with bcftools."
        ) from None
    try:
        return _normalize(reader, path, n_header_lines, genome, rename, region, max_indel_length, max_ref_mismatch_fraction)
    finally:
        reader.close()


def _records(reader, path: Path, region: str | None, rename: Mapping[str, str]):
    """Yield ``(record | None, error)`` for every record (None for one htslib could not parse)."""
    if region is None:
        iterator = iter(reader)
    else:
        inverse = {v: k for k, v in rename.items()}
        contig = region.strip().split(":")[0] if ":" in region else region.strip()
        names = set(reader.seqnames)
        query = region.strip()
        if contig not in names and contig in inverse:
            query = inverse[contig] + query[len(contig):]
        if ":" in query:
            c, s, e = parse_region(query)
            query = f"{c}:{s + 1}-{e}" if e is not None else c
        try:
            iterator = iter(reader(query))
        except Exception as err:
            raise VcfError(f"cannot query region {region!r} in VCF {path} ({err}). Fix: check the region and the index.") from None
    malformed = 0
    while True:
        try:
            yield next(iterator), None
        except StopIteration:
            return
        except Exception as err:  # htslib could not parse this one record; cyvcf2 moves on to the next
            malformed += 1
            if malformed > _MAX_MALFORMED:
                raise VcfError(f"VCF {path}: more than {_MAX_MALFORMED:,} unparseable records; is it a VCF?") from None
            yield None, str(err)


def _normalize(reader, path, n_header_lines, genome, rename, region, max_indel_length, max_fraction):
    cache = _RefCache(genome)
    lengths = cache.lengths
    order = {name: i for i, name in enumerate(lengths)}
    rows: list[tuple] = []
    rejects: list[tuple] = []
    checked = mismatched = 0
    examples: list[str] = []
    n_records = n_alleles = 0

    def where(index: int) -> str:
        return f"record {index + 1:,}" + (f" (line {n_header_lines + index + 1:,})" if n_header_lines and region is None else "")

    for index, (rec, error) in enumerate(_records(reader, path, region, rename)):
        n_records += 1
        if rec is None:
            rejects.append((index, 0, "", 0, "", "", "malformed_record",
                            f"{where(index)}: htslib could not parse it ({error}); see its message on stderr"))
            continue
        source_chrom, source_pos, source_ref = rec.CHROM, int(rec.POS), (rec.REF or "").upper()
        alts = [a.upper() for a in rec.ALT]
        source_alts = ",".join(alts) if alts else "."
        n_alleles += max(len(alts), 1)
        chrom = rename.get(source_chrom, source_chrom)
        if chrom not in lengths:
            other = chr_prefix_rename([chrom], lengths)
            if other and not rename:
                raise VcfError(
                    f"contig {source_chrom!r} of VCF {path} ({where(index)}) is not in FASTA {genome.path}, "
                    f"which has {other[chrom]!r}: the names differ only by the 'chr' prefix (Ensembl vs UCSC "
                    "style). Fix: pass --rename-chr-prefix (API: contig_rename=chr_prefix_rename(vcf_contigs, "
                    "genome.contigs)), or rename the VCF's contigs with `bcftools annotate --rename-chrs`."
                )
            rejects.append((index, 0, source_chrom, source_pos, source_ref, source_alts, "contig_not_in_fasta",
                            f"{where(index)}: contig {source_chrom!r}" + (f" (renamed {chrom!r})" if chrom != source_chrom else "")
                            + f" is not in FASTA {genome.path.name}"))
            continue
        length = lengths[chrom]
        if not source_ref or not _BASES.match(source_ref):
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, "malformed_record",
                            f"{where(index)}: REF {source_ref!r} is not made of A/C/G/T/N"))
            continue
        end = source_pos - 1 + len(source_ref)
        if source_pos < 1 or end > length:
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, "position_past_contig_end",
                            f"{where(index)}: REF spans {chrom}:{source_pos:,}-{end:,} but {chrom} has {length:,} bp in the FASTA"))
            continue
        fasta_ref = cache.seq(chrom, source_pos - 1, end)
        checked += 1
        if fasta_ref != source_ref:
            mismatched += 1
            if len(examples) < 5:
                examples.append(f"{source_chrom}:{source_pos} REF {source_ref} vs FASTA {fasta_ref}")
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, "ref_mismatch",
                            f"{where(index)}: REF {source_ref} but the FASTA has {fasta_ref} at {chrom}:{source_pos:,}"))
            continue
        if not alts:
            rejects.append((index, 1, chrom, source_pos, source_ref, ".", "no_alt", f"{where(index)}: ALT is '.' (no alternate allele)"))
            continue
        for allele_index, alt in enumerate(alts, start=1):
            def reject(reason: str, detail: str, pos: int = source_pos, ref: str = source_ref, alt: str = alt) -> None:
                rejects.append((index, allele_index, chrom, pos, ref, alt, reason, f"{where(index)}, ALT {allele_index}: {detail}"))

            if alt == "*":
                reject("star_allele", "'*' marks an overlapping (spanning) deletion, not a variant of its own")
            elif alt.startswith("<"):
                reject("symbolic_allele", f"symbolic allele {alt} has no sequence to score")
            elif _BREAKEND.search(alt):
                reject("breakend", f"breakend {alt} (structural rearrangement) has no local sequence to score")
            elif not _BASES.match(alt):
                reject("malformed_record", f"ALT {alt!r} is not made of A/C/G/T/N")
            elif alt == source_ref:
                reject("no_alt", "ALT equals REF")
            else:
                pos0, ref, new_alt = left_align(source_pos - 1, source_ref, alt, functools.partial(cache.base, chrom))
                if max(len(ref), len(new_alt)) - 1 > max_indel_length and len(ref) != len(new_alt):
                    reject("indel_too_long", f"{len(ref) - 1:,} bp deleted / {len(new_alt) - 1:,} bp inserted after "
                           f"normalisation; the limit is {max_indel_length:,} (--max-indel-length)",
                           pos0 + 1, ref, new_alt)
                    continue
                rows.append((chrom, pos0 + 1, ref, new_alt, source_chrom, source_pos, source_ref, source_alts, index, allele_index))

    if checked and mismatched / checked > max_fraction:
        raise VcfError(
            f"REF disagrees with the FASTA at {mismatched:,} of {checked:,} checked records "
            f"({mismatched / checked:.0%}, more than the allowed {max_fraction:.0%}) of VCF {path} against FASTA "
            f"{genome.path}: they are probably different genome builds (e.g. GRCh37 vs GRCh38). Examples: "
            f"{'; '.join(examples)}. Fix: use the FASTA the VCF was called against (see its ##reference line), "
            "or lift the VCF over; raise --max-ref-mismatch-fraction only if a few bad records are expected."
        )
    if n_records == 0:
        log.warning("VCF %s has no records%s; there is nothing to normalise", path, f" in region {region}" if region else "")

    variants, reject_frame = _empty_tables()
    if rows:
        frame = pd.DataFrame(rows, columns=list(VARIANT_COLUMNS[1:]))
        frame.insert(0, "variant_id", frame["chrom"] + ":" + frame["pos"].astype(str) + ":" + frame["ref"] + ">" + frame["alt"])
        frame["_order"] = frame["chrom"].map(order)
        frame = frame.sort_values(["_order", "pos", "ref", "alt", "record_index", "allele_index"], kind="stable")
        dup = frame.duplicated("variant_id", keep="first")
        first = frame.loc[~dup].set_index("variant_id")
        for row in frame.loc[dup].itertuples(index=False):
            kept = first.loc[row.variant_id]
            rejects.append((row.record_index, row.allele_index, row.chrom, row.pos, row.ref, row.alt, "duplicate",
                            f"record {row.record_index + 1:,}, ALT {row.allele_index}: same normalised variant "
                            f"{row.variant_id} as record {kept.record_index + 1:,}, ALT {kept.allele_index} (kept)"))
        variants = frame.loc[~dup].drop(columns="_order").reset_index(drop=True)
    if rejects:
        reject_frame = pd.DataFrame(rejects, columns=list(REJECT_COLUMNS)).sort_values(
            ["record_index", "allele_index"], kind="stable").reset_index(drop=True)
    variants.attrs.update(records=n_records, alleles=n_alleles, checked=checked, ref_mismatches=mismatched)
    return variants, reject_frame
