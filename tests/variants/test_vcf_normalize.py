"""genotile.variants.normalize: splitting, trimming, left-alignment, REF checks, rejects, errors, CLI."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genotile.cli.main import main
from genotile.sequence.fasta import Genome, GenomeError
from genotile.variants.normalize import REJECT_REASONS, VcfError, chr_prefix_rename, left_align, normalize_vcf

SHARED = Path(__file__).resolve().parents[3] / "shared"
REAL = SHARED / "realdata"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real data folder {REAL} is absent")

# 1-based:      1234567890123456789012345678901234567890
CONTIG_A = "GGATCCACACACACTTTGCAAAAAGTCAGTGCATGCTTAG" * 3  # 120 bp: a CA repeat at 6-13, A run at 20-24
HEADER = "##fileformat=VCFv4.2\n##contig=<ID={c},length=120>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def write_fasta(folder: Path, name: str = "ctg") -> Genome:
    path = folder / "ref.fa"
    path.write_text(f">{name}\n{CONTIG_A}\n>other\n{'ACGT' * 10}\n")
    return Genome(path)


def write_vcf(folder: Path, lines: list[str], contig: str = "ctg", name: str = "in.vcf") -> Path:
    path = folder / name
    path.write_text(HEADER.format(c=contig) + "".join("\t".join(line.split()) + "\t.\t.\t.\n" for line in lines))
    return path


def rec(pos: int, ref: str, alt: str, chrom: str = "ctg") -> str:
    return f"{chrom} {pos} . {ref} {alt}"


def ref_at(pos: int, n: int = 1) -> str:
    return CONTIG_A[pos - 1 : pos - 1 + n]


# -- crafted inputs ---------------------------------------------------------------------


def test_multiallelic_split_and_trim(tmp_path):
    g = write_fasta(tmp_path)
    assert ref_at(5, 10) == "CCACACACAC"
    # REF CAC at 6: ALT CA deletes the C at 8 (between two A's: cannot move), GAC is a SNP after
    # trimming, C deletes one AC unit of the repeat, CACAC inserts one
    vcf = write_vcf(tmp_path, [rec(6, "CAC", "CA,GAC,C,CACAC")])
    v, r = normalize_vcf(vcf, g)
    assert len(r) == 0 and len(v) == 4
    by_allele = {row.allele_index: (row.pos, row.ref, row.alt) for row in v.itertuples()}
    assert by_allele[2] == (6, "C", "G")  # SNP: common suffix trimmed
    assert by_allele[1] == (7, "AC", "A")  # trimmed, anchored, not shiftable
    # a repeat-unit deletion / insertion left-aligns to the repeat's start (anchor C at 5)
    assert by_allele[3] == (5, "CCA", "C")
    assert by_allele[4] == (5, "C", "CCA")
    assert set(v.source_alts) == {"CA,GAC,C,CACAC"} and set(v.record_index) == {0}
    assert v.pos.is_monotonic_increasing
    assert list(v.columns)[:5] == ["variant_id", "chrom", "pos", "ref", "alt"]
    assert v.variant_id.iloc[0].startswith("ctg:")


def test_left_align_in_homopolymer_and_dedup(tmp_path):
    g = write_fasta(tmp_path)
    assert ref_at(19, 6) == "CAAAAA"
    # deleting one A from the run written at its right end, and the same deletion written left-aligned
    vcf = write_vcf(tmp_path, [rec(23, "AA", "A"), rec(19, "CA", "C"), rec(22, "A", "AA")])
    v, r = normalize_vcf(vcf, g)
    assert list(zip(v.pos, v.ref, v.alt)) == [(19, "C", "CA"), (19, "CA", "C")]
    assert list(r.reason) == ["duplicate"] and r.record_index.iloc[0] == 1
    assert v.record_index.tolist() == [2, 0]


def test_sorted_output_fasta_order(tmp_path):
    path = tmp_path / "ref.fa"
    path.write_text(f">zeta\n{CONTIG_A}\n>alpha\n{CONTIG_A}\n")
    g = Genome(path)
    vcf = tmp_path / "x.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=zeta>\n##contig=<ID=alpha>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   f"alpha\t3\t.\tA\tC\t.\t.\t.\nzeta\t10\t.\t{ref_at(10)}\tT\t.\t.\t.\nzeta\t2\t.\tG\tA\t.\t.\t.\n")
    v, _ = normalize_vcf(vcf, g)
    assert list(zip(v.chrom, v.pos)) == [("zeta", 2), ("zeta", 10), ("alpha", 3)]


def test_every_reject_reason(tmp_path):
    g = write_fasta(tmp_path)
    long_del = ref_at(30, 60)
    lines = [
        rec(1, "T", "C"),  # ref_mismatch (FASTA has G)
        rec(3, "A", "<DEL>,C,*,A[ctg:50[,G]ctg:3]"),  # symbolic, ok, star, breakend x2
        rec(30, long_del, long_del[0]),  # indel_too_long
        rec(5, "C", "."),  # no_alt
        rec(5, "C", "C"),  # ALT equals REF -> no_alt
        rec(119, "AGC", "A"),  # position_past_contig_end
        rec(5, "C", "A", chrom="nowhere"),  # contig_not_in_fasta
        rec(7, "A", "R"),  # IUPAC ALT -> malformed_record
        "ctg abc . A C",  # unparseable POS -> malformed_record
    ]
    v, r = normalize_vcf(write_vcf(tmp_path, lines), g, max_ref_mismatch_fraction=0.5)
    assert set(r.reason) <= set(REJECT_REASONS)
    got = r.groupby("reason").size().to_dict()
    assert got == {"ref_mismatch": 1, "symbolic_allele": 1, "star_allele": 1, "breakend": 2, "indel_too_long": 1,
                   "no_alt": 2, "position_past_contig_end": 1, "contig_not_in_fasta": 1, "malformed_record": 2}
    assert list(zip(v.pos, v.ref, v.alt)) == [(3, "A", "C")]
    assert r.detail.str.len().min() > 10
    mm = r[r.reason == "ref_mismatch"].iloc[0]
    assert "REF T" in mm.detail and "FASTA has G" in mm.detail and "line 4" in mm.detail
    # the indel limit is configurable
    v2, r2 = normalize_vcf(write_vcf(tmp_path, [rec(30, long_del, long_del[0])], name="b.vcf"), g, max_indel_length=60)
    assert len(v2) == 1 and len(r2) == 0


def test_build_mismatch_stop(tmp_path):
    g = write_fasta(tmp_path)
    lines = [rec(p, "T" if ref_at(p) != "T" else "A", "C") for p in (1, 2, 3)] + [rec(10, ref_at(10), "T")]
    with pytest.raises(VcfError) as err:
        normalize_vcf(write_vcf(tmp_path, lines), g)
    msg = str(err.value)
    assert "3 of 4" in msg and "different genome builds" in msg and "in.vcf" in msg and "ref.fa" in msg
    assert "ctg:1 REF T vs FASTA G" in msg
    v, r = normalize_vcf(write_vcf(tmp_path, lines), g, max_ref_mismatch_fraction=0.8)
    assert (r.reason == "ref_mismatch").sum() == 3 and len(v) == 1


def test_chr_prefix_message_and_rename(tmp_path):
    g = write_fasta(tmp_path, name="chr5")
    vcf = write_vcf(tmp_path, [rec(3, "A", "C", chrom="5")], contig="5")
    with pytest.raises(VcfError, match=r"differ only by the 'chr' prefix.*pass --rename-chr-prefix.*rename_chr_prefix=True"):
        normalize_vcf(vcf, g)
    rename = chr_prefix_rename(["5", "other", "9"], g.contigs)
    assert rename == {"5": "chr5"}
    assert chr_prefix_rename(["chr1"], ["1"]) == {"chr1": "1"}
    v, r = normalize_vcf(vcf, g, contig_rename=rename)
    assert v.chrom.tolist() == ["chr5"] and v.source_chrom.tolist() == ["5"] and v.variant_id[0] == "chr5:3:A>C"


def test_file_errors(tmp_path):
    g = write_fasta(tmp_path)
    with pytest.raises(VcfError, match="does not exist"):
        normalize_vcf(tmp_path / "missing.vcf", g)
    (tmp_path / "x.vcf").write_text("hello\tworld\n")
    with pytest.raises(VcfError, match="not a VCF file"):
        normalize_vcf(tmp_path / "x.vcf", g)
    (tmp_path / "h.vcf").write_text("##fileformat=VCFv4.2\nctg\t3\t.\tA\tC\t.\t.\t.\n")
    with pytest.raises(VcfError, match=r"no '#CHROM' header line: line 2"):
        normalize_vcf(tmp_path / "h.vcf", g)
    (tmp_path / "e.vcf").write_text("##fileformat=VCFv4.2\n##INFO=<ID=X\n")
    with pytest.raises(VcfError, match="#CHROM"):
        normalize_vcf(tmp_path / "e.vcf", g)
    with pytest.raises(VcfError, match=r"bgzip.*tabix -p vcf"):
        normalize_vcf(write_vcf(tmp_path, [rec(3, "A", "C")]), g, region="ctg:1-10")


def test_empty_vcf_warns(tmp_path, caplog):
    g = write_fasta(tmp_path)
    with caplog.at_level("WARNING"):
        v, r = normalize_vcf(write_vcf(tmp_path, []), g)
    assert len(v) == 0 and len(r) == 0 and "no records" in caplog.text
    assert list(v.columns)[0] == "variant_id" and "reason" in r.columns


# -- property test ----------------------------------------------------------------------

ALPHABET = "ACGT"


def apply(seq: str, pos0: int, ref: str, alt: str) -> str:
    assert seq[pos0 : pos0 + len(ref)] == ref
    return seq[:pos0] + alt + seq[pos0 + len(ref) :]


@st.composite
def variants_on_repeats(draw):
    unit = draw(st.text(ALPHABET, min_size=1, max_size=3))
    seq = draw(st.text(ALPHABET, min_size=1, max_size=6)) + unit * draw(st.integers(1, 6)) + draw(st.text(ALPHABET, min_size=1, max_size=6))
    start = draw(st.integers(0, len(seq) - 1))
    ref = seq[start : start + draw(st.integers(1, min(4, len(seq) - start)))]
    alt = draw(st.one_of(st.text(ALPHABET, min_size=1, max_size=6), st.just(ref[:1] + unit * 2), st.just(ref[:1])))
    if alt == ref:
        alt = ref + unit
    return seq, start, ref, alt


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variants_on_repeats())
def test_left_align_property(case):
    seq, start, ref, alt = case
    base_at = seq.__getitem__
    pos0, nref, nalt = left_align(start, ref, alt, base_at)
    assert nref and nalt and nref != nalt
    assert apply(seq, pos0, nref, nalt) == apply(seq, start, ref, alt)  # same haplotype
    assert left_align(pos0, nref, nalt, base_at) == (pos0, nref, nalt)  # idempotent
    assert pos0 <= start + len(ref)  # never moves right of the original record
    if len(nref) != len(nalt) and pos0 > 0:
        assert nref[-1] != nalt[-1]  # fully left-aligned: cannot shift further


# -- real data --------------------------------------------------------------------------


@needs_real
def test_real_chrm_multiallelic_split():
    v, r = normalize_vcf(REAL / "chrM/chr_m_indels.vcf.gz", Genome(REAL / "chrM/MT-human.fa"))
    assert v.attrs["records"] == 155 and v.attrs["ref_mismatches"] == 0
    everything = pd.concat([v[["record_index", "source_alts"]], r[["record_index", "alt"]].rename(columns={"alt": "source_alts"})])
    multi = v[v.source_alts.str.contains(",")].record_index.nunique()
    assert multi == 53
    assert v.attrs["alleles"] == 155 + sum(s.count(",") for s in v.drop_duplicates("record_index").source_alts)
    assert len(v) + len(r) == v.attrs["alleles"] and set(r.reason) <= {"star_allele"}
    assert everything.record_index.nunique() == 155
    assert (v.ref.str.len() != v.alt.str.len()).sum() >= 33


@needs_real
@pytest.mark.parametrize("fasta, vcf, records", [
    ("hg38_chr1_1Mb/hg38_1m.fa.gz", "hg38_chr1_1Mb/cyvcf2.chr1.vcf.gz", 115),
    ("hg38_chr1_1Mb/hg38_1m.fa.gz", "hg38_chr1_1Mb/pf.chr1.vcf.gz", 247),
    ("grch37_chr20_1Mb/chr20_b37_0-2M.fa", "grch37_chr20_1Mb/ref300.chr20_1-2M.vcf.gz", 7568),
    ("grch37_chr20_1Mb/chr20_b37_0-2M.fa", "grch37_chr20_1Mb/z_sites.chr20.vcf.gz", 28998),
])
def test_real_no_ref_mismatch(fasta, vcf, records):
    v, r = normalize_vcf(REAL / vcf, Genome(REAL / fasta))
    assert v.attrs["records"] == records and v.attrs["ref_mismatches"] == 0
    assert "ref_mismatch" not in set(r.reason) and "malformed_record" not in set(r.reason)
    assert v.variant_id.is_unique


@needs_real
def test_real_region_query():
    v, _ = normalize_vcf(REAL / "hg38_chr1_1Mb/pf.chr1.vcf.gz", Genome(REAL / "hg38_chr1_1Mb/hg38_1m.fa.gz"), region="chr1:20,000-50,000")
    assert 0 < len(v) < 248 and v.source_pos.min() >= 19_000 and v.source_pos.max() <= 50_000


@needs_real
@pytest.mark.parametrize("case", ["failed_allmismatch_multipleentry", "failed_multiplemismatch_multipleentry",
                                  "failed_singlemismatch_singleentry"])
def test_real_ref_mismatch_inputs(case):
    folder = REAL / "bad_inputs/ref_mismatch" / case
    with pytest.raises(VcfError, match="probably different genome builds"):
        normalize_vcf(folder / f"{case}.vcf", Genome(folder / f"{case}.fa"))
    v, r = normalize_vcf(folder / f"{case}.vcf", Genome(folder / f"{case}.fa"), max_ref_mismatch_fraction=1.0)
    assert set(r.reason) == {"ref_mismatch"} and len(r) == v.attrs["ref_mismatches"] >= 1
    assert len(v) + len(r) == v.attrs["records"]


@needs_real
def test_real_empty_fasta_and_empty_vcf(tmp_path, capsys):
    """A 0-byte VCF is one clear stop, with or without --rename-chr-prefix (it used to exit 0 without)."""
    folder = REAL / "bad_inputs/ref_mismatch"
    with pytest.raises(GenomeError, match="empty"):
        Genome(folder / "failed_empty_fasta/failed_empty_fasta.fa")
    vcf, fasta = folder / "passed_empty_vcf/passed_empty_vcf.vcf", folder / "passed_empty_vcf/passed_empty_vcf.fa"
    with pytest.raises(VcfError, match=r"passed_empty_vcf.vcf is empty \(0 bytes"):
        normalize_vcf(vcf, Genome(fasta))
    args = ["vcf", "normalize", "--vcf", str(vcf), "--fasta", str(fasta), "--out", str(tmp_path / "v.parquet"),
            "--rejects", str(tmp_path / "r.parquet")]
    for extra in ([], ["--rename-chr-prefix"]):
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is empty (0 bytes" in err[0]


@needs_real
def test_real_bad_vcfs(tmp_path):
    folder = REAL / "bad_inputs/vcf"
    fasta = tmp_path / "3.fa"
    fasta.write_text(">3\n" + "N" * 81261 + "G" + "N" * 100 + "\n")
    g = Genome(fasta)
    with pytest.raises(VcfError, match=r"cannot parse the header of VCF .*test-invalid-header.vcf.*trailing tab"):
        normalize_vcf(folder / "test-invalid-header.vcf", g)
    v, r = normalize_vcf(folder / "no-seq-names.vcf", g)  # no ##contig lines: htslib adds them, loads cleanly
    assert v.variant_id.tolist() == ["3:81262:G>A"] and len(r) == 0
    v, r = normalize_vcf(folder / "test-multiallelic-homozygous-alt.vcf.gz", g)
    assert v.variant_id.tolist() == ["3:81262:G>A"] and r.reason.tolist() == ["symbolic_allele"]


# -- CLI --------------------------------------------------------------------------------


def test_cli_round_trip(tmp_path, capsys):
    g = write_fasta(tmp_path)
    vcf = write_vcf(tmp_path, [rec(6, "CAC", "CA,GAC,*")])
    gz = tmp_path / "in.vcf.gz"
    with open(vcf, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    out, rej = tmp_path / "o" / "v.parquet", tmp_path / "o" / "r.parquet"
    rc = main(["vcf", "normalize", "--vcf", str(gz), "--fasta", str(g.path), "--out", str(out), "--rejects", str(rej)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "records: 1" in text and "alleles: 3" in text and "kept: 2" in text and "star_allele: 1" in text
    v = pd.read_parquet(out)
    assert v.variant_id.tolist() == ["ctg:6:C>G", "ctg:7:AC>A"]
    assert pd.read_parquet(rej).reason.tolist() == ["star_allele"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.parquet", "v.parquet"]  # no temp files left


def test_cli_errors_and_rename(tmp_path, capsys):
    g = write_fasta(tmp_path, name="chr5")
    vcf = write_vcf(tmp_path, [rec(3, "A", "C", chrom="5")], contig="5")
    args = ["vcf", "normalize", "--vcf", str(vcf), "--fasta", str(g.path), "--out", str(tmp_path / "v.parquet"),
            "--rejects", str(tmp_path / "r.parquet")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genotile: error: ") and "--rename-chr-prefix" in err[0]
    assert main(args + ["--rename-chr-prefix"]) == 0
    assert pd.read_parquet(tmp_path / "v.parquet").variant_id.tolist() == ["chr5:3:A>C"]
    assert main(args[:3] + [str(tmp_path / "nope.vcf")] + args[4:]) == 2
    assert "does not exist" in capsys.readouterr().err
