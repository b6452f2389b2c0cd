"""FASTA input: region strings and the :class:`Genome` reader.

The extractor pads past contig ends with ``N`` like the reference ``FastaExtractor``.  FASTA reading and
indexing (plain or bgzipped, ``.fai`` and ``.gzi``) is pyfaidx's (Biopython reads BGZF); this module only
sniffs the first bytes to refuse files that are clearly not FASTA, and turns pyfaidx's exceptions into
:class:`GenomeError` messages naming the file, the problem and the fix.
"""

from __future__ import annotations

import hashlib
import operator
import os
import re
import shutil
import stat
import tempfile
import zlib
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from genotile.sequence.encoding import one_hot, reverse_complement

__all__ = ["Genome", "GenomeError", "parse_region"]


# -- region strings ------------------------------------------------------------

_REGION_RE: Final = re.compile(r"^(?P<contig>\S+):(?P<start>[0-9][0-9,]*)-(?P<end>[0-9][0-9,]*)$")
_REGION_FORMAT: Final = (
    "expected 'contig:start-end' with 1-based inclusive positions (commas allowed, as samtools and IGV "
    "write them), e.g. 'chr1:917,505-933,888', or a bare contig name such as 'chr1' for the whole contig"
)


def parse_region(text: str) -> tuple[str, int, int | None]:
    """Parse 1-based inclusive ``'chr1:917,505-933,888'`` (as samtools/IGV/UCSC show regions) to 0-based
    half-open ``('chr1', 917504, 933888)``; a bare name gives ``(name, 0, None)`` (see Genome.resolve_region)."""
    if not isinstance(text, str):
        raise TypeError(f"region must be a str, got {type(text).__name__}")
    stripped = text.strip()
    match = _REGION_RE.match(stripped)
    if match:
        start1, end1 = (int(match[key].replace(",", "")) for key in ("start", "end"))
        if start1 < 1:
            raise ValueError(
                f"cannot parse region {text!r}: positions are 1-based, so the start must be >= 1 "
                f"(got {start1}); {_REGION_FORMAT}"
            )
        if end1 < start1:
            raise ValueError(f"cannot parse region {text!r}: end {end1:,} is before start {start1:,}; {_REGION_FORMAT}")
        return match["contig"], start1 - 1, end1
    if stripped and ":" not in stripped and not any(c.isspace() for c in stripped):
        return stripped, 0, None
    raise ValueError(f"cannot parse region {text!r}: {_REGION_FORMAT}")


# -- FASTA: cheap checks before pyfaidx sees the file ---------------------------


class GenomeError(ValueError):
    """A FASTA genome that cannot be used as given; the message names the file and the fix."""


_HEAD_BYTES: Final = 65536
_IUPAC: Final = "ACGTUNRYKMSWBDHV"
_IUPAC_BYTES: Final = _IUPAC.encode()
_NOT_A_BASE: Final = re.compile(f"[^{_IUPAC}]")  # sequences come upper-cased from pyfaidx
_FIX_PATH: Final = "Fix: point the genome setting at the reference FASTA (.fa/.fasta, optionally bgzipped)."
_FIX_WRAP: Final = (
    "Fix: re-wrap the FASTA to one line width, e.g. `seqkit seq -w 60 in.fa > out.fa` (this also "
    "normalises line endings and drops blank lines)."
)
_FIX_NAME: Final = "Fix: give every record a name after '>' (e.g. '>contig1') or delete the nameless record."
_VCF: Final = "a VCF (variant calls); pass the reference genome FASTA here and the VCF as the variants input"
_NOT_FASTA: Final = (  # prefixes of the file or of its first line
    (b"BZh", "bzip2-compressed"), (b"\xfd7zXZ\x00", "xz-compressed"), (b"PK\x03\x04", "a zip archive"),
    (b"\x43\x27\x41\x1a", "a UCSC .2bit genome (convert it with `twoBitToFa`)"), (b"BAM\x01", "a BAM file"),
    (b"##fileformat=VCF", _VCF), (b"#CHROM", _VCF), (b"@", "a FASTQ file (sequencing reads), not a genome"),
)  # fmt: skip


def _check_head(head: bytes, path: Path, whole_file: bool) -> None:
    """Stop early, with a specific message, on (uncompressed) bytes that are clearly not FASTA."""
    first = next((ln for ln in head.splitlines() if ln.strip() and not ln.startswith(b";")), b"")
    for magic, what in _NOT_FASTA:
        if head.startswith(magic) or first.startswith(magic):
            raise GenomeError(f"{path} is not a FASTA file: it looks like {what}. {_FIX_PATH}")
    if b"\x00" in head:
        raise GenomeError(f"{path} is not a FASTA file: it is binary (contains NUL bytes). {_FIX_PATH}")
    if head.startswith(b"\xef\xbb\xbf"):
        raise GenomeError(
            f"{path} starts with a UTF-8 byte-order mark, which FASTA readers do not accept. Fix: save the "
            "file without BOM (e.g. `sed -i '1s/^\\xEF\\xBB\\xBF//' file.fa`)."
        )
    if first and not first.startswith(b">"):
        raise GenomeError(
            f"{path} is not a FASTA file: its first line {first[:60].decode('latin-1')!r} does not start "
            f"with '>' (a FASTA record starts with a '>name' header line). {_FIX_PATH}"
        )
    if first.rstrip() == b">":
        raise GenomeError(f"cannot use FASTA {path}: its first '>' header line has no sequence name. {_FIX_NAME}")
    if not first and whole_file:
        raise GenomeError(f"FASTA {path} is empty: it has no '>' header and no sequence. Fix: re-create it.")


def _sniff(path: Path) -> bool:
    """Refuse files that are not plain or bgzipped FASTA; return whether it is bgzipped."""
    if not path.is_file():
        what = "is not a file" if path.exists() else f"not found (relative to {Path.cwd()})"
        raise GenomeError(f"FASTA file {path} {what}. Fix: check the genome path; point it at the .fa/.fa.gz file.")
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as err:
        raise GenomeError(f"cannot read FASTA {path}: {err.strerror}. Fix: check the file's permissions.") from None
    if not head:
        raise GenomeError(f"FASTA file {path} is empty (0 bytes). Fix: re-create or re-download it.")
    suffix = Path(path.name.lower()).suffix
    if not head.startswith(b"\x1f\x8b"):
        _check_head(head, path, whole_file=len(head) < _HEAD_BYTES)
        if suffix in (".gz", ".bgz", ".bz2", ".zip"):  # pyfaidx decides by the name
            raise GenomeError(f"FASTA {path} is not compressed but named {suffix!r}. Fix: rename it, or `bgzip` it.")
        return False
    try:  # the first gzip member: enough to recognise a compressed VCF or FASTQ
        _check_head(zlib.decompressobj(wbits=31).decompress(head, _HEAD_BYTES), path, whole_file=False)
    except zlib.error:
        pass  # damaged: pyfaidx reports it
    if not (head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"):  # BGZF has the 'BC' extra field
        raise GenomeError(
            f"FASTA {path} is gzip-compressed but not with bgzip (BGZF), so it cannot be read at random "
            f"positions. Fix: `gunzip -c {path.name} | bgzip -c > {path.name}.bgz` and use that file."
        )
    if suffix not in (".gz", ".bgz"):  # pyfaidx recognises bgzip by the name
        raise GenomeError(f"FASTA {path} is bgzip-compressed but not named .gz/.bgz. Fix: rename it {path.name}.gz.")
    return True


def _dir_is_writable(folder: Path) -> bool:
    """Whether genotile may create an index in ``folder`` (mode bits too: as root ``os.access`` is
    always true, but read-only shared reference data still says "do not write here")."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(stat.S_IMODE(mode) & 0o222)


def _coordinate(value: int, what: str) -> int:
    """An integer coordinate (numpy integers fine); floats and bools are bugs upstream."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer coordinate, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer coordinate, got {value!r} ({type(value).__name__})") from None


# -- Genome ----------------------------------------------------------------------


class Genome:
    """A reference genome FASTA (plain or bgzipped) read through pyfaidx; coordinates 0-based half-open.

    A missing ``.fai`` (and for bgzip ``.gzi``) is built by pyfaidx where the folder is writable, in a
    temporary folder renamed into place (parallel jobs never read half an index); an existing index is
    never rewritten, only checked.  No ``__del__``: pyfaidx closes its file when collected.
    """

    def __init__(self, path: str | os.PathLike[str], *, create_index: bool = True) -> None:
        """Open and check ``path`` now (fail at startup, not mid-run); ``create_index=False`` never writes."""
        self.path = Path(path).expanduser()
        self.fai_path = Path(str(self.path) + ".fai")
        self._fasta: Any = None  # pyfaidx.Fasta (pyfaidx ships no type hints)
        self._checksums: dict[int, str] = {}
        self._bgzf = _sniff(self.path)
        self._fasta = self._open_pyfaidx(create_index)
        self._lengths: dict[str, int] = {name: rec.rlen for name, rec in self._fasta.faidx.index.items()}
        try:
            self._check_index()
        except BaseException:
            self.close()
            raise

    def _open_pyfaidx(self, create_index: bool) -> Any:
        """``pyfaidx.Fasta`` on the existing index, or on one it builds in a temporary folder."""
        import pyfaidx

        path, fai, gzi = self.path, self.fai_path, Path(str(self.path) + ".gzi")
        missing = [p.name for p in (fai, gzi) if not p.is_file() and (p is fai or self._bgzf)]
        if missing and not (create_index and _dir_is_writable(path.parent)):
            why = f"the folder {path.parent} is not writable" if create_index else "index creation is switched off"
            raise GenomeError(
                f"FASTA {path} has no index {' / '.join(missing)} and {why}. Fix: run `samtools faidx {path}` "
                "where you can write, or copy the FASTA to a writable folder (or make this one writable)."
            )
        tmp = Path(tempfile.mkdtemp(prefix=".genotile-index-", dir=path.parent)) if missing else None
        folder = tmp or path.parent
        try:
            fasta = pyfaidx.Fasta(  # rebuild=False: never rewrite an existing (maybe shared) index
                str(path), indexname=str(folder / fai.name), gzi_indexname=str(folder / gzi.name), as_raw=True,
                sequence_always_upper=True, build_index=bool(missing), rebuild=False,
            )  # fmt: skip
            for built in tmp.iterdir() if tmp else ():
                os.replace(built, path.parent / built.name)
            return fasta
        except Exception as err:  # pyfaidx raises many unrelated types; all mean "cannot use"
            raise self._error(err) from None
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def _error(self, err: Exception, region: str = "") -> GenomeError:
        """A GenomeError (file, problem, fix) for an exception raised inside pyfaidx."""
        text = str(err)
        line, contig = re.search(r"line (\d+)", text), re.search(r"found in >(\S*)", text)
        if isinstance(err, UnicodeDecodeError):
            problem = f"it holds bytes that are not text (byte {err.object[err.start]:#04x} is not ASCII/UTF-8)"
            fix = "Fix: the file is damaged or not a FASTA; re-download it."
        elif "Bad sequence name" in text and line:  # pyfaidx counts these lines from 0
            problem, fix = f"a '>' header line has no sequence name (line {int(line[1]) + 1:,})", _FIX_NAME
        elif "not consistent" in text and line:
            name = contig[1] if contig else "?"
            problem = f"{name!r} has lines of different widths, blank lines or mixed line endings (line {line[1]})"
            fix = _FIX_WRAP
        elif "does not contain a valid sequence" in text:
            problem, fix = "it has no '>' header line, so it holds no sequence", _FIX_PATH
        elif text.startswith("Duplicate key"):
            problem = f"sequence name {text.split(' ', 2)[-1]} appears twice; names must be unique"
            fix = "Fix: rename or delete one of the two records."
        elif self._bgzf:
            problem = f"damaged bgzip file, or .fai/.gzi index not matching it ({type(err).__name__}: {text})"
            fix = f"Fix: delete {self.fai_path.name} and {self.path.name}.gzi; if that fails, re-download/re-bgzip it."
        else:
            problem = f"pyfaidx cannot read it ({type(err).__name__}: {text})"
            fix = f"Fix: delete {self.fai_path} so it is rebuilt, or run `samtools faidx {self.path}` to see why."
        where = f" (reading {region})" if region else ""
        return GenomeError(f"cannot use FASTA {self.path}{where}: {problem}. {fix}")

    def _check_index(self) -> None:
        """Refuse an empty genome, and an index that does not fit the file: reading the last base of
        every contig catches a stale index, a truncated FASTA and a last line longer than the others
        (which pyfaidx indexes without complaint)."""
        if not any(self._lengths.values()):
            raise GenomeError(f"FASTA {self.path} is empty: no sequence has any bases. Fix: re-create it.")
        for name, length in self._lengths.items():
            if length and self._fetch(name, length - 1, length, check=False) == ">":
                raise GenomeError(self._mismatch(name, length - 1, length, "'>'"))

    def _mismatch(self, name: str, start: int, end: int, got: str) -> str:
        """Message for an index whose positions do not hold the contig's bases."""
        return (
            f"read {got} instead of {end - start:,} bp at {name}:{start + 1:,}-{end:,} from FASTA {self.path}: the "
            f"index does not match the file (stale index, truncated FASTA, or lines of different widths). Fix: "
            f"delete {self.fai_path} so it is rebuilt; re-download a truncated FASTA; {_FIX_WRAP[5:]}"
        )

    def close(self) -> None:
        """Release the file handle (safe to call twice)."""
        fasta, self._fasta = self._fasta, None
        if fasta is not None:
            fasta.close()

    def __enter__(self) -> Genome:
        """``with Genome(path) as genome:`` closes the file handle at the end."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the ``with`` block."""
        self.close()

    def __reduce__(self) -> tuple[type[Genome], tuple[str]]:
        """Pickle as the path (worker processes reopen the file; handles do not travel)."""
        return (type(self), (str(self.path),))

    def __repr__(self) -> str:
        """Path, contig count and kind, for logs."""
        return f"Genome({str(self.path)!r}, {len(self._lengths)} contigs, {'bgzip' if self._bgzf else 'plain'})"

    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> length in bp, in FASTA order (a fresh dict each call)."""
        return dict(self._lengths)

    def __contains__(self, contig: object) -> bool:
        """``'chr1' in genome``: a check that never raises."""
        return contig in self._lengths

    def length(self, contig: str) -> int:
        """Length of ``contig`` in bp (GenomeError naming the alternatives and likely cause if absent)."""
        if contig in self._lengths:
            return self._lengths[contig]
        names = list(self._lengths)
        shown = ", ".join(map(repr, names[:8])) + (f", ... ({len(names):,} contigs)" if len(names) > 8 else "")
        hint = " Fix: use the FASTA's contig names, or the FASTA of the assembly your regions come from."
        if not isinstance(contig, str) and str(contig) in self._lengths:
            raise GenomeError(
                f"contig {contig!r} is a {type(contig).__name__}, not a name: FASTA {self.path} has the contig "
                f"{str(contig)!r} (text). A table was read back with its contig column as numbers. Fix: read contig "
                "columns as str (genotile.runtime.tables.read_tsv), or pass str(contig)."
            )
        if isinstance(contig, str):
            candidates = [contig[3:]] if contig.startswith("chr") else ["chr" + contig]
            candidates += ["MT", "chrM"] if contig in ("chrM", "chrMT", "M") else ["chrM"] if contig == "MT" else []
            match = next((c for c in candidates if c in self._lengths), None)
            folded = [n for n in names if n.lower() == contig.lower()]
            if match is not None:
                hint = (
                    f" The FASTA has {match!r}: the names differ by the 'chr' prefix (UCSC vs Ensembl style). Fix: "
                    "rename contigs in your regions/VCF (`bcftools annotate --rename-chrs`) or use a matching FASTA."
                )
            elif folded:
                hint = f" Contig names are case-sensitive; the FASTA has {folded[0]!r}."
        raise GenomeError(f"contig {contig!r} is not in FASTA {self.path} (it has {shown}).{hint}")

    def resolve_region(self, text: str) -> tuple[str, int, int]:
        """Parse a region string against this genome: ``'chr1'`` -> ``('chr1', 0, len)``.  Names
        may contain ':' (e.g. HLA alleles), which only the FASTA can disambiguate."""
        stripped = text.strip() if isinstance(text, str) else text
        if stripped in self._lengths:
            return stripped, 0, self._lengths[stripped]
        contig, start, end = parse_region(text)
        length = self.length(contig)
        return contig, start, length if end is None else end

    def sequence(self, contig: str, start: int, end: int, strand: str = "+") -> str:
        """Upper-case sequence of ``[start, end)``; parts past either contig end are 'N' (model
        windows keep their width; 'N' encodes to all-zero rows, as in the reference extractor)."""
        length = self.length(contig)
        start, end = _coordinate(start, "start"), _coordinate(end, "end")
        if strand not in ("+", "-"):
            raise ValueError(f"strand must be '+' or '-', got {strand!r}")
        if start >= end:
            raise GenomeError(
                f"empty or reversed interval {contig}:{start}-{end} (0-based half-open) in FASTA {self.path}: start "
                "must be < end. Fix: check the region; 1-based 'chr:start-end' strings go through parse_region()."
            )
        if end <= 0 or start >= length:
            raise GenomeError(
                f"interval {contig}:{start:,}-{end:,} (0-based half-open) lies entirely outside contig {contig!r} "
                f"(length {length:,} bp) in FASTA {self.path}. Fix: check the coordinates and the assembly."
            )
        inner_start, inner_end = max(start, 0), min(end, length)
        seq = "N" * (inner_start - start) + self._fetch(contig, inner_start, inner_end) + "N" * (end - inner_end)
        return reverse_complement(seq) if strand == "-" else seq

    def fetch_one_hot(
        self, contig: str, start: int, end: int, strand: str = "+", dtype: npt.DTypeLike = np.float32
    ) -> np.ndarray:
        """One-hot ``[end - start, 4]`` of the interval (padding rows all zero; '-' reverse-complemented)."""
        return one_hot(self.sequence(contig, start, end, strand), dtype=dtype)

    def _fetch(self, name: str, start: int, end: int, check: bool = True) -> str:
        """Bases ``[start, end)`` of one contig, within bounds, upper case.

        ``check``: refuse characters that are not IUPAC nucleotide letters. pyfaidx counts every
        character of a sequence line as a base, so digits or punctuation in a damaged FASTA would
        otherwise shift coordinates and be predicted as N without a word. Every read for a window
        or a variant is checked (``bytes.translate``, about 2 ms per Mb); the checksum and index checks,
        which also read contigs nobody selected, are not.
        """
        if self._fasta is None:
            raise GenomeError(f"Genome {self.path} is closed. Fix: open a new Genome (or use it inside its `with`).")
        try:
            seq = self._fasta.get_seq(name, start + 1, end)
        except Exception as err:  # FetchError, Biopython's BGZF errors, UnicodeDecodeError, ...
            raise self._error(err, f"{name}:{start + 1:,}-{end:,}") from None
        if len(seq) != end - start:
            raise GenomeError(self._mismatch(name, start, end, f"{len(seq):,} bp"))
        if check and seq.encode("latin-1", "replace").translate(None, _IUPAC_BYTES) and (bad := _NOT_A_BASE.search(seq)):
            raise GenomeError(
                f"FASTA {self.path}: contig {name!r} has {bad[0]!r} at position {start + bad.start() + 1:,} (1-based), "
                f"which is not a DNA base (sequence lines may hold only the IUPAC letters {_IUPAC}, in either case). "
                "Fix: the file is damaged or not a plain genome FASTA (digits, spaces or punctuation in sequence "
                "lines); re-download it, or remove those characters (e.g. `seqkit seq -w 60`) after checking why "
                "they are there."
            )
        return seq

    def checksum(self, sample_bp: int = 1_000_000) -> str:
        """SHA-256 (hex) identifying this genome, cheap enough to record on every run.

        It covers, in order: the tag ``b"genotile-genome-checksum-v1\\n"``; then per contig in FASTA
        order the line ``"<name>\\t<length>\\n"`` (UTF-8) and, when ``sample_bp > 0``, the upper-cased
        bases (Latin-1) of ``[0, min(sample_bp, L))`` and ``[max(L - sample_bp, sample_bp), L)`` (the
        whole contig when ``L <= 2 * sample_bp``).  Not covered: header text after the name, line width,
        line endings, compression (plain and bgzipped copies agree), case, and the middle of contigs
        longer than ``2 * sample_bp``.  ``sample_bp=0`` hashes names and lengths only.
        """
        sample_bp = operator.index(sample_bp)
        if sample_bp < 0:
            raise ValueError(f"sample_bp must be >= 0, got {sample_bp}")
        if sample_bp in self._checksums:
            return self._checksums[sample_bp]
        digest = hashlib.sha256(b"genotile-genome-checksum-v1\n")
        for name, length in self._lengths.items():
            digest.update(f"{name}\t{length}\n".encode("utf-8"))
            if sample_bp and length:
                head_end = min(sample_bp, length)
                digest.update(self._fetch(name, 0, head_end, check=False).encode("latin-1", "replace"))
                tail_start = max(length - sample_bp, head_end)
                if tail_start < length:
                    digest.update(self._fetch(name, tail_start, length, check=False).encode("latin-1", "replace"))
        self._checksums[sample_bp] = result = digest.hexdigest()
        return result
