"""The ``genotile`` command line.

Every error a user can cause (a bad path, region, organism, checkpoint or
metadata folder) is a ``ValueError`` subclass raised with a message that
names the input and the fix; ``main`` prints it on one line and exits 2, so
no traceback reaches the user. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from genotile import __version__
from genotile.outputs import MODEL_HEADS, by_head
from genotile.runtime.log import say

OUTPUT_CHOICES = list(MODEL_HEADS)  # head names (genotile.outputs), the reference order


def _log(message: str) -> None:
    say(message)  # genotile's one logger (timestamped, to stderr)


def module_group(module: str) -> str:
    """Summary row of a Haiku module path: repeated tower blocks are pooled, everything else is per block."""
    parts = module.split("/")[1:]
    if parts[0] in ("sequence_encoder", "sequence_decoder", "head"):
        return "/".join(parts[:2])
    if parts[0] == "transformer_tower":
        return "transformer_tower/" + re.sub(r"_\d+$", "", parts[1]) + "*"
    return parts[0]


def model_summary(size: str) -> str:
    """A table of parameter and state counts per module group, with section and grand totals."""
    from genotile.model.config import get_config
    from genotile.model.layout import official_shapes

    cfg = get_config(size)
    params, state = official_shapes(cfg)
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for kind, tree in ((0, params), (1, state)):
        for module, leaves in tree.items():
            row = rows[module_group(module)]
            row[kind] += sum(int(np.prod(s)) for s in leaves.values())
            if kind == 0:
                row[2] += len(leaves)
    sections: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    lines = [f"genotile model '{cfg.name}' (AlphaGenome architecture)", f"{'module group':<48}{'params':>15}{'state':>10}"]
    for group in sorted(rows, key=_group_order):
        p, s, _ = rows[group]
        lines.append(f"  {group:<46}{p:>15,}{s:>10,}")
        section = group.split("/")[0]
        sections[section][0] += p
        sections[section][1] += s
    lines.append("sections:")
    for section, (p, s) in sorted(sections.items(), key=lambda kv: _group_order(kv[0])):
        lines.append(f"  {section:<46}{p:>15,}{s:>10,}")
    total_p = sum(r[0] for r in rows.values())
    total_s = sum(r[1] for r in rows.values())
    n_p = sum(len(v) for v in params.values())
    n_s = sum(len(v) for v in state.values())
    lines.append(f"{'total':<48}{total_p:>15,}{total_s:>10,}")
    lines.append(f"parameters: {total_p:,} values in {n_p} arrays; state: {total_s:,} values in {n_s} arrays")
    return "\n".join(lines)


def _group_order(group: str) -> tuple[int, str]:
    order = ["sequence_encoder", "embed", "transformer_tower", "sequence_decoder", "output_embedder", "output_embedder_1", "output_pair", "head"]
    head = group.split("/")[0]
    return (order.index(head) if head in order else len(order), _natural(group))


def _natural(text: str) -> str:
    return re.sub(r"\d+", lambda m: f"{int(m.group()):04d}", text)


def _load_model(args: argparse.Namespace):
    from genotile.model.checkpoints import load_checkpoint, synthetic_model
    from genotile.runtime.remote_inputs import checkpoint_path

    if args.checkpoint:
        _log(f"loading checkpoint {args.checkpoint}")
        return load_checkpoint(checkpoint_path(args.checkpoint), args.size if args.size_given else None)
    _log(f"using seeded synthetic '{args.size}' weights (seed {args.seed}): NOT biologically meaningful")
    return synthetic_model(args.size, args.seed)


def cmd_predict(args: argparse.Namespace) -> int:
    from genotile.sequence.fasta import Genome
    from genotile.sequence.encoding import validate_length
    from genotile.model.predictor import Predictor
    from genotile.model.alphagenome import OutputRequest
    from genotile.model.metadata import organism_index, select_tracks
    from genotile.model.prediction_io import check_output_path, write_predictions

    genome = Genome(args.fasta)
    contig, start, end = genome.resolve_region(args.region)  # an unknown contig fails here, before the model loads
    validate_length(end - start)
    check_output_path(args.out)  # a bad or unwritable output fails before the forward pass, not after it
    if args.track_regex:
        if not args.metadata:
            raise ValueError("--track-regex needs --metadata (track names come from the metadata)")
        try:
            re.compile(args.track_regex)
        except re.error as exc:
            raise ValueError(f"--track-regex {args.track_regex!r} is not a valid regular expression ({exc})") from None
    organism = organism_index(args.organism)
    request = OutputRequest(heads=tuple(args.outputs), resolutions=tuple(args.resolution))
    stranded = [h for h in request.heads if by_head(h).strand_pairs_in_metadata]
    if args.strand == "-" and stranded and not args.metadata:
        # Fail before the forward pass: reverse-complementing these heads needs the metadata's strand pairing.
        raise ValueError(f"--strand - with {', '.join(stranded)} needs --metadata (which channels are + and - strand)")
    loaded = _load_model(args)
    predictor = Predictor(loaded, args.metadata, precision=args.precision)
    tracks = None
    if args.track_regex:
        if predictor.metadata is None:
            raise ValueError("--track-regex needs --metadata (track names come from the metadata)")
        tracks = {}
        for head in request.heads:
            frame = predictor.metadata.frame(organism, head)
            tracks[head] = select_tracks(frame, name_regex=args.track_regex)
        if not any(len(t) for t in tracks.values()):
            raise ValueError(f"--track-regex {args.track_regex!r} matches no track of {', '.join(request.heads)}")
    dna = genome.fetch_one_hot(contig, start, end, strand=args.strand)
    _log(f"predicting {contig}:{start + 1:,}-{end:,} ({end - start:,} bp, strand {args.strand}, {args.organism}) "
         f"with the {loaded.config.name} model in {args.precision}")
    t0 = time.perf_counter()
    outputs = predictor.predict(dna[None], organism, request, negative_strand=args.strand == "-", tracks=tracks)
    _log(f"forward pass (incl. compile) {time.perf_counter() - t0:.1f} s")
    attrs = {
        "genotile_version": __version__,
        "region": f"{contig}:{start + 1}-{end}",
        "contig": contig,
        "start": start,
        "end": end,
        "strand": args.strand,
        "organism": args.organism,
        "model": loaded.identity,
        "model_size": loaded.config.name,
        "precision": args.precision,
        "metadata": str(args.metadata) if args.metadata else None,
        "fasta": str(args.fasta),
        "coordinates": "0-based half-open; axis 1 of every track is position (1 bp) or bin (128/2048 bp) from start",
    }
    path = write_predictions(args.out, outputs, attrs)
    for name, value in outputs.items():
        print(f"{name}\t{list(value.shape)}\t{value.dtype}")
    print(f"wrote {len(outputs)} arrays to {path}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    print(model_summary(args.size))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from genotile.model.checkpoints import save_checkpoint, synthetic_variables, write_official
    from genotile.model.config import get_config
    from genotile.model.layout import to_official

    cfg = get_config(args.size)
    _log(f"generating seeded '{cfg.name}' weights (seed {args.seed})")
    variables = synthetic_variables(cfg, args.seed)
    if args.official:
        params, state = to_official(variables)
        path = write_official(args.out, params, state)
    else:
        path = save_checkpoint(args.out, variables, cfg, note=f"synthetic seed {args.seed}; not biologically meaningful")
    print(f"wrote {'official-layout' if args.official else 'genotile'} checkpoint to {path}")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    """Write a checkpoint's per-array checksums once, so later loads and `model verify` catch damage."""
    from genotile.model.checkpoints import write_manifest
    from genotile.runtime.remote_inputs import checkpoint_path

    path, count = write_manifest(checkpoint_path(args.dir), args.out)
    print(f"wrote checksums of {count:,} arrays to {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check every array of a checkpoint against its checksums: exit 0 with counts, 2 naming the first bad one."""
    from genotile.model.checkpoints import verify_checkpoint
    from genotile.runtime.remote_inputs import checkpoint_path

    result = verify_checkpoint(checkpoint_path(args.dir), args.manifest)
    print(f"ok: {result.arrays:,} arrays ({result.values:,} values) match the checksums in {result.source}")
    return 0


def cmd_demo_genome(args: argparse.Namespace) -> int:
    from genotile.sequence.demo import write_demo_genome

    path = write_demo_genome(args.out, seed=args.seed)
    print(f"wrote demo genome to {path}")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    """Print a run's output digests, or compare two runs byte for byte (exit 1 when they differ)."""
    from genotile.runtime.run_digest import compare_runs, digest_run, leftovers

    first = digest_run(args.run, job_layout=not args.products_only)
    if not args.other:
        for path, digest in first.items():
            print(f"{digest}  {path}")
        for path in leftovers(args.run):
            print(f"genotile: warning: leftover temporary file {path} (an interrupted job; rerun the workflow)", file=sys.stderr)
        return 0
    problems = compare_runs(args.run, args.other, job_layout=not args.products_only)
    for line in problems:
        print(line)
    print(f"{len(first)} files compared: " + ("identical" if not problems else f"{len(problems)} difference(s)"))
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genotile", description="AlphaGenome-class inference over genomes and cohorts.")
    parser.add_argument("--version", action="version", version=f"genotile {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    model = sub.add_parser("model", help="inspect or create model weights").add_subparsers(dest="model_command", required=True)
    summary = model.add_parser("summary", help="parameter and state counts per module group")
    summary.add_argument("--size", choices=["full", "tiny"], default="full")
    summary.set_defaults(func=cmd_summary)
    init = model.add_parser("init", help="write a checkpoint of seeded synthetic weights (tests, demos)")
    init.add_argument("--size", choices=["full", "tiny"], default="tiny")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--official", action="store_true", help="write the official (params, state) layout instead")
    init.add_argument("--out", required=True)
    init.set_defaults(func=cmd_init)
    manifest = model.add_parser("manifest", help="write a checkpoint's per-array checksums (once, after download)")
    manifest.add_argument("dir", help="checkpoint folder (official or genotile)")
    manifest.add_argument("--out", help="manifest file (default: DIR/genotile-manifest.json)")
    manifest.set_defaults(func=cmd_manifest)
    verify = model.add_parser("verify", help="check every array of a checkpoint against its checksums")
    verify.add_argument("dir", help="checkpoint folder (official or genotile)")
    verify.add_argument("--manifest", help="checksums from `genotile model manifest` (default: a genotile "
                        "checkpoint's built-in ones, else DIR/genotile-manifest.json)")
    verify.set_defaults(func=cmd_verify)

    demo = sub.add_parser("demo-genome", help="write the seeded demo genome FASTA")
    demo.add_argument("--out", required=True)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo_genome)

    predict = sub.add_parser("predict", help="predict one region and write the raw head outputs")
    predict.add_argument("--fasta", required=True, help="FASTA (plain or bgzipped with .fai/.gzi)")
    predict.add_argument("--region", required=True, help="contig:start-end, 1-based inclusive; length a multiple of 2,048")
    predict.add_argument("--strand", choices=["+", "-"], default="+")
    predict.add_argument("--organism", default="human")
    predict.add_argument("--checkpoint", help="official AlphaGenome or genotile checkpoint folder (local, s3:// or gs://); default: seeded synthetic weights")
    predict.add_argument("--size", choices=["full", "tiny"], default=None, help="model size (default: full for official checkpoints, tiny for synthetic)")
    predict.add_argument("--seed", type=int, default=0, help="seed of the synthetic weights")
    predict.add_argument("--metadata", help="folder of OutputMetadataResponse_ORGANISM_*.textproto (track names, scaling, strands)")
    predict.add_argument("--outputs", nargs="+", choices=OUTPUT_CHOICES, default=OUTPUT_CHOICES, metavar="HEAD")
    predict.add_argument("--resolution", nargs="+", type=int, choices=[1, 128], default=[1, 128])
    predict.add_argument("--track-regex", help="keep only tracks whose metadata name matches this regex")
    predict.add_argument("--precision", choices=["bfloat16", "float32"], default="float32",
                         help="bfloat16 reproduces the reference's numerics (slow on CPU); float32 is the CPU default")
    predict.add_argument("--out", required=True, help="output .zarr or .npz")
    predict.set_defaults(func=cmd_predict)

    vcf = sub.add_parser("vcf", help="cohort VCF tools").add_subparsers(dest="vcf_command", required=True)
    norm = vcf.add_parser("normalize", help="split, trim, left-align and REF-check a VCF (like bcftools norm -m- -f)")
    norm.add_argument("--vcf", required=True, help="input VCF/BCF (plain, .vcf.gz or .bcf)")
    norm.add_argument("--fasta", required=True, help="reference FASTA the VCF was called against")
    norm.add_argument("--out", required=True, help="normalised variants (.parquet)")
    norm.add_argument("--rejects", required=True, help="rejected records/alleles with reasons (.parquet)")
    norm.add_argument("--max-indel-length", type=int, default=50, help="longest indel kept, in bp (default 50)")
    norm.add_argument("--max-ref-mismatch-fraction", type=float, default=0.1,
                      help="stop when more than this fraction of records disagree with the FASTA (default 0.1)")
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
    score.add_argument("--mode", choices=["centered", "tiled"], default="centered")
    score.add_argument("--window-bp", type=int, default=131_072)
    score.add_argument("--batch-size", type=int, default=4)
    score.add_argument("--include-values", action="store_true", help="add REF/ALT aggregates next to each score")
    score.add_argument("--organism", default="human")
    score.add_argument("--checkpoint", help="official AlphaGenome or genotile checkpoint folder (local, s3:// or gs://); default: seeded synthetic weights")
    score.add_argument("--size", choices=["full", "tiny"], default=None)
    score.add_argument("--seed", type=int, default=0)
    score.add_argument("--metadata", help="folder of OutputMetadataResponse_ORGANISM_*.textproto")
    score.add_argument("--precision", choices=["bfloat16", "float32"], default="float32")
    score.set_defaults(func=cmd_score)

    digest = sub.add_parser("digest", help="sha256 of a run's outputs (logs excluded); with two runs, compare them")
    digest.add_argument("run", help="a run folder, <results>/<run>")
    digest.add_argument("other", nargs="?", help="a second run folder to compare with, byte for byte")
    digest.add_argument("--products-only", action="store_true",
                        help="leave out the job-layout files (batches/, shards/, windows.tsv, storage_report.txt): compare runs cut into different jobs")
    digest.set_defaults(func=cmd_digest)

    unlock = sub.add_parser("unlock-stale", help="remove a Snakemake lock left by a killed run (only if no Snakemake of this host runs there)")
    unlock.add_argument("workdir", nargs="?", default=".", help="the workflow folder (default: the current one)")
    unlock.set_defaults(func=cmd_unlock_stale)
    return parser


def cmd_unlock_stale(args: argparse.Namespace) -> int:
    """Local runs only (``make demo``): a cluster's Snakemake may run on another host (README: --unlock)."""
    from genotile.runtime.run_lock import unlock_stale

    print(f"genotile: {unlock_stale(args.workdir)}", file=sys.stderr)
    return 0


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


def cmd_score(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path


    from genotile.sequence.fasta import Genome
    from genotile.model.predictor import Predictor
    from genotile.variants import outputs
    from genotile.variants.annotation import read_gtf, read_pas_table
    from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants, scorers_for_annotation
    from genotile.variants.normalize import normalize_vcf
    from genotile.variants.predict import VariantModel

    out = Path(args.out)
    genome = Genome(args.fasta)
    if args.vcf:
        variants, rejects = normalize_vcf(args.vcf, genome, rename_chr_prefix=args.rename_chr_prefix)
        for note in variants.attrs.get("warnings", []):
            _log(f"warning: {note}")
        out.mkdir(parents=True, exist_ok=True)
        variants.to_parquet(out / "variants.parquet", index=False)
        rejects.to_parquet(out / "rejects.parquet", index=False)
        _log(f"{args.vcf}: {len(variants):,} variants to score, {len(rejects):,} rejected (rejects.parquet)")
    else:
        path = Path(args.variants)
        if not path.is_file():
            raise ValueError(f"--variants {path} does not exist; make it with `genotile vcf normalize`")
        from genotile.runtime.tables import read_parquet

        variants = read_parquet(path)  # contig names as text even if the table stores them as numbers
        missing = [c for c in ("variant_id", "chrom", "pos", "ref", "alt") if c not in variants.columns]
        if missing:
            raise ValueError(f"--variants {path} lacks column(s) {missing}; make it with `genotile vcf normalize`")
    specs = parse_scorers([parse_scorer_option(s) for s in (args.scorer or ["recommended"])], args.organism)
    if args.scorer is None:  # the recommended set scores what the annotation given allows, and says what it skips
        specs, notes = scorers_for_annotation(specs, bool(args.gtf), bool(args.pas))
        for note in notes:
            _log(note.replace("annotation.gtf", "--gtf").replace("annotation.pas", "--pas"))
    annotation = read_gtf(args.gtf, contigs=list(genome.contigs)) if args.gtf else None
    pas = read_pas_table(args.pas) if args.pas else None
    predictor = Predictor(_load_model(args), args.metadata, precision=args.precision)
    model = VariantModel(predictor, {s.output for s in specs}, args.organism)
    options = ScoringOptions(mode=args.mode, window_bp=args.window_bp, batch_size=args.batch_size,
                             include_values=args.include_values)
    _log(f"scoring {len(variants):,} variants with {len(specs)} scorers ({args.mode}, {args.window_bp:,}-bp windows)")
    result = score_variants(model, genome, variants, specs, options, annotation, pas)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        shard = outputs.write_shard(result, Path(tmp) / "shard")
        counts = outputs.merge_shards([shard], out)
        outputs.write_matrix(out, variants["variant_id"].tolist(), outputs.shard_tracks([shard]))
    for slug, n in counts.items():
        print(f"{slug}\t{n} rows")
    print(f"scored {len(variants):,} variants in {result.stats['seconds']:.1f} s; {len(result.failures)} failed "
          f"(variant, scorer) pairs in {out / 'failures.parquet'}")
    return 0


def cmd_vcf_normalize(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from genotile.sequence.fasta import Genome
    from genotile.variants.normalize import REJECT_REASONS, normalize_vcf

    outputs = [Path(args.out), Path(args.rejects)]
    if outputs[0].resolve() == outputs[1].resolve():
        raise ValueError(f"--out and --rejects are the same file ({args.out}); give two different paths")
    genome = Genome(args.fasta)
    variants, rejects = normalize_vcf(
        args.vcf, genome, max_indel_length=args.max_indel_length,
        max_ref_mismatch_fraction=args.max_ref_mismatch_fraction, region=args.region,
        rename_chr_prefix=args.rename_chr_prefix,  # record by record: the rule the workflow uses too
    )
    for note in variants.attrs.get("warnings", []):
        print(f"genotile: warning: {note}", file=sys.stderr)
    if args.rename_chr_prefix:
        rename = variants.attrs.get("renamed", {})
        _log(f"renamed {len(rename)} contig(s) by the 'chr' prefix" + (f" (e.g. {next(iter(rename))} -> {next(iter(rename.values()))})" if rename else ""))
    for frame, path in ((variants, outputs[0]), (rejects, outputs[1])):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ValueError(f"cannot write {path} ({exc.strerror or exc}); choose a writable folder") from None
    counts = rejects["reason"].value_counts() if len(rejects) else {}
    print(f"records: {variants.attrs.get('records', 0):,}")
    print(f"alleles: {variants.attrs.get('alleles', 0):,}")
    print(f"kept: {len(variants):,}")
    print(f"rejected: {len(rejects):,}")
    for reason in REJECT_REASONS:
        if reason in counts:
            print(f"  {reason}: {int(counts[reason]):,}")
    print(f"wrote {outputs[0]} and {outputs[1]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "command", None) in ("predict", "score"):
        args.size_given = args.size is not None
        if args.size is None:
            args.size = "full" if args.checkpoint else "tiny"
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"genotile: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
