"""The variant-scoring workflow's steps, one function per Snakemake rule (rules stay thin).

normalise (per cohort VCF, CPU) -> shard (contiguous blocks of the sorted variants, cut only
between tiles, so a tile's variants share one REF pass) -> score (one job per shard, the
accelerator rule) -> merge (Parquet per scorer, Zarr matrix, failures) -> summarise (per
variant, gene and sample; figures).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genotile.atomic import write_text
from genotile.genome import Genome
from genotile.progress import say
from genotile.tables import read_parquet, read_tsv
from genotile.tiling import tile_contig
from genotile.variants import outputs, summaries
from genotile.variants.annotation import read_gtf, read_pas_table
from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants
from genotile.variants.genotypes import dosage_matrix
from genotile.variants.normalize import chr_prefix_rename, normalize_vcf
from genotile.variants.predict import VariantModel

__all__ = ["merge", "normalize", "score_shard", "shard", "summarize", "compress_vcf", "GENE_SCORERS"]

log = logging.getLogger(__name__)
GENE_SCORERS = frozenset({"GeneMaskLFC", "GeneMaskActive", "GeneMaskSplicing", "Polyadenylation", "SpliceJunction"})


def _say(message: str) -> None:
    print(f"genotile: {message}", flush=True)


def compress_vcf(plain: str, out_gz: str) -> None:
    """bgzip + tabix a plain-text VCF (pysam/htslib), so it can be queried by region."""
    import pysam

    tmp = out_gz + ".tmp"
    pysam.tabix_compress(plain, tmp, force=True)
    os.replace(tmp, out_gz)
    pysam.tabix_index(out_gz, preset="vcf", force=True)


def normalize(cfg: Mapping[str, Any], vcf: str, fasta: str, variants_out: str, rejects_out: str) -> None:
    v = cfg["variants"]
    genome = Genome(fasta)
    rename = None
    if v.get("rename_chr_prefix"):
        import cyvcf2

        reader = cyvcf2.VCF(vcf, lazy=True)
        rename = chr_prefix_rename(reader.seqnames, genome.contigs)
        reader.close()
    variants, rejects = normalize_vcf(
        vcf, genome, max_indel_length=int(v["max_indel_length"]),
        max_ref_mismatch_fraction=float(v["max_ref_mismatch_fraction"]), contig_rename=rename, region=v.get("region"),
    )
    Path(variants_out).parent.mkdir(parents=True, exist_ok=True)
    variants.to_parquet(variants_out, index=False)
    rejects.to_parquet(rejects_out, index=False)
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
    Path(shards_out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(shards_out, sep="\t", index=False)
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


def _specs(cfg: Mapping[str, Any], has_pas: bool):
    specs = parse_scorers(cfg["variants"]["scorers"], cfg.get("organism", "human"))
    if not has_pas:  # the recommended set's polyadenylation scorer needs a PAS table; say so, then skip it
        dropped = [s for s in specs if s.scorer == "Polyadenylation"]
        if dropped:
            _say("no PAS table (annotation.pas): the Polyadenylation scorer is skipped")
        specs = tuple(s for s in specs if s.scorer != "Polyadenylation")
    return specs


def score_shard(
    cfg: Mapping[str, Any], predictor, variants_path: str, shards_path: str, shard_id: int, fasta: str,
    gtf: str | None, pas: str | None, out_dir: str, batch_size: int = 1, done: str | None = None,
) -> None:
    """Score one shard into the folder ``out_dir`` (written whole or not at all), then write ``done``.

    The done-file lists the folder's files: the workflow declares it instead of the folder, which
    object-storage plugins do not handle reliably (genotile.storage_mirror moves the folder).
    """
    table = read_tsv(shards_path)  # the span column names contigs: keep them text
    row = table.loc[table["shard"] == shard_id].iloc[0]
    variants = read_parquet(variants_path).iloc[int(row.first_row) : int(row.end_row)]
    genome = Genome(fasta)
    specs = _specs(cfg, bool(pas))
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


def merge(variants_path: str, shard_dirs: list[str], out_dir: str, failures: str, done: str) -> None:
    """Merge the shards into ``out_dir/scores/``, ``out_dir/scores.zarr`` and ``failures``; ``done`` last."""
    variants = pd.read_parquet(variants_path)
    counts = outputs.merge_shards(shard_dirs, out_dir, failures)
    outputs.write_matrix(out_dir, variants["variant_id"].tolist(), outputs.shard_tracks(shard_dirs))
    write_text(done, json.dumps({"variants": len(variants), "rows_per_scorer": counts}, indent=1))
    _say(f"merged {len(shard_dirs)} shard(s): {sum(counts.values()):,} score rows, matrix in {out_dir}/scores.zarr")


def summarize(cfg: Mapping[str, Any], vcf: str, variants_path: str, scores_dir: str, out_dir: str) -> None:
    v = cfg["variants"]
    variants = pd.read_parquet(variants_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top, genes, effects = [], [], {}
    for path in sorted((Path(scores_dir) / "scores").glob("*.parquet")):
        table = pd.read_parquet(path)
        scorer = str(table["scorer"].iloc[0]) if len(table) else path.stem
        top.append(summaries.per_variant(table, int(v.get("top_k", 5))))
        kind = path.stem.split(".")[0]
        if kind in GENE_SCORERS:
            genes.append(summaries.per_gene(table))
        effects[scorer] = summaries.variant_effects(table, by_gene=kind in GENE_SCORERS)
    pd.concat(top, ignore_index=True).to_parquet(out / "summary_variants.parquet", index=False)
    gene_frame = pd.concat(genes, ignore_index=True) if genes else summaries.per_gene(pd.DataFrame())
    gene_frame.to_parquet(out / "summary_genes.parquet", index=False)
    dosage, _missing, samples = dosage_matrix(vcf, variants, v.get("region"))
    carried, per_sample = summaries.per_sample(
        variants["variant_id"], dosage, samples, effects, v.get("high_effect_thresholds") or {},
        float(v.get("high_effect_quantile", 0.9)),
    )
    carried.to_parquet(out / "sample_variants.parquet", index=False)
    per_sample.to_parquet(out / "summary_samples.parquet", index=False)
    figures = summaries.figures(effects, per_sample, out / "figures")
    _say(f"summaries of {len(variants):,} variants x {len(samples)} samples in {out} "
         f"({', '.join(p.name for p in figures)})")

