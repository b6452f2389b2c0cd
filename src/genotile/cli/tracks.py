"""``genotile predict`` (one region's raw head outputs) and ``genotile demo-genome`` (the genome it runs on)."""

from __future__ import annotations

import argparse
import re
import time

from genotile import __version__
from genotile.cli.common import log
from genotile.outputs import MODEL_HEADS, by_head

OUTPUT_CHOICES = list(MODEL_HEADS)  # head names (genotile.outputs), the reference order


def model_settings(args: argparse.Namespace) -> dict:
    """The ``model`` config section from the CLI's flags, for :func:`genotile.model.loading.load_predictor`
    (the loader the workflow uses; ``--size`` left out means "as the checkpoint says", tiny for synthetic)."""
    return {"checkpoint": args.checkpoint, "size": args.size, "seed": args.seed, "metadata": args.metadata,
            "precision": args.precision}


def cmd_predict(args: argparse.Namespace) -> int:
    from genotile.model.alphagenome import OutputRequest
    from genotile.model.loading import load_predictor
    from genotile.model.metadata import organism_index, select_tracks
    from genotile.model.prediction_io import check_output_path, write_predictions
    from genotile.sequence.encoding import validate_length
    from genotile.sequence.fasta import Genome

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
    predictor = load_predictor(model_settings(args), exact_size=args.size is not None, log=log)
    loaded = predictor.model
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
    log(f"predicting {contig}:{start + 1:,}-{end:,} ({end - start:,} bp, strand {args.strand}, {args.organism}) "
         f"with the {loaded.config.name} model in {args.precision}")
    t0 = time.perf_counter()
    outputs = predictor.predict(dna[None], organism, request, negative_strand=args.strand == "-", tracks=tracks)
    log(f"forward pass (incl. compile) {time.perf_counter() - t0:.1f} s")
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


def cmd_demo_genome(args: argparse.Namespace) -> int:
    from genotile.sequence.demo import write_demo_genome

    path = write_demo_genome(args.out, seed=args.seed)
    print(f"wrote demo genome to {path}")
    return 0


def register(sub) -> None:
    """Add this group's commands to the ``genotile`` subparsers ``sub``."""
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
