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

``--cohort``
    Issue 15's cohort run: the first ``--cohort-variants`` normalised variants (default 100 for
    ``tiled``, 48 for ``centered``: about 100 forward passes and 5 minutes each) of the real GRCh37 chr20
    cohort (``ref300.chr20_1-2M.vcf.gz``, 300 samples, 20:1,000,001-2,000,000) scored with the 13
    recommended scorers that need no gene annotation (CenterMask on ATAC, DNASE, CHIP_TF, CHIP_HISTONE,
    CAGE, PROCAP with DIFF_LOG2_SUM and ACTIVE_SUM, and ContactMap), tiny model (seeded synthetic
    weights, no metadata), CPU float32, ``--cohort-window-bp`` windows (default 131,072), ALT batch
    ``--cohort-batch`` (default 4, the config's default), in each of ``--cohort-modes``. Every mode
    runs in its own subprocess, so its peak RSS (``ru_maxrss``) is its own; the next
    ``--cohort-warmup`` variants are scored first to compile (timed apart, not in the figures).
    Reports variants/s, peak RSS and the engine's time shares (:mod:`genotile.variants.timings`):
    forward passes (device compute, then the copy to the host), scorer reductions, everything else
    (sequences, tidy tables, ...), and the reductions per scorer.

``--ism``
    Issue 15's fast ISM: every SNV of ``--ism-region`` (default ``20:1,500,001-1,500,064``, 64 bp of the real
    GRCh37 chr20 FASTA, 192 SNVs) scored in one ``--ism-window-bp`` window (default 131,072) centred on it
    (:func:`genotile.variants.ism.run_ism`: one REF pass, batched ALT passes with the local encoder), with the
    13 annotation-free recommended scorers (as ``--cohort``), tiny model (seeded synthetic weights), CPU float32,
    ALT batch ``--cohort-batch``. A 2-bp region next to it is mutated first to compile (timed apart). Reports
    positions/s, SNVs/s, passes and the engine's time shares.

``--genes``
    The gene scorers, which ``--cohort`` leaves out: ``--genes-variants`` SNVs every 100 bp from
    ``chr1:930,001`` of the real hg38 FASTA (``../shared/realdata/hg38_chr1_1Mb``: SAMD11, NOC2L, KLHL17,
    PLEKHN1, ... with their GENCODE v29 genes), ``tiled``, ``--genes-window-bp`` windows (default 131,072),
    scored with every recommended scorer that a GTF allows (no PAS table: no Polyadenylation), tiny model, CPU
    float32, ALT batch ``--cohort-batch``, once with the gene scorers (GeneMaskLFC/Active, GeneMaskSplicing,
    SpliceJunction) reducing on the device and once on the host (their ``device_read`` switched off), in one
    process; 3 warm-up variants first in each.

The markdown report (machine description on top) goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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


COHORT_VCF = SHARED / "ref300.chr20_1-2M.vcf.gz"


def cohort_child(mode: str, n_variants: int, warmup: int, window_bp: int, batch: int, vcf: Path, fasta: Path) -> dict:
    """One mode in this process (a subprocess of :func:`cohort`): warm-up, then the timed run; a JSON-able record."""
    import resource

    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.sequence.fasta import Genome
    from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants, scorer_name, scorers_for_annotation
    from genotile.variants.normalize import normalize_vcf
    from genotile.variants.predict import VariantModel
    from genotile.variants.steps import resolved_batch_size

    genome = Genome(fasta)
    variants, _ = normalize_vcf(vcf, genome)
    specs, _ = scorers_for_annotation(parse_scorers(["recommended"]), has_gtf=False, has_pas=False)
    if len(variants) < n_variants + warmup:
        raise SystemExit(f"{vcf}: {len(variants)} variants, fewer than --cohort-variants + --cohort-warmup")
    model = VariantModel(Predictor(synthetic_model("tiny", 0), None, precision="float32"), {s.output for s in specs})
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # weights and inputs, before any pass
    batch = resolved_batch_size(batch, model, specs, window_bp)  # 'auto': from the free memory, as score_shard
    options = ScoringOptions(mode, window_bp, batch_size=batch)
    t0 = time.perf_counter()
    score_variants(model, genome, variants.iloc[n_variants : n_variants + warmup], specs, options)  # compile
    warm = time.perf_counter() - t0
    timed = variants.iloc[:n_variants]
    result = score_variants(model, genome, timed, specs, options)
    t = result.timings
    return {
        "mode": mode, "variants": len(timed), "span": f"{timed.chrom.iloc[0]}:{timed.pos.iloc[0]:,}-{timed.pos.iloc[-1]:,}",
        "indels": int((timed.ref.str.len() != timed.alt.str.len()).sum()), "scorers": [scorer_name(s) for s in specs],
        "batch": batch, "warmup_s": warm, "stats": result.stats, "shares": t.shares(), "by_scorer": t.reductions_by_scorer,
        "failures": len(result.failures), "summary": t.summary(len(timed)),
        "ru_maxrss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "loaded_rss_gib": loaded_rss,
    }  # fmt: skip


def cohort(modes_: list[str], n_variants: list[int], warmup: int, window_bp: int, batch: int, vcf: Path, fasta: Path,
           timeout: float) -> str:
    """Each mode of issue 15's cohort run in its own subprocess; the markdown tables."""
    records = []
    if len(n_variants) not in (1, len(modes_)):
        raise SystemExit("--cohort-variants: one count, or one per --cohort-modes entry")
    for mode, n in zip(modes_, n_variants * len(modes_) if len(n_variants) == 1 else n_variants):
        load_before = os.getloadavg()
        cmd = [sys.executable, __file__, "--cohort-child", mode, "--cohort-variants", str(n),
               "--cohort-warmup", str(warmup), "--cohort-window-bp", str(window_bp), "--cohort-batch", str(batch),
               "--cohort-vcf", str(vcf), "--fasta", str(fasta)]
        print(f"cohort: {mode} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        if done.returncode:
            why = " (SIGKILL: out of memory? see --cohort-batch)" if done.returncode == -9 else ""
            raise SystemExit(f"cohort {mode} failed with status {done.returncode}{why}:\n{done.stderr[-4000:]}")
        record = json.loads(done.stdout.strip().splitlines()[-1])
        record.update(wall_s=wall, load_before=load_before, load_after=os.getloadavg())
        print(f"cohort: {mode}: {record['summary']}", file=sys.stderr, flush=True)
        records.append(record)
    first = records[0]
    resolved = f" (= {first['batch']} rows)" if str(batch) == "auto" else ""
    counts = "; ".join(f"{r['mode']}: the first {r['variants']} ({r['span']}, {r['indels']} indels)" for r in records)
    lines = [f"Cohort scoring: variants of `{vcf.name}` ({counts}), {len(first['scorers'])} scorers (recommended, no gene annotation), tiny model "
             f"(synthetic weights, no metadata), CPU float32, {window_bp:,}-bp windows (tiled: owned half), ALT batch {batch}{resolved}; "
             f"compilation excluded ({warmup} warm-up variants scored first)", "",
             "| mode | variants | forward passes | warm-up (s) | seconds | variants/s | forward % | of which device % "
             "| reductions % | other % | of which sequences % / tables % | RSS after load (GiB) | peak RSS (GiB) "
             "| load avg (1 min) before / after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        s = r["stats"]
        total = s["seconds"]
        lines.append(
            f"| {r['mode']} | {int(s['variants'])} | {int(s['forward_passes'])} | {r['warmup_s']:.1f} | {total:.1f} "
            f"| {s['variants_per_second']:.3f} | {100 * r['shares']['forward']:.1f} "
            f"| {100 * s['forward_device_seconds'] / total:.1f} | {100 * r['shares']['reductions']:.1f} "
            f"| {100 * r['shares']['other']:.1f} | {100 * s['sequences_seconds'] / total:.1f} / "
            f"{100 * s['tables_seconds'] / total:.1f} | {r['loaded_rss_gib']:.2f} | {r['ru_maxrss_gib']:.2f} "
            f"| {r['load_before'][0]:.2f} / {r['load_after'][0]:.2f} |")
    lines += ["", "Reductions per scorer (seconds over the timed run):", "",
              "| scorer | " + " | ".join(r["mode"] for r in records) + " |", "|---|" + "---:|" * len(records)]
    for name in first["scorers"]:
        lines.append(f"| `{name}` | " + " | ".join(f"{r['by_scorer'].get(name, 0.0):.2f}" for r in records) + " |")
    lines += ["", "forward % = the predictor calls (device compute until `block_until_ready`, then the copy of the outputs "
              "to the host as float32 numpy); device % is the first part alone, as a share of the run. Shares are of the "
              "timed run's wall time; failures: " + ", ".join(f"{r['mode']} {r['failures']}" for r in records) + "."]
    return "\n".join(lines)


ISM_REGION = "20:1,500,001-1,500,064"


def ism(region_text: str, window_bp: int, batch: int, fasta: Path) -> str:
    """Issue 15's ISM figure: positions/s of one region in one window, compilation excluded."""
    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.sequence.fasta import Genome
    from genotile.variants.engine import ScoringOptions, parse_scorers, scorers_for_annotation
    from genotile.variants.ism import IsmRegion, parse_ism_region, run_ism
    from genotile.variants.predict import VariantModel

    genome = Genome(fasta)
    region = parse_ism_region(region_text, "--ism-region", window_bp, genome.contigs)
    specs, _ = scorers_for_annotation(parse_scorers(["recommended"]), has_gtf=False, has_pas=False)
    model = VariantModel(Predictor(synthetic_model("tiny", 0), None, precision="float32"), {s.output for s in specs})
    options = ScoringOptions(window_bp=window_bp, batch_size=batch)
    t0 = time.perf_counter()
    warm = IsmRegion(region.contig, region.end, region.end + 2)  # 6 SNVs: a full batch and single rows compiled
    run_ism(model, genome, warm, specs, options, progress_label="ism warm-up")
    warmup = time.perf_counter() - t0
    result = run_ism(model, genome, region, specs, options)
    s, t = result.scoring.stats, result.scoring.timings
    shares = t.shares()
    window = f"{result.window[0]}:{result.window[1] + 1:,}-{result.window[2]:,}"
    lines = [f"ISM: every SNV of {region.text} ({region.length} bp, {len(result.snvs)} SNVs) in one {window_bp:,}-bp window "
             f"({window}), {len(specs)} scorers (recommended, no gene annotation), tiny model (synthetic weights), CPU "
             f"float32, ALT batch {batch}, local encoder; compilation excluded (warm-up {warmup:.1f} s)", "",
             "| positions | SNVs | forward passes | seconds | positions/s | SNVs/s | forward % | reductions % | other % | failures |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {region.length} | {len(result.snvs)} | {int(s['forward_passes'])} | {s['seconds']:.1f} "
             f"| {result.positions_per_second:.3f} | {s['variants_per_second']:.3f} | {100 * shares['forward']:.1f} "
             f"| {100 * shares['reductions']:.1f} | {100 * shares['other']:.1f} | {len(result.scoring.failures)} |"]
    return "\n".join(lines)


GENES_REAL = ROOT.parent / "shared/realdata/hg38_chr1_1Mb"


def genes(n_variants: int, window_bp: int, batch: int | str) -> str:
    """The gene scorers' cost, reduced on the device and on the host (see the docstring)."""
    import numpy as np
    import pandas as pd

    from genotile.model.checkpoints import synthetic_model
    from genotile.model.predictor import Predictor
    from genotile.sequence.fasta import Genome
    from genotile.variants import scorers as S
    from genotile.variants.annotation import read_gtf
    from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants, scorer_name, scorers_for_annotation
    from genotile.variants.predict import VariantModel
    from genotile.variants.steps import resolved_batch_size

    genome = Genome(GENES_REAL / "hg38_1m.fa.gz")
    annotation = read_gtf(GENES_REAL / "gencode_v29_chr1_first1.5Mb.gtf.gz", contigs=["chr1"])
    rows = []
    for pos in range(930_001, 930_001 + 100 * (n_variants + 3), 100):
        ref = genome.sequence("chr1", pos - 1, pos).upper()
        if ref in "ACGT":
            alt = {"A": "C", "C": "G", "G": "T", "T": "A"}[ref]
            rows.append({"variant_id": f"chr1:{pos}:{ref}>{alt}", "chrom": "chr1", "pos": pos, "ref": ref, "alt": alt})
    variants = pd.DataFrame(rows)
    warm, timed = variants.iloc[:3], variants.iloc[3 : 3 + n_variants]
    specs, _ = scorers_for_annotation(parse_scorers(["recommended"]), has_gtf=True, has_pas=False)
    model = VariantModel(Predictor(synthetic_model("tiny", 0), None, precision="float32"), {s.output for s in specs})
    rows_batch = resolved_batch_size(batch, model, specs, window_bp)
    options = ScoringOptions("tiled", window_bp, batch_size=rows_batch)
    results = {}
    gene_kinds = ("GeneMaskLFC", "GeneMaskActive", "GeneMaskSplicing", "SpliceJunction")
    for where in ("device", "host"):
        saved = {k: S.REGISTRY[k].device_read for k in gene_kinds}
        if where == "host":
            for k in saved:
                S.REGISTRY[k].device_read = lambda self, spec: None
        try:
            model.__dict__.pop("_device_passes", None)  # new passes for the changed split of scorers
            score_variants(model, genome, warm, specs, options, annotation)
            results[where] = score_variants(model, genome, timed, specs, options, annotation)
        finally:
            for k, f in saved.items():
                S.REGISTRY[k].device_read = f
    lines = [f"Gene scorers: {len(timed)} SNVs every 100 bp from chr1:{timed.pos.iloc[0]:,} (hg38, GENCODE v29), tiled, "
             f"{window_bp:,}-bp windows, {len(specs)} scorers (recommended with a GTF, no PAS), tiny model, CPU float32, "
             f"ALT batch {rows_batch}; compilation excluded (3 warm-up variants)", "",
             "| gene scorers reduce on | variants/s | forward % | reductions % | other % | GeneMaskLFC/Active (s) | "
             "GeneMaskSplicing (s) | SpliceJunction (s) | peak RSS (GiB) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for where, r in results.items():
        shares, by = r.timings.shares(), r.timings.reductions_by_scorer
        gene = sum(v for k, v in by.items() if k.startswith(("GeneMaskLFC", "GeneMaskActive")))
        splicing = sum(v for k, v in by.items() if k.startswith("GeneMaskSplicing"))
        junction = sum(v for k, v in by.items() if k.startswith("SpliceJunction"))
        lines.append(f"| {where} | {r.stats['variants_per_second']:.3f} | {100 * shares['forward']:.1f} "
                     f"| {100 * shares['reductions']:.1f} | {100 * shares['other']:.1f} | {gene:.2f} | {splicing:.2f} | {junction:.2f} "
                     f"| {r.timings.peak_rss_gib:.2f} |")
    device, host = results["device"], results["host"]
    same_rows, worst = True, 0.0
    for n in device.scores:
        a, b = device.scores[n], host.scores[n]
        keys = [c for c in a.columns if c not in ("score", "ref_value", "alt_value")]
        same_rows &= len(a) == len(b) and a[keys].equals(b[keys])
        if len(a) == len(b) and len(a):
            x, y = a["score"].to_numpy(np.float64), b["score"].to_numpy(np.float64)
            ok = ~(np.isnan(x) | np.isnan(y))
            worst = max(worst, float(np.abs(x[ok] - y[ok]).max(initial=0.0)))
    lines += ["", f"scorers: {', '.join(scorer_name(s) for s in specs)}; same rows (variants, genes, junctions, tracks) in both "
              f"runs: {same_rows}; largest score difference {worst:.2e}"]
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
    parser.add_argument("--cohort", action="store_true")
    parser.add_argument("--cohort-modes", nargs="+", default=["tiled", "centered"], choices=["tiled", "centered"])
    parser.add_argument("--cohort-variants", type=int, nargs="+", default=[100, 48],
                        help="variants per mode (one count for all, or one per --cohort-modes entry)")
    parser.add_argument("--cohort-warmup", type=int, default=5)
    parser.add_argument("--cohort-window-bp", type=int, default=131_072)
    parser.add_argument("--cohort-batch", type=lambda s: s if s == "auto" else int(s), default=4,
                        help="ALT rows per forward call, or auto (as variants.batch_size: auto)")
    parser.add_argument("--cohort-vcf", type=Path, default=COHORT_VCF)
    parser.add_argument("--cohort-timeout", type=float, default=1800)
    parser.add_argument("--cohort-child", choices=["tiled", "centered"], help=argparse.SUPPRESS)
    parser.add_argument("--ism", action="store_true")
    parser.add_argument("--genes", action="store_true")
    parser.add_argument("--genes-variants", type=int, default=40)
    parser.add_argument("--genes-window-bp", type=int, default=131_072)
    parser.add_argument("--ism-region", default=ISM_REGION)
    parser.add_argument("--ism-window-bp", type=int, default=131_072)
    args = parser.parse_args()
    if args.cohort_child:
        print(json.dumps(cohort_child(args.cohort_child, args.cohort_variants[0], args.cohort_warmup, args.cohort_window_bp,
                                      args.cohort_batch, args.cohort_vcf, args.fasta)), flush=True)
        return
    both = not (args.ingest or args.modes or args.cohort or args.ism or args.genes)
    print(describe_machine(), "\n")
    if args.ingest or both:
        print(ingest(args.vcf, args.fasta, args.repeats), "\n", flush=True)
    if args.modes or both:
        print(modes(args.n_variants, args.window_bp), "\n", flush=True)
    if args.genes:  # minutes: only when asked
        print(genes(args.genes_variants, args.genes_window_bp, args.cohort_batch), "\n", flush=True)
    if args.ism:  # minutes: only when asked
        print(ism(args.ism_region, args.ism_window_bp, args.cohort_batch, args.fasta), "\n", flush=True)
    if args.cohort:  # minutes per mode: only when asked
        print(cohort(args.cohort_modes, args.cohort_variants, args.cohort_warmup, args.cohort_window_bp, args.cohort_batch,
                     args.cohort_vcf, args.fasta, args.cohort_timeout), flush=True)


if __name__ == "__main__":
    main()
