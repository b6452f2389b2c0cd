"""Rule demo_targets: the fine-tuning demo's synthetic measured track (a fixed function of motifs) as a bigWig."""
from genotile.runtime.rule import rule_context
from genotile.train.demo_targets import write_demo_targets

with rule_context(snakemake):  # noqa: F821 (injected by Snakemake)
    write_demo_targets(snakemake.input.fasta, snakemake.output.bigwig)  # noqa: F821
