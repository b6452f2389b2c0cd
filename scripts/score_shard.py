"""Rule score_shard: score one shard of variants with every configured scorer."""
from _rule import rule_context

from genotile.runtime.storage_mirror import mirrored
from genotile.variants.steps import score_shard
from genotile.model.loading import load_predictor

params = snakemake.params  # noqa: F821
with rule_context(snakemake), mirrored(params.folder, params.storage, "none", write=True, fresh=True):  # noqa: F821
    cfg = params.settings
    score_shard(cfg, load_predictor(cfg["model"]), snakemake.input.variants, snakemake.input.shards,  # noqa: F821
                int(snakemake.wildcards.shard), snakemake.input.fasta, snakemake.input.get("gtf"),  # noqa: F821
                snakemake.input.get("pas"), params.folder,  # noqa: F821
                batch_size=int(snakemake.config["variants"]["batch_size"]), done=snakemake.output.done)  # noqa: F821
