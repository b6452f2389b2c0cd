# genotile workflow: genome -> tiling -> batched prediction into a chunked Zarr store -> bigWig/junction export.
# Stages live in workflow/rules/*.smk; the config is validated first, so an unknown key or a wrong type
# stops the run with a message naming it. Every key is documented in config/README.md.
from snakemake.utils import validate

configfile: "config/config.yaml"
validate(config, "workflow/schemas/config.schema.yaml")

include: "workflow/rules/common.smk"
include: "workflow/rules/genome.smk"
include: "workflow/rules/tile.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/stitch.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/variants.smk"

rule all:
    input:
        final_outputs(),
        variant_outputs(),
    default_target: True
