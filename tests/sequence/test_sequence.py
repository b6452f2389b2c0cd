"""Tests for genotile.sequence.fasta: one-hot encoding, reverse complement, length and
region checks, and the FASTA reader on small written FASTAs and on the real data
in ../shared/realdata (skipped when absent; never written to)."""

from __future__ import annotations

import gzip
import pickle
import random
import shutil
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.sequence import fasta as gm
from genotile.sequence.encoding import (
    ONE_HOT_ORDER,
    SequenceLengthError,
    one_hot,
    one_hot_batch,
    reverse_complement,
    reverse_complement_one_hot,
    validate_length,
)
from genotile.sequence.fasta import Genome, GenomeError, parse_region

SHARED = Path(__file__).resolve().parents[3] / "shared"
REALDATA = SHARED / "realdata"
HG38 = REALDATA / "hg38_chr1_1Mb" / "hg38_1m.fa.gz"
CHRM = REALDATA / "chrM" / "MT-human.fa"
GRCH37 = REALDATA / "grch37_chr20_1Mb" / "chr20_b37_0-2M.fa"
BAD_FASTA_DIR = REALDATA / "bad_inputs" / "fasta"
REF_MISMATCH = REALDATA / "bad_inputs" / "ref_mismatch"


def needs(path: Path):
    """Skip a test when a shared real-data file is not on this machine."""
    return pytest.mark.skipif(not path.exists(), reason=f"real data not found at {path}")


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def bgzip(data: bytes, block: int = 50) -> bytes:
    """BGZF-compress ``data`` in tiny members (so windows span many members), plus the EOF member."""
    members = []
    for i in range(0, len(data), block) if data else []:
        members.append(data[i : i + block])
    members.append(b"")  # the standard 28-byte BGZF EOF marker
    out = []
    for chunk in members:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        cdata = comp.compress(chunk) + comp.flush()
        bsize = 18 + len(cdata) + 8
        header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff" + struct.pack("<HBBHH", 6, 66, 67, 2, bsize - 1)
        out.append(header + cdata + struct.pack("<II", zlib.crc32(chunk), len(chunk)))
    return b"".join(out)


SMALL_FASTA = (
    b">chr1 first contig, with a description\n"
    b"ACGTACGTAC\n"
    b"GTacgtNNNN\n"
    b"NNNNac\n"
    b">chr2\n"
    b"GGGGCCCCAA\n"
    b"TT\n"
    b">chrM\n"
    b"acgtnACGTN\n"
)
SMALL = {
    "chr1": "ACGTACGTACGTACGTNNNNNNNNAC",
    "chr2": "GGGGCCCCAATT",
    "chrM": "ACGTNACGTN",
}
SMALL_FAI = "chr1\t26\t39\t10\t11\nchr2\t12\t74\t10\t11\nchrM\t10\t94\t10\t11\n"


def rewrap(fasta: dict[str, str], width: int, newline: bytes = b"\n", lower: bool = False) -> bytes:
    """The same genome written with another line width / line ending / case."""
    out = []
    for name, seq in fasta.items():
        out.append(b">" + name.encode() + newline)
        body = seq.lower() if lower else seq
        for i in range(0, len(body), width):
            out.append(body[i : i + width].encode() + newline)
    return b"".join(out)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.fa"
    path.write_bytes(SMALL_FASTA)
    return path


def expect_genome_error(path: Path, *fragments: str) -> GenomeError:
    """Genome(path) must raise GenomeError naming the file and every fragment."""
    with pytest.raises(GenomeError) as info:
        Genome(path)
    message = str(info.value)
    assert str(path) in message or path.name in message, message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)
    return info.value


# --------------------------------------------------------------------------- #
# one_hot
# --------------------------------------------------------------------------- #


def test_one_hot_table_every_byte() -> None:
    everything = bytes(range(256))
    encoded = one_hot(everything)
    assert encoded.shape == (256, 4) and encoded.dtype == np.float32
    expected = np.zeros((256, 4), np.float32)
    for channel, base in enumerate("ACGT"):
        expected[ord(base), channel] = 1
        expected[ord(base.lower()), channel] = 1
    np.testing.assert_array_equal(encoded, expected)
    # str goes through Latin-1, so every code point 0..255 encodes like its byte
    np.testing.assert_array_equal(one_hot(everything.decode("latin-1")), expected)
    assert ONE_HOT_ORDER == "ACGT"


def test_one_hot_cases_and_non_acgt() -> None:
    np.testing.assert_array_equal(one_hot("ACGT"), np.eye(4))
    np.testing.assert_array_equal(one_hot("acgt"), np.eye(4))
    zeros = one_hot("NnRYKMSWBDHVrykmswbdhvU-.*0 \n")
    assert zeros.shape == (29, 4) and not zeros.any()
    assert one_hot("").shape == (0, 4)
    assert one_hot(bytearray(b"AC")).tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]
    assert one_hot("GT", dtype=np.int8).dtype == np.int8
    assert one_hot("GT", dtype=np.float16).tolist() == [[0, 0, 1, 0], [0, 0, 0, 1]]


def test_one_hot_non_latin1_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match=r"'€'.*U\+20AC.*position 3"):
        one_hot("ACG€T")
    with pytest.raises(TypeError, match="str or bytes"):
        one_hot(123)  # type: ignore[arg-type]


def test_one_hot_is_fast() -> None:
    seq = "".join(random.Random(0).choices("ACGTN", k=1_048_576))
    one_hot(seq)
    start = time.perf_counter()
    encoded = one_hot(seq)
    elapsed = time.perf_counter() - start
    assert encoded.shape == (1_048_576, 4)
    assert elapsed < 0.5, f"one_hot of 1 Mb took {elapsed * 1e3:.0f} ms"


def test_one_hot_batch() -> None:
    batch = one_hot_batch(["ACGT", "nnac", b"TTTT"])
    assert batch.shape == (3, 4, 4)
    np.testing.assert_array_equal(batch[1], one_hot("nnac"))
    with pytest.raises(ValueError, match=r"same length.*sequence 0 has 4 bp and sequence 1 has 3 bp"):
        one_hot_batch(["ACGT", "ACG"])
    with pytest.raises(ValueError, match="at least one"):
        one_hot_batch([])
    with pytest.raises(TypeError, match="one_hot\\(\\)"):
        one_hot_batch("ACGT")
    with pytest.raises(ValueError, match=r"sequence 1: .*position 2"):
        one_hot_batch(["ACGT", "AC\u2013T"])


# --------------------------------------------------------------------------- #
# reverse complement
# --------------------------------------------------------------------------- #


def test_reverse_complement_examples() -> None:
    assert reverse_complement("ACGTN") == "NACGT"
    assert reverse_complement("aaCCgt") == "acGGtt"
    assert reverse_complement("RYKMBVDHSWN") == "NWSDHBVKMRY"
    assert reverse_complement("rykmbvdhswn") == "nwsdhbvkmry"
    assert reverse_complement("A-.X*U") == "U*X.-T"
    assert reverse_complement(b"ACGTn") == b"nACGT"
    assert reverse_complement("") == ""


IUPAC = "ACGTRYKMBVDHSWNacgtrykmbvdhswn"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_reverse_complement_is_an_involution(s: str) -> None:
    assert reverse_complement(reverse_complement(s)) == s


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ACGTNacgtn"))
def test_one_hot_commutes_with_reverse_complement_acgtn(s: str) -> None:
    np.testing.assert_array_equal(
        one_hot(reverse_complement(s)), reverse_complement_one_hot(one_hot(s))
    )


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=IUPAC + "-.*U"))
def test_one_hot_commutes_with_reverse_complement_iupac(s: str) -> None:
    np.testing.assert_array_equal(
        one_hot(reverse_complement(s)), reverse_complement_one_hot(one_hot(s))
    )


def test_reverse_complement_one_hot_batched_and_checked() -> None:
    batch = one_hot_batch(["ACGTN", "AAACC"])
    flipped = reverse_complement_one_hot(batch)
    np.testing.assert_array_equal(flipped, one_hot_batch(["NACGT", "GGTTT"]))
    with pytest.raises(ValueError, match=r"\[\.\.\., S, 4\]"):
        reverse_complement_one_hot(np.zeros((5, 3)))
    with pytest.raises(ValueError):
        reverse_complement_one_hot(np.zeros(4))


# --------------------------------------------------------------------------- #
# validate_length
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("length", [2048, 4096, 16_384, 131_072, 524_288, 1_048_576, np.int64(8192)])
def test_validate_length_accepts_multiples(length: int) -> None:
    validate_length(length)


def test_validate_length_message() -> None:
    with pytest.raises(SequenceLengthError) as info:
        validate_length(1_000_000)
    message = str(info.value)
    for fragment in ("1,000,000", "2,048", "999,424", "1,001,472", "pad with N",
                     "16,384 / 131,072 / 524,288 / 1,048,576 bp"):
        assert fragment in message, (fragment, message)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("length", [0, -2048, 1, 2047, 2049, 100_000])
def test_validate_length_rejects(length: int) -> None:
    with pytest.raises(SequenceLengthError, match=f"{length:,}"):
        validate_length(length)


def test_validate_length_small_and_odd_inputs() -> None:
    with pytest.raises(SequenceLengthError, match="nearest valid length: 2,048 bp"):
        validate_length(100)
    with pytest.raises(SequenceLengthError, match="not positive"):
        validate_length(0)
    with pytest.raises(SequenceLengthError, match="whole number"):
        validate_length(2048.0)  # type: ignore[arg-type]
    with pytest.raises(SequenceLengthError, match="whole number"):
        validate_length(True)
    validate_length(384, multiple=128)
    with pytest.raises(SequenceLengthError, match="256 bp below and 384 bp above"):
        validate_length(300, multiple=128)


# --------------------------------------------------------------------------- #
# parse_region
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chr1:917,505-933,888", ("chr1", 917_504, 933_888)),
        ("chr1:1-1", ("chr1", 0, 1)),
        ("  chrX:100-200 ", ("chrX", 99, 200)),
        ("20:1000001-1002048", ("20", 1_000_000, 1_002_048)),
        ("HLA-A*01:01:01:01:1-10", ("HLA-A*01:01:01:01", 0, 10)),
        ("chr1", ("chr1", 0, None)),
        ("MT_human", ("MT_human", 0, None)),
    ],
)
def test_parse_region(text: str, expected: tuple) -> None:
    assert parse_region(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "chr1:", "chr1:100", "chr1:abc-def", "chr1:0-10", "chr1:10-5", "chr1:1-2-3",
             "chr 1:1-10", "chr1:1..10", ":1-10"]
)
def test_parse_region_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="contig:start-end|1-based|before start"):
        parse_region(text)


# --------------------------------------------------------------------------- #
# Genome on small written FASTAs
# --------------------------------------------------------------------------- #


def test_genome_builds_fai_and_reads(small: Path) -> None:
    fai = Path(str(small) + ".fai")
    assert not fai.exists()
    genome = Genome(small)
    assert fai.read_text() == SMALL_FAI  # what `samtools faidx` writes
    assert genome.contigs == {name: len(seq) for name, seq in SMALL.items()}
    assert list(genome.contigs) == ["chr1", "chr2", "chrM"]  # FASTA order
    assert genome.length("chr2") == 12 and "chrM" in genome and "chrZ" not in genome
    for name, seq in SMALL.items():
        assert genome.sequence(name, 0, len(seq)) == seq  # upper case, across line breaks
        for start in range(len(seq)):
            for end in range(start + 1, len(seq) + 1):
                assert genome.sequence(name, start, end) == seq[start:end]
    assert genome.sequence("chr1", np.int64(9), np.int32(12)) == "CGT"
    # an existing index is used, never rewritten
    before = fai.stat().st_mtime_ns
    Genome(small)
    assert fai.stat().st_mtime_ns == before


def test_genome_pads_past_both_ends(small: Path) -> None:
    genome = Genome(small)
    assert genome.sequence("chr2", -3, 15) == "NNN" + SMALL["chr2"] + "NNN"
    assert genome.sequence("chr2", -3, 1) == "NNNG"
    assert genome.sequence("chr2", 11, 14) == "TNN"
    window = genome.fetch_one_hot("chr2", -2, 14)
    assert window.shape == (16, 4)
    assert not window[:2].any() and not window[-2:].any()
    np.testing.assert_array_equal(window[2:-2], one_hot(SMALL["chr2"]))


def test_genome_minus_strand(small: Path) -> None:
    genome = Genome(small)
    for start, end in [(0, 26), (3, 17), (-4, 30)]:
        plus = genome.sequence("chr1", start, end)
        minus = genome.sequence("chr1", start, end, strand="-")
        assert minus == reverse_complement(plus)
        np.testing.assert_array_equal(
            genome.fetch_one_hot("chr1", start, end, strand="-"),
            reverse_complement_one_hot(genome.fetch_one_hot("chr1", start, end)),
        )
    assert genome.sequence("chr2", 8, 12, "-") == "AATT"
    with pytest.raises(ValueError, match="strand"):
        genome.sequence("chr2", 0, 4, strand="+1")


def test_genome_interval_errors(small: Path) -> None:
    genome = Genome(small)
    with pytest.raises(GenomeError, match=r"start must be < end.*") as info:
        genome.sequence("chr1", 5, 5)
    assert str(small) in str(info.value)
    with pytest.raises(GenomeError, match="start must be < end"):
        genome.sequence("chr1", 6, 5)
    for start, end in [(26, 30), (100, 200), (-10, 0), (-10, -2)]:
        with pytest.raises(GenomeError, match="entirely outside") as info:
            genome.sequence("chr1", start, end)
        assert str(small) in str(info.value) and "26" in str(info.value)
    with pytest.raises(TypeError, match="integer"):
        genome.sequence("chr1", 0.0, 5)  # type: ignore[arg-type]


def test_genome_unknown_contig_messages(small: Path) -> None:
    genome = Genome(small)
    with pytest.raises(GenomeError) as info:
        genome.sequence("1", 0, 10)
    message = str(info.value)
    assert "'1'" in message and "'chr1'" in message and "'chr' prefix" in message
    assert str(small) in message
    with pytest.raises(GenomeError, match="'chrM'.*'chr' prefix"):
        genome.length("MT")
    with pytest.raises(GenomeError, match="case-sensitive.*'chr1'"):
        genome.fetch_one_hot("CHR1", 0, 10)
    with pytest.raises(GenomeError, match=r"'chrZ' is not in FASTA .*'chr1', 'chr2', 'chrM'"):
        genome.sequence("chrZ", 0, 10)


def test_genome_resolve_region(small: Path) -> None:
    genome = Genome(small)
    assert genome.resolve_region("chr2") == ("chr2", 0, 12)
    assert genome.resolve_region("chr1:3-5") == ("chr1", 2, 5)
    with pytest.raises(GenomeError, match="not in FASTA"):
        genome.resolve_region("chr9:1-5")


def test_genome_pickles_and_closes(small: Path) -> None:
    genome = Genome(small)
    clone = pickle.loads(pickle.dumps(genome))
    assert clone.sequence("chr1", 0, 26) == SMALL["chr1"]
    with Genome(small) as scoped:
        assert scoped.sequence("chrM", 0, 4) == "ACGT"
    with pytest.raises(GenomeError, match="closed"):
        scoped.sequence("chrM", 0, 4)


def test_same_genome_in_other_layouts_reads_and_hashes_the_same(tmp_path: Path, small: Path) -> None:
    reference = Genome(small)
    layouts = {
        "wrap7.fa": rewrap(SMALL, 7),
        "crlf.fa": rewrap(SMALL, 10, newline=b"\r\n"),
        "lower.fa": rewrap(SMALL, 26, lower=True),
        "bgzip.fa.gz": bgzip(SMALL_FASTA, block=9),
        "bgzip_rewrapped.fa.bgz": bgzip(rewrap(SMALL, 4), block=5),
    }
    for name, data in layouts.items():
        path = tmp_path / name
        path.write_bytes(data)
        genome = Genome(path)
        assert genome.contigs == reference.contigs, name
        for contig, seq in SMALL.items():
            for start in range(-3, len(seq)):
                for end in range(max(start + 1, 1), len(seq) + 4):
                    assert genome.sequence(contig, start, end) == reference.sequence(contig, start, end), (
                        name, contig, start, end)
        assert genome.checksum() == reference.checksum(), name
    # the bgzip copy got a .fai (uncompressed offsets) and a .gzi, like samtools writes
    assert (tmp_path / "bgzip.fa.gz.fai").read_text() == SMALL_FAI
    assert (tmp_path / "bgzip.fa.gz.gzi").is_file()
    assert gzip.decompress(layouts["bgzip.fa.gz"]) == SMALL_FASTA
    assert not list(tmp_path.glob(".genotile-index-*"))  # temporary index folders are gone
    # reopening uses the saved indexes and never rewrites them
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("bgzip.fa.gz.*")}
    assert Genome(tmp_path / "bgzip.fa.gz").sequence("chr2", 0, 12) == SMALL["chr2"]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("bgzip.fa.gz.*")} == stamps


def test_checksum_covers_what_it_documents(tmp_path: Path, small: Path) -> None:
    base = Genome(small)
    digest = base.checksum()
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert base.checksum() == digest  # cached and stable
    assert base.checksum(sample_bp=0) != digest

    def variant(name: str, fasta: dict[str, str]) -> Genome:
        path = tmp_path / name
        path.write_bytes(rewrap(fasta, 10))
        return Genome(path)

    middle = dict(SMALL, chr1=SMALL["chr1"][:12] + "T" + SMALL["chr1"][13:])  # base 12 of 26
    changed = variant("middle.fa", middle)
    assert changed.checksum() != digest  # whole contig sampled by default
    assert changed.checksum(sample_bp=5) == base.checksum(sample_bp=5)  # middle not covered
    tail = dict(SMALL, chr1=SMALL["chr1"][:-1] + "G")
    assert variant("tail.fa", tail).checksum(sample_bp=5) != base.checksum(sample_bp=5)
    renamed = {("chr3" if k == "chr2" else k): v for k, v in SMALL.items()}
    assert variant("renamed.fa", renamed).checksum(sample_bp=0) != base.checksum(sample_bp=0)
    # header descriptions are not covered
    path = tmp_path / "described.fa"
    path.write_bytes(SMALL_FASTA.replace(b">chr2\n", b">chr2 other words\n"))
    assert Genome(path).checksum() == digest


# --------------------------------------------------------------------------- #
# Genome: bad inputs
# --------------------------------------------------------------------------- #


def test_missing_file(tmp_path: Path) -> None:
    expect_genome_error(tmp_path / "nope.fa", "not found")
    expect_genome_error(tmp_path, "not a file")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"", ("empty",)),
        (b"\n\n  \n", ("empty",)),
        (b">chr1\n>chr2\n", ("empty", "no sequence")),
        (b"##fileformat=VCFv4.2\n#CHROM\tPOS\n", ("not a fasta", "VCF")),
        (b"#CHROM\tPOS\tID\n", ("not a fasta", "VCF")),
        (b"@read1\nACGT\n+\nIIII\n", ("not a fasta", "FASTQ")),
        (b"chr1\t100\t200\n", ("not a fasta", "does not start with '>'")),
        (b"\x00\x01\x02\x03binary\xff\xfe" * 10, ("not a fasta", "binary")),
        (b"\x43\x27\x41\x1a\x00\x00\x00\x00", ("not a fasta", "2bit")),
        (b"BZh91AY&SY", ("not a fasta", "bzip2")),
        (gzip.compress(SMALL_FASTA, mtime=0), ("not with bgzip", "bgzip -c")),
        (gzip.compress(b"##fileformat=VCFv4.2\n", mtime=0), ("not a fasta", "VCF")),
        (bgzip(b"##fileformat=VCFv4.2\n#CHROM\n"), ("not a fasta", "VCF")),
        (b">chr1\nACGT\n>chr1\nACGT\n", ("appears twice",)),
        (b">chr1\nACGTACGT\nACG\nACGTACGT\n", ("different widths", "line 3", "seqkit")),
        (b">chr1\nACGT\n\nACGT\n", ("blank lines", "line 3", "seqkit")),
        (b">chr1\nACGT\r\nACGT\nAC\n", ("mixed line endings", "line 3")),
        (b">chr1\nACGT\nAC\n\n\n", ("blank lines", "line 3")),  # pyfaidx allows one trailing blank line
        (b">\nACGT\n>chr2\nACGT\n", ("no sequence name",)),
        (b">chr1\nACGT\n>\nACGT\n", ("no sequence name", "line 3")),
        (b">chr1\nAC\xe9T\n", ("not text",)),
        # a last line longer than the others: pyfaidx indexes it silently, the read-back check refuses it
        (b">chr1\nACGT\nACGTACGT\n", ("does not match", "seqkit")),
        (b">chr1\nACGT\nACGTACGTA\n>chr2\nAC\n", ("does not match",)),
        (b";comment\nnot a header\n>chr1\nACGT\n", ("does not start with '>'",)),
        (b"\xef\xbb\xbf>chr1\nACGT\n", ("byte-order mark",)),
    ],
)
def test_bad_fasta_content(tmp_path: Path, content: bytes, fragments: tuple[str, ...]) -> None:
    path = tmp_path / "input.fa"
    path.write_bytes(content)
    expect_genome_error(path, *fragments)
    assert not Path(str(path) + ".gzi").exists()  # nothing written next to a refused file


@pytest.mark.parametrize("cut", [40, 28, 10])
def test_truncated_bgzip_is_a_clear_error(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "genome.fa.gz"
    path.write_bytes(bgzip(SMALL_FASTA)[:-cut])
    expect_genome_error(path, "damaged bgzip", "re-download")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.fa.gz"]  # no index left behind


def test_corrupt_gzi_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "genome.fa.gz"
    path.write_bytes(bgzip(SMALL_FASTA, block=20))
    Genome(path)  # builds .fai and .gzi
    Path(str(path) + ".gzi").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00garbage")
    expect_genome_error(path, "damaged bgzip", ".gzi", "delete")


def test_compression_and_file_name_must_agree(tmp_path: Path) -> None:
    """pyfaidx recognises bgzip by the name (.gz/.bgz): a mismatch is refused up front."""
    hidden = tmp_path / "genome.fa"
    hidden.write_bytes(bgzip(SMALL_FASTA))
    expect_genome_error(hidden, "bgzip-compressed", "genome.fa.gz")
    hidden.rename(tmp_path / "genome.fa.gz")
    assert Genome(tmp_path / "genome.fa.gz").sequence("chr2", 0, 12) == SMALL["chr2"]
    plain = tmp_path / "plain.fa.gz"
    plain.write_bytes(SMALL_FASTA)
    expect_genome_error(plain, "not compressed", "rename")


def test_comment_and_blank_lines_before_first_header_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "commented.fa"
    path.write_bytes(b";old-style comment\n\n" + SMALL_FASTA)
    assert Genome(path).sequence("chr2", 0, 12) == SMALL["chr2"]


def test_unwritable_folder_without_index(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    path = folder / "genome.fa"
    path.write_bytes(SMALL_FASTA)
    folder.chmod(0o555)
    try:
        error = expect_genome_error(path, "no index", "samtools faidx", "writable")
        assert "genome.fa.fai" in str(error)
        assert not Path(str(path) + ".fai").exists()
    finally:
        folder.chmod(0o755)
    with pytest.raises(GenomeError, match="switched off"):
        Genome(path, create_index=False)
    Genome(path)  # writable again: the index is created


def test_unwritable_folder_bgzip_without_gzi(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    path = folder / "genome.fa.gz"
    path.write_bytes(bgzip(SMALL_FASTA))
    Genome(path)
    Path(str(path) + ".gzi").unlink()  # .fai present, .gzi missing: pyfaidx must write both
    folder.chmod(0o555)
    try:
        error = expect_genome_error(path, "no index", "genome.fa.gz.gzi", "samtools faidx", "writable")
        assert "genome.fa.gz.fai" not in str(error).split("Fix:")[0]
        assert sorted(p.name for p in folder.iterdir()) == ["genome.fa.gz", "genome.fa.gz.fai"]
    finally:
        folder.chmod(0o755)


def test_stale_index_is_an_error_not_garbage(tmp_path: Path, small: Path) -> None:
    Genome(small)
    time.sleep(0.01)
    small.write_bytes(b">chr1\nACGT\n")  # FASTA replaced after indexing, index kept
    with pytest.warns(RuntimeWarning, match="older than"):  # pyfaidx's own warning
        expect_genome_error(small, "does not match", "delete", ".fai")


def test_malformed_index(tmp_path: Path, small: Path) -> None:
    Path(str(small) + ".fai").write_text("chr1\tnot-a-number\n")
    expect_genome_error(small, "pyfaidx cannot read it", "delete", ".fai")


def test_no_shutdown_noise_from_unclosed_genomes(tmp_path: Path, small: Path) -> None:
    """Genomes left open at interpreter exit must not print 'Exception ignored in ... __del__'."""
    packed = tmp_path / "small.fa.gz"
    packed.write_bytes(bgzip(SMALL_FASTA))
    script = (
        "import sys; from genotile.sequence.fasta import Genome\n"
        "genomes = [Genome(p) for p in sys.argv[1:]]\n"
        "assert genomes[1].sequence('chr2', 0, 4) == 'GGGG'\n"
        "Genome.leak = genomes  # still referenced while modules are torn down\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(small), str(packed)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert not hasattr(Genome, "__del__")


# --------------------------------------------------------------------------- #
# Real data (../shared/realdata), read-only
# --------------------------------------------------------------------------- #


def _listing(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@needs(HG38)
def test_hg38_bgzip(tmp_path: Path) -> None:
    before = _listing(HG38.parent)
    genome = Genome(HG38)
    assert genome.contigs == {"chr1": 1_000_000}
    whole = genome.sequence("chr1", 0, 1_000_000)
    assert whole[:10_000] == "N" * 10_000  # chr1:1-10,000 is the telomere gap
    assert whole[10_000:10_012] == "TAACCCTAACCC"  # then the telomeric repeat starts
    assert whole.count("N") == 160_000  # README: 160,000 N in total
    assert set(whole) <= set("ACGTN")
    # a model-sized window running past the end of the FASTA is padded with N
    window = genome.fetch_one_hot("chr1", 1_000_000 - 524_288, 1_000_000 + 524_288)
    assert window.shape == (1_048_576, 4)
    assert not window[524_288:].any() and window[:524_288].any()
    assert genome.sequence("chr1", 999_990, 1_000_010, "-")[:10] == "N" * 10
    digest = genome.checksum()

    # the bgzipped file and a decompressed copy must read and hash the same
    plain = tmp_path / "hg38_1m.fa"
    plain.write_bytes(gzip.decompress(HG38.read_bytes()))
    reference = Genome(plain)
    rng = random.Random(1)
    for _ in range(100):
        start = rng.randrange(-1000, 1_000_000)
        end = start + rng.randrange(1, 200_000)
        assert genome.sequence("chr1", start, end) == reference.sequence("chr1", start, end)
    assert reference.checksum() == digest
    assert _listing(HG38.parent) == before  # nothing written into ../shared


@needs(CHRM)
def test_chrm_plain_fasta() -> None:
    genome = Genome(CHRM)
    assert genome.contigs == {"MT_human": 16_569}
    assert genome.sequence("MT_human", 0, 19) == "GATCACAGGTCTATCACCC"  # rCRS starts like this
    assert genome.resolve_region("MT_human") == ("MT_human", 0, 16_569)
    with pytest.raises(GenomeError, match="'MT_human'"):
        genome.sequence("chrM", 0, 10)


@needs(GRCH37)
def test_grch37_all_n_first_megabase() -> None:
    genome = Genome(GRCH37)
    assert genome.contigs == {"20": 2_000_000}
    assert genome.sequence("20", 0, 1_000_000) == "N" * 1_000_000
    assert "N" not in genome.sequence("20", 1_000_000, 1_000_100)
    with pytest.raises(GenomeError, match="'chr' prefix"):
        genome.sequence("chr20", 0, 10)


@needs(REF_MISMATCH)
def test_ref_mismatch_fastas() -> None:
    empty = REF_MISMATCH / "failed_empty_fasta" / "failed_empty_fasta.fa"
    expect_genome_error(empty, "empty")  # 0 bytes, though a .fai sits next to it
    genome = Genome(REF_MISMATCH / "passed_empty_vcf" / "passed_empty_vcf.fa")
    assert genome.contigs == {"1": 59_940}


def _bad_fastas() -> list[Path]:
    return sorted(BAD_FASTA_DIR.glob("*")) if BAD_FASTA_DIR.is_dir() else []


@needs(BAD_FASTA_DIR)
@pytest.mark.parametrize("source", _bad_fastas(), ids=lambda p: p.name)
def test_every_bad_fasta_loads_or_fails_clearly(tmp_path: Path, source: Path) -> None:
    path = tmp_path / source.name
    shutil.copyfile(source, path)  # ../shared is read-only: build indexes in tmp_path
    try:
        genome = Genome(path)
    except GenomeError as error:
        assert source.name in str(error) and "Fix:" in str(error)
        return
    assert genome.contigs
    for contig, length in genome.contigs.items():
        try:
            seq = genome.sequence(contig, 0, length)
        except GenomeError as error:  # characters that are not bases: stop when the sequence is read
            assert source.name in str(error) and repr(contig) in str(error) and "position" in str(error)
            assert "Fix:" in str(error)
            continue
        assert len(seq) == length and seq == seq.upper()
        assert one_hot(seq).shape == (length, 4)


@needs(BAD_FASTA_DIR / "bcftools_mpileup_iupac.fa")
def test_bad_fasta_iupac_codes(tmp_path: Path) -> None:
    path = tmp_path / "iupac.fa"
    shutil.copyfile(BAD_FASTA_DIR / "bcftools_mpileup_iupac.fa", path)
    genome = Genome(path)
    assert genome.contigs == {"11": 150}  # header '>11 16038473-16038622': name is the first word
    seq = genome.sequence("11", 0, 20)
    assert seq == "TATCTATCARYSWKMBDHVT"
    encoded = one_hot(seq)
    assert not encoded[9:19].any() and encoded[:9].sum() == 9  # IUPAC codes encode as zeros
    assert genome.sequence("11", 0, 20, "-") == reverse_complement(seq)
    assert reverse_complement(seq) == "ABDHVKMWSRYTGATAGATA"


@needs(BAD_FASTA_DIR / "bcftools_norm.iupac.fa")
def test_bad_fasta_mixed_case_and_digits(tmp_path: Path) -> None:
    path = tmp_path / "norm.fa"
    shutil.copyfile(BAD_FASTA_DIR / "bcftools_norm.iupac.fa", path)
    genome = Genome(path)
    assert genome.contigs == {"1": 28}  # header '>1<TAB>1:115254041-115254060'
    assert genome.sequence("1", 0, 20) == "AAACCCCNAGTCTACTAAAA"  # lower case upper-cased
    # digits are not bases: reading them stops with the file, contig and position (they once encoded as N)
    with pytest.raises(GenomeError, match=r"norm\.fa: contig '1' has '1' at position 21 \(1-based\).*Fix:"):
        genome.sequence("1", 0, 28)
    with pytest.raises(GenomeError, match="'5' at position 25"):
        genome.sequence("1", 24, 28)


@needs(BAD_FASTA_DIR / "htslib_faidx_faidx.fa")
def test_bad_fasta_odd_names(tmp_path: Path) -> None:
    source = BAD_FASTA_DIR / "htslib_faidx_faidx.fa"
    path = tmp_path / "odd.fa"
    shutil.copyfile(source, path)
    expect_genome_error(path, "no sequence name", "Fix:")
    # Without the nameless record the rest still has trailing blank lines and a CRLF
    # record ending in a CRLF blank line. samtools indexes that; pyfaidx refuses it,
    # and that must be a clear error, not a traceback.
    data = source.read_bytes()
    assert data.startswith(b">\nATGC\n")
    fixed = tmp_path / "fixed.fa"
    fixed.write_bytes(data[len(b">\nATGC\n") :])
    expect_genome_error(fixed, "trailingblank3", "blank lines", "line 13", "seqkit")
    assert not Path(str(fixed) + ".fai").exists()
    # re-wrapped (what the fix says), the records load; leading spaces in headers are skipped
    genome = Genome(_rewrapped(fixed, tmp_path / "rewrapped.fa"))
    assert genome.contigs == {"trailingblank1": 33, "trailingblank2": 72, "trailingblank3": 5, "foo": 8, "bar": 8}
    assert genome.sequence("trailingblank3", 0, 5) == "ACGTA"
    assert genome.sequence("foo", 0, 8) == "TGCATGCA"
    assert genome.sequence("bar", 0, 8) == "TTTTAAAA"


def _rewrapped(source: Path, target: Path, width: int = 60) -> Path:
    """What `seqkit seq -w 60` does, for the test: one width, LF line ends, no blank lines."""
    records: dict[str, str] = {}
    name = ""
    for line in source.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            records[name] = ""
        elif line.strip():
            records[name] += line.strip()
    target.write_bytes(rewrap(records, width))
    return target


def test_dir_is_writable_respects_mode_bits(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    assert gm._dir_is_writable(folder)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        assert not gm._dir_is_writable(folder)
    finally:
        folder.chmod(0o755)
