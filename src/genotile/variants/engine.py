"""Score normalised variants with the model: window choice, REF/ALT passes, every scorer.

Two modes (the ``mode`` option):

* ``centered`` -- the reference's semantics: each variant gets its own window centred on its
  REF span (:func:`genotile.variants.sequences.variant_window`), and its own REF and ALT
  passes. Use it for exact parity with the official ``score_variant``.
* ``tiled`` -- the genome is tiled into windows of ``window_bp`` whose central
  ``tile_owned_bp`` (default half) partition each contig (:func:`genotile.tracks.tiling.tile_contig`);
  each variant is scored in the window that owns its position. The REF pass of a window is
  run once and shared by all its variants; only ALT passes are per variant (batched). A
  variant is then up to ``tile_owned_bp / 2`` off the window centre, so its long-range
  context is asymmetric and scores differ slightly from ``centered``; when a window happens
  to be centred on a variant exactly as ``variant_window`` centres it, the two modes give the
  same numbers bit for bit (rows are computed one by one inside the compiled forward, so a
  window's outputs do not depend on its batch).

Each scorer kind (its maths, the outputs it reads, whether it needs a GTF or a PAS table) is a
class in :mod:`genotile.variants.scorers`, looked up by name in its registry; the masks are in
:mod:`genotile.variants.annotation`; this module only runs the passes, hands each scorer its
inputs and turns results into tidy rows (one per variant x scorer x gene/junction x track).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from genotile.runtime.progress import Progress
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.tracks.tiling import Window
from genotile.variants import scorers as S
from genotile.variants.annotation import AnnotationError, GeneAnnotation, PasTable
from genotile.variants.device_align import IDENTITY, alignment_params
from genotile.variants.device_pass import DevicePasses, WindowRows, alt_route, device_passes
from genotile.variants.predict import VariantModel, WindowPrediction
from genotile.variants.sequences import align_alternate, indel_alignment, ref_alt_sequences, variant_window
from genotile.variants.tiles import tile_membership
from genotile.variants.timings import ScoreTimings, peak_rss_gib

__all__ = [
    "FAILURE_COLUMNS", "SCORE_COLUMNS", "ScoreTimings", "ScoringError", "ScoringOptions", "ScoringResult",
    "parse_scorers", "score_variants", "scorer_name",
]  # fmt: skip

log = logging.getLogger(__name__)

SCORE_COLUMNS: Final = (
    "variant_id", "chrom", "pos", "ref", "alt", "scorer", "gene_id", "gene_name", "gene_strand",
    "junction_start", "junction_end", "track_index", "track_name", "track_strand", "score",
)  # fmt: skip
FAILURE_COLUMNS: Final = ("variant_id", "chrom", "pos", "ref", "alt", "scorer", "reason", "detail")
MODES: Final = ("centered", "tiled")


class ScoringError(ValueError):
    """A scoring request that cannot run (bad scorer list, missing annotation), with the fix."""


def scorer_name(spec: S.ScorerSpec) -> str:
    """Stable text id ``kind|OUTPUT|width|aggregation`` (empty fields where not applicable)."""
    width = "" if spec.width is None else str(spec.width)
    return f"{spec.scorer}|{spec.output}|{width}|{spec.aggregation or ''}"


#: Scorer kinds that need gene annotation / a PAS table (from the registry; kept here for the steps).
GENE_SCORERS = S.GENE_SCORERS
PAS_SCORERS = S.PAS_SCORERS


def _needs_genes(spec: S.ScorerSpec) -> bool:
    return S.REGISTRY[spec.scorer].needs_genes


def _needs_pas(spec: S.ScorerSpec) -> bool:
    return S.REGISTRY[spec.scorer].needs_pas


def scorers_for_annotation(specs: Sequence[S.ScorerSpec], has_gtf: bool, has_pas: bool) -> tuple[tuple[S.ScorerSpec, ...], list[str]]:
    """The scorers a run without a GTF (or PAS table) can still use, and one note per skipped kind.

    Why skip rather than stop: the ``recommended`` set mixes annotation-free scorers (centre masks,
    contact maps) with gene scorers, and a user without a GTF still wants the former. Scorers listed
    explicitly are checked up front instead (:mod:`genotile.config_checks`), so only the preset's
    reach this.
    """
    notes = []
    kept = tuple(specs)
    if not has_gtf:
        skipped = sorted({s.scorer for s in kept if _needs_genes(s)})
        if skipped:
            notes.append(f"no gene annotation (annotation.gtf): the {', '.join(skipped)} scorer(s) are skipped")
        kept = tuple(s for s in kept if not _needs_genes(s))
    elif not has_pas and any(_needs_pas(s) for s in kept):
        skipped = sorted({s.scorer for s in kept if _needs_pas(s)})
        notes.append(f"no PAS table (annotation.pas): the {', '.join(skipped)} scorer is skipped")
        kept = tuple(s for s in kept if not _needs_pas(s))
    return kept, notes


def parse_scorers(entries: Sequence[str | Mapping[str, Any]], organism: str = "human") -> tuple[S.ScorerSpec, ...]:
    """Config scorer entries -> specs. ``'recommended'`` expands to the official set.

    An entry is ``{scorer: CenterMask, output: DNASE, width: 501, aggregation: DIFF_MEAN}``
    (``width: null`` = whole window); other kinds take only ``scorer`` and ``output``.
    Duplicates are dropped, order kept.
    """
    specs: list[S.ScorerSpec] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            if entry.lower() != "recommended":
                raise ScoringError(f"scorers[{i}]: {entry!r} is not a preset; the preset is 'recommended'")
            specs.extend(S.recommended_scorers(organism))
            continue
        kind = str(entry.get("scorer", ""))
        if kind not in S.REGISTRY:
            raise ScoringError(f"scorers[{i}]: unknown scorer {kind!r}; known: {', '.join(S.REGISTRY)}")
        output = str(entry.get("output", "")).upper()
        allowed = S.REGISTRY[kind].outputs
        if output not in allowed:
            raise ScoringError(f"scorers[{i}]: {kind} cannot score output {output!r}; it takes {', '.join(sorted(allowed))}")
        try:
            width, aggregation = S.REGISTRY[kind].settings(entry.get("width"), entry.get("aggregation"))
        except S.SettingsError as err:
            raise ScoringError(f"scorers[{i}]: {err}") from None
        specs.append(S.ScorerSpec(kind, output, width, aggregation))
    unique = list(dict.fromkeys(specs))
    if not unique:
        raise ScoringError("no scorers given; use ['recommended'] or list scorer entries")
    return tuple(unique)


@dataclass(frozen=True)
class ScoringOptions:
    """How to score: ``mode`` (``centered``/``tiled``), model window ``window_bp``, owned core of a
    tile ``tile_owned_bp`` (tiled only; default half the window), ALT rows per forward call
    ``batch_size``, ``include_values`` (adds REF/ALT aggregates next to each score), and ``local_encoder``
    (substitutions' ALT encoder outputs recomputed only around the change, :mod:`genotile.model.local_encoder`;
    equal to the full pass to float32 rounding)."""

    mode: str = "centered"
    window_bp: int = 131_072
    tile_owned_bp: int | None = None
    batch_size: int = 4
    include_values: bool = False
    local_encoder: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ScoringError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.batch_size < 1:
            raise ScoringError("batch_size must be >= 1")


@dataclass
class ScoringResult:
    """Tidy score tables per scorer name, the (variant, scorer) pairs that could not be scored, stats, and
    where the time went (``timings``; its flat fields are in ``stats`` too, so in a shard's ``stats.json``)."""

    scores: dict[str, pd.DataFrame]
    failures: pd.DataFrame
    stats: dict[str, float] = field(default_factory=dict)
    tracks: dict[str, pd.DataFrame] = field(default_factory=dict)  # scorer name -> track_index, name, strand
    timings: ScoreTimings = field(default_factory=ScoreTimings)


# --------------------------------------------------------------------------- scorer application


def _tracks_for(model: VariantModel, spec: S.ScorerSpec) -> pd.DataFrame:
    return model.tracks[spec.output]


class _TidyTable:
    """One scorer's tidy rows (one per variant x gene/junction x track), collected per variant and built at once.

    Why not a DataFrame per variant: with the reductions on the device a variant costs milliseconds, and
    building 13 small frames per variant took a quarter of a run; here each variant adds a few arrays and the
    columns are made once per table with ``np.repeat``/``np.tile`` (the same dtypes and values)."""

    def __init__(self, spec: S.ScorerSpec, tracks: pd.DataFrame, include_values: bool) -> None:
        self.name = scorer_name(spec)
        self.include_values = include_values
        self.track_index = tracks["track_index"].to_numpy(np.int64)
        self.track_name = tracks["name"].to_numpy(object)
        self.track_strand = tracks["strand"].to_numpy(object)
        self.variants: list[tuple[str, str, int, str, str]] = []
        self.counts: list[int] = []
        self.scores: list[np.ndarray] = []
        self.labels: list[dict[str, np.ndarray]] = []
        self.values: list[tuple[np.ndarray | None, np.ndarray | None]] = []

    def add(self, variant: Any, rows: S.ScoreRows) -> None:
        score, labels, rv, av = rows
        self.variants.append((variant.variant_id, variant.chrom, int(variant.pos), variant.ref, variant.alt))
        self.counts.append(score.shape[0])
        self.scores.append(np.asarray(score, np.float32).reshape(-1))
        self.labels.append(labels)
        self.values.append((rv, av))

    def frame(self) -> pd.DataFrame:
        if not self.variants:
            return _empty_scores(self.include_values)
        n_tracks = len(self.track_index)
        counts = np.asarray(self.counts, np.int64)
        per_variant = counts * n_tracks
        total = int(per_variant.sum())

        def variant_column(i: int, dtype: Any) -> np.ndarray:
            return np.repeat(np.array([v[i] for v in self.variants], dtype), per_variant)

        def label_column(name: str, default: Any, dtype: Any = object) -> np.ndarray:
            parts = [
                np.asarray(labels[name], dtype) if name in labels else np.full(n, default, dtype)
                for labels, n in zip(self.labels, self.counts)
            ]
            return np.repeat(np.concatenate(parts) if parts else np.empty(0, dtype), n_tracks)

        def values(which: int) -> np.ndarray:
            parts = [
                np.full(n * n_tracks, np.nan, np.float32) if v[which] is None else np.asarray(v[which]).reshape(-1).astype(np.float32)
                for v, n in zip(self.values, self.counts)
            ]
            return np.concatenate(parts)

        frame = pd.DataFrame({
            "variant_id": variant_column(0, object),
            "chrom": variant_column(1, object),
            "pos": variant_column(2, np.int64),
            "ref": variant_column(3, object),
            "alt": variant_column(4, object),
            "scorer": np.full(total, self.name, object),
            "gene_id": label_column("gene_id", ""),
            "gene_name": label_column("gene_name", ""),
            "gene_strand": label_column("gene_strand", ""),
            "junction_start": label_column("junction_start", -1, np.int64),
            "junction_end": label_column("junction_end", -1, np.int64),
            "track_index": np.tile(self.track_index, int(counts.sum())),
            "track_name": np.tile(self.track_name, int(counts.sum())),
            "track_strand": np.tile(self.track_strand, int(counts.sum())),
            "score": np.concatenate(self.scores).astype(np.float32),
        })  # fmt: skip
        if self.include_values:
            frame["ref_value"] = values(0)
            frame["alt_value"] = values(1)
        return frame


# --------------------------------------------------------------------------- driving the passes


@dataclass
class _Job:
    """One variant placed in a window, with its REF/ALT one-hot sequences."""

    variant: Any
    window: tuple[int, int]
    ref_dna: np.ndarray
    alt_dna: np.ndarray


def _prepare(variant: Any, window: tuple[int, int], genome: Genome) -> _Job:
    start, end = window
    ref_seq, alt_seq = ref_alt_sequences(genome.sequence, variant.chrom, start, end, int(variant.pos), variant.ref, variant.alt)
    return _Job(variant, window, one_hot(ref_seq), one_hot(alt_seq))


def _tiles(variants: pd.DataFrame, genome: Genome, options: ScoringOptions) -> Iterator[tuple[Window, list[Any]]]:
    """Each tile with its variants: the membership ``shard_variants`` cuts by (:mod:`genotile.variants.tiles`)."""
    membership = tile_membership(variants, genome.length, options.window_bp, options.tile_owned_bp)
    rows = list(variants.itertuples(index=False))
    for window, positions in membership.groups():
        yield window, [rows[i] for i in positions]


def _one_window(variants: pd.DataFrame, window: tuple[str, int, int], window_bp: int) -> Iterator[tuple[Window, list[Any]]]:
    """All variants in one given window (``score_variants(window=...)``), checked to lie inside it."""
    contig, start, end = window
    if end - start != window_bp:
        raise ScoringError(f"window {contig}:{start}-{end} is {end - start:,} bp; the scoring window is {window_bp:,} bp")
    rows = list(variants.itertuples(index=False))
    outside = [v.variant_id for v in rows if v.chrom != contig or not start < int(v.pos) <= end]
    if outside:
        raise ScoringError(f"{len(outside)} variant(s) lie outside the window {contig}:{start}-{end}, e.g. {outside[0]}")
    yield Window(contig, start, end, start, end), rows


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _calls(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Batches of exactly ``size`` rows, then the remainder row by row.

    Why: every distinct batch shape is a new XLA compilation (seconds on a CPU, tens of seconds for the full
    model), so at most two shapes are compiled per encoder route; rows are computed one by one inside a call,
    so a row's scores do not depend on its batch either way."""
    full = len(items) - len(items) % size
    for i in range(0, full, size):
        yield items[i : i + size]
    for i in range(full, len(items)):
        yield items[i : i + 1]


@dataclass
class _DeviceRow:
    """One ALT row's device results (per device scorer: what its ``device_score`` returned, on the host), per
    scorer None or why it could not be scored, and the rows of the per-row scorers (the window's or the
    variant's arrays: their labels; padded rows cut off by each kind's ``device_rows``)."""

    results: list[tuple[np.ndarray | None, ...]]
    errors: list[str | None]
    windows: WindowRows

    def rows(self, plan: DevicePasses) -> Iterator[tuple[S.ScoreRows | None, str | None]]:
        """Per device scorer its rows, or None and why it could not be scored."""
        for spec, result, error, window in zip(plan.device_specs, self.results, self.errors, self.windows):
            error = error or (window.error if window is not None else None)
            if error is not None:
                yield None, error
            else:
                yield plan.kinds[spec].device_rows(spec, result, window), None


def _device_inputs(plan: DevicePasses, job: _Job, at: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
    """A job's per-row device inputs: gather anchors, scorer bounds, local-encoder start, indel alignment
    (:func:`~genotile.variants.device_align.alignment_params`; identity where no device scorer aligns, or where
    the indel cannot be aligned: ``score_job`` then fails the variant); and bound errors."""
    v, (start, end) = job.variant, job.window
    start0 = int(v.pos) - 1
    bounds, errors = plan.bounds(start0, start)
    align = IDENTITY
    if any(plan.aligned) and len(v.ref) != len(v.alt):
        try:
            align = alignment_params(indel_alignment(start0, len(v.ref), len(v.alt), start, end - start))
        except ValueError:
            align = IDENTITY
    return plan.anchors(start0, start), bounds, np.int32(at), align, errors


def score_variants(
    model: VariantModel,
    genome: Genome,
    variants: pd.DataFrame,
    specs: Sequence[S.ScorerSpec],
    options: ScoringOptions = ScoringOptions(),
    annotation: GeneAnnotation | None = None,
    pas: PasTable | None = None,
    progress_label: str = "scoring",
    window: tuple[str, int, int] | None = None,
) -> ScoringResult:
    """Score every variant of a normalised table (``chrom, pos, ref, alt, variant_id``) with ``specs``.

    Progress (variants done/total, rate, ETA) goes to stderr and the terminal every
    ``GENOTILE_PROGRESS_SECONDS`` (:class:`genotile.runtime.progress.Progress`), as ``progress_label: ...``.

    ``window`` (``contig, start, end``): score every variant in this one window instead (one REF pass shared by
    all; in-silico mutagenesis, :mod:`genotile.variants.ism`); every variant must lie inside it.

    Why failures are collected instead of raised: one variant whose window cannot hold its indel,
    or one window with too many genes for a gene scorer, must not stop a cohort; each such
    (variant, scorer) goes to ``failures`` with the reason, and everything else is scored.
    """
    if annotation is None and any(_needs_genes(s) for s in specs):
        missing = sorted({s.scorer for s in specs if _needs_genes(s)})
        raise ScoringError(f"scorers {missing} need gene annotation: set annotation.gtf in the config (or --gtf), or drop them")
    if pas is None and any(_needs_pas(s) for s in specs):
        needs_pas = ", ".join(sorted({s.scorer for s in specs if _needs_pas(s)}))
        raise ScoringError(f"the {needs_pas} scorer needs a PAS table: set annotation.pas (or --pas), or drop it")
    missing_outputs = sorted({s.output for s in specs} - set(model.outputs))
    if missing_outputs:
        raise ScoringError(f"the model was set up without outputs {missing_outputs} that the scorers read")
    passes_plan = device_passes(model, specs, options.window_bp)
    host_specs = [(spec, S.scorer(spec.scorer)) for spec in specs if spec not in passes_plan.device_specs]
    tables = {scorer_name(spec): _TidyTable(spec, model.tracks[spec.output], options.include_values) for spec in specs}
    failures: list[tuple] = []
    progress = Progress(len(variants), "variants", progress_label, verb="scored")
    timings = ScoreTimings()
    clock = time.perf_counter
    device_before = model.device_seconds
    t0 = clock()
    passes = 0

    def fail(v: Any, scorer: str, reason: str, detail: str) -> None:
        failures.append((v.variant_id, v.chrom, int(v.pos), v.ref, v.alt, scorer, reason, detail))

    def score_job(job: _Job, ref: WindowPrediction, alt: WindowPrediction, device: _DeviceRow) -> list[tuple[str, S.ScoreRows]]:
        """One variant's rows of every scorer: device scores as they came back, host scorers reduced here."""
        v, (start, end) = job.variant, job.window
        try:
            alignment = indel_alignment(int(v.pos) - 1, len(v.ref), len(v.alt), start, end - start)
        except ValueError as err:
            fail(v, "*", "indel_outside_window", str(err))
            return []
        frames: list[tuple[str, S.ScoreRows]] = []
        for spec, (rows, error) in zip(passes_plan.device_specs, device.rows(passes_plan)):
            if rows is None:
                fail(v, scorer_name(spec), "scorer_failed", str(error))
                continue
            frames.append((scorer_name(spec), rows))
        cache: dict[str, np.ndarray] = {}

        def aligned(output: str) -> np.ndarray:
            if output not in cache:
                cache[output] = align_alternate(alt.values[output], alignment)
            return cache[output]

        inputs = S.ScorerInputs(v, start, end - start, model, ref, alt, aligned, annotation, pas)
        for spec, kind in host_specs:
            began = clock()
            try:
                rows = kind.score(spec, inputs)
            except (AnnotationError, ValueError) as err:
                fail(v, scorer_name(spec), "scorer_failed", f"{type(err).__name__}: {err}")
                continue
            finally:
                spent = clock() - began
                timings.reductions_s += spent
                timings.reductions_by_scorer[scorer_name(spec)] += spent
            frames.append((scorer_name(spec), rows))
        return frames

    def jobs_for(rows: Iterable[Any], window_of: Callable[[Any], tuple[int, int]]) -> list[_Job]:
        jobs = []
        began = clock()
        for v in rows:
            try:
                jobs.append(_prepare(v, window_of(v), genome))
            except ValueError as err:
                fail(v, "*", "window_failed", str(err))
                progress.advance(1)
        timings.sequences_s += clock() - began
        return jobs

    def score_window(ref_dna: np.ndarray, jobs: list[_Job]) -> None:
        """One REF pass for the window, then the ALT passes of its jobs, batched per encoder route."""
        nonlocal passes
        start, end = jobs[0].window
        arrays: dict[str, np.ndarray] = {}
        windows: WindowRows = [None] * len(passes_plan.device_specs)
        inputs = S.WindowInputs(jobs[0].variant.chrom, start, end - start, model, annotation, pas)
        if any(read.window for read in passes_plan.reads):  # the per-row device scorers' window arrays (exon masks)
            began = clock()
            arrays, windows = passes_plan.window(inputs)
            timings.reductions_s += clock() - began
        began = clock()
        ref_state, ref = passes_plan.ref(ref_dna, arrays)
        timings.forward_s += clock() - began
        passes += 1
        # per variant: its per-variant scorers' arrays (the genes it overlaps); rows batch with rows of the same
        # route and the same padded shapes, so a row's program depends on its own inputs only
        per_variant = any(read.variant for read in passes_plan.reads)
        routes: dict[tuple, list[tuple[int, _Job, int, dict[str, np.ndarray], WindowRows]]] = defaultdict(list)
        for i, job in enumerate(jobs):
            v = job.variant
            route, at = alt_route(int(v.pos) - 1, v.ref, v.alt, start, end - start, options.local_encoder)
            extra, variant_rows = {}, windows
            if per_variant:
                began = clock()
                extra, built = passes_plan.variant(inputs, v)
                variant_rows = [w if b is None else b for w, b in zip(windows, built)]
                timings.reductions_s += clock() - began
            shapes = tuple((k, x.shape) for k, x in extra.items())
            routes[(route, shapes)].append((i, job, at, extra, variant_rows))
        done: dict[int, list[tuple[str, S.ScoreRows]]] = {}
        calls = [(route, chunk) for (route, _), items in routes.items() for chunk in _calls(items, options.batch_size)]
        for group in _chunks(calls, passes_plan.device_count):  # one call per device, then collect them in order
            began = clock()
            handles = []
            for device, (route, chunk) in enumerate(group):
                prepared = [_device_inputs(passes_plan, job, at) for _, job, at, _, _ in chunk]
                rows = (np.stack([p[k] for p in prepared]) for k in range(4))
                extra = {k: np.stack([item[3][k] for item in chunk]) for k in chunk[0][3]}
                alt_dna = np.stack([job.alt_dna for _, job, *_ in chunk])
                handle = passes_plan.submit(route, ref_state, alt_dna, *rows, device=device, extra=extra)
                handles.append((chunk, prepared, handle))
            for chunk, prepared, handle in handles:
                began = clock() if began is None else began
                per_row, alts = passes_plan.collect(handle)
                timings.forward_s += clock() - began
                began = None
                passes += len(chunk)
                for (i, job, _, _, variant_rows), scores, (*_, errors), alt in zip(chunk, per_row, prepared, alts):
                    done[i] = score_job(job, ref, alt, _DeviceRow(scores, errors, variant_rows))
                progress.advance(len(chunk))
        began = clock()
        for i in sorted(done):
            for name, rows in done[i]:
                tables[name].add(jobs[i].variant, rows)
        timings.tables_s += clock() - began

    if options.mode == "centered" and window is None:
        def centred(v: Any) -> tuple[int, int]:
            return variant_window(v.chrom, int(v.pos), v.ref, v.alt, options.window_bp, genome.length(v.chrom))

        for v in variants.itertuples(index=False):
            for job in jobs_for([v], centred):
                score_window(job.ref_dna, [job])
    else:
        groups = _tiles(variants, genome, options) if window is None else _one_window(variants, window, options.window_bp)
        for tile, rows in groups:
            span = (tile.start, tile.end)
            began = clock()
            ref_dna = one_hot(genome.sequence(tile.contig, tile.start, tile.end))
            timings.sequences_s += clock() - began
            jobs = jobs_for(rows, lambda v, span=span: span)
            for job in jobs:
                if not np.array_equal(job.ref_dna, ref_dna):
                    raise ScoringError(
                        f"variant {job.variant.variant_id}: its REF differs from the FASTA; tiled mode needs "
                        "normalised variants (run `genotile vcf normalize` first)"
                    )
            if jobs:
                score_window(ref_dna, jobs)
    began = clock()
    scores = {name: table.frame() for name, table in tables.items()}  # every scorer gets a table, even if empty
    timings.tables_s += clock() - began
    failure_frame = pd.DataFrame(failures, columns=list(FAILURE_COLUMNS))
    elapsed = clock() - t0
    timings.total_s = elapsed
    timings.forward_device_s = model.device_seconds - device_before
    timings.peak_rss_gib = peak_rss_gib()
    timings.reductions_by_scorer = dict(timings.reductions_by_scorer)
    stats = {"variants": float(len(variants)), "forward_passes": float(passes), "seconds": elapsed,
             "variants_per_second": len(variants) / elapsed if elapsed > 0 else float("nan"), **timings.as_stats()}
    tracks = {scorer_name(spec): model.tracks[spec.output] for spec in specs}
    return ScoringResult(scores, failure_frame, stats, tracks, timings)


def _empty_scores(include_values: bool) -> pd.DataFrame:
    dtypes = {"pos": np.int64, "junction_start": np.int64, "junction_end": np.int64, "track_index": np.int64, "score": np.float32}
    cols = list(SCORE_COLUMNS) + (["ref_value", "alt_value"] if include_values else [])
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, np.float32 if c.endswith("_value") else object)) for c in cols})
