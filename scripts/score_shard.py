"""Rule score_shard: score one shard of variants with every configured scorer."""
from genotile.model.loading import load_predictor
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import mirrored
from genotile.settings import ScoreSettings
from genotile.variants.steps import score_shard

params, inputs = snakemake.params, snakemake.input  # noqa: F821
with rule_context(snakemake), mirrored(params.folder, params.storage, "none", write=True, fresh=True):  # noqa: F821
    score_shard(ScoreSettings.from_config(params.settings), load_predictor(params.settings["model"]), inputs.variants,
                inputs.shards, int(snakemake.wildcards.shard), inputs.fasta, inputs.get("gtf"), inputs.get("pas"),  # noqa: F821
                params.folder, batch_size=snakemake.config["variants"]["batch_size"],  # noqa: F821
                done=snakemake.output.done)  # noqa: F821
