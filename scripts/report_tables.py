"""Rule report_tables: the tiling page (windows, all-N skips, N runs) and the track-selection page, for the report."""
from genotile.report.pages import report_tables
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import pulled

params = snakemake.params  # noqa: F821
with rule_context(snakemake), pulled([params.tracks], params.storage):  # noqa: F821
    report_tables(snakemake.input.windows, snakemake.input.n_runs, params.tracks,  # noqa: F821
                  snakemake.output.tiling, snakemake.output.selection)  # noqa: F821
