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
``contig_not_in_fasta``, ``position_past_contig_end``, ``malformed_record``, ``ref_has_n``,
``gt_allele_out_of_range``) have ``allele_index`` 0; allele-level rejects carry the 1-based ALT index.

Defensive reading. htslib (under cyvcf2) hands back a half-parsed record, and reading its fields
crashes the process (SIGSEGV), when a line fails to parse on a contig the header does not declare: a
blank line (contig ``''``), a POS of ``.``/``-1``/``123abc``, a GT of ``0/x``, a line cut short. So a
text VCF is read in lockstep with a cheap Python scan of the same lines (:func:`read_records`): every
contig is declared in the reader's header before its first line is parsed (then htslib raises for a bad
line instead of returning a broken record), lines the scan finds unusable (wrong column count, empty
CHROM, POS not a whole number, a ``#`` line among the records) are skipped without touching htslib's
record and become ``malformed_record`` rows with their line number, and blank lines are skipped (they
are not records; a warning names them). The genotype pass (:mod:`genotile.variants.genotypes`) reads
through the same function, so record numbers agree.

An unindexed VCF is fine for reading the whole file; a ``region`` needs a bgzipped, tabix-indexed file
(``bgzip in.vcf && tabix -p vcf in.vcf.gz``; genotile cannot build indexes itself).
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

import pandas as pd

from genotile.runtime.atomic import writing
from genotile.sequence.fasta import Genome, parse_region

__all__ = [
    "CLI_OPTIONS", "REJECT_REASONS", "REJECT_COLUMNS", "VARIANT_COLUMNS", "WORKFLOW_OPTIONS", "VcfError",
    "chr_prefix_rename", "compress_plain_vcf", "left_align", "normalize_vcf", "read_records", "region_query",
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
    "ref_has_n",  # REF (matching the FASTA) contains N: an unknown base, nothing to score
    "gt_allele_out_of_range",  # a sample's GT names an allele index beyond the record's ALT count
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
_POS: Final = re.compile(rb"[0-9]+")
_MAX_POS: Final = 2**31 - 2  # htslib keeps POS in 32 bits: larger values wrap around silently
_CONTIG_LINE: Final = re.compile(r"^##contig=<ID=([^,>]*)", re.MULTILINE)
#: Header line (written by :func:`compress_plain_vcf`) that carries a line it had to drop into the rejects table.
DROPPED_LINE_KEY: Final = "##genotile_dropped_line="

#: How the user sets each knob, named in messages: the CLI's flags (the default) or the workflow's config keys.
CLI_OPTIONS: Final = {
    "rename_chr_prefix": "--rename-chr-prefix", "max_ref_mismatch_fraction": "--max-ref-mismatch-fraction",
    "max_indel_length": "--max-indel-length", "region": "--region",
}  # fmt: skip
WORKFLOW_OPTIONS: Final = {
    "rename_chr_prefix": "variants.rename_chr_prefix", "max_ref_mismatch_fraction": "variants.max_ref_mismatch_fraction",
    "max_indel_length": "variants.max_indel_length", "region": "variants.region",
}  # fmt: skip


def _set_flag(name: str) -> str:
    """'pass --flag' for a CLI flag, 'set key: true in the config' for a config key."""
    return f"pass {name}" if name.startswith("--") else f"set `{name}: true` in the config"


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
    if path.stat().st_size == 0:
        raise VcfError(
            f"VCF {path} is empty (0 bytes: no header and no records). Fix: point at the cohort's VCF (a VCF with "
            "a header and no records is accepted and gives empty tables)."
        )
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
    rename_chr_prefix: bool = False,
    option_names: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split, trim, left-align and REF-check every ALT allele of a VCF/BCF against ``genome``.

    Returns ``(variants, rejects)`` (columns :data:`VARIANT_COLUMNS` and :data:`REJECT_COLUMNS`).
    ``contig_rename`` maps VCF contig names to FASTA names (see :func:`chr_prefix_rename`);
    ``rename_chr_prefix`` maps, record by record, every contig the FASTA lacks to the FASTA contig that
    differs from it only by a ``chr`` prefix: the one rule the CLI (``--rename-chr-prefix``) and the
    workflow (``variants.rename_chr_prefix``) use, so neither depends on ``##contig`` lines or an index.
    ``region`` (``'chr1:1,000-2,000'`` or a contig name, in the VCF's or the FASTA's names) needs a
    tabix/CSI index. ``option_names`` (:data:`CLI_OPTIONS` by default, :data:`WORKFLOW_OPTIONS` in the
    workflow) names the knobs in messages; ``variants.attrs['warnings']`` (when there are any) lists what the
    user should be told (blank lines skipped, no records); ``attrs['renamed']`` the contigs renamed. Input need not be sorted.
    A VCF with a header and no records
    gives two empty tables and a logged warning. Raises :class:`VcfError` for unusable files (a 0-byte
    file included), contig names that differ from the FASTA's only by a ``chr`` prefix (when no rename is
    asked for), a VCF sharing no contig with the FASTA, and likely build mismatches.
    """
    import cyvcf2

    path = Path(vcf_path)
    names = {**CLI_OPTIONS, **(option_names or {})}
    if max_indel_length < 0:
        raise VcfError(f"max_indel_length must be >= 0, got {max_indel_length}")
    if not 0 <= max_ref_mismatch_fraction <= 1:
        raise VcfError(f"max_ref_mismatch_fraction must be between 0 and 1, got {max_ref_mismatch_fraction}")
    kind, n_header_lines = _sniff(path)
    rename = dict(contig_rename or {})
    if region is not None and not _has_index(path):
        flag = names["region"]
        raise VcfError(
            f"{flag} {region!r} needs an index for VCF {path}, and there is no {path.name}.tbi or .csi. Fix: "
            + ("`tabix -p vcf` it (or `bcftools index`)" if path.suffix in (".gz", ".bgz") else
               f"`bgzip {path.name}` and `tabix -p vcf {path.name}.gz` (then use the .gz)" if kind == "vcf" else
               f"`bcftools index {path.name}`")
            + f", or drop {flag} to read the whole file (genotile cannot create indexes)."
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
        query = None if region is None else region_query(reader, path, region, rename)
        notes: list[str] = []
        records = read_records(reader, path, kind, n_header_lines, query, notes)
        return _normalize(notes, reader, records, path, genome, rename, rename_chr_prefix, region, names,
                          max_indel_length, max_ref_mismatch_fraction)
    finally:
        reader.close()


# -- reading records defensively ----------------------------------------------------


def _header_contigs(reader) -> set[str]:
    """Contigs the header declares (read from its text: ``reader.seqnames`` goes looking for an index)."""
    return set(_CONTIG_LINE.findall(reader.raw_header))


def _check_line(raw: bytes, n_columns: int | None) -> tuple[str, int, str | None]:
    """``(chrom, pos, problem)`` of one data line; ``problem`` says why htslib must not parse it (None: fine).

    Cheap on purpose (one split, one count): it looks only at what crashes htslib or silently corrupts
    a record (see the module docstring); everything else is left to htslib and the REF/ALT checks.
    """
    line = raw.rstrip(b"\r\n")
    fields = line.split(b"\t", 2)
    chrom = fields[0].decode("utf-8", "replace")
    pos_text = fields[1] if len(fields) > 1 else b""
    pos = int(pos_text) if _POS.fullmatch(pos_text) and len(pos_text) < 12 else -1
    columns = line.count(b"\t") + 1
    problem = None
    if chrom.startswith("#"):
        problem = f"a '#' line among the records ({line[:40].decode('latin-1')!r}); header lines must come before '#CHROM'"
    elif columns < 8 or (n_columns is not None and columns != n_columns):
        problem = (f"{columns} tab-separated column(s), "
                   + ("a record needs at least 8 (CHROM to INFO)" if columns < 8 else f"but the '#CHROM' line has {n_columns}")
                   + (" (spaces instead of tabs?)" if columns < 8 and b" " in line else ""))
    elif not chrom:
        problem = "CHROM is empty"
    elif not _POS.fullmatch(pos_text):
        problem = f"POS {pos_text[:20].decode('latin-1')!r} is not a whole number"
    elif pos < 0 or pos > _MAX_POS:
        problem = f"POS {pos_text[:20].decode('latin-1')} is too large (htslib's limit is {_MAX_POS:,})"
    return chrom, pos, problem


def _text_lines(path: Path, n_header_lines: int, query: str | None) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` of every line after the header (number 0 for a region query's lines,
    whose place in the file the index does not say); the ``#CHROM`` line comes first, as number
    ``n_header_lines``, so the caller learns the column count."""
    if query is not None:
        import pysam

        index = next(f"{path}{suffix}" for suffix in (".tbi", ".csi") if Path(f"{path}{suffix}").exists())
        tabix = pysam.TabixFile(str(path), index=index, encoding="latin-1")
        try:
            yield n_header_lines, tabix.header[-1].encode("latin-1") if tabix.header else b""
            for line in tabix.fetch(region=query):
                yield 0, line.encode("latin-1")
        finally:
            tabix.close()
        return
    with _open_text(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if number >= n_header_lines:
                yield number, raw


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_records(
    reader, path: Path, kind: str, n_header_lines: int, query: str | None = None, notes: list[str] | None = None
) -> Iterator[tuple]:
    """Yield ``(index, line, record | None, problem | None)`` for every record of ``reader``.

    ``index`` counts records from 0 (blank lines are not records); ``line`` is the 1-based line number
    (0 when unknown: BCF, region queries); ``record`` is None when the line is unusable, with
    ``problem`` saying why. A text VCF is read in lockstep with :func:`_check_line` over the same lines,
    so no half-parsed record ever reaches Python (module docstring); ``query`` (from
    :func:`region_query`) restricts both to a region; warnings for the user (blank lines skipped) are
    appended to ``notes`` as well as logged. Raises :class:`VcfError` if htslib and the text
    ever disagree on a record's position (a damaged file), rather than attach data to the wrong record.
    """
    iterator = iter(reader if query is None else reader(query))
    malformed = 0

    def pull():
        try:
            return next(iterator), None
        except StopIteration:
            raise
        except Exception as err:  # htslib could not parse this one record; cyvcf2 moves on to the next
            return None, str(err)

    def count_malformed() -> None:
        nonlocal malformed
        malformed += 1
        if malformed > _MAX_MALFORMED:
            raise VcfError(f"VCF {path}: more than {_MAX_MALFORMED:,} unparseable records; is it a VCF?")

    if kind != "vcf":  # BCF: binary, written by htslib with every contig declared
        index = 0
        while True:
            try:
                rec, error = pull()
            except StopIteration:
                return
            if rec is None:
                count_malformed()
            yield index, 0, rec, error
            index += 1

    known = _header_contigs(reader)
    lines = _text_lines(path, n_header_lines, query)
    _, header = next(lines, (0, b""))
    n_columns = header.rstrip(b"\r\n").count(b"\t") + 1 if header.startswith(b"#CHROM") else None
    index = 0
    blank: list[int] = []
    exhausted = False  # htslib may or may not hand back an item for blank lines at the very end
    for number, raw in lines:
        if not raw.strip():
            blank.append(number)
            if not exhausted:
                try:
                    pull()
                except StopIteration:
                    exhausted = True
            continue
        if exhausted:
            _skip(lambda: next(iter(())), path, number)
        chrom, pos, problem = _check_line(raw, n_columns)
        if problem is None and chrom not in known:
            try:  # declared first, a bad line on this contig makes htslib raise instead of crash later
                reader.add_to_header(f"##contig=<ID={chrom}>")
            except Exception:
                pass
            if chrom in set(reader.seqnames):
                known.add(chrom)
            else:
                problem = f"contig name {chrom!r} is not valid in a VCF (htslib cannot declare it)"
        rec, error = _skip(pull, path, number)
        if problem is not None or rec is None:
            count_malformed()
            yield index, number, None, problem or f"htslib could not parse it ({error}); see its message on stderr"
        else:
            if rec.CHROM != chrom or rec.POS != pos:
                raise VcfError(
                    f"VCF {path}" + (f", line {number:,}" if number else "") + f": htslib read the record as "
                    f"{rec.CHROM}:{rec.POS} but the text says {chrom}:{pos}; the file is damaged. Fix: re-export "
                    "it (e.g. `bcftools view`)."
                )
            yield index, number, rec, None
        index += 1
    try:
        pull()
    except StopIteration:
        pass
    else:
        raise VcfError(f"VCF {path}: htslib read more records than the file has lines; the file is damaged. "
                       "Fix: re-export it (e.g. `bcftools view`).")
    if blank:
        shown = ", ".join(f"{n:,}" for n in blank[:5]) + (", ..." if len(blank) > 5 else "")
        note = f"VCF {path}: {len(blank):,} blank line(s) skipped (line {shown}); blank lines are not records"
        log.warning("%s", note)
        if notes is not None:
            notes.append(note)


def _skip(pull, path: Path, number: int):
    """The reader's item for the current line, never touched beyond that (see :func:`read_records`)."""
    try:
        return pull()
    except StopIteration:
        raise VcfError(
            f"VCF {path}" + (f", line {number:,}" if number else "") + ": htslib stopped reading before the end "
            "of the file; the file is damaged. Fix: re-export it (e.g. `bcftools view`)."
        ) from None


def region_query(reader, path: Path, region: str, rename: Mapping[str, str] | None = None) -> str:
    """The htslib query for ``region`` (1-based, in the VCF's contig names, or in the FASTA's when they
    differ by ``rename`` or only by a ``chr`` prefix); raises :class:`VcfError` when it cannot be queried."""
    names = set(reader.seqnames)
    contig = region.strip().split(":")[0] if ":" in region else region.strip()
    query = region.strip()
    if contig not in names:
        inverse = {v: k for k, v in (rename or {}).items()}
        other = inverse.get(contig) or next(iter(chr_prefix_rename([contig], names).values()), None)
        if other is not None:
            query = other + query[len(contig):]
    if ":" in query:
        c, s, e = parse_region(query)
        query = f"{c}:{s + 1}-{e}" if e is not None else c
    try:
        reader(query)
    except Exception as err:
        raise VcfError(f"cannot query region {region!r} in VCF {path} ({err}). Fix: check the region and the index.") from None
    return query


def dropped_lines(reader) -> list[str]:
    """Details of the lines :func:`compress_plain_vcf` dropped into the header (it could not index them)."""
    return [line[len(DROPPED_LINE_KEY):] for line in reader.raw_header.splitlines() if line.startswith(DROPPED_LINE_KEY)]


def _genotype_problem(rec, n_alts: int, samples: list[str]) -> tuple[str, str] | None:
    """``(reason, detail)`` when the record's GTs are malformed, else None.

    A GT allele index beyond the ALT count (``gt_allele_out_of_range``) would silently count as no copy
    of any scored allele in the dosages, so the record is rejected rather than guessed at; GTs htslib
    cannot decode at all make it a ``malformed_record``.
    """
    if not samples:
        return None
    try:  # (not rec.FORMAT: cyvcf2 0.35 crashes reading it)
        genotype = rec.genotype
        if genotype is None:  # no GT field
            return None
        gt = genotype.array()[:, :-1]
    except Exception as err:
        return "malformed_record", f"its GT values cannot be read ({err})"
    over = gt > n_alts
    if not over.any():
        return None
    carriers = over.any(axis=1)
    sample = int(carriers.argmax())
    n_bad = int(carriers.sum())
    return "gt_allele_out_of_range", (
        f"sample {samples[sample]!r}" + (f" (and {n_bad - 1:,} more)" if n_bad > 1 else "")
        + f" has GT allele {int(gt[sample].max())} but the record has {n_alts} ALT allele(s): a GT allele index "
        "beyond ALT is malformed. Fix: correct the GT or the ALT column"
    )


def _normalize(notes, reader, records, path, genome, rename, rename_chr_prefix, region, names, max_indel_length, max_fraction):
    cache = _RefCache(genome)
    lengths = cache.lengths
    order = {name: i for i, name in enumerate(lengths)}
    samples = list(reader.samples)
    rows: list[tuple] = []
    rejects: list[tuple] = []
    checked = mismatched = 0
    examples: list[str] = []
    n_records = n_alleles = on_fasta = 0
    absent: dict[str, None] = {}  # VCF contigs the FASTA lacks, in order of first record
    renamed: dict[str, str] = {}

    for detail in dropped_lines(reader):  # lines the workflow's bgzip step could not index
        n_records += 1
        rejects.append((-1, 0, "", 0, "", "", "malformed_record", detail))

    for index, line, rec, error in records:
        def where(index: int = index, line: int = line) -> str:
            return f"record {index + 1:,}" + (f" (line {line:,})" if line else "")

        n_records += 1
        if rec is None:
            rejects.append((index, 0, "", 0, "", "", "malformed_record", f"{where()}: {error}"))
            continue
        source_chrom, source_pos, source_ref = rec.CHROM, int(rec.POS), (rec.REF or "").upper()
        alts = [a.upper() for a in rec.ALT]
        source_alts = ",".join(alts) if alts else "."
        n_alleles += max(len(alts), 1)
        chrom = rename.get(source_chrom, source_chrom)
        if chrom not in lengths and rename_chr_prefix:
            chrom = renamed.setdefault(source_chrom, chr_prefix_rename([chrom], lengths).get(chrom, chrom))
        if chrom not in lengths:
            other = chr_prefix_rename([chrom], lengths)
            if other and not rename and not rename_chr_prefix:
                raise VcfError(
                    f"contig {source_chrom!r} of VCF {path} ({where()}) is not in FASTA {genome.path}, "
                    f"which has {other[chrom]!r}: the names differ only by the 'chr' prefix (Ensembl vs UCSC "
                    f"style). Fix: {_set_flag(names['rename_chr_prefix'])} (API: rename_chr_prefix=True), or "
                    "rename the VCF's contigs with `bcftools annotate --rename-chrs`."
                )
            absent.setdefault(source_chrom)
            rejects.append((index, 0, source_chrom, source_pos, source_ref, source_alts, "contig_not_in_fasta",
                            f"{where()}: contig {source_chrom!r}" + (f" (renamed {chrom!r})" if chrom != source_chrom else "")
                            + f" is not in FASTA {genome.path.name}"))
            continue
        on_fasta += 1
        length = lengths[chrom]
        if not source_ref or not _BASES.match(source_ref):
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, "malformed_record",
                            f"{where()}: REF {source_ref!r} is not made of A/C/G/T/N"))
            continue
        end = source_pos - 1 + len(source_ref)
        if source_pos < 1 or end > length:
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, "position_past_contig_end",
                            f"{where()}: REF spans {chrom}:{source_pos:,}-{end:,} but {chrom} has {length:,} bp in the FASTA"))
            continue
        fasta_ref = cache.seq(chrom, source_pos - 1, end)
        checked += 1
        if fasta_ref != source_ref:
            mismatched += 1
            if len(examples) < 5:
                examples.append(f"{source_chrom}:{source_pos} REF {source_ref} vs FASTA {fasta_ref}")
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, "ref_mismatch",
                            f"{where()}: REF {source_ref} but the FASTA has {fasta_ref} at {chrom}:{source_pos:,}"))
            continue
        if "N" in source_ref:
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, "ref_has_n",
                            f"{where()}: REF {source_ref} contains N (an unknown base): there is no sequence to score"))
            continue
        problem = _genotype_problem(rec, len(alts), samples)
        if problem:
            rejects.append((index, 0, chrom, source_pos, source_ref, source_alts, problem[0], f"{where()}: {problem[1]}"))
            continue
        if not alts:
            rejects.append((index, 1, chrom, source_pos, source_ref, ".", "no_alt", f"{where()}: ALT is '.' (no alternate allele)"))
            continue
        for allele_index, alt in enumerate(alts, start=1):
            def reject(reason: str, detail: str, pos: int = source_pos, ref: str = source_ref, alt: str = alt) -> None:
                rejects.append((index, allele_index, chrom, pos, ref, alt, reason, f"{where()}, ALT {allele_index}: {detail}"))

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
                           f"normalisation; the limit is {max_indel_length:,} ({names['max_indel_length']})",
                           pos0 + 1, ref, new_alt)
                    continue
                rows.append((chrom, pos0 + 1, ref, new_alt, source_chrom, source_pos, source_ref, source_alts, index, allele_index))

    if absent and not on_fasta:
        shown = ", ".join(list(absent)[:8]) + (", ..." if len(absent) > 8 else "")
        fasta = ", ".join(list(lengths)[:8]) + (", ..." if len(lengths) > 8 else "")
        raise VcfError(
            f"VCF {path} shares no contig with FASTA {genome.path}: the VCF's records are on {shown}"
            + (f" (in {region})" if region else "") + f", the FASTA has {fasta}; every record would be rejected. Fix: "
            "use the FASTA the VCF was called against (see its ##reference line), or rename the VCF's contigs to the "
            "FASTA's (`bcftools annotate --rename-chrs`)."
        )
    if checked and mismatched / checked > max_fraction:
        raise VcfError(
            f"REF disagrees with the FASTA at {mismatched:,} of {checked:,} checked records "
            f"({mismatched / checked:.0%}, more than the allowed {max_fraction:.0%}) of VCF {path} against FASTA "
            f"{genome.path}: they are probably different genome builds (e.g. GRCh37 vs GRCh38). Examples: "
            f"{'; '.join(examples)}. Fix: use the FASTA the VCF was called against (see its ##reference line), "
            f"or lift the VCF over; raise {names['max_ref_mismatch_fraction']} only if a few bad records are expected."
        )
    if n_records == 0:
        notes.append(f"VCF {path} has no records{f' in region {region}' if region else ''}; there is nothing to normalise")
        log.warning("%s", notes[-1])

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
    renamed = {k: v for k, v in renamed.items() if k != v}
    if rename_chr_prefix:
        log.info("renamed %d contig(s) by the 'chr' prefix%s", len(renamed), f" (e.g. {next(iter(renamed.items()))})" if renamed else "")
    variants.attrs.update(records=n_records, alleles=n_alleles, checked=checked, ref_mismatches=mismatched)
    # only when there is something to say: the attrs are stored in the Parquet file, which good input keeps as it was
    variants.attrs.update({k: v for k, v in (("renamed", renamed), ("warnings", notes)) if v})
    return variants, reject_frame


# -- the workflow's bgzip step ------------------------------------------------------


def compress_plain_vcf(plain: str | os.PathLike[str], out_gz: str | os.PathLike[str]) -> dict[str, int]:
    """bgzip and tabix-index a plain-text VCF, sorting it first when it is not sorted (as the CLI accepts it).

    A sorted, clean file is compressed as it is. Otherwise it is rewritten: records sorted by contig
    (``##contig`` order, then order of first record) and position, ties kept in file order; blank lines
    dropped (they are not records); lines tabix cannot index (those :func:`read_records` rejects, e.g.
    a POS of ``.``) moved into the header as ``##genotile_dropped_line=`` lines, which
    :func:`normalize_vcf` turns into ``malformed_record`` rejects naming the original line. The rewrite
    holds the records in memory (about the file's size); sort a very large file with ``bcftools sort``
    first. Returns counts (``records``, ``sorted``, ``blank``, ``dropped``) for the log.
    """
    import pysam

    path, out = Path(plain), Path(out_gz)
    kind, n_header = _sniff(path)
    if kind != "vcf":
        raise VcfError(f"{path} is a BCF file, not a plain-text VCF. Fix: name it .bcf (BCF is read as it is).")
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    header_contigs: list[str] = []
    n_columns = None
    seen: set[str] = set()
    last, last_pos = None, -1
    records = blank = bad = 0
    unsorted = False
    with _open_text(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if number < n_header:
                if raw.startswith(b"##contig=<ID="):
                    header_contigs.append(_CONTIG_LINE.match(raw.decode("utf-8", "replace")).group(1))
                continue
            if number == n_header:
                n_columns = raw.rstrip(b"\r\n").count(b"\t") + 1
                continue
            if not raw.strip():
                blank += 1
                continue
            chrom, pos, problem = _check_line(raw, n_columns)
            records += 1
            if problem is not None:
                bad += 1
                continue
            if chrom != last:
                unsorted |= chrom in seen
                seen.add(chrom)
                last, last_pos = chrom, -1
            unsorted |= pos < last_pos
            last_pos = pos
    index = Path(f"{out}.tbi")
    with writing(out) as tmp, writing(index) as tmp_index:  # both appear only when both are complete
        if compressed or blank or bad or unsorted:
            sorted_vcf = tmp.with_name(tmp.name.removesuffix(".tmp") + ".vcf.tmp")  # scratch
            try:
                _rewrite_sorted(path, sorted_vcf, n_header, n_columns, header_contigs)
                pysam.tabix_compress(str(sorted_vcf), str(tmp), force=True)
            finally:
                sorted_vcf.unlink(missing_ok=True)
        else:
            pysam.tabix_compress(str(path), str(tmp), force=True)
        pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp_index))
    return {"records": records, "sorted": int(unsorted), "blank": blank, "dropped": bad}


def _rewrite_sorted(path: Path, dest: Path, n_header: int, n_columns: int | None, header_contigs: list[str]) -> None:
    """Write ``path`` to ``dest`` sorted, without blank lines, unusable lines moved into the header."""
    header: list[bytes] = []
    dropped: list[bytes] = []
    rank = {name: i for i, name in enumerate(header_contigs)}
    keyed: list[tuple[int, int, int, bytes]] = []
    record = 0
    with _open_text(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if number <= n_header:
                header.append(raw if raw.endswith(b"\n") else raw + b"\n")
                continue
            if not raw.strip():
                continue
            record += 1
            chrom, pos, problem = _check_line(raw, n_columns)
            if problem is not None:
                text = f"record {record:,} (line {number:,} of {path.name}, dropped by bgzip_vcf): {problem}"
                dropped.append((DROPPED_LINE_KEY + text.replace("\t", " ") + "\n").encode("utf-8"))
                continue
            keyed.append((rank.setdefault(chrom, len(rank)), pos, record, raw if raw.endswith(b"\n") else raw + b"\n"))
    keyed.sort()
    with open(dest, "wb") as fh:
        fh.writelines(header[:-1] + dropped + header[-1:])
        fh.writelines(line for *_, line in keyed)
