"""``genotile ism``: in-silico mutagenesis of one region, outside Snakemake (the workflow's ``ism`` step).

Why the step: the command calls :func:`genotile.variants.steps.ism` with settings built as the rule builds
them (:class:`genotile.settings.IsmSettings`, the schema's ``ism`` defaults for every flag left out), so it
writes the rule's files; only the messages name the CLI's flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genotile.cli.common import log
from genotile.cli.tracks import model_settings
from genotile.cli.variants import add_model_options, batch_size_option, parse_scorer_option
from genotile.settings import schema_default, schema_defaults

#: The workflow schema's ``ism`` defaults: the CLI's defaults too.
DEFAULTS = schema_defaults("ism")


def cmd_ism(args: argparse.Namespace) -> int:
    from genotile.model.loading import load_predictor
    from genotile.runtime.provenance import weights_identity
    from genotile.sequence.fasta import Genome
    from genotile.settings import IsmSettings
    from genotile.variants import steps
    from genotile.variants.engine import parse_scorers, scorers_for_annotation
    from genotile.variants.ism import parse_ism_region

    given = {"scorers": [parse_scorer_option(s) for s in args.scorer] if args.scorer else None,
             "window_bp": args.window_bp, "top_n": args.top_n}
    config = {"organism": args.organism or schema_default("organism"),
              "ism": {**DEFAULTS, **{k: v for k, v in given.items() if v is not None}}}
    settings = IsmSettings.from_config(config)
    specs = parse_scorers(settings.scorers, settings.organism)  # a bad --scorer stops before the model loads
    if args.scorer is not None:
        kept, _ = scorers_for_annotation(specs, bool(args.gtf), bool(args.pas))
        lacking = [s for s in specs if s not in kept]
        if lacking:
            raise ValueError(f"--scorer {lacking[0].scorer}:{lacking[0].output} needs an annotation: "
                             + ("a PAS table (--pas)" if args.gtf else "a gene annotation (--gtf)"))
    for flag, path in (("--fasta", args.fasta), ("--gtf", args.gtf), ("--pas", args.pas)):
        if path and not Path(path).exists():
            raise ValueError(f"{flag} {path} does not exist")
    parse_ism_region(args.region, "--region", settings.window_bp, Genome(args.fasta).contigs)  # before the model loads
    model = model_settings(args)
    predictor = load_predictor(model, exact_size=args.size is not None, log=log)
    identity = weights_identity({**model, "size": model["size"] or "tiny"})
    out = Path(args.out)
    result = steps.ism(settings, predictor, args.region, args.fasta, args.gtf, args.pas, str(out),
                       batch_size=args.batch_size or DEFAULTS["batch_size"], done=str(out / "done.json"),
                       model_identity=identity)
    print(f"wrote {out / 'ism.zarr'}, {out / 'strongest.parquet'} and {out / 'ism_logo.png'}")
    print(f"ISM of {result.region.text}: {result.region.length:,} positions, {len(result.snvs):,} SNVs in "
          f"{result.scoring.stats['seconds']:.1f} s: {result.positions_per_second:.2f} positions/s")
    return 0


def register(sub) -> None:
    """Add ``genotile ism`` to the ``genotile`` subparsers ``sub``."""
    ism = sub.add_parser("ism", help="in-silico mutagenesis: every SNV of a region, scored in one window")
    ism.add_argument("--region", required=True, help="contig:start-end, 1-based inclusive (at most 10,000 bp)")
    ism.add_argument("--fasta", required=True)
    ism.add_argument("--out", required=True, help="output folder: ism.zarr, strongest.parquet, failures.parquet, ism_logo.png")
    ism.add_argument("--gtf", help="GENCODE/Ensembl GTF (gene scorers)")
    ism.add_argument("--pas", help="polyadenylation-site table (Polyadenylation scorer)")
    ism.add_argument("--scorer", action="append", default=None, metavar="SPEC",
                     help="'recommended' (default) or KIND:OUTPUT[:WIDTH|all[:AGGREGATION]], e.g. CenterMask:DNASE:501:DIFF_LOG2_SUM; repeatable")
    ism.add_argument("--window-bp", type=int, help=f"the window the region is scored in (default {DEFAULTS['window_bp']:,})")
    ism.add_argument("--top-n", type=int, help=f"strongest effects listed per scorer (default {DEFAULTS['top_n']})")
    ism.add_argument("--batch-size", type=batch_size_option,
                     help=f"ALT rows per forward call or 'auto' (from free device memory), speed only (default {DEFAULTS['batch_size']})")
    add_model_options(ism)
    ism.set_defaults(func=cmd_ism)
