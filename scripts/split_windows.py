"""Rule split_windows: the training windows with their split (train/validation/test/dropped, and why): windows.tsv."""
from genotile.runtime.rule import rule_context
from genotile.settings import SplitWindowsSettings
from genotile.train.steps import split_windows

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    split_windows(SplitWindowsSettings.from_config(snakemake.params.settings), snakemake.input.fasta,  # noqa: F821
                  snakemake.output.windows)  # noqa: F821
