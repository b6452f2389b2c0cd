# genotile workflow entry point. Stages live in workflow/rules/*.smk; the config is validated first so a
# wrong key or type stops the run with a message naming it.
from snakemake.utils import validate

configfile: "config/config.yaml"
validate(config, "workflow/schemas/config.schema.yaml")

include: "workflow/rules/demo.smk"

rule all:
    input:
        f"{config['results']}/prediction.zarr",
    default_target: True
