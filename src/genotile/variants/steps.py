"""The variant-scoring workflow's steps, one function per Snakemake rule (rules stay thin).

normalise (per cohort VCF, CPU) -> shard (contiguous blocks of the sorted variants, cut only
between tiles, so a tile's variants share one REF pass) -> score (one job per shard, the
accelerator rule) -> merge (Parquet per scorer, Zarr matrix, failures) -> summarise (per
variant, gene and sample; figures).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genotile.runtime.atomic import replace_path, write_parquet, write_table, write_text
from genotile.sequence.fasta import Genome
from genotile.runtime.progress import say
from genotile.runtime.tables import read_parquet, read_tsv
from genotile.tracks.tiling import tile_contig
from genotile.variants import engine, outputs, summaries
from genotile.variants.annotation import read_gtf, read_pas_table
from genotile.variants.engine import GENE_SCORERS, ScoringOptions, parse_scorers, score_variants, scorers_for_annotation
from genotile.variants.genotypes import dosage_matrix
from genotile.variants.normalize import WORKFLOW_OPTIONS, compress_plain_vcf, normalize_vcf
from genotile.variants.predict import VariantModel

__all__ = ["merge", "normalize", "score_shard", "shard", "summarize", "compress_vcf", "GENE_SCORERS"]

log = logging.getLogger(__name__)


def _say(message: str) -> None:
    say(message)  # the one logger: the job's log and the terminal


def compress_vcf(plain: str, out_gz: str) -> None:
    """bgzip + tabix a plain-text VCF (pysam/htslib), so it can be queried by region; an unsorted one is
    sorted first, as the CLI accepts it (:func:`genotile.variants.normalize.compress_plain_vcf`)."""
    counts = compress_plain_vcf(plain, out_gz)
    notes = ["sorted by position (the input was not)" if counts["sorted"] else "",
             f"{counts['blank']:,} blank line(s) skipped" if counts["blank"] else "",
             f"{counts['dropped']:,} unusable line(s) kept for the rejects table" if counts["dropped"] else ""]
    _say(f"{plain}: {counts['records']:,} records -> {out_gz}" + "".join(f"; {n}" for n in notes if n))


def normalize(cfg: Mapping[str, Any], vcf: str, fasta: str, variants_out: str, rejects_out: str) -> None:
    """The workflow's normalisation: the CLI's rules (one shared function), messages naming config keys.

    A cohort with no records still writes both tables, empty with their columns and types.
    """
    v = cfg["variants"]
    genome = Genome(fasta)
    variants, rejects = normalize_vcf(
        vcf, genome, max_indel_length=int(v["max_indel_length"]),
        max_ref_mismatch_fraction=float(v["max_ref_mismatch_fraction"]), region=v.get("region"),
        rename_chr_prefix=bool(v.get("rename_chr_prefix")), option_names=WORKFLOW_OPTIONS,
    )
    for note in variants.attrs.get("warnings", []):
        _say(f"warning: {note}")
    write_parquet(variants, variants_out, index=False)
    write_parquet(rejects, rejects_out, index=False)
    counts = rejects["reason"].value_counts().to_dict() if len(rejects) else {}
    _say(f"{vcf}: {variants.attrs.get('records', 0):,} records -> {len(variants):,} variants to score, "
         f"{len(rejects):,} rejected {counts or ''} (see {rejects_out})")


def _options(cfg: Mapping[str, Any], batch_size: int = 1) -> ScoringOptions:
    """Scoring options from the settings; ``batch_size`` is a speed knob (scores do not depend on it)."""
    v = cfg["variants"]
    return ScoringOptions(mode=v["mode"], window_bp=int(v["window_bp"]), tile_owned_bp=v.get("tile_owned_bp"),
                          batch_size=max(1, int(batch_size)), include_values=bool(v.get("include_values") or False))


def shard(cfg: Mapping[str, Any], variants_path: str, fasta: str, shards_out: str) -> pd.DataFrame:
    """Split the sorted variants into shards of about ``variants_per_shard``, cutting only between tiles."""
    variants = read_parquet(variants_path)
    opts = _options(cfg)
    per_shard = max(1, int(cfg["variants"]["variants_per_shard"]))
    genome = Genome(fasta)
    owned = opts.tile_owned_bp or opts.window_bp // 2
    tile_ids = np.zeros(len(variants), np.int64)
    offset = 0
    for chrom, rows in variants.groupby("chrom", sort=False):
        windows = tile_contig(str(chrom), genome.length(str(chrom)), opts.window_bp, owned)
        starts = np.array([w.own_start for w in windows], np.int64)
        tile_ids[rows.index.to_numpy()] = offset + np.searchsorted(starts, rows["pos"].to_numpy() - 1, side="right") - 1
        offset += len(windows)
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
    table = pd.DataFrame(records, columns=["shard", "first_row", "end_row", "span"])
    write_table(table, shards_out, sep="\t", index=False)
    say(shard_summary(table, n, per_shard) + f" ({shards_out})")
    return table


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


def _annotation(cfg: Mapping[str, Any], gtf: str | None, pas: str | None, genome: Genome, specs) -> tuple:
    kinds = {s.scorer for s in specs}
    annotation = read_gtf(gtf, contigs=list(genome.contigs)) if gtf and kinds & GENE_SCORERS else None
    pas_table = read_pas_table(pas) if pas and "Polyadenylation" in kinds else None
    return annotation, pas_table


def _specs(cfg: Mapping[str, Any], has_gtf: bool, has_pas: bool):
    """The configured scorers less those the run's annotation cannot serve (each skip said in the log)."""
    specs = parse_scorers(cfg["variants"]["scorers"], cfg.get("organism", "human"))
    specs, notes = scorers_for_annotation(specs, has_gtf, has_pas)
    for note in notes:
        _say(note)
    return specs


def score_shard(
    cfg: Mapping[str, Any], predictor, variants_path: str, shards_path: str, shard_id: int, fasta: str,
    gtf: str | None, pas: str | None, out_dir: str, batch_size: int = 1, done: str | None = None,
) -> None:
    """Score one shard into the folder ``out_dir`` (written whole or not at all), then write ``done``.

    The done-file lists the folder's files: the workflow declares it instead of the folder, which
    object-storage plugins do not handle reliably (genotile.runtime.storage_mirror moves the folder).
    """
    table = read_tsv(shards_path)  # the span column names contigs: keep them text
    row = table.loc[table["shard"] == shard_id].iloc[0]
    variants = read_parquet(variants_path).iloc[int(row.first_row) : int(row.end_row)]
    genome = Genome(fasta)
    specs = _specs(cfg, bool(gtf), bool(pas))
    annotation, pas_table = _annotation(cfg, gtf, pas, genome, specs)
    model = VariantModel(predictor, {s.output for s in specs}, cfg.get("organism", "human"))
    say(f"shard {shard_id}: {len(variants):,} variants ({row.span}), {len(specs)} scorers, mode {cfg['variants']['mode']}")
    result = score_variants(model, genome, variants, specs, _options(cfg, batch_size), annotation, pas_table,
                            progress_label=f"shard {shard_id}")
    folder = outputs.write_shard(result, out_dir)
    if done is not None:
        write_text(done, json.dumps({"shard": shard_id, "files": sorted(p.name for p in folder.iterdir())}, indent=1) + "\n")
    say(f"shard {shard_id}: done in {result.stats['seconds']:.1f} s ({result.stats['variants_per_second']:.2f} variants/s), "
         f"{len(result.failures)} failed (variant, scorer) pairs")


def merge(
    variants_path: str, shard_dirs: list[str], out_dir: str, failures: str, done: str,
    shard_dones: list[str] | None = None, cfg: Mapping[str, Any] | None = None,
    has_gtf: bool | None = None, has_pas: bool | None = None,
) -> None:
    """Merge the shards into ``out_dir/scores/``, ``out_dir/scores.zarr`` and ``failures``; ``done`` last.

    ``shard_dones[i]`` is the done-file of ``shard_dirs[i]``: only the files it lists are read.
    ``cfg`` with ``has_gtf``/``has_pas`` (whether the run has a GTF and a PAS table) gives the
    scorers the config asks for: the shards must have been scored with exactly those, and a
    cohort with no variant to score (no shards) still gets an empty table and matrix group for
    each. ``scores/`` and ``scores.zarr`` then hold exactly the scorers ``done`` lists (with their
    spec and kind, which is what readers go by); anything an earlier run left there is removed.
    """
    variants = read_parquet(variants_path)
    listings = ([outputs.read_shard_listing(d, f) for d, f in zip(shard_dones, shard_dirs, strict=True)]
                if shard_dones is not None else None)
    scored = outputs.shard_scorers(shard_dirs, listings)
    asked = None
    if cfg is not None and (has_gtf is not None or not shard_dirs):
        annotation = cfg.get("annotation") or {}
        has_gtf = bool(annotation.get("gtf")) if has_gtf is None else has_gtf
        has_pas = bool(annotation.get("pas")) if has_pas is None else has_pas
        specs = parse_scorers(cfg["variants"]["scorers"], cfg.get("organism", "human"))
        asked = [engine.scorer_name(s) for s in scorers_for_annotation(specs, has_gtf, has_pas)[0]]  # as score_shard keeps them
    if asked is not None and shard_dirs and set(asked) != set(scored):
        raise outputs.MergeError(
            f"the shards in {Path(shard_dirs[0]).parent} were scored with {sorted(scored)}, but the config asks for "
            f"{sorted(asked)}; re-run the score_shard jobs (snakemake --forcerun score_shard)")
    names = scored if shard_dirs or asked is None else asked
    include_values = bool((cfg or {}).get("variants", {}).get("include_values"))
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


def summarize(cfg: Mapping[str, Any], vcf: str, variants_path: str, scores_dir: str, out_dir: str,
              scores_done: str | None = None, done: str | None = None) -> None:
    """Summaries and figures of the scorer tables that ``scores_done`` lists into ``out_dir``; ``done`` last.

    The tables come from the merge's done-file (default ``scores_dir/scores.done.json``), never
    from a glob, and each scorer's kind from its recorded spec. ``out_dir`` is built whole and
    swapped in, so it holds exactly this run's files; ``done`` lists them.
    """
    v = cfg["variants"]
    variants = read_parquet(variants_path)
    records = outputs.merged_scorers(scores_done or Path(scores_dir) / "scores.done.json")
    tables = [summaries.ScorerTable(r["name"], r["kind"], read_parquet(Path(scores_dir) / r["table"]),
                                    by_gene=r["kind"] in GENE_SCORERS) for r in records]
    dosage, missing, samples = dosage_matrix(vcf, variants, v.get("region"))
    files: list[str] = []

    def build(tmp: Path) -> None:
        files.extend(summaries.write_summaries(
            tables, variants, dosage, missing, samples, tmp, int(v.get("top_k", 5)),
            v.get("high_effect_thresholds") or {}, float(v.get("high_effect_quantile", 0.9))))

    out = replace_path(out_dir, build)
    if variants.empty:
        say(f"{variants_path}: {summaries.NO_VARIANTS}; the summaries in {out} are empty")
    if done is not None:
        write_text(done, json.dumps({"variants": len(variants), "samples": len(samples),
                                     "scorers": [r["name"] for r in records], "files": files}, indent=1) + "\n")
    say(f"summaries of {len(variants):,} variants x {len(samples)} samples in {out} "
         f"({', '.join(Path(f).name for f in files if f.endswith('.png'))})")
