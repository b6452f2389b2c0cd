"""``genotile vcf normalize``, ``genotile score`` and ``genotile demo-cohort``: the workflow's variant steps, called from the shell.

Why: the commands call the steps the rules call (:mod:`genotile.variants.steps`) with settings
built the same way (:mod:`genotile.settings`, defaults from the workflow's schema), so
``genotile vcf normalize`` + ``genotile score`` give the bytes the workflow gives for the same
settings; only the messages differ (they name the CLI's flags).
"""

from __future__ import annotations

import argparse
from typing import Any

from genotile.cli.common import log
from genotile.cli.tracks import model_settings
from genotile.settings import schema_default, schema_defaults

#: The workflow schema's ``variants`` defaults: the CLI's defaults too (one home for them).
DEFAULTS = schema_defaults("variants")


def variant_config(args: argparse.Namespace, **overrides: Any) -> dict[str, Any]:
    """A config with the schema's ``variants`` defaults and the given flags, for the settings' ``from_config``."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return {"organism": getattr(args, "organism", None) or schema_default("organism"), "variants": {**DEFAULTS, **given}}


def parse_scorer_option(text: str) -> str | dict:
    """``KIND:OUTPUT[:WIDTH|all[:AGGREGATION]]`` -> a config scorer entry (``'recommended'`` passes through)."""
    if text.lower() == "recommended":
        return "recommended"
    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 4:
        raise ValueError(f"--scorer {text!r}: expected KIND:OUTPUT[:WIDTH|all[:AGGREGATION]]")
    entry: dict = {"scorer": parts[0], "output": parts[1]}
    if len(parts) > 2:
        if parts[2] != "all" and not parts[2].isdigit():
            raise ValueError(f"--scorer {text!r}: width {parts[2]!r} must be a number of bp or 'all'")
        entry["width"] = None if parts[2] == "all" else int(parts[2])
    if len(parts) > 3:
        entry["aggregation"] = parts[3]
    return entry


def cmd_demo_cohort(args: argparse.Namespace) -> int:
    from genotile.sequence.demo import write_demo_annotation, write_demo_vcf

    if not (args.vcf or args.gtf):
        raise ValueError("give --vcf (with --fasta) and/or --gtf with --pas")
    if args.vcf:
        if not args.fasta:
            raise ValueError("--vcf needs --fasta (the demo genome, from `genotile demo-genome`)")
        print(f"wrote demo cohort VCF to {write_demo_vcf(args.vcf, args.fasta, args.seed)}")
    if args.gtf:
        if not args.pas:
            raise ValueError("--gtf needs --pas (the demo annotation is a GTF and a PAS table)")
        gtf, pas = write_demo_annotation(args.gtf, args.pas)
        print(f"wrote demo annotation to {gtf} and {pas}")
    return 0


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The model options of the scoring commands (``genotile score``, ``genotile ism``): one wording for both."""
    parser.add_argument("--organism", help=f"default {schema_default('organism')}")
    parser.add_argument("--checkpoint", help="official AlphaGenome or genotile checkpoint folder (local, s3:// or gs://); "
                        "default: seeded synthetic weights")
    parser.add_argument("--size", choices=["full", "tiny"], default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metadata", help="folder of OutputMetadataResponse_ORGANISM_*.textproto")
    parser.add_argument("--precision", choices=["bfloat16", "float32"], default="float32")


def batch_size_option(text: str) -> int | str:
    """``--batch-size``: a positive integer or ``auto``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return value


def cmd_score(args: argparse.Namespace) -> int:
    """Normalise (with ``--vcf``), shard, score and merge: the workflow's steps, one after another in one process."""
    import json
    import tempfile
    import time
    from pathlib import Path

    from genotile.model.loading import load_predictor
    from genotile.runtime.tables import read_parquet
    from genotile.settings import MergeSettings, NormalizeSettings, ScoreSettings, ShardSettings
    from genotile.variants import steps
    from genotile.variants.engine import parse_scorers, scorers_for_annotation
    from genotile.variants.normalize import CLI_OPTIONS

    out = Path(args.out)
    config = variant_config(args, scorers=[parse_scorer_option(s) for s in (args.scorer or ["recommended"])],
                            mode=args.mode, window_bp=args.window_bp, include_values=args.include_values or None,
                            batch_size=args.batch_size, local_encoder=False if args.no_local_encoder else None,
                            rename_chr_prefix=args.rename_chr_prefix or None)
    specs = parse_scorers(config["variants"]["scorers"], config["organism"])  # a bad --scorer stops before any work
    if args.scorer is not None:  # scorers asked for by name are never skipped: say what they need
        kept, _ = scorers_for_annotation(specs, bool(args.gtf), bool(args.pas))
        lacking = [s for s in specs if s not in kept]
        if lacking:
            raise ValueError(f"--scorer {lacking[0].scorer}:{lacking[0].output} needs an annotation: "
                             + ("a PAS table (--pas)" if args.gtf else "a gene annotation (--gtf)"))
    for flag, path in (("--gtf", args.gtf), ("--pas", args.pas)):
        if path and not Path(path).exists():
            raise ValueError(f"{flag} {path} does not exist")
    if args.vcf:
        variants = str(out / "variants.parquet")
        steps.normalize_variants(NormalizeSettings.from_config(config), args.vcf, args.fasta, variants,
                                 str(out / "rejects.parquet"), option_names=CLI_OPTIONS)
    else:
        variants = args.variants
        if not Path(variants).is_file():
            raise ValueError(f"--variants {variants} does not exist; make it with `genotile vcf normalize`")
        table = read_parquet(variants)  # contig names as text even if the table stores them as numbers
        missing = [c for c in ("variant_id", "chrom", "pos", "ref", "alt") if c not in table.columns]
        if missing:
            raise ValueError(f"--variants {variants} lacks column(s) {missing}; make it with `genotile vcf normalize`")
    predictor = load_predictor(model_settings(args), exact_size=args.size is not None, log=log)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".shards-") as tmp:
        shards_tsv = f"{tmp}/shards.tsv"
        shards = steps.shard_variants(ShardSettings.from_config(config), variants, args.fasta, shards_tsv)
        folders = [f"{tmp}/shards/shard_{int(i)}" for i in shards["shard"]]
        for shard_id, folder in zip(shards["shard"], folders, strict=True):
            steps.score_shard(ScoreSettings.from_config(config), predictor, variants, shards_tsv, int(shard_id), args.fasta,
                              args.gtf, args.pas, folder, batch_size=config["variants"]["batch_size"], done=f"{folder}.done")
        steps.merge_scores(MergeSettings.from_config(config), variants, folders, str(out), str(out / "failures.parquet"),
                           str(out / "scores.done.json"), shard_dones=[f"{f}.done" for f in folders],
                           has_gtf=bool(args.gtf), has_pas=bool(args.pas))
    record = json.loads((out / "scores.done.json").read_text())
    for slug, n in record["rows_per_scorer"].items():
        print(f"{slug}\t{n} rows")
    failures = read_parquet(out / "failures.parquet")
    print(f"scored {record['variants']:,} variants in {time.perf_counter() - t0:.1f} s; {len(failures)} failed "
          f"(variant, scorer) pairs in {out / 'failures.parquet'}")
    return 0

def cmd_vcf_normalize(args: argparse.Namespace) -> int:
    """The workflow's ``normalize_variants`` step, with messages naming the CLI's flags."""
    from pathlib import Path

    from genotile.settings import NormalizeSettings
    from genotile.variants.normalize import CLI_OPTIONS, REJECT_REASONS
    from genotile.variants.steps import normalize_variants

    if Path(args.out).resolve() == Path(args.rejects).resolve():
        raise ValueError(f"--out and --rejects are the same file ({args.out}); give two different paths")
    settings = NormalizeSettings.from_config(variant_config(
        args, max_indel_length=args.max_indel_length, max_ref_mismatch_fraction=args.max_ref_mismatch_fraction,
        rename_chr_prefix=args.rename_chr_prefix or None, region=args.region))
    variants, rejects = normalize_variants(settings, args.vcf, args.fasta, args.out, args.rejects, option_names=CLI_OPTIONS)
    if settings.rename_chr_prefix:
        rename = variants.attrs.get("renamed", {})
        log(f"renamed {len(rename)} contig(s) by the 'chr' prefix" + (f" (e.g. {next(iter(rename))} -> {next(iter(rename.values()))})" if rename else ""))
    counts = rejects["reason"].value_counts() if len(rejects) else {}
    print(f"records: {variants.attrs.get('records', 0):,}")
    print(f"alleles: {variants.attrs.get('alleles', 0):,}")
    print(f"kept: {len(variants):,}")
    print(f"rejected: {len(rejects):,}")
    for reason in REJECT_REASONS:
        if reason in counts:
            print(f"  {reason}: {int(counts[reason]):,}")
    print(f"wrote {args.out} and {args.rejects}")
    return 0

def register(sub) -> None:
    """Add this group's commands to the ``genotile`` subparsers ``sub``."""
    vcf = sub.add_parser("vcf", help="cohort VCF tools").add_subparsers(dest="vcf_command", required=True)
    norm = vcf.add_parser("normalize", help="split, trim, left-align and REF-check a VCF (like bcftools norm -m- -f)")
    norm.add_argument("--vcf", required=True, help="input VCF/BCF (plain, .vcf.gz or .bcf)")
    norm.add_argument("--fasta", required=True, help="reference FASTA the VCF was called against")
    norm.add_argument("--out", required=True, help="normalised variants (.parquet)")
    norm.add_argument("--rejects", required=True, help="rejected records/alleles with reasons (.parquet)")
    norm.add_argument("--max-indel-length", type=int,
                      help=f"longest indel kept, in bp (default {DEFAULTS['max_indel_length']})")
    norm.add_argument("--max-ref-mismatch-fraction", type=float,
                      help=f"stop when more than this fraction of records disagree with the FASTA "
                           f"(default {DEFAULTS['max_ref_mismatch_fraction']})")
    norm.add_argument("--rename-chr-prefix", action="store_true",
                      help="map VCF contigs to FASTA contigs that differ only by a 'chr' prefix (1 <-> chr1)")
    norm.add_argument("--region", help="only records in contig:start-end (1-based; needs a tabix/CSI index)")
    norm.set_defaults(func=cmd_vcf_normalize)

    cohort = sub.add_parser("demo-cohort", help="write the seeded demo cohort VCF and/or demo GTF + PAS table")
    cohort.add_argument("--fasta", help="the demo genome FASTA (needed for --vcf)")
    cohort.add_argument("--vcf", help="output plain-text VCF")
    cohort.add_argument("--gtf", help="output demo GTF (needs --pas too)")
    cohort.add_argument("--pas", help="output demo polyadenylation-site table")
    cohort.add_argument("--seed", type=int, default=0)
    cohort.set_defaults(func=cmd_demo_cohort)

    score = sub.add_parser("score", help="score variants with AlphaGenome variant scorers (outside Snakemake)")
    source = score.add_mutually_exclusive_group(required=True)
    source.add_argument("--vcf", help="VCF/BCF to normalise and score (rejects are written too)")
    source.add_argument("--variants", help="variants already normalised by `genotile vcf normalize` (.parquet)")
    score.add_argument("--rename-chr-prefix", action="store_true",
                       help="with --vcf: map VCF contigs to FASTA contigs that differ only by a 'chr' prefix (1 <-> chr1)")
    score.add_argument("--fasta", required=True)
    score.add_argument("--out", required=True, help="output folder: scores/<scorer>.parquet, scores.zarr, failures.parquet")
    score.add_argument("--gtf", help="GENCODE/Ensembl GTF (gene scorers)")
    score.add_argument("--pas", help="polyadenylation-site table (Polyadenylation scorer)")
    score.add_argument("--scorer", action="append", default=None, metavar="SPEC",
                       help="'recommended' (default) or KIND:OUTPUT[:WIDTH|all[:AGGREGATION]], e.g. CenterMask:DNASE:501:DIFF_MEAN; repeatable")
    score.add_argument("--mode", choices=["centered", "tiled"], help=f"default {DEFAULTS['mode']}")
    score.add_argument("--window-bp", type=int, help=f"default {DEFAULTS['window_bp']:,}")
    score.add_argument("--batch-size", type=batch_size_option,
                       help=f"ALT rows per forward call or 'auto' (from free device memory), speed only (default {DEFAULTS['batch_size']})")
    score.add_argument("--include-values", action="store_true", help="add REF/ALT aggregates next to each score")
    score.add_argument("--no-local-encoder", action="store_true",
                       help="run the full encoder for every ALT (default: substitutions recompute only around the change)")
    add_model_options(score)
    score.set_defaults(func=cmd_score)
