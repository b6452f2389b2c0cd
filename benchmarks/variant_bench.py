#!/usr/bin/env python
"""Benchmark variant scoring: VCF ingest against bare cyvcf2, and tiled against centred scoring.

``--ingest``
    ``normalize_vcf`` (split, left-align, REF check against the FASTA, rejects) on a real VCF
    against a bare cyvcf2 loop over the same file that reads CHROM, POS, REF and ALT of every
    record. Default: ``../shared/realdata/grch37_chr20_1Mb/z_sites.chr20.vcf.gz`` (28,998 records)
    with its FASTA. Best of ``--repeats`` runs each; reports records/s and the ratio.

``--modes``
    Tiny model (seeded synthetic weights, CPU, float32) on the demo genome: ``--n-variants`` SNVs
    spread evenly over ``demo1``, scored with the recommended scorers in ``centered`` and in
    ``tiled`` mode (``--window-bp`` windows, owned half). The first variant of each mode is a warm-up
    (compilation) and is not timed. Reports variants/s, forward passes and the ratio.

The markdown report (machine description on top) goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared/realdata/grch37_chr20_1Mb"


def ingest(vcf: Path, fasta: Path, repeats: int) -> str:
    import cyvcf2

    from genotile.sequence.fasta import Genome
    from genotile.variants.normalize import normalize_vcf

    genome = Genome(fasta)

    def bare() -> int:
        n = 0
        for rec in cyvcf2.VCF(str(vcf), lazy=True):
            _ = (rec.CHROM, rec.POS, rec.REF, rec.ALT)
            n += 1
        return n

    def ours() -> int:
        variants, _ = normalize_vcf(vcf, genome)
        return variants.attrs["records"]

    rows = []
    for name, fn in (("cyvcf2 iteration (CHROM, POS, REF, ALT)", bare), ("genotile normalize_vcf", ours)):
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            n = fn()
            best = min(best, time.perf_counter() - t0)
        rows.append((name, n, best))
    lines = [f"VCF ingest: `{vcf.name}` ({rows[0][1]:,} records), best of {repeats}", "",
             "| reader | records | seconds | records/s |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {n:,} | {t:.3f} | {n / t:,.0f} |" for name, n, t in rows]
    lines += ["", f"normalize_vcf runs at **{rows[0][2] / rows[1][2]:.2f}x** the rate of bare cyvcf2 iteration."]
    return "\n".join(lines)


def modes(n_variants: int, window_bp: int) -> str:
    import numpy as np
    import pandas as pd

    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.sequence.demo import write_demo_annotation, write_demo_genome
    from genotile.sequence.fasta import Genome
    from genotile.variants.annotation import read_gtf, read_pas_table
    from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants
    from genotile.variants.predict import VariantModel

    tmp = Path(tempfile.mkdtemp())
    genome = Genome(write_demo_genome(tmp / "demo.fa"))
    gtf, pas = write_demo_annotation(tmp / "demo.gtf", tmp / "pas.tsv")
    annotation, pas_table = read_gtf(gtf), read_pas_table(pas)
    flip = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows = []
    for pos0 in np.linspace(1_000, genome.length("demo1") - 1_000, n_variants + 1).astype(int):
        ref = genome.sequence("demo1", int(pos0), int(pos0) + 1).upper()
        rows.append({"variant_id": f"demo1:{pos0 + 1}:{ref}>{flip[ref]}", "chrom": "demo1", "pos": int(pos0) + 1,
                     "ref": ref, "alt": flip[ref]})
    variants = pd.DataFrame(rows)
    specs = parse_scorers(["recommended"])
    model = VariantModel(Predictor(synthetic_model("tiny", 0), None, precision="float32"), {s.output for s in specs})
    results = {}
    for mode in ("centered", "tiled"):
        options = ScoringOptions(mode, window_bp, batch_size=4)
        score_variants(model, genome, variants.iloc[:1], specs, options, annotation, pas_table)  # compile
        result = score_variants(model, genome, variants.iloc[1:], specs, options, annotation, pas_table)
        results[mode] = result.stats
    lines = [f"Scoring modes: {n_variants} SNVs on demo1 ({genome.length('demo1'):,} bp), tiny model, CPU float32, "
             f"{window_bp:,}-bp windows, recommended scorers", "",
             "| mode | variants | forward passes | seconds | variants/s |", "|---|---:|---:|---:|---:|"]
    for mode, s in results.items():
        lines.append(f"| {mode} | {int(s['variants'])} | {int(s['forward_passes'])} | {s['seconds']:.1f} | {s['variants_per_second']:.2f} |")
    ratio = results["tiled"]["variants_per_second"] / results["centered"]["variants_per_second"]
    lines += ["", f"tiled scores **{ratio:.2f}x** as many variants per second as centered here."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ingest", action="store_true")
    parser.add_argument("--modes", action="store_true")
    parser.add_argument("--vcf", type=Path, default=SHARED / "z_sites.chr20.vcf.gz")
    parser.add_argument("--fasta", type=Path, default=SHARED / "chr20_b37_0-2M.fa")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-variants", type=int, default=32)
    parser.add_argument("--window-bp", type=int, default=16_384)
    args = parser.parse_args()
    both = not (args.ingest or args.modes)
    print(describe_machine(), "\n")
    if args.ingest or both:
        print(ingest(args.vcf, args.fasta, args.repeats), "\n", flush=True)
    if args.modes or both:
        print(modes(args.n_variants, args.window_bp), flush=True)


if __name__ == "__main__":
    main()
