"""Rule prepare_targets: the tracks sheet's bigWigs as training targets (targets.zarr), their QC table and tracks table."""
from genotile.runtime.rule import rule_context
from genotile.settings import PrepareTargetsSettings
from genotile.train.steps import prepare_targets

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    prepare_targets(PrepareTargetsSettings.from_config(snakemake.params.settings), snakemake.input.fasta,  # noqa: F821
                    snakemake.input.windows, snakemake.output.targets, snakemake.output.qc,  # noqa: F821
                    snakemake.output.tracks)  # noqa: F821
