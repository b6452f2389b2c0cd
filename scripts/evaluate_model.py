"""Rule evaluate_model: the held-out split in the untrained and the fine-tuned model (Pearson, losses, a region)."""
from genotile.model.checkpoints import load_checkpoint
from genotile.model.loading import load_predictor
from genotile.runtime.rule import rule_context
from genotile.settings import EvaluateModelSettings
from genotile.train.evaluate_model import evaluate_model

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    settings = EvaluateModelSettings.from_config(snakemake.params.settings)  # noqa: F821
    inputs, outputs = snakemake.input, snakemake.output  # noqa: F821
    evaluate_model(settings, load_predictor(settings.base_model()), load_checkpoint(inputs.model), inputs.fasta,
                   inputs.windows, inputs.targets, inputs.tracks, outputs.evaluation, outputs.losses, outputs.region,
                   gtf=inputs.get("gtf"))
