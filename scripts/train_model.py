"""Rule train_model: fine-tune the base model's new heads on the prepared targets; the best model by validation loss."""
from genotile.model.loading import load_predictor
from genotile.runtime.rule import rule_context
from genotile.settings import TrainModelSettings
from genotile.train.train_model import train_model

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    settings = TrainModelSettings.from_config(snakemake.params.settings)  # noqa: F821
    base = load_predictor(settings.base_model(), exact_size=False).model
    train_model(settings, base, snakemake.input.fasta, snakemake.input.windows, snakemake.input.targets,  # noqa: F821
                snakemake.input.tracks, snakemake.output.model, snakemake.output.curve,  # noqa: F821
                snakemake.output.summary, snakemake.params.checkpoints,  # noqa: F821
                checkpoint_every=int(snakemake.config["train"]["checkpoint_every"]),  # noqa: F821
                gtf=snakemake.input.get("gtf"), delta_dir=snakemake.output.get("model_delta"))  # noqa: F821
