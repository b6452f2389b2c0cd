"""Rule plan_windows: tile the genome, resolve the track selection; windows.tsv, track_selection.tsv, the storage report."""
from genotile.runtime.rule import rule_context
from genotile.settings import PlanWindowsSettings
from genotile.tracks.steps import plan_windows

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    plan_windows(PlanWindowsSettings.from_config(snakemake.params.settings), snakemake.input.fasta,  # noqa: F821
                 snakemake.output.windows, snakemake.output.report, snakemake.output.selection)  # noqa: F821
