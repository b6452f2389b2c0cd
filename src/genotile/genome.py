"""Sequence input: one-hot encoding, reverse complement, length checks, region
strings and a FASTA reader (:class:`Genome`).

Why this module exists: everything the model sees starts as bytes in a FASTA
file, and the two ways that goes wrong silently are (1) an encoding that differs
from the one the weights were trained with and (2) coordinates that are off by
one or run past a contig end.  So the encoder here is byte-for-byte the
reference AlphaGenome ``DNAOneHotEncoder`` (A, C, G, T in that order, upper or
lower case; every other byte an all-zero row), the extractor pads past contig
ends with ``N`` exactly as the reference ``FastaExtractor`` does, and every bad
input stops with an error that names the file and the fix instead of a
traceback from deep inside pyfaidx.

FASTA access: plain FASTA is read with pyfaidx.  pyfaidx reads bgzip-compressed
(BGZF) FASTA only through Biopython, which genotile does not depend on, so BGZF
files are read by :class:`_BgzfReader` below (standard library ``zlib`` plus the
samtools ``.fai``/``.gzi`` indexes).  Missing ``.fai`` indexes are built by
:func:`_build_fai` for both kinds, with samtools' rules, so that plain and
compressed copies of a genome index and read identically.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import io
import operator
import os
import re
import stat
import struct
import tempfile
import threading
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_LENGTH_MULTIPLE",
    "ONE_HOT_ORDER",
    "STANDARD_LENGTHS",
    "Genome",
    "GenomeError",
    "SequenceLengthError",
    "one_hot",
    "one_hot_batch",
    "parse_region",
    "reverse_complement",
    "reverse_complement_one_hot",
    "validate_length",
]

#: Channel order of the one-hot encoding (the reference encoder's order).
ONE_HOT_ORDER: Final = "ACGT"

#: AlphaGenome-class models downsample 1 bp -> 128 bp in the encoder and build
#: the pair (contact-map) representation at 2,048 bp, so input lengths must be
#: whole multiples of 2,048 bp.
DEFAULT_LENGTH_MULTIPLE: Final = 2048

#: The input lengths the reference model is used with (16 kb ... 1 Mb).
STANDARD_LENGTHS: Final = (16_384, 131_072, 524_288, 1_048_576)

ArrayT = TypeVar("ArrayT")


# --------------------------------------------------------------------------- #
# One-hot encoding
# --------------------------------------------------------------------------- #


@functools.cache
def _one_hot_table(dtype: np.dtype) -> np.ndarray:
    """256 x 4 lookup table, one row per byte value.

    Why a table: one vectorised ``np.take`` encodes any byte string, with no
    Python loop per base; it is also exactly how the reference encoder works,
    so the mapping of every one of the 256 byte values is identical.
    """
    table = np.zeros((256, len(ONE_HOT_ORDER)), dtype=dtype)
    for channel, base in enumerate(ONE_HOT_ORDER):
        table[ord(base), channel] = 1
        table[ord(base.lower()), channel] = 1
    table.setflags(write=False)  # shared by every call: never let a caller mutate it
    return table


def _as_codes(sequence: str | bytes | bytearray | memoryview, where: str = "") -> np.ndarray:
    """Return the sequence as a uint8 array of byte values (no copy for bytes).

    Why Latin-1: it maps code points 0-255 to the same byte values, so a ``str``
    and its ``bytes`` encode identically, as in the reference encoder.
    """
    if isinstance(sequence, str):
        try:
            raw = sequence.encode("latin-1")
        except UnicodeEncodeError as err:
            char = sequence[err.start]
            raise ValueError(
                f"{where}character {char!r} (U+{ord(char):04X}) at position {err.start:,} "
                "is not a Latin-1 character, so it cannot be a DNA base. DNA sequences "
                "must be plain text (A, C, G, T, N or IUPAC codes); check the input for "
                "a mis-encoded file or stray Unicode (e.g. a typographic dash or quote)."
            ) from None
        return np.frombuffer(raw, dtype=np.uint8)
    if isinstance(sequence, (bytes, bytearray, memoryview)):
        return np.frombuffer(sequence, dtype=np.uint8)
    raise TypeError(
        f"{where}expected a DNA sequence as str or bytes, got {type(sequence).__name__}"
    )


def one_hot(sequence: str | bytes, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """One-hot encode a DNA sequence to an ``[S, 4]`` array (channels ``ACGT``).

    A, C, G, T (either case) become unit rows; every other byte (N, IUPAC
    codes, '-', digits, anything) becomes an all-zero row, exactly like the
    reference AlphaGenome encoder: the model was trained with "unknown" meaning
    "no evidence for any base", never a fifth channel.
    """
    return np.take(_one_hot_table(np.dtype(dtype)), _as_codes(sequence), axis=0)


def one_hot_batch(
    sequences: Sequence[str | bytes], dtype: npt.DTypeLike = np.float32
) -> np.ndarray:
    """One-hot encode equal-length sequences to a ``[B, S, 4]`` array.

    Why equal lengths only: a batch is one dense array for the accelerator;
    silently padding here would hide a tiling bug upstream.
    """
    if isinstance(sequences, (str, bytes, bytearray, memoryview)):
        raise TypeError(
            "one_hot_batch expects a sequence of DNA sequences; for a single "
            "sequence use one_hot()"
        )
    seqs = list(sequences)
    if not seqs:
        raise ValueError("one_hot_batch: got no sequences; a batch needs at least one")
    length = len(seqs[0])
    for index, seq in enumerate(seqs):
        if len(seq) != length:
            lengths = sorted({len(s) for s in seqs})
            shown = ", ".join(f"{n:,}" for n in lengths[:6]) + (" ..." if len(lengths) > 6 else "")
            raise ValueError(
                f"one_hot_batch: all sequences must have the same length to form a "
                f"[B, S, 4] array, but sequence 0 has {length:,} bp and sequence {index} "
                f"has {len(seq):,} bp (lengths seen: {shown}). Fix: request intervals of "
                "one width, or pad the short sequences with N."
            )
    codes = np.empty((len(seqs), length), dtype=np.uint8)
    for index, seq in enumerate(seqs):
        codes[index] = _as_codes(seq, where=f"one_hot_batch: sequence {index}: ")
    return np.take(_one_hot_table(np.dtype(dtype)), codes, axis=0)


# --------------------------------------------------------------------------- #
# Reverse complement
# --------------------------------------------------------------------------- #

_COMPLEMENT_FROM: Final = "ACGTRYKMBVDHSWNacgtrykmbvdhswn"
_COMPLEMENT_TO: Final = "TGCAYRMKVBHDSWNtgcayrmkvbhdswn"
_STR_COMPLEMENT: Final = str.maketrans(_COMPLEMENT_FROM, _COMPLEMENT_TO)
_BYTES_COMPLEMENT: Final = bytes.maketrans(_COMPLEMENT_FROM.encode(), _COMPLEMENT_TO.encode())


@overload
def reverse_complement(sequence: str) -> str: ...


@overload
def reverse_complement(sequence: bytes | bytearray) -> bytes: ...


def reverse_complement(sequence: str | bytes | bytearray) -> str | bytes:
    """Reverse complement, preserving case; IUPAC codes map to their complements.

    A<->T, C<->G, R<->Y, K<->M, B<->V, D<->H; S, W, N and every other character
    are unchanged.  Why keep IUPAC codes instead of turning them into N: the
    result must stay an involution and keep the information a FASTA carries
    (the one-hot encoding treats them all as zeros anyway).
    """
    if isinstance(sequence, str):
        return sequence.translate(_STR_COMPLEMENT)[::-1]
    if isinstance(sequence, (bytes, bytearray)):
        return bytes(sequence).translate(_BYTES_COMPLEMENT)[::-1]
    raise TypeError(f"expected str or bytes, got {type(sequence).__name__}")


def reverse_complement_one_hot(x: ArrayT) -> ArrayT:
    """Reverse complement a one-hot array ``[..., S, 4]`` (numpy or JAX).

    Why slicing: with channels in ``ACGT`` order the complement A<->T, C<->G is
    a reversal of the channel axis, so the whole operation is a view
    ``x[..., ::-1, ::-1]`` (no copy for numpy, one cheap op under ``jit``).
    """
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) < 2 or shape[-1] != len(ONE_HOT_ORDER):
        raise ValueError(
            f"reverse_complement_one_hot expects an array of shape [..., S, 4] "
            f"(channels {ONE_HOT_ORDER}), got shape {shape}"
        )
    return x[..., ::-1, ::-1]  # type: ignore[index]


# --------------------------------------------------------------------------- #
# Length checks
# --------------------------------------------------------------------------- #


class SequenceLengthError(ValueError):
    """A sequence length the model cannot take (not a positive multiple of 2,048 bp)."""


def validate_length(length: int, multiple: int = DEFAULT_LENGTH_MULTIPLE) -> None:
    """Raise :class:`SequenceLengthError` unless ``length`` is a positive multiple of ``multiple``.

    Why check up front: a wrong length otherwise fails deep inside the U-Net
    with a shape error that says nothing about the input interval.
    """
    if isinstance(multiple, bool) or operator.index(multiple) <= 0:
        raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
    multiple = operator.index(multiple)
    standard = [n for n in STANDARD_LENGTHS if n % multiple == 0]
    fix_regions = (
        " or choose a region of " + " / ".join(f"{n:,}" for n in standard) + " bp"
        if standard
        else ""
    )
    if isinstance(length, bool):
        n = None
    else:
        try:
            n = operator.index(length)
        except TypeError:
            n = None
    if n is None:
        raise SequenceLengthError(
            f"sequence length must be a whole number of bp, got {length!r} "
            f"({type(length).__name__}). Fix: pass an int that is a positive multiple "
            f"of {multiple:,}{fix_regions}."
        )
    if n > 0 and n % multiple == 0:
        return
    below = (n // multiple) * multiple
    above = below + multiple
    if below > 0:
        nearest = f"nearest valid lengths: {below:,} bp below and {above:,} bp above"
    else:
        above = max(above, multiple)
        nearest = f"nearest valid length: {above:,} bp (the smallest valid length)"
    problem = "is not positive" if n <= 0 else f"is not a multiple of {multiple:,} bp"
    raise SequenceLengthError(
        f"sequence length {n:,} bp {problem}; the model needs a positive multiple of "
        f"{multiple:,} bp (its coarsest resolution). {nearest}. Fix: pad with N to "
        f"{above:,} bp (Genome.sequence pads past contig ends with N){fix_regions}."
    )


# --------------------------------------------------------------------------- #
# Region strings
# --------------------------------------------------------------------------- #

_REGION_RE: Final = re.compile(r"^(?P<contig>\S+):(?P<start>[0-9][0-9,]*)-(?P<end>[0-9][0-9,]*)$")
_REGION_FORMAT: Final = (
    "expected 'contig:start-end' with 1-based inclusive positions (commas allowed, "
    "as samtools and IGV write them), e.g. 'chr1:917,505-933,888', or a bare contig "
    "name such as 'chr1' for the whole contig"
)


def parse_region(text: str) -> tuple[str, int, int | None]:
    """Parse ``'chr1:917,505-933,888'`` to 0-based half-open ``('chr1', 917504, 933888)``.

    A bare contig name (``'chr1'``) returns ``(name, 0, None)``: the end is the
    contig length, which only a :class:`Genome` knows (see
    :meth:`Genome.resolve_region`).  Why 1-based inclusive input: that is how
    people copy regions out of samtools, IGV and the UCSC browser; everything
    inside genotile is 0-based half-open.
    """
    if not isinstance(text, str):
        raise TypeError(f"region must be a str, got {type(text).__name__}")
    stripped = text.strip()
    match = _REGION_RE.match(stripped)
    if match:
        contig = match["contig"]
        start1 = int(match["start"].replace(",", ""))
        end1 = int(match["end"].replace(",", ""))
        if start1 < 1:
            raise ValueError(
                f"cannot parse region {text!r}: positions are 1-based, so the start must "
                f"be >= 1 (got {start1}); {_REGION_FORMAT}"
            )
        if end1 < start1:
            raise ValueError(
                f"cannot parse region {text!r}: end {end1:,} is before start {start1:,}; "
                f"{_REGION_FORMAT}"
            )
        return contig, start1 - 1, end1
    if stripped and ":" not in stripped and not any(c.isspace() for c in stripped):
        return stripped, 0, None
    raise ValueError(f"cannot parse region {text!r}: {_REGION_FORMAT}")


# --------------------------------------------------------------------------- #
# FASTA index (.fai) building and reading
# --------------------------------------------------------------------------- #


class GenomeError(ValueError):
    """A FASTA genome that cannot be used as given; the message names the file and the fix."""


@dataclass(frozen=True, slots=True)
class _FaiRecord:
    """One line of a samtools ``.fai`` index."""

    name: str
    length: int  # bases
    offset: int  # byte offset of the first base (uncompressed, for BGZF)
    line_bases: int
    line_bytes: int

    def last_byte(self) -> int:
        """Byte offset just past the last base (what must lie inside the file)."""
        if self.length == 0:
            return self.offset
        full_lines = (self.length - 1) // self.line_bases
        return self.offset + full_lines * self.line_bytes + (self.length - full_lines * self.line_bases)

    def byte_range(self, start: int, end: int) -> tuple[int, int]:
        """Bytes ``[b0, b1)`` holding bases ``[start, end)`` (newlines included)."""
        b0 = self.offset + (start // self.line_bases) * self.line_bytes + start % self.line_bases
        last = end - 1
        b1 = self.offset + (last // self.line_bases) * self.line_bytes + last % self.line_bases + 1
        return b0, b1


_FIX_WRAP: Final = (
    "Fix: re-wrap the FASTA to one line width, e.g. `seqkit seq -w 60 in.fa > out.fa` "
    "(this also normalises line endings and drops blank lines)."
)
_FIX_NAME: Final = (
    "Fix: give every record a name after '>' (e.g. '>contig1') or delete the nameless "
    "record; samtools would index it under the empty name, but no region or VCF could "
    "refer to it."
)


def _build_fai(lines: Iterable[bytes], source: Path) -> list[_FaiRecord]:
    """Index a FASTA (given as lines with their terminators) the way ``samtools faidx`` does.

    Rules (samtools'): within a sequence every line has the same width except the
    last; blank lines may only follow the last line; names are the first word of
    the header; names must be unique.  Why our own indexer rather than pyfaidx's:
    it must also run on BGZF data, and it reports problems with 1-based line
    numbers and a fix.
    """
    records: list[_FaiRecord] = []
    seen: dict[str, int] = {}
    name: str | None = None
    header_line = 0
    offset = 0  # bytes consumed so far
    seq_offset = rlen = lenc = lenb = 0
    short_line = 0  # line number of a line shorter than the width (must be the last)
    blank_line = 0  # line number of a blank line inside the current sequence

    def fail(problem: str, line_no: int, fix: str = _FIX_WRAP) -> GenomeError:
        """One message shape for every indexing problem: file, problem, line, fix."""
        return GenomeError(f"cannot index FASTA {source}: {problem} (line {line_no:,}). {fix}")

    def finish() -> None:
        """Record the sequence that just ended (called at each header and at EOF)."""
        if name is not None:
            records.append(_FaiRecord(name, rlen, seq_offset, lenc, lenb))

    line_no = 0
    for line_no, line in enumerate(lines, start=1):
        nbytes = len(line)
        body = line.rstrip(b"\r\n")
        if line[:1] == b">":
            finish()
            words = body[1:].split(None, 1)
            if not words:
                raise fail("a '>' header line has no sequence name", line_no, _FIX_NAME)
            try:
                name = words[0].decode("utf-8")
            except UnicodeDecodeError:
                raise fail(
                    "a sequence name is not valid UTF-8 text", line_no, "Fix: use plain ASCII sequence names."
                ) from None
            if name in seen:
                raise fail(
                    f"sequence name {name!r} appears twice (first at line {seen[name]:,}); "
                    "names must be unique",
                    line_no,
                    "Fix: rename or delete one of the two records.",
                )
            seen[name] = line_no
            header_line = line_no
            seq_offset = offset + nbytes
            rlen = lenc = lenb = short_line = blank_line = 0
        elif name is None:
            # Before the first header only blank lines and ';' comments are allowed.
            if body.strip() and line[:1] != b";":
                raise fail(
                    "text before the first '>' header",
                    line_no,
                    "Fix: check that this is the genome FASTA you meant; a FASTA starts with a "
                    "'>name' header line (';' comment lines are allowed before it).",
                )
        elif not body:
            blank_line = blank_line or line_no
        else:
            if blank_line:
                raise fail(f"blank line inside sequence {name!r} (header at line {header_line:,})", blank_line)
            if short_line:
                raise fail(
                    f"lines of sequence {name!r} have different widths: line {short_line:,} is "
                    f"shorter than {lenc} bases but is not the sequence's last line",
                    short_line,
                )
            clen = len(body)
            if lenc == 0:
                lenc, lenb = clen, nbytes
            elif clen > lenc:
                raise fail(
                    f"lines of sequence {name!r} have different widths: {clen} bases here, "
                    f"{lenc} on its first line",
                    line_no,
                )
            elif clen < lenc or nbytes != lenb:
                if clen == lenc and nbytes > clen:  # same width, other line ending
                    raise fail(f"mixed line endings (LF and CRLF) in sequence {name!r}", line_no)
                short_line = line_no
            rlen += clen
        offset += nbytes
    finish()
    if not records:
        raise GenomeError(
            f"FASTA {source} has no '>' header line (read {line_no:,} lines), so it holds no "
            "sequence. Fix: check that this is the genome FASTA you meant."
        )
    return records


def _read_fai(fai: Path, fasta: Path) -> list[_FaiRecord]:
    """Parse a samtools ``.fai`` file, refusing malformed or duplicate lines."""
    stale = f"Fix: delete {fai} so genotile rebuilds it, or re-run `samtools faidx {fasta}`."
    records: list[_FaiRecord] = []
    names: set[str] = set()
    try:
        text = fai.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise GenomeError(f"cannot read FASTA index {fai} for {fasta}: {err}. {stale}") from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            if len(fields) < 5:
                raise ValueError
            length, offset, line_bases, line_bytes = (int(f) for f in fields[1:5])
        except ValueError:
            raise GenomeError(
                f"FASTA index {fai} line {line_no} is not a samtools .fai line "
                f"(name, length, offset, line bases, line bytes): {line[:80]!r}. {stale}"
            ) from None
        name = fields[0]
        if not name:
            raise GenomeError(f"FASTA index {fai} line {line_no} has an empty sequence name. {_FIX_NAME}")
        if name in names:
            raise GenomeError(f"FASTA index {fai} lists sequence {name!r} twice. {stale}")
        bad_width = length > 0 and (line_bases <= 0 or line_bytes < line_bases)
        if length < 0 or offset < 0 or bad_width:
            raise GenomeError(f"FASTA index {fai} line {line_no} has impossible values: {line!r}. {stale}")
        names.add(name)
        records.append(_FaiRecord(name, length, offset, line_bases, line_bytes))
    return records


def _dir_is_writable(folder: Path) -> bool:
    """Whether genotile may create an index file in ``folder``.

    Why also look at the mode bits: as root ``os.access`` is always true, but a
    folder without write bits (shared, read-only reference data) still says
    "do not write here".
    """
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(stat.S_IMODE(mode) & 0o222)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so parallel jobs never see half an index."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- #
# BGZF (bgzip) random access
# --------------------------------------------------------------------------- #

_GZIP_MAGIC: Final = b"\x1f\x8b"
_BGZF_MAX_BLOCK: Final = 65536


class _BgzfError(Exception):
    """Internal: the bytes are not valid BGZF (turned into a GenomeError by the caller)."""


class _ChunkStream(io.RawIOBase):
    """A read-only byte stream over an iterator of chunks (to iterate lines with io)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        """Wrap ``chunks``; io.BufferedReader on top then yields lines split on b'\\n' only."""
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        """Required by io.RawIOBase so BufferedReader accepts the stream."""
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``target`` from the pending chunk, pulling the next chunk when empty."""
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class _BgzfReader:
    """Random access to a BGZF file (what ``bgzip`` writes) with the standard library.

    Why: pyfaidx reads BGZF only through Biopython, which genotile does not
    depend on.  BGZF is a series of independent gzip members (<= 64 KiB each);
    the ``.gzi`` index maps each member's compressed offset to its uncompressed
    offset, so a window is read by decompressing only the members it touches.
    A missing ``.gzi`` is rebuilt by scanning member headers (no decompression)
    and saved when the folder is writable.
    """

    def __init__(self, path: Path) -> None:
        """Open ``path`` and load (or rebuild in memory) its member offsets."""
        self.path = path
        self.gzi_path = Path(str(path) + ".gzi")
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self._csize = os.fstat(self._fd).st_size
            self._gzi_missing = not self.gzi_path.is_file()
            if self._gzi_missing:
                self._cstarts, self._ustarts = self._scan_blocks()
            else:
                self._cstarts, self._ustarts = self._read_gzi(self.gzi_path)
            last = self._decompress(self._cstarts[-1]) if self._cstarts else b""
            self.size = (self._ustarts[-1] if self._ustarts else 0) + len(last)
        except BaseException:
            self.close()
            raise
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def save_gzi_if_missing(self) -> None:
        """Save the rebuilt ``.gzi`` (an optimisation: reading works without it)."""
        if self._gzi_missing:
            try:
                _write_atomically(self.gzi_path, self._gzi_bytes())
                self._gzi_missing = False
            except OSError:
                pass

    def __del__(self) -> None:
        """Do not leak the descriptor when a Genome is dropped without close()."""
        self.close()

    @staticmethod
    def is_bgzf(head: bytes) -> bool:
        """Whether a file starting with ``head`` is BGZF (gzip with the 'BC' extra field)."""
        if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04":
            return False
        xlen = int.from_bytes(head[10:12], "little")
        return _BgzfReader._bsize(head[12 : 12 + xlen]) is not None

    @staticmethod
    def inflate_member(block: bytes, cpos: int = 0) -> bytes:
        """Decompress the BGZF member at the start of ``block`` (checked against size and CRC)."""
        if len(block) < 18 or block[:4] != b"\x1f\x8b\x08\x04":
            raise _BgzfError(f"no BGZF block header at byte {cpos:,}")
        xlen = int.from_bytes(block[10:12], "little")
        bsize = _BgzfReader._bsize(block[12 : 12 + xlen])
        if bsize is None or bsize > len(block):
            raise _BgzfError(f"truncated or malformed BGZF block at byte {cpos:,}")
        crc, isize = struct.unpack_from("<II", block, bsize - 8)
        try:
            data = zlib.decompress(block[12 + xlen : bsize - 8], wbits=-15)
        except zlib.error as err:
            raise _BgzfError(f"corrupt BGZF block at byte {cpos:,}: {err}") from None
        if len(data) != isize or zlib.crc32(data) != crc:
            raise _BgzfError(f"corrupt BGZF block at byte {cpos:,} (size or CRC mismatch)")
        return data

    @staticmethod
    def _bsize(extra: bytes) -> int | None:
        """Total member size from the 'BC' subfield of a gzip extra field."""
        pos = 0
        while pos + 4 <= len(extra):
            slen = int.from_bytes(extra[pos + 2 : pos + 4], "little")
            if extra[pos : pos + 2] == b"BC" and slen == 2:
                return int.from_bytes(extra[pos + 4 : pos + 6], "little") + 1
            pos += 4 + slen
        return None

    def _member_size(self, cpos: int) -> int:
        """Size of the member at ``cpos`` from its header alone (for the offset scan)."""
        header = os.pread(self._fd, 12, cpos)
        if len(header) < 12 or header[:4] != b"\x1f\x8b\x08\x04":
            raise _BgzfError(f"no BGZF block header at byte {cpos:,}")
        xlen = int.from_bytes(header[10:12], "little")
        bsize = self._bsize(os.pread(self._fd, xlen, cpos + 12))
        if bsize is None or cpos + bsize > self._csize:
            raise _BgzfError(f"truncated or malformed BGZF block at byte {cpos:,}")
        return bsize

    def _scan_blocks(self) -> tuple[list[int], list[int]]:
        """Member offsets from the headers and the ISIZE trailers (no decompression)."""
        cstarts: list[int] = []
        ustarts: list[int] = []
        cpos = upos = 0
        while cpos < self._csize:
            bsize = self._member_size(cpos)
            isize = int.from_bytes(os.pread(self._fd, 4, cpos + bsize - 4), "little")
            cstarts.append(cpos)
            ustarts.append(upos)
            cpos += bsize
            upos += isize
        return cstarts, ustarts

    @staticmethod
    def _read_gzi(gzi: Path) -> tuple[list[int], list[int]]:
        """Parse a .gzi (what `bgzip -i` / `samtools faidx` write), refusing corrupt ones."""
        raw = gzi.read_bytes()
        if len(raw) < 8:
            raise _BgzfError(f"{gzi} is too short to be a .gzi index")
        (count,) = struct.unpack_from("<Q", raw)
        if len(raw) != 8 + 16 * count:
            raise _BgzfError(f"{gzi} is not a .gzi index (size does not match its entry count)")
        pairs = np.frombuffer(raw, dtype="<u8", offset=8).reshape(-1, 2)
        cstarts = [0] + [int(c) for c in pairs[:, 0] if c != 0]
        ustarts = [0] + [int(u) for c, u in pairs if c != 0]
        if any(b <= a for a, b in zip(cstarts, cstarts[1:])) or any(
            b < a for a, b in zip(ustarts, ustarts[1:])
        ):
            raise _BgzfError(f"{gzi} offsets are not increasing (corrupt .gzi index)")
        return cstarts, ustarts

    def _gzi_bytes(self) -> bytes:
        """The htslib .gzi layout: count, then (compressed, uncompressed) pairs, first member omitted."""
        pairs = list(zip(self._cstarts[1:], self._ustarts[1:]))
        return struct.pack("<Q", len(pairs)) + b"".join(struct.pack("<QQ", c, u) for c, u in pairs)

    def _decompress(self, cpos: int) -> bytes:
        """One member; pread keeps concurrent readers (threads) from sharing a file position."""
        if self._fd < 0:
            raise _BgzfError("the file is closed")
        return self.inflate_member(os.pread(self._fd, _BGZF_MAX_BLOCK, cpos), cpos)

    def _block(self, index: int) -> bytes:
        """Decompressed member ``index``, through a small LRU cache (neighbouring windows share members)."""
        with self._lock:
            data = self._cache.get(index)
            if data is not None:
                self._cache.move_to_end(index)
                return data
        data = self._decompress(self._cstarts[index])
        with self._lock:
            self._cache[index] = data
            while len(self._cache) > 64:
                self._cache.popitem(last=False)
        return data

    def read(self, start: int, size: int) -> bytes:
        """Uncompressed bytes ``[start, start + size)`` (fewer at end of file)."""
        index = bisect.bisect_right(self._ustarts, start) - 1
        parts: list[bytes] = []
        pos, end = start, start + size
        while pos < end and 0 <= index < len(self._cstarts):
            data = self._block(index)
            local = pos - self._ustarts[index]
            chunk = data[local : local + end - pos]
            parts.append(chunk)
            pos += len(chunk)
            index += 1
        return b"".join(parts)

    def iter_chunks(self) -> Iterator[bytes]:
        """All uncompressed data in order, one member at a time (for indexing)."""
        for cpos in self._cstarts:
            yield self._decompress(cpos)

    def close(self) -> None:
        """Close the descriptor once (safe to call again, and from __del__)."""
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1


# --------------------------------------------------------------------------- #
# Recognising files that are not FASTA
# --------------------------------------------------------------------------- #

_BINARY_MAGIC: Final = (
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"PK\x03\x04", "a zip archive"),
    (b"CRAM", "a CRAM alignment file"),
    (b"BAM\x01", "a BAM alignment file"),
    (b"\x43\x27\x41\x1a", "a UCSC .2bit genome (convert it with `twoBitToFa`)"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an executable"),
)

_TEXT_HINTS: Final = (
    (b"##fileformat=VCF", "a VCF (variant calls); pass the reference genome FASTA here and the VCF as the variants input"),
    (b"#CHROM", "a VCF (variant calls); pass the reference genome FASTA here and the VCF as the variants input"),
    (b"##gff-version", "a GFF annotation file"),
    (b"@", "a FASTQ file (sequencing reads), not a genome"),
    (b"track", "a genome-browser track (BED/wiggle)"),
    (b"browser", "a genome-browser track (BED/wiggle)"),
)


def _check_fasta_head(head: bytes, path: Path, whole_file: bool) -> None:
    """Stop early, with a specific message, on files that are clearly not FASTA.

    Why before indexing: pyfaidx and our indexer would otherwise fail later with
    a UnicodeDecodeError or an unhelpful line-length complaint.
    """
    fix = "Fix: point the genome setting at the reference FASTA (.fa/.fasta, optionally bgzipped)."
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise GenomeError(f"{path} is not a FASTA file: it looks like {what}. {fix}")
    if b"\x00" in head:
        raise GenomeError(f"{path} is not a FASTA file: it is binary (contains NUL bytes). {fix}")
    if head.startswith(b"\xef\xbb\xbf"):
        raise GenomeError(
            f"{path} starts with a UTF-8 byte-order mark, which FASTA readers do not accept. "
            "Fix: save the file without BOM (e.g. `sed -i '1s/^\\xEF\\xBB\\xBF//' file.fa`)."
        )
    for line in head.splitlines():
        if not line.strip() or line.startswith(b";"):
            continue
        if line.startswith(b">"):
            return
        for prefix, what in _TEXT_HINTS:
            if line.startswith(prefix):
                raise GenomeError(f"{path} is not a FASTA file: it looks like {what}. {fix}")
        shown = line[:60].decode("latin-1")
        raise GenomeError(
            f"{path} is not a FASTA file: its first line {shown!r} does not start with '>' "
            f"(a FASTA record starts with a '>name' header line). {fix}"
        )
    if whole_file:
        raise GenomeError(
            f"FASTA {path} is empty: it has no '>' header and no sequence. Fix: re-create or "
            "re-download the FASTA."
        )


# --------------------------------------------------------------------------- #
# Genome
# --------------------------------------------------------------------------- #

_HEAD_BYTES: Final = 65536


class Genome:
    """A reference genome FASTA (plain or bgzipped) with samtools ``.fai`` random access.

    Coordinates are 0-based half-open everywhere.  Why one class owns this: the
    tiler, the variant scorer and the provenance record must all see the same
    contigs, the same padding rule and the same checksum.

    A missing ``.fai`` (and, for bgzip, ``.gzi``) is created next to the FASTA
    when that folder is writable; an existing one is never overwritten, only
    checked against the file size (a stale index is an error naming the fix).
    """

    def __init__(self, path: str | os.PathLike[str], *, create_index: bool = True) -> None:
        """Open and check ``path`` now, so a bad genome fails at startup, not mid-run.

        ``create_index=False`` forbids writing a missing ``.fai`` even where allowed.
        """
        self.path = Path(path).expanduser()
        self.fai_path = Path(str(self.path) + ".fai")
        self._create_index = create_index
        self._faidx: Any = None  # pyfaidx.Faidx for plain FASTA (pyfaidx ships no type hints)
        self._bgzf: _BgzfReader | None = None
        self._checksums: dict[int, str] = {}
        self._open()

    # -- opening -------------------------------------------------------------

    def _open(self) -> None:
        """Recognise the file (plain / BGZF / not FASTA), then load and check its index."""
        path = self.path
        if not path.exists():
            raise GenomeError(
                f"FASTA file not found: {path} (resolved from {Path.cwd()}). Fix: check the "
                "genome path in the config; relative paths are relative to the working directory."
            )
        if not path.is_file():
            raise GenomeError(f"FASTA path {path} is not a file. Fix: point it at the .fa/.fa.gz file itself.")
        size = path.stat().st_size
        if size == 0:
            raise GenomeError(
                f"FASTA file {path} is empty (0 bytes). Fix: re-create or re-download the FASTA "
                "(an empty file is often left by an interrupted download or a failed pipe)."
            )
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
        may_write = self._create_index and _dir_is_writable(path.parent)
        if head.startswith(_GZIP_MAGIC):
            if not _BgzfReader.is_bgzf(head):
                _check_fasta_head(_gunzip_head(head), path, whole_file=False)
                raise GenomeError(
                    f"FASTA {path} is gzip-compressed but not with bgzip (BGZF), so it cannot be "
                    f"read at random positions. Fix: `gunzip -c {path.name} | bgzip -c > "
                    f"{path.name}.bgz` (or keep it uncompressed) and use that file."
                )
            try:
                # Look at the first member before anything else: a bgzipped VCF passed by
                # mistake must be refused before an index is written next to it.
                _check_fasta_head(_BgzfReader.inflate_member(head), path, whole_file=False)
                self._bgzf = _BgzfReader(path)
                head = self._bgzf.read(0, _HEAD_BYTES)
            except _BgzfError as err:
                raise GenomeError(
                    f"FASTA {path} is a damaged bgzip file: {err}. Fix: re-download it or "
                    "re-compress it with `bgzip`; delete a stale .gzi index next to it."
                ) from None
            data_size = self._bgzf.size
        else:
            data_size = size
        try:
            _check_fasta_head(head, path, whole_file=data_size <= _HEAD_BYTES)
            records = self._load_index(may_write)
            self._check_index(records, data_size)
        except BaseException:
            self.close()
            raise
        self._records: dict[str, _FaiRecord] = {r.name: r for r in records}
        if self._bgzf is None:
            self._open_pyfaidx()
        elif may_write:
            self._bgzf.save_gzi_if_missing()

    def _load_index(self, may_write: bool) -> list[_FaiRecord]:
        """Read the ``.fai``, building it first when it is missing."""
        path, fai = self.path, self.fai_path
        if fai.is_file():
            if fai.stat().st_mtime < path.stat().st_mtime:
                warnings.warn(
                    f"FASTA index {fai} is older than {path}; using it anyway. If the FASTA "
                    "changed, delete the .fai so genotile rebuilds it.",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return _read_fai(fai, path)
        if not may_write:
            why = "index creation is switched off" if not self._create_index else f"the folder {path.parent} is not writable"
            raise GenomeError(
                f"FASTA {path} has no index {fai.name} and {why}. Fix: run `samtools faidx {path}` "
                "where you can write, or copy the FASTA to a writable folder (or make this one writable)."
            )
        if self._bgzf is not None:
            stream: io.BufferedIOBase = io.BufferedReader(_ChunkStream(self._bgzf.iter_chunks()), 1 << 20)
        else:
            stream = open(path, "rb", buffering=1 << 20)
        try:
            with stream:
                records = _build_fai(stream, path)
        except _BgzfError as err:
            raise GenomeError(f"FASTA {path} is a damaged bgzip file: {err}. Fix: re-download or re-compress it.") from None
        text = "".join(
            f"{r.name}\t{r.length}\t{r.offset}\t{r.line_bases}\t{r.line_bytes}\n" for r in records
        )
        try:
            _write_atomically(fai, text.encode("utf-8"))
        except OSError as err:
            raise GenomeError(
                f"cannot write FASTA index {fai}: {err}. Fix: run `samtools faidx {path}` where "
                "you can write, or copy the FASTA to a writable folder."
            ) from None
        return records

    def _check_index(self, records: list[_FaiRecord], data_size: int) -> None:
        """Refuse an index that cannot describe this file (stale, or the file is empty)."""
        path, fai = self.path, self.fai_path
        if not records or all(r.length == 0 for r in records):
            raise GenomeError(
                f"FASTA {path} is empty: its index {fai.name} lists no sequence with any bases. "
                f"Fix: re-create the FASTA; if it does hold sequence, delete {fai} so it is rebuilt."
            )
        for record in records:
            if record.last_byte() > data_size:
                raise GenomeError(
                    f"FASTA index {fai} does not match {path}: sequence {record.name!r} "
                    f"({record.length:,} bp) would end at byte {record.last_byte():,} but the "
                    f"file has {data_size:,} bytes (stale index, or a truncated FASTA). Fix: "
                    f"delete {fai} so genotile rebuilds it (or run `samtools faidx {path}`); if "
                    "the FASTA is truncated, re-download it."
                )

    def _open_pyfaidx(self) -> None:
        """pyfaidx for plain FASTA, on the index we built or checked (it never rebuilds it)."""
        import pyfaidx

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # staleness is warned about above
                self._faidx = pyfaidx.Faidx(
                    str(self.path),
                    indexname=str(self.fai_path),
                    as_raw=True,
                    sequence_always_upper=True,
                    build_index=False,
                    rebuild=False,
                    mutable=False,
                )
        except Exception as err:  # pyfaidx raises many unrelated types; all mean "cannot use"
            raise GenomeError(
                f"pyfaidx cannot open FASTA {self.path} with index {self.fai_path}: "
                f"{type(err).__name__}: {err}. Fix: delete {self.fai_path} so genotile rebuilds "
                "it, or check the FASTA."
            ) from None

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Release the file handles (also done on garbage collection)."""
        if self._faidx is not None:
            self._faidx.close()
            self._faidx = None
        if self._bgzf is not None:
            self._bgzf.close()
            self._bgzf = None

    def __enter__(self) -> Genome:
        """``with Genome(path) as genome:`` closes the file handles at the end."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the ``with`` block."""
        self.close()

    def __reduce__(self) -> tuple[type[Genome], tuple[str]]:
        """Pickle as the path (worker processes reopen the file; handles do not travel)."""
        return (type(self), (str(self.path),))

    def __repr__(self) -> str:
        """Path, contig count and kind, for logs."""
        kind = "bgzip" if self._bgzf is not None else "plain"
        return f"Genome({str(self.path)!r}, {len(self._records)} contigs, {kind})"

    # -- contigs -------------------------------------------------------------

    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> length in bp, in FASTA order (a fresh dict each call)."""
        return {name: r.length for name, r in self._records.items()}

    def __contains__(self, contig: object) -> bool:
        """``'chr1' in genome``: a check that never raises."""
        return contig in self._records

    def length(self, contig: str) -> int:
        """Length of ``contig`` in bp (GenomeError naming the alternatives if absent)."""
        return self._record(contig).length

    def _record(self, contig: str) -> _FaiRecord:
        """Index record of ``contig``, or the GenomeError that lists alternatives."""
        record = self._records.get(contig)
        if record is None:
            raise GenomeError(self._unknown_contig_message(contig))
        return record

    def _unknown_contig_message(self, contig: str) -> str:
        """Name a few contigs and the likely cause ('chr' prefix, chrM/MT, case)."""
        names = list(self._records)
        shown = ", ".join(repr(n) for n in names[:8])
        if len(names) > 8:
            shown += f", ... ({len(names):,} contigs in total)"
        hint = ""
        if isinstance(contig, str):
            candidates = [contig[3:]] if contig.startswith("chr") else ["chr" + contig]
            if contig in ("chrM", "chrMT", "M"):
                candidates += ["MT", "chrM"]
            elif contig == "MT":
                candidates += ["chrM"]
            match = next((c for c in candidates if c in self._records), None)
            if match is not None:
                hint = (
                    f" The FASTA has {match!r}: the names differ only by the 'chr' prefix "
                    "(UCSC style 'chr1' vs Ensembl/NCBI style '1'). Rename the contigs in your "
                    "regions/VCF (e.g. `bcftools annotate --rename-chrs`) or use a FASTA whose "
                    "names match."
                )
            else:
                folded = [n for n in names if n.lower() == contig.lower()]
                if folded:
                    hint = f" Contig names are case-sensitive; the FASTA has {folded[0]!r}."
        if not hint:
            hint = (
                " Fix: use the FASTA's contig names, or the FASTA of the assembly your "
                "regions/VCF come from."
            )
        return f"contig {contig!r} is not in FASTA {self.path} (it has {shown}).{hint}"

    def resolve_region(self, text: str) -> tuple[str, int, int]:
        """Parse a region string against this genome: ``'chr1'`` -> ``('chr1', 0, len)``.

        Why here and not only :func:`parse_region`: a bare name needs the contig
        length, and contig names may themselves contain ':' (e.g. HLA alleles),
        which only the FASTA can disambiguate.
        """
        stripped = text.strip() if isinstance(text, str) else text
        if stripped in self._records:
            return stripped, 0, self._records[stripped].length
        contig, start, end = parse_region(text)
        record = self._record(contig)
        return contig, start, record.length if end is None else end

    # -- sequence ------------------------------------------------------------

    def sequence(self, contig: str, start: int, end: int, strand: str = "+") -> str:
        """Upper-case sequence of ``[start, end)``; parts past either contig end are 'N'.

        Why pad instead of clip: model windows near contig ends must keep their
        fixed width; 'N' encodes to all-zero rows, as in the reference extractor.
        """
        record = self._record(contig)
        start = _coordinate(start, "start")
        end = _coordinate(end, "end")
        if strand not in ("+", "-"):
            raise ValueError(f"strand must be '+' or '-', got {strand!r}")
        if start >= end:
            raise GenomeError(
                f"empty or reversed interval {contig}:{start}-{end} (0-based half-open) in "
                f"FASTA {self.path}: start must be < end. Fix: check the region; 1-based "
                "'chr:start-end' strings go through parse_region()."
            )
        if end <= 0 or start >= record.length:
            raise GenomeError(
                f"interval {contig}:{start:,}-{end:,} (0-based half-open) lies entirely outside "
                f"contig {contig!r} (length {record.length:,} bp) in FASTA {self.path}. Fix: check "
                "the coordinates and that they are for this assembly (e.g. hg19 vs hg38)."
            )
        inner_start, inner_end = max(start, 0), min(end, record.length)
        core = self._fetch(record, inner_start, inner_end)
        seq = "N" * (inner_start - start) + core + "N" * (end - inner_end)
        return reverse_complement(seq) if strand == "-" else seq

    def fetch_one_hot(
        self,
        contig: str,
        start: int,
        end: int,
        strand: str = "+",
        dtype: npt.DTypeLike = np.float32,
    ) -> np.ndarray:
        """One-hot ``[end - start, 4]`` of the interval (padding rows all zero; '-' reverse-complemented)."""
        return one_hot(self.sequence(contig, start, end, strand), dtype=dtype)

    def _fetch(self, record: _FaiRecord, start: int, end: int) -> str:
        """Bases ``[start, end)`` of one contig, within bounds, upper case."""
        try:
            if self._bgzf is not None:
                b0, b1 = record.byte_range(start, end)
                raw = self._bgzf.read(b0, b1 - b0).translate(None, b"\r\n")
                seq = raw.upper().decode("latin-1")
            elif self._faidx is not None:
                seq = self._faidx.fetch(record.name, start + 1, end)
            else:
                raise GenomeError(f"Genome {self.path} is closed")
        except UnicodeDecodeError as err:
            raise GenomeError(
                f"FASTA {self.path} holds non-text bytes in contig {record.name!r} near "
                f"{record.name}:{start + 1:,}-{end:,} ({err.reason}). Fix: the FASTA is damaged or "
                "not plain text; re-download it."
            ) from None
        except _BgzfError as err:
            raise GenomeError(f"FASTA {self.path} is a damaged bgzip file: {err}. Fix: re-download or re-compress it.") from None
        except GenomeError:
            raise
        except Exception as err:  # pyfaidx FetchError and friends
            raise GenomeError(
                f"cannot read {record.name}:{start + 1:,}-{end:,} from FASTA {self.path}: "
                f"{type(err).__name__}: {err}. Fix: delete {self.fai_path} so it is rebuilt."
            ) from None
        if len(seq) != end - start:
            raise GenomeError(
                f"read {len(seq):,} bases instead of {end - start:,} for {record.name}:"
                f"{start + 1:,}-{end:,} from FASTA {self.path}: the index {self.fai_path.name} "
                f"does not match the file. Fix: delete {self.fai_path} so genotile rebuilds it "
                f"(or run `samtools faidx {self.path}`)."
            )
        return seq

    # -- provenance ----------------------------------------------------------

    def checksum(self, sample_bp: int = 1_000_000) -> str:
        """SHA-256 (hex) identifying this genome, cheap enough to record on every run.

        Exactly what it covers, in order: the tag ``b"genotile-genome-checksum-v1\\n"``;
        then for each contig in FASTA order the line ``"<name>\\t<length>\\n"`` (UTF-8)
        followed, when ``sample_bp > 0``, by the upper-cased bases (Latin-1 bytes) of
        ``[0, min(sample_bp, L))`` and of ``[max(L - sample_bp, sample_bp), L)``: the
        first and last ``sample_bp`` bases, i.e. the whole contig when
        ``L <= 2 * sample_bp``.

        It does not cover header text after the name, line width, line endings,
        compression (a plain and a bgzipped copy agree), soft-masking (case), or the
        middle of contigs longer than ``2 * sample_bp``.  Cost: at most
        ``2 * sample_bp`` bases read per contig (about 50 MB for the 25 primary
        hg38 contigs at the default); ``sample_bp=0`` hashes names and lengths only.
        """
        sample_bp = operator.index(sample_bp)
        if sample_bp < 0:
            raise ValueError(f"sample_bp must be >= 0, got {sample_bp}")
        cached = self._checksums.get(sample_bp)
        if cached is not None:
            return cached
        digest = hashlib.sha256(b"genotile-genome-checksum-v1\n")
        for name, record in self._records.items():
            digest.update(f"{name}\t{record.length}\n".encode("utf-8"))
            if sample_bp and record.length:
                head_end = min(sample_bp, record.length)
                digest.update(self._fetch(record, 0, head_end).encode("latin-1", "replace"))
                tail_start = max(record.length - sample_bp, head_end)
                if tail_start < record.length:
                    digest.update(self._fetch(record, tail_start, record.length).encode("latin-1", "replace"))
        result = digest.hexdigest()
        self._checksums[sample_bp] = result
        return result


def _gunzip_head(head: bytes) -> bytes:
    """First bytes of a plain-gzip file, to say what it holds (best effort)."""
    try:
        return zlib.decompressobj(wbits=31).decompress(head, _HEAD_BYTES)
    except zlib.error:
        return b""


def _coordinate(value: int, what: str) -> int:
    """An integer coordinate (numpy integers fine); floats and bools are bugs upstream."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer coordinate, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer coordinate, got {value!r} ({type(value).__name__})") from None
