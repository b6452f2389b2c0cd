"""A small seeded genome for demos and tests (not real sequence: biologically meaningless).

Why generated rather than bundled: the bytes are a pure function of the seed
and contig sizes, so the demo is reproducible without committing data, and
tests can make genomes with exactly the features they need (short contigs,
N gaps, lower case).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from genotile.runtime.atomic import write_text, writing

#: Default demo contigs: one longer than a 16 kb window, one shorter, one with an N gap.
DEMO_CONTIGS: Mapping[str, int] = {"demo1": 65_536, "demo2": 12_000, "demo3": 40_000}
DEMO_GAPS: Mapping[str, tuple[int, int]] = {"demo3": (8_000, 33_000)}  # holds whole all-N windows
LINE_WIDTH = 60


def demo_sequence(length: int, rng: np.random.Generator, gc: float = 0.41) -> str:
    """Random DNA with a human-like GC content and some soft-masked (lower-case) runs."""
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    seq = np.frombuffer(b"ACGT", np.uint8)[rng.choice(4, size=length, p=p)]
    for start in rng.integers(0, max(1, length - 300), size=max(1, length // 20_000)):
        seq[start : start + 300] = np.char.lower(seq[start : start + 300].view("S1")).view(np.uint8)
    return seq.tobytes().decode()


def write_demo_genome(
    path: str | os.PathLike[str],
    seed: int = 0,
    contigs: Mapping[str, int] = DEMO_CONTIGS,
    gaps: Mapping[str, tuple[int, int]] = DEMO_GAPS,
) -> Path:
    """Write a FASTA of seeded random contigs, with N gaps ``[start, end)`` where asked."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    with writing(path) as tmp, open(tmp, "w") as out:
        for name, length in contigs.items():
            seq = list(demo_sequence(length, rng))
            if name in gaps:
                start, end = gaps[name]
                seq[start:end] = "N" * (end - start)
            text = "".join(seq)
            out.write(f">{name}\n")
            for i in range(0, len(text), LINE_WIDTH):
                out.write(text[i : i + LINE_WIDTH] + "\n")
    for stale in (path.with_name(path.name + ".fai"),):
        stale.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------- demo cohort

#: Demo genes: (gene_id, name, type, contig, strand, transcripts as lists of 0-based [start, end) exons).
DEMO_GENES: tuple[tuple[str, str, str, str, str, tuple[tuple[tuple[int, int], ...], ...]], ...] = (
    ("DEMOG0001.1", "ALPHA1", "protein_coding", "demo1", "+",
     (((3_000, 3_400), (6_000, 6_300), (9_500, 10_200)), ((3_000, 3_400), (9_500, 11_000)))),
    ("DEMOG0002.1", "BETA2", "protein_coding", "demo1", "-",
     (((30_000, 30_900), (36_000, 36_200), (44_000, 45_000)),)),
    ("DEMOG0003.1", "GAMMA3", "lncRNA", "demo1", "+", (((52_000, 53_500), (57_000, 58_000)),)),
    ("DEMOG0004.1", "DELTA4", "protein_coding", "demo3", "+", (((1_000, 1_600), (4_000, 6_000)),)),
)
#: Demo polyadenylation sites: (gene_id without version, contig, 0-based position, strand); order kept.
DEMO_PAS: tuple[tuple[str, str, int, str], ...] = (
    ("DEMOG0001", "demo1", 10_900, "+"), ("DEMOG0001", "demo1", 10_150, "+"), ("DEMOG0001", "demo1", 11_000, "+"),
    ("DEMOG0002", "demo1", 30_050, "-"), ("DEMOG0002", "demo1", 30_500, "-"),
)
DEMO_SAMPLES: tuple[str, ...] = ("S01", "S02", "S03", "S04", "S05", "S06")


def write_demo_annotation(gtf_path: str | os.PathLike[str], pas_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the demo GTF (GENCODE-style attributes) and PAS table for the demo genome's genes."""
    lines = []
    for gene_id, name, gtype, contig, strand, transcripts in DEMO_GENES:
        lo = min(s for t in transcripts for s, _ in t)
        hi = max(e for t in transcripts for _, e in t)
        attrs = f'gene_id "{gene_id}"; gene_type "{gtype}"; gene_name "{name}";'
        lines.append(f"{contig}\tdemo\tgene\t{lo + 1}\t{hi}\t.\t{strand}\t.\t{attrs}")
        for k, exons in enumerate(transcripts, start=1):
            t_attrs = f'{attrs} transcript_id "{gene_id[:-2]}T{k}.1"; transcript_type "{gtype}";'
            t_lo, t_hi = exons[0][0], exons[-1][1]
            lines.append(f"{contig}\tdemo\ttranscript\t{t_lo + 1}\t{t_hi}\t.\t{strand}\t.\t{t_attrs}")
            for n, (s, e) in enumerate(exons, start=1):
                lines.append(f"{contig}\tdemo\texon\t{s + 1}\t{e}\t.\t{strand}\t.\t{t_attrs} exon_number {n};")
    gtf = Path(gtf_path)
    gtf.parent.mkdir(parents=True, exist_ok=True)
    write_text(gtf, "##description: genotile demo annotation (made up)\n" + "\n".join(lines) + "\n")
    pas = Path(pas_path)
    rows = ["Chromosome\tStart\tEnd\tpas_strand\tgene_id"]
    rows += [f"{c}\t{p}\t{p + 1}\t{s}\t{g}" for g, c, p, s in DEMO_PAS]
    write_text(pas, "\n".join(rows) + "\n")
    return gtf, pas


def write_demo_vcf(path: str | os.PathLike[str], fasta: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write a plain-text demo cohort VCF on the demo genome, with every case the scorer must handle.

    Records (sorted): SNVs, insertions and deletions (inside and outside demo genes),
    multi-allelic records, two REF mismatches, two records on a contig missing from the
    FASTA, a symbolic allele, and six samples with phased/unphased/missing genotypes.
    """
    from genotile.sequence.fasta import Genome

    rng = np.random.default_rng(seed)
    genome = Genome(fasta)
    records: list[tuple[str, int, str, str]] = []

    def base(contig: str, pos0: int, n: int = 1) -> str:
        return genome.sequence(contig, pos0, pos0 + n).upper()

    def other(b: str) -> str:
        return str(rng.choice([x for x in "ACGT" if x != b]))

    for contig, lo, hi, n in (("demo1", 2_000, 60_000, 18), ("demo2", 500, 11_500, 4), ("demo3", 500, 7_500, 4)):
        for pos0 in sorted(rng.choice(np.arange(lo, hi), size=n, replace=False).tolist()):
            ref = base(contig, pos0)
            if ref == "N":
                continue
            kind = rng.choice(["snv", "snv", "ins", "del"])
            if kind == "snv":
                records.append((contig, pos0 + 1, ref, other(ref)))
            elif kind == "ins":
                records.append((contig, pos0 + 1, ref, ref + "".join(rng.choice(list("ACGT"), size=int(rng.integers(1, 6))))))
            else:
                records.append((contig, pos0 + 1, base(contig, pos0, int(rng.integers(2, 7))), ref))
    for pos0 in (12_345, 40_404, 61_000):  # multi-allelic: SNV + SNV, SNV + deletion
        ref2 = base("demo1", pos0, 3)
        first, second = rng.choice([x for x in "ACGT" if x != ref2[0]], size=2, replace=False).tolist()
        alts = [first + ref2[1:], ref2[0]] if pos0 != 40_404 else [first + ref2[1:], second + ref2[1:]]
        records.append(("demo1", pos0 + 1, ref2, ",".join(alts)))
    for pos0 in (15_000, 47_000):  # REF mismatches: a REF the FASTA does not have
        records.append(("demo1", pos0 + 1, other(base("demo1", pos0)), base("demo1", pos0)))
    records.append(("demo1", 50_001, base("demo1", 50_000), "<DEL>"))
    records += [("demo9", 1_000, "A", "G"), ("demo9", 2_000, "C", "CT")]  # contig not in the FASTA
    genome.close()
    order = {c: i for i, c in enumerate([*DEMO_CONTIGS, "demo9"])}
    records.sort(key=lambda r: (order[r[0]], r[1]))

    lines = ["##fileformat=VCFv4.2", "##source=genotile demo (seeded, made up)"]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in DEMO_CONTIGS.items()] + ["##contig=<ID=demo9,length=5000>"]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("#" + "\t".join(["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *DEMO_SAMPLES]))
    for i, (contig, pos, ref, alt) in enumerate(records):
        n_alt = alt.count(",") + 1
        gts = []
        for _ in DEMO_SAMPLES:
            a, b = (int(x) for x in rng.choice(n_alt + 1, size=2, p=None if n_alt > 1 else [0.6, 0.4]))
            sep = "|" if rng.random() < 0.7 else "/"
            gts.append("./." if rng.random() < 0.05 else f"{a}{sep}{b}")
        lines.append("\t".join([contig, str(pos), f"dv{i + 1}", ref, alt, ".", "PASS", ".", "GT", *gts]))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, "\n".join(lines) + "\n")
    return out
