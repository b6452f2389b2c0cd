"""The variant-scoring workflow's steps: one function per Snakemake rule, of the rule's name (rules stay thin).

The ``genotile`` CLI (``vcf normalize``, ``score``) calls these same functions, so the workflow and
the CLI have one behaviour. Each step takes the frozen settings of :mod:`genotile.settings` (built
once from the schema-validated config; no defaults here) and file paths; speed knobs come apart.

normalise (per cohort VCF, CPU) -> shard (contiguous blocks of the sorted variants, cut only
between tiles, so a tile's variants share one REF pass) -> score (one job per shard, the
accelerator rule) -> merge (Parquet per scorer, Zarr matrix, failures) -> summarise (per
variant, gene and sample; figures).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genotile.runtime.atomic import replace_path, write_parquet, write_table, write_text
from genotile.runtime.progress import say
from genotile.runtime.tables import read_parquet, read_tsv
from genotile.sequence.fasta import Genome
from genotile.settings import (
    IsmSettings,
    MergeSettings,
    NormalizeSettings,
    ScoreSettings,
    ShardSettings,
    SummarizeSettings,
)
from genotile.variants import engine, outputs, summaries
from genotile.variants.annotation import read_gtf, read_pas_table
from genotile.variants.device_pass import auto_batch_size
from genotile.variants.engine import GENE_SCORERS, PAS_SCORERS, ScoringOptions, parse_scorers, score_variants, scorers_for_annotation
from genotile.variants.genotypes import dosage_matrix
from genotile.variants.normalize import WORKFLOW_OPTIONS, compress_plain_vcf, normalize_vcf
from genotile.variants.predict import VariantModel
from genotile.variants.tiles import tile_membership

__all__ = ["bgzip_vcf", "normalize_variants", "shard_variants", "score_shard", "merge_scores", "summarize_variants",
           "ism", "GENE_SCORERS"]

log = logging.getLogger(__name__)


def _say(message: str) -> None:
    say(message)  # the one logger: the job's log and the terminal


def bgzip_vcf(plain: str, out_gz: str) -> None:
    """bgzip + tabix a plain-text VCF (pysam/htslib), so it can be queried by region; an unsorted one is
    sorted first, as the CLI accepts it (:func:`genotile.variants.normalize.compress_plain_vcf`)."""
    counts = compress_plain_vcf(plain, out_gz)
    notes = ["sorted by position (the input was not)" if counts["sorted"] else "",
             f"{counts['blank']:,} blank line(s) skipped" if counts["blank"] else "",
             f"{counts['dropped']:,} unusable line(s) kept for the rejects table" if counts["dropped"] else ""]
    _say(f"{plain}: {counts['records']:,} records -> {out_gz}" + "".join(f"; {n}" for n in notes if n))


def normalize_variants(settings: NormalizeSettings, vcf: str, fasta: str, variants_out: str, rejects_out: str,
                       option_names: Mapping[str, str] = WORKFLOW_OPTIONS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split, trim, left-align and REF-check ``vcf`` into the variants and rejects tables; returns both.

    ``option_names``: how messages name each setting (config keys; the CLI passes its flags).
    A cohort with no records still writes both tables, empty with their columns and types.
    """
    if Path(variants_out).resolve() == Path(rejects_out).resolve():
        raise ValueError(f"the variants and rejects tables are the same file ({variants_out}); give two different paths")
    genome = Genome(fasta)
    variants, rejects = normalize_vcf(
        vcf, genome, max_indel_length=settings.max_indel_length,
        max_ref_mismatch_fraction=settings.max_ref_mismatch_fraction, region=settings.region,
        rename_chr_prefix=settings.rename_chr_prefix, option_names=option_names,
    )
    for note in variants.attrs.get("warnings", []):  # the rule's log and the terminal (genotile.runtime.log)
        _say(f"warning: {note}")
    for frame, path in ((variants, variants_out), (rejects, rejects_out)):
        write_parquet(frame, path, error=ValueError, index=False)  # a temporary name, then renamed
    counts = rejects["reason"].value_counts().to_dict() if len(rejects) else {}
    _say(f"{vcf}: {variants.attrs.get('records', 0):,} records -> {len(variants):,} variants to score, "
         f"{len(rejects):,} rejected {counts or ''} (see {rejects_out})")
    return variants, rejects


def _options(settings: ScoreSettings, batch_size: int = 1) -> ScoringOptions:
    """Scoring options from the settings; ``batch_size`` is a speed knob (scores do not depend on it)."""
    return ScoringOptions(mode=settings.mode, window_bp=settings.window_bp, tile_owned_bp=settings.tile_owned_bp,
                          batch_size=max(1, int(batch_size)), include_values=settings.include_values,
                          local_encoder=settings.local_encoder)


def shard_variants(settings: ShardSettings, variants_path: str, fasta: str, shards_out: str) -> pd.DataFrame:
    """Split the sorted variants into shards of about ``variants_per_shard``, cutting only between tiles."""
    variants = read_parquet(variants_path)
    table = shard_table(variants, tile_membership(variants, Genome(fasta).length, settings.window_bp,
                                                  settings.tile_owned_bp).tile, settings.variants_per_shard)
    write_table(table, shards_out, sep="\t", index=False)
    say(shard_summary(table, len(variants), max(1, settings.variants_per_shard)) + f" ({shards_out})")
    return table


def shard_table(variants: pd.DataFrame, tile_ids: np.ndarray, variants_per_shard: int) -> pd.DataFrame:
    """Contiguous row blocks of about ``variants_per_shard``, each grown until the next row is in another tile."""
    per_shard = max(1, int(variants_per_shard))
    records = []
    begin = 0
    n = len(variants)
    while begin < n:
        end = min(begin + per_shard, n)
        while end < n and tile_ids[end] == tile_ids[end - 1]:
            end += 1
        first, last = variants.iloc[begin], variants.iloc[end - 1]
        records.append((len(records), begin, end, f"{first.chrom}:{first.pos}-{last.chrom}:{last.pos}"))
        begin = end
    return pd.DataFrame(records, columns=["shard", "first_row", "end_row", "span"])


def shard_summary(table: pd.DataFrame, n: int, per_shard: int) -> str:
    """What ``shard`` made: shards are cut only between tiles, so one can hold more than ``variants_per_shard``."""
    sizes = (table["end_row"] - table["first_row"]).astype(int)
    if len(sizes) == 0:
        return f"{n:,} variants: no shards"
    spread = f"{int(sizes.min()):,}" if sizes.min() == sizes.max() else f"{int(sizes.min()):,}-{int(sizes.max()):,}"
    note = "" if sizes.max() <= per_shard else f", so they may exceed variants_per_shard={per_shard:,}"
    each = " each" if len(table) > 1 else ""
    return (f"{n:,} variants in {len(table):,} shard{'s' if len(table) != 1 else ''} ({spread} variants{each}; "
            f"shards are cut only between tiles{note})")


def _annotation(gtf: str | None, pas: str | None, genome: Genome, specs) -> tuple:
    kinds = {s.scorer for s in specs}
    annotation = read_gtf(gtf, contigs=list(genome.contigs)) if gtf and kinds & GENE_SCORERS else None
    pas_table = read_pas_table(pas) if pas and kinds & PAS_SCORERS else None
    return annotation, pas_table


def _specs(settings: ScoreSettings | MergeSettings | IsmSettings, has_gtf: bool, has_pas: bool):
    """The configured scorers less those the run's annotation cannot serve (each skip said in the log)."""
    specs = parse_scorers(settings.scorers, settings.organism)
    specs, notes = scorers_for_annotation(specs, has_gtf, has_pas)
    for note in notes:
        _say(note)
    return specs


def resolved_batch_size(batch_size: int | str, model: VariantModel, specs: Sequence[Any], window_bp: int) -> int:
    """``variants.batch_size`` / ``ism.batch_size`` as a row count: ``"auto"`` from the device's free memory
    (:func:`genotile.variants.device_pass.auto_batch_size`), else the number (at least 1)."""
    if batch_size == "auto":
        return auto_batch_size(model, specs, window_bp)
    return max(1, int(batch_size))


def score_shard(
    settings: ScoreSettings, predictor, variants_path: str, shards_path: str, shard_id: int, fasta: str,
    gtf: str | None, pas: str | None, out_dir: str, batch_size: int | str = 1, done: str | None = None,
) -> None:
    """Score one shard into the folder ``out_dir`` (written whole or not at all), then write ``done``.

    ``predictor``: :func:`genotile.model.loading.load_predictor` of the config's ``model``;
    ``batch_size`` (``variants.batch_size``; ``"auto"``: from the device's free memory) changes speed only.

    The done-file lists the folder's files: the workflow declares it instead of the folder, which
    object-storage plugins do not handle reliably (genotile.runtime.storage_mirror moves the folder).
    """
    table = read_tsv(shards_path)  # the span column names contigs: keep them text
    row = table.loc[table["shard"] == shard_id].iloc[0]
    variants = read_parquet(variants_path).iloc[int(row.first_row) : int(row.end_row)]
    genome = Genome(fasta)
    specs = _specs(settings, bool(gtf), bool(pas))
    annotation, pas_table = _annotation(gtf, pas, genome, specs)
    model = VariantModel(predictor, {s.output for s in specs}, settings.organism)
    batch_size = resolved_batch_size(batch_size, model, specs, settings.window_bp)
    say(f"shard {shard_id}: {len(variants):,} variants ({row.span}), {len(specs)} scorers, mode {settings.mode}, "
        f"{batch_size} ALT rows per forward call")
    result = score_variants(model, genome, variants, specs, _options(settings, batch_size), annotation, pas_table,
                            progress_label=f"shard {shard_id}")
    folder = outputs.write_shard(result, out_dir)
    if done is not None:
        write_text(done, json.dumps({"shard": shard_id, "files": sorted(p.name for p in folder.iterdir())}, indent=1) + "\n")
    say(f"shard {shard_id}: done in {result.stats['seconds']:.1f} s ({result.stats['variants_per_second']:.2f} variants/s), "
         f"{len(result.failures)} failed (variant, scorer) pairs")
    # where the time went (issue 15: a score job should be bound by the forward pass); also in the shard's stats.json
    say(f"score_shard: {result.timings.summary(len(variants))} (shard {shard_id})")


def merge_scores(
    settings: MergeSettings | None, variants_path: str, shard_dirs: list[str], out_dir: str, failures: str, done: str,
    shard_dones: list[str] | None = None, has_gtf: bool = False, has_pas: bool = False,
) -> None:
    """Merge the shards into ``out_dir/scores/``, ``out_dir/scores.zarr`` and ``failures``; ``done`` last.

    ``shard_dones[i]`` is the done-file of ``shard_dirs[i]``: only the files it lists are read.
    ``settings`` with ``has_gtf``/``has_pas`` (whether the run has a GTF and a PAS table) gives the
    scorers the config asks for (None: whatever the shards hold): the shards must have been scored with exactly those, and a
    cohort with no variant to score (no shards) still gets an empty table and matrix group for
    each. ``scores/`` and ``scores.zarr`` then hold exactly the scorers ``done`` lists (with their
    spec and kind, which is what readers go by); anything an earlier run left there is removed.
    """
    variants = read_parquet(variants_path)
    listings = ([outputs.read_shard_listing(d, f) for d, f in zip(shard_dones, shard_dirs, strict=True)]
                if shard_dones is not None else None)
    scored = outputs.shard_scorers(shard_dirs, listings)
    asked = None
    if settings is not None:
        specs = parse_scorers(settings.scorers, settings.organism)
        asked = [engine.scorer_name(s) for s in scorers_for_annotation(specs, has_gtf, has_pas)[0]]  # as score_shard keeps them
    if asked is not None and shard_dirs and set(asked) != set(scored):
        raise outputs.MergeError(
            f"the shards in {Path(shard_dirs[0]).parent} were scored with {sorted(scored)}, but the config asks for "
            f"{sorted(asked)}; re-run the score_shard jobs (snakemake --forcerun score_shard)")
    names = scored if shard_dirs or asked is None else asked
    include_values = settings.include_values if settings is not None else False
    counts = outputs.merge_shards(shard_dirs, out_dir, failures, listings, names, include_values)
    tracks = outputs.shard_tracks(shard_dirs, listings)
    outputs.write_matrix(out_dir, variants["variant_id"].tolist(), tracks, scorers=list(counts))
    records = sorted((outputs.scorer_record(n) for n in names), key=lambda r: r["slug"])
    record: dict[str, Any] = {"variants": len(variants), "rows_per_scorer": counts,
                              "scorers": [{**r, "rows": counts[r["slug"]]} for r in records],
                              "files": [r["table"] for r in records], "matrix": "scores.zarr",
                              "matrix_groups": [r["matrix_group"] for r in records]}
    if variants.empty:
        record["message"] = summaries.NO_VARIANTS
        say(f"{variants_path}: {summaries.NO_VARIANTS} (every record was rejected, or the VCF has none: see rejects.parquet "
             f"next to it); wrote {len(records)} empty scorer table(s) and matrix group(s)")
    write_text(done, json.dumps(record, indent=1))
    say(f"merged {len(shard_dirs)} shard(s): {sum(counts.values()):,} score rows, matrix in {out_dir}/scores.zarr")


def summarize_variants(settings: SummarizeSettings, vcf: str, variants_path: str, scores_dir: str, out_dir: str,
                       scores_done: str | None = None, done: str | None = None) -> None:
    """Summaries and figures of the scorer tables that ``scores_done`` lists into ``out_dir``; ``done`` last.

    The tables come from the merge's done-file (default ``scores_dir/scores.done.json``), never
    from a glob, and each scorer's kind from its recorded spec. ``out_dir`` is built whole and
    swapped in, so it holds exactly this run's files; ``done`` lists them.
    """
    variants = read_parquet(variants_path)
    records = outputs.merged_scorers(scores_done or Path(scores_dir) / "scores.done.json")
    tables = [summaries.ScorerTable(r["name"], r["kind"], read_parquet(Path(scores_dir) / r["table"]),
                                    by_gene=r["kind"] in GENE_SCORERS) for r in records]
    dosage, missing, samples = dosage_matrix(vcf, variants, settings.region)
    files: list[str] = []

    def build(tmp: Path) -> None:
        files.extend(summaries.write_summaries(
            tables, variants, dosage, missing, samples, tmp, settings.top_k,
            dict(settings.high_effect_thresholds), settings.high_effect_quantile))

    out = replace_path(out_dir, build)
    if variants.empty:
        say(f"{variants_path}: {summaries.NO_VARIANTS}; the summaries in {out} are empty")
    if done is not None:
        write_text(done, json.dumps({"variants": len(variants), "samples": len(samples),
                                     "scorers": [r["name"] for r in records], "files": files}, indent=1) + "\n")
    say(f"summaries of {len(variants):,} variants x {len(samples)} samples in {out} "
         f"({', '.join(Path(f).name for f in files if f.endswith('.png'))})")


def ism(settings: IsmSettings, predictor, region: str, fasta: str, gtf: str | None, pas: str | None, out_dir: str,
        batch_size: int | str = 4, done: str | None = None, figure: str | None = None, model_identity: str = "",
        key: str = "--region", label: str = "ism", strongest: str | None = None, failures: str | None = None,
        stats: str | None = None):
    """In-silico mutagenesis of ``region`` (``contig:start-end``, 1-based inclusive) into ``out_dir``; ``done`` last.

    Writes ``ism.zarr`` (per scorer ``[position, alt, track]``), ``strongest.parquet`` (the ``top_n`` strongest
    effects per scorer), ``failures.parquet``, ``stats.json`` (timings, a run record) and the logo figure
    ``figure`` (default ``out_dir/ism_logo.png``; ``strongest``/``failures``/``stats`` likewise name their files where the
    workflow's storage plugin wants them, as ``figure`` does). ``key`` names the region's setting in error messages
    (``ism.regions.<name>`` in the workflow); ``batch_size`` (``ism.batch_size``, a number or ``"auto"``) changes
    speed only. Returns the
    :class:`genotile.variants.ism.IsmResult`.
    """
    from genotile.variants.ism import ism_record, ism_stats, parse_ism_region, run_ism, strongest_effects, write_ism_zarr
    from genotile.variants.ism_logo import plot_ism

    genome = Genome(fasta)
    parsed = parse_ism_region(region, key, settings.window_bp, genome.contigs)
    specs = _specs(settings, bool(gtf), bool(pas))
    annotation, pas_table = _annotation(gtf, pas, genome, specs)
    model = VariantModel(predictor, {s.output for s in specs}, settings.organism)
    options = ScoringOptions(window_bp=settings.window_bp,
                             batch_size=resolved_batch_size(batch_size, model, specs, settings.window_bp))
    say(f"{label}: {parsed.text} ({parsed.length:,} bp, {3 * parsed.length:,} SNVs at most), {len(specs)} scorers, "
        f"window {settings.window_bp:,} bp")
    result = run_ism(model, genome, parsed, specs, options, annotation, pas_table, progress_label=label)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    attrs = {"model": model_identity, "organism": settings.organism}
    write_ism_zarr(result, genome, out / "ism.zarr", attrs)
    write_parquet(strongest_effects(result.scoring, settings.top_n), strongest or out / "strongest.parquet", index=False,
                  compression="zstd")
    write_parquet(result.scoring.failures, failures or out / "failures.parquet", index=False, compression="zstd")
    write_text(stats or out / "stats.json", ism_stats(result))
    figure_path = Path(figure) if figure is not None else out / "ism_logo.png"
    plot_ism(result, genome, figure_path)
    if done is not None:
        write_text(done, ism_record(result, ["ism.zarr", "strongest.parquet", "failures.parquet", figure_path.name]))
    say(f"{label}: {parsed.text}: {len(result.snvs):,} SNVs in {result.scoring.stats['seconds']:.1f} s "
        f"({result.positions_per_second:.2f} positions/s, {result.scoring.stats['variants_per_second']:.2f} SNVs/s), "
        f"{len(result.scoring.failures)} failed (SNV, scorer) pairs; wrote {out}")
    return result
