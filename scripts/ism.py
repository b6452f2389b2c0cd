"""Rule ism: every SNV of one region (ism.regions.<name>) scored in one window, with every configured scorer."""
from genotile.model.loading import load_predictor
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import mirrored
from genotile.settings import IsmSettings
from genotile.variants.steps import ism

params, inputs, output = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
name = snakemake.wildcards.name  # noqa: F821
with rule_context(snakemake), mirrored(f"{params.folder}/ism.zarr", params.storage, "none", write=True, fresh=True):  # noqa: F821
    ism(IsmSettings.from_config(params.settings), load_predictor(params.settings["model"]), params.region, inputs.fasta,
        inputs.get("gtf"), inputs.get("pas"), params.folder, batch_size=snakemake.config["ism"]["batch_size"],  # noqa: F821
        done=output.done, figure=output.logo, strongest=output.strongest, failures=output.failures, stats=output.stats,
        model_identity=params.settings["model"]["weights"],
        key=f"ism.regions.{name}", label=f"ism {name}")
