# genotile workflow: genome -> tiling -> batched prediction into a chunked Zarr store -> bigWig/junction export,
# cohort VCFs -> normalised variants -> shards -> scores -> summaries, and in-silico mutagenesis of regions.
# Stages live in workflow/rules/*.smk. The config is whatever --configfile names, and only that: the demo is
# config/demo.yaml, one config among others (`make demo` passes it). Keys a config leaves out take the schema's
# defaults (workflow/schemas/config.schema.yaml, documented in config/README.md); the config is validated first,
# so an unknown key or a wrong type stops the run with a message naming it.
from snakemake.utils import validate

if not config:
    raise ValueError(
        "genotile: error: no config given. Run the demo with `snakemake --profile workflow/profiles/default "
        "--configfile config/demo.yaml` (or `make demo`), or your own with `--configfile my.yaml` (config/README.md)"
    )
validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/genome.smk"
include: "workflow/rules/tile.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/ism.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        variant_outputs(),
        ism_outputs(),
        TRAINING_OUTPUTS,
