"""Bad VCF input (issue 12, items 10, 13, 14): a bad record becomes a rejects row with its line number,
a bad file one clear message, never a dead process; the workflow's steps agree with the CLI.

Files that used to crash the process (SIGSEGV inside htslib) are run in a subprocess, so a crash
fails the test instead of killing the pytest worker.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genotile.cli.main import main
from genotile.sequence.fasta import Genome
from genotile.settings import NormalizeSettings
from genotile.variants import steps
from genotile.variants.genotypes import call_rates, dosage_matrix
from genotile.variants.normalize import REJECT_REASONS, VcfError, normalize_vcf

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared/realdata"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real data folder {REAL} is absent")

SEQ = "GGATCCACACACACTTTGCAAAAAGTCAGTGCATGCTTAG" * 2  # 80 bp; 1-based: 3 A, 5 C, 10 C, 20 A
COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
GT = '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'


def fasta(folder: Path, names=("ctg",), seq: str = SEQ) -> Path:
    path = folder / "ref.fa"
    path.write_text("".join(f">{n}\n{seq}\n" for n in names))
    return path


def vcf(folder: Path, name: str, body: str, contigs=(), samples=(), formats: bool = False) -> Path:
    head = "##fileformat=VCFv4.2\n" + (GT if formats or samples else "") + "".join(f"##contig=<ID={c}>\n" for c in contigs)
    cols = COLUMNS + ("\tFORMAT\t" + "\t".join(samples) if samples else "")
    path = folder / name
    path.write_text(head + cols + "\n" + body)
    return path


def row(*fields) -> str:
    return "\t".join(str(f) for f in fields) + "\n"


GOOD = row("ctg", 3, ".", "A", "C", ".", ".", ".")
GOOD_S = row("ctg", 3, ".", "A", "C", ".", ".", ".", "GT", "0/1")


def crash_cases(folder: Path) -> dict[str, tuple[Path, dict]]:
    """Each file crashed `genotile vcf normalize` with SIGSEGV before; the rejects it must give now."""
    d = folder
    return {
        "blank_trailing": (vcf(d, "a.vcf", GOOD + "\n", contigs=["ctg"]), {"records": 1, "kept": 1, "rejects": {}}),
        "blank_embedded": (vcf(d, "b.vcf", GOOD + "\n" + row("ctg", 5, ".", "C", "A", ".", ".", "."), contigs=["ctg"]),
                           {"records": 2, "kept": 2, "rejects": {}}),
        "pos_dot": (vcf(d, "c.vcf", row("ctg", ".", ".", "A", "C", ".", ".", ".") + GOOD),
                    {"records": 2, "kept": 1, "rejects": {"malformed_record": ["record 1 (line 3): POS '.'"]}}),
        "pos_letters": (vcf(d, "d.vcf", row("ctg", "123abc", ".", "A", "C", ".", ".", ".")),
                        {"records": 1, "kept": 0, "rejects": {"malformed_record": ["line 3): POS '123abc'"]}}),
        "pos_negative": (vcf(d, "e.vcf", row("ctg", -1, ".", "A", "C", ".", ".", ".") + GOOD),
                         {"records": 2, "kept": 1, "rejects": {"malformed_record": ["line 3): POS '-1'"]}}),
        "empty_format_field": (vcf(d, "f.vcf", row("ctg", 3, ".", "A", "C", ".", ".", ".", "GT::DP", "0/1::3") + "\n",
                                   contigs=["ctg"], samples=["s1"]), {"records": 1, "kept": 1, "rejects": {}}),
        "gt_unparseable": (vcf(d, "g.vcf", row("ctg", 3, ".", "A", "C", ".", ".", ".", "GT", "0/x") + GOOD_S, samples=["s1"]),
                           {"records": 2, "kept": 1, "rejects": {"malformed_record": ["record 1 (line 5): htslib could not parse"]}}),
        "spaces_not_tabs": (vcf(d, "h.vcf", "ctg 3 . A C . . .\n" + GOOD),
                            {"records": 2, "kept": 1, "rejects": {"malformed_record": ["line 3): 1 tab-separated column(s)"]}}),
        "short_line": (vcf(d, "i.vcf", GOOD + row("ctg", 5, "."), contigs=[]),
                       {"records": 2, "kept": 1, "rejects": {"malformed_record": ["record 2 (line 4): 3 tab-separated"]}}),
        "hash_line_among_records": (vcf(d, "j.vcf", GOOD + "#note\n" + row("ctg", 5, ".", "C", "A", ".", ".", ".")),
                                    {"records": 3, "kept": 2, "rejects": {"malformed_record": ["line 4): a '#' line"]}}),
        "pos_past_32_bits": (vcf(d, "k.vcf", row("ctg", 99999999999, ".", "A", "C", ".", ".", ".") + GOOD, contigs=["ctg"]),
                             {"records": 2, "kept": 1, "rejects": {"malformed_record": ["POS 99999999999 is too large"]}}),
        "missing_sample_column": (vcf(d, "l.vcf", row("ctg", 3, ".", "A", "C", ".", ".", ".", "GT") + GOOD_S, samples=["s1"]),
                                  {"records": 2, "kept": 1, "rejects": {"malformed_record": ["9 tab-separated column(s), but the '#CHROM' line has 10"]}}),
    }


RUNNER = r"""
import json, sys
from genotile.cli.main import main
from genotile.sequence.fasta import Genome
from genotile.variants.genotypes import dosage_matrix
from genotile.variants.normalize import normalize_vcf
fasta, job, out = sys.argv[1], json.loads(sys.argv[2]), {}
for name, path in job["cases"].items():
    print("case", name, flush=True)
    rc = main(["vcf", "normalize", "--vcf", path, "--fasta", fasta, "--out", path + ".v.parquet", "--rejects", path + ".r.parquet"])
    variants, rejects = normalize_vcf(path, Genome(fasta))
    dosage, missing, samples = dosage_matrix(path, variants)
    out[name] = {"rc": rc, "records": variants.attrs["records"], "kept": len(variants),
                 "rejects": rejects.groupby("reason")["detail"].apply(list).to_dict(), "dosage": dosage.tolist()}
if job.get("compare"):  # the same records with and without blank lines: the same tables (but line numbers) and dosages
    print("case compare", flush=True)
    source, plain, ref = job["compare"]
    g = Genome(ref)
    (a, ra), (b, rb) = normalize_vcf(source, g), normalize_vcf(plain, g)
    out["compare"] = {"variants": len(a), "same_variants": a.equals(b),
                      "same_rejects": ra.drop(columns="detail").equals(rb.drop(columns="detail")),
                      "same_dosage": bool((dosage_matrix(source, a)[0] == dosage_matrix(plain, b)[0]).all())}
print("RESULT " + json.dumps(out))
"""


def _real_vcf_with_blank_lines(folder: Path) -> list[str] | None:
    """The real chrM VCF as plain text with a blank line among its records and two at the end."""
    if not REAL.is_dir():
        return None
    source = REAL / "chrM/chr_m_indels.vcf.gz"
    lines = gzip.decompress(source.read_bytes()).decode().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    plain = folder / "chrM.vcf"
    plain.write_text("".join(lines[: first + 10] + ["\n"] + lines[first + 10 :] + ["\n", "\n"]))
    return [str(source), str(plain), str(REAL / "chrM/MT-human.fa")]


def test_files_that_crashed_htslib_give_rejects_with_line_numbers(tmp_path):
    cases = crash_cases(tmp_path)
    ref = fasta(tmp_path)
    job = {"cases": {k: str(p) for k, (p, _) in cases.items()}, "compare": _real_vcf_with_blank_lines(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(ref), json.dumps(job)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode} (-11 is SIGSEGV) after {proc.stdout.splitlines()[-1:]}: {proc.stderr[-2000:]}"
    results = json.loads(proc.stdout.split("RESULT ", 1)[1])
    for name, (_path, want) in cases.items():
        got = results[name]
        assert got["rc"] == 0 and got["records"] == want["records"] and got["kept"] == want["kept"], (name, got)
        assert set(got["rejects"]) == set(want["rejects"]), (name, got["rejects"])
        for reason, fragments in want["rejects"].items():
            assert len(got["rejects"][reason]) == len(fragments) and all(
                f in d for f, d in zip(fragments, got["rejects"][reason])), (name, got["rejects"])
    assert results["gt_unparseable"]["dosage"] == [[1]]  # the good record after the bad one keeps its genotypes
    assert "warning: VCF" in proc.stderr and "1 blank line(s) skipped (line 5)" in proc.stderr  # named, not silent
    if job["compare"]:
        assert results["compare"] == {"variants": 210, "same_variants": True, "same_rejects": True, "same_dosage": True}


# -- the workflow's bgzip step ------------------------------------------------------------


def test_bgzip_step_sorts_an_unsorted_vcf_like_the_cli(tmp_path):
    ref = fasta(tmp_path, names=("ctg", "two"))
    body = (row("two", 5, ".", "C", "A", ".", ".", ".") + row("ctg", 10, ".", "C", "T", ".", ".", ".")
            + row("ctg", 3, ".", "A", "C", ".", ".", ".") + row("two", 3, ".", "A", "G", ".", ".", "."))
    plain = vcf(tmp_path, "u.vcf", body)
    out = tmp_path / "cohort.vcf.gz"
    steps.bgzip_vcf(str(plain), str(out))
    assert Path(f"{out}.tbi").is_file()
    text = gzip.decompress(out.read_bytes()).decode()
    assert [tuple(line.split("\t")[:2]) for line in text.splitlines() if not line.startswith("#")] == [
        ("two", "3"), ("two", "5"), ("ctg", "3"), ("ctg", "10")]  # contigs in order of first record, then POS
    g = Genome(ref)
    cli, workflow = normalize_vcf(plain, g)[0], normalize_vcf(out, g, region="two")[0]
    assert normalize_vcf(out, g)[0].variant_id.tolist() == cli.variant_id.tolist()
    assert workflow.variant_id.tolist() == ["two:3:A>G", "two:5:C>A"]


def test_bgzip_step_keeps_a_sorted_vcf_as_it_is(tmp_path):
    plain = vcf(tmp_path, "s.vcf", GOOD + row("ctg", 5, ".", "C", "A", ".", ".", "."), contigs=["ctg"])
    out = tmp_path / "cohort.vcf.gz"
    steps.bgzip_vcf(str(plain), str(out))
    assert gzip.decompress(out.read_bytes()) == plain.read_bytes()


def test_bgzip_step_moves_bad_lines_into_the_rejects_table(tmp_path, capsys):
    ref = fasta(tmp_path)
    plain = vcf(tmp_path, "bad.vcf", row("ctg", 10, ".", "C", "T", ".", ".", ".") + "\n"
                + row("ctg", ".", ".", "A", "C", ".", ".", ".") + GOOD + "\n")
    out = tmp_path / "cohort.vcf.gz"
    steps.bgzip_vcf(str(plain), str(out))  # used to die with a traceback (tabix cannot index a blank line)
    assert "2 blank line(s) skipped" in capsys.readouterr().err
    variants, rejects = normalize_vcf(out, Genome(ref))
    assert variants.variant_id.tolist() == ["ctg:3:A>C", "ctg:10:C>T"] and variants.attrs["records"] == 3
    assert rejects.reason.tolist() == ["malformed_record"]
    assert rejects.detail[0] == "record 2 (line 5 of bad.vcf, dropped by bgzip_vcf): POS '.' is not a whole number"


def test_bgzip_step_stops_on_an_empty_file(tmp_path):
    (tmp_path / "e.vcf").write_bytes(b"")
    with pytest.raises(VcfError, match=r"e.vcf is empty \(0 bytes"):
        steps.bgzip_vcf(str(tmp_path / "e.vcf"), str(tmp_path / "o.vcf.gz"))


# -- contig names: one rule for the CLI and the workflow ----------------------------------------


def _cfg(**variants) -> NormalizeSettings:
    return NormalizeSettings.from_config({"variants": {"max_indel_length": 50, "max_ref_mismatch_fraction": 0.1, "region": None,
                                                       "rename_chr_prefix": False, **variants}})


@pytest.mark.parametrize("contigs", [(), ("1",)], ids=["no_contig_lines", "partial_contig_lines"])
def test_rename_chr_prefix_is_the_same_rule_in_cli_and_workflow(tmp_path, capsys, contigs):
    ref = fasta(tmp_path, names=("chr1", "chr2"))
    path = vcf(tmp_path, "c.vcf", row("1", 3, ".", "A", "C", ".", ".", ".") + row("2", 5, ".", "C", "A", ".", ".", "."),
               contigs=contigs)
    out = tmp_path / "cli"
    args = ["vcf", "normalize", "--vcf", str(path), "--fasta", str(ref), "--out", f"{out}.v.parquet", "--rejects", f"{out}.r.parquet"]
    assert main(args + ["--rename-chr-prefix"]) == 0
    steps.normalize_variants(_cfg(rename_chr_prefix=True), str(path), str(ref), str(tmp_path / "v.parquet"), str(tmp_path / "r.parquet"))
    cli, workflow = pd.read_parquet(f"{out}.v.parquet"), pd.read_parquet(tmp_path / "v.parquet")
    assert cli.variant_id.tolist() == workflow.variant_id.tolist() == ["chr1:3:A>C", "chr2:5:C>A"]
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 0  # chr2 is not 'contig_not_in_fasta'
    # without the rename each names its own knob
    assert main(args) == 2
    assert "pass --rename-chr-prefix" in capsys.readouterr().err
    with pytest.raises(VcfError, match=r"set `variants.rename_chr_prefix: true` in the config") as err:
        steps.normalize_variants(_cfg(), str(path), str(ref), str(tmp_path / "v.parquet"), str(tmp_path / "r.parquet"))
    assert "--rename-chr-prefix" not in str(err.value)


def test_workflow_messages_name_config_keys(tmp_path):
    ref = fasta(tmp_path)
    lines = "".join(row("ctg", p, ".", "T", "C", ".", ".", ".") for p in (1, 2, 5))
    with pytest.raises(VcfError, match=r"raise variants.max_ref_mismatch_fraction only"):
        steps.normalize_variants(_cfg(), str(vcf(tmp_path, "m.vcf", lines)), str(ref), str(tmp_path / "v.parquet"), str(tmp_path / "r.parquet"))
    with pytest.raises(VcfError, match=r"variants.region 'ctg:1-5' needs an index.*drop variants.region"):
        steps.normalize_variants(_cfg(region="ctg:1-5"), str(vcf(tmp_path, "g.vcf", GOOD)), str(ref), str(tmp_path / "v.parquet"), str(tmp_path / "r.parquet"))


def test_no_shared_contig_stops_naming_both_sides(tmp_path, capsys):
    ref = fasta(tmp_path, names=("chrA", "chrB"))
    path = vcf(tmp_path, "x.vcf", row("ctg", 3, ".", "A", "C", ".", ".", ".") + row("other", 3, ".", "A", "C", ".", ".", "."))
    with pytest.raises(VcfError) as err:
        normalize_vcf(path, Genome(ref))
    msg = str(err.value)
    assert "x.vcf shares no contig with FASTA" in msg and "ctg, other" in msg and "chrA, chrB" in msg and "Fix:" in msg
    args = ["vcf", "normalize", "--vcf", str(path), "--fasta", str(ref), "--out", str(tmp_path / "v.parquet"),
            "--rejects", str(tmp_path / "r.parquet")]
    assert main(args) == 2 and "shares no contig" in capsys.readouterr().err
    # one record on a FASTA contig is enough: the rest are rejects, as before
    ok = vcf(tmp_path, "y.vcf", row("chrA", 3, ".", "A", "C", ".", ".", ".") + row("other", 3, ".", "A", "C", ".", ".", "."))
    v, r = normalize_vcf(ok, Genome(ref))
    assert len(v) == 1 and r.reason.tolist() == ["contig_not_in_fasta"]


def test_header_only_vcf_writes_valid_empty_tables(tmp_path):
    ref = fasta(tmp_path)
    path = vcf(tmp_path, "h.vcf", "", contigs=["ctg"], samples=["s1"])
    steps.normalize_variants(_cfg(), str(path), str(ref), str(tmp_path / "v.parquet"), str(tmp_path / "r.parquet"))
    v, r = pd.read_parquet(tmp_path / "v.parquet"), pd.read_parquet(tmp_path / "r.parquet")
    assert len(v) == len(r) == 0 and v.columns[0] == "variant_id" and "reason" in r.columns
    assert str(v.pos.dtype) == "int64" and str(r.record_index.dtype) == "int64"


# -- REF N and GT allele indexes -------------------------------------------------------------


def test_ref_n_is_rejected(tmp_path):
    ref = fasta(tmp_path, seq=SEQ[:9] + "NN" + SEQ[11:])
    path = vcf(tmp_path, "n.vcf", row("ctg", 10, ".", "N", "A", ".", ".", ".") + row("ctg", 9, ".", "AN", "A", ".", ".", ".") + GOOD)
    v, r = normalize_vcf(path, Genome(ref))
    assert v.variant_id.tolist() == ["ctg:3:A>C"]
    assert r.reason.tolist() == ["ref_has_n", "ref_has_n"] and "REF N contains N" in r.detail[0] and "line 3" in r.detail[0]
    assert "ref_has_n" in REJECT_REASONS and v.attrs["ref_mismatches"] == 0


def test_gt_allele_beyond_alt_is_rejected_with_its_line(tmp_path):
    ref = fasta(tmp_path)
    body = (row("ctg", 3, ".", "A", "C", ".", ".", ".", "GT", "0/1", "0/3")
            + row("ctg", 5, ".", "C", "A,G", ".", ".", ".", "GT", "1/2", "./2"))
    path = vcf(tmp_path, "gt.vcf", body, contigs=["ctg"], samples=["s1", "s2"])
    v, r = normalize_vcf(path, Genome(ref))
    assert v.variant_id.tolist() == ["ctg:5:C>A", "ctg:5:C>G"]
    assert r.reason.tolist() == ["gt_allele_out_of_range"] and r.record_index.tolist() == [0]
    assert "record 1 (line 6): sample 's2' has GT allele 3 but the record has 1 ALT" in r.detail[0]
    # the dosage pass never counts such a GT as 'no copy': a table pointing at it is an error
    stale = pd.DataFrame({"record_index": [0], "allele_index": [1]})
    with pytest.raises(VcfError, match="gt_allele_out_of_range"):
        dosage_matrix(path, stale)


def test_missing_calls_stay_distinct_from_hom_ref(tmp_path):
    ref = fasta(tmp_path)
    body = (row("ctg", 5, ".", "C", "A,G", ".", ".", ".", "GT", "0/0", "./.", "./1", "1/2", "1")
            + row("ctg", 10, ".", "C", "T", ".", ".", ".", "GT", "0|0", ".", "0|1", "1|1", "0"))
    path = vcf(tmp_path, "m.vcf", body, contigs=["ctg"], samples=["a", "b", "c", "d", "e"])
    v, _ = normalize_vcf(path, Genome(ref))
    dosage, missing, samples = dosage_matrix(path, v)
    assert v.variant_id.tolist() == ["ctg:5:C>A", "ctg:5:C>G", "ctg:10:C>T"]
    assert dosage.tolist() == [[0, 0, 1, 1, 1], [0, 0, 0, 1, 0], [0, 0, 1, 2, 0]]
    # ./1 is missing for both ALTs split from the record; a haploid call ('1', 'e') is not missing
    assert missing.tolist() == [[False, True, True, False, False]] * 2 + [[False, True, False, False, False]]
    per_sample, per_variant = call_rates(missing)
    assert np.allclose(per_sample, [1, 0, 1 / 3, 1, 1]) and np.allclose(per_variant, [0.6, 0.6, 0.8])
    empty_s, empty_v = call_rates(np.zeros((0, 3), bool))
    assert np.isnan(empty_s).all() and empty_s.shape == (3,) and empty_v.shape == (0,)


# -- real bad inputs ----------------------------------------------------------------------


@needs_real
def test_real_vcf_without_contig_lines_through_the_workflow_steps(tmp_path):
    """bad_inputs/vcf/no-seq-names.vcf (no ##contig lines): bgzip step + normalisation as the CLI."""
    ref = tmp_path / "3.fa"
    ref.write_text(">chr3\n" + "N" * 81261 + "G" + "N" * 100 + "\n")
    source = REAL / "bad_inputs/vcf/no-seq-names.vcf"
    out = tmp_path / "cohort.vcf.gz"
    steps.bgzip_vcf(str(source), str(out))
    steps.normalize_variants(_cfg(rename_chr_prefix=True), str(out), str(ref), str(tmp_path / "v.parquet"), str(tmp_path / "r.parquet"))
    workflow = pd.read_parquet(tmp_path / "v.parquet")
    cli = normalize_vcf(source, Genome(ref), rename_chr_prefix=True)[0]
    assert workflow.variant_id.tolist() == cli.variant_id.tolist() == ["chr3:81262:G>A"]


def test_region_query_with_csi_index_and_fasta_contig_names(tmp_path):
    """A region in the FASTA's names (chr1) on a VCF named 1, CSI-indexed: normalisation and dosages agree."""
    import pysam

    ref = fasta(tmp_path, names=("chr1",))
    body = (row("1", 3, ".", "A", "C", ".", ".", ".", "GT", "0/1") + row("1", 10, ".", "C", "T", ".", ".", ".", "GT", "1/1")
            + row("1", 20, ".", "A", "G", ".", ".", ".", "GT", "./1"))
    plain = vcf(tmp_path, "r.vcf", body, contigs=["1"], samples=["s"])
    pysam.tabix_compress(str(plain), f"{plain}.gz")
    pysam.tabix_index(f"{plain}.gz", preset="vcf", csi=True)
    v, _ = normalize_vcf(f"{plain}.gz", Genome(ref), region="chr1:5-30", rename_chr_prefix=True)
    assert v.variant_id.tolist() == ["chr1:10:C>T", "chr1:20:A>G"] and v.record_index.tolist() == [0, 1]
    dosage, missing, _ = dosage_matrix(f"{plain}.gz", v, "chr1:5-30")
    assert dosage.tolist() == [[2], [1]] and missing.tolist() == [[False], [True]]
