"""Rule score_shard: score one shard of variants with every configured scorer."""
from _rule import rule_context

from genotile.variants.steps import score_shard
from genotile.workflow import load_predictor

with rule_context(snakemake):  # noqa: F821
    cfg = snakemake.params.settings
    score_shard(cfg, load_predictor(cfg["model"]), snakemake.input.variants, snakemake.input.shards,
                int(snakemake.wildcards.shard), snakemake.input.fasta, snakemake.input.get("gtf"),
                snakemake.input.get("pas"), snakemake.output.scores,
                batch_size=int(snakemake.config["variants"]["batch_size"]))
