"""Rule report_summaries: the cohort's summary tables as one page and its figures, for the report."""
from genotile.report.pages import report_summaries
from genotile.runtime.rule import rule_context
from genotile.runtime.storage_mirror import pulled

params = snakemake.params  # noqa: F821
with rule_context(snakemake), pulled([f"{params.cohort}/summaries"], params.storage):  # noqa: F821
    report_summaries(f"{params.cohort}/summaries", snakemake.output.folder)  # noqa: F821
