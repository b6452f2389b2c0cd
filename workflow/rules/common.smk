# Shared paths and helpers. Outputs of a run live under <results>/<run>/.
import os

import pandas as pd

from genotile.provenance import rule_settings
from genotile.storage_mirror import remote_root

RUN = f"{config['results']}/{config['run']}"
FASTA = config["genome"]["fasta"] or f"{RUN}/genome/demo.fa"
GENOTILE_ENV = "../../envs/genotile.yaml"

# Folders (the Zarr stores, written in place by many jobs; bigWig, score and summary folders) are not
# declared outputs: rules declare done-files. With a default storage provider (cloud profiles: no shared
# filesystem) jobs mirror the folders to where the storage plugin keeps the run's declared files
# (genotile.storage_mirror); on a shared filesystem STORAGE_ROOT is None and nothing is mirrored.
STORAGE_ROOT = remote_root(workflow.storage_settings.default_storage_provider,
                           workflow.storage_settings.default_storage_prefix)
TRACKS_ZARR = f"{RUN}/tracks.zarr"
CONTACTS_ZARR = f"{RUN}/contact_maps.zarr"


def batch_done_files(wildcards):
    """One done-file per batch; known only after tiling (checkpoint)."""
    # .open(): with a storage plugin (cloud profiles) the checkpoint's table is fetched first.
    with checkpoints.plan_windows.get().output.windows.open() as handle:
        table = pd.read_csv(handle, sep="\t")
    return [f"{RUN}/batches/batch_{b}.done" for b in sorted(table["batch"].unique())]


def batch_junction_files(wildcards):
    return [f.replace(".done", ".junctions.parquet") for f in batch_done_files(wildcards)]


def final_outputs():
    outputs = [f"{RUN}/tracks.summary.json"]
    if config["export"]["bigwig"]:
        outputs.append(f"{RUN}/bigwig/done.json")
    if any(str(t.get("output")) in ("splice_junctions", "splice_sites_junction") for t in config["tracks"]):
        outputs.append(f"{RUN}/junctions.parquet")
    return outputs


# Variant scoring (workflow/rules/variants.smk)
VARIANTS = config.get("variants", {})
ANNOTATION = config.get("annotation", {})
DEMO_GENOME = not config["genome"]["fasta"]


def variant_dir(cohort):
    return f"{RUN}/variants/{cohort}"


def gtf_path():
    """The configured GTF, or the demo annotation when running on the demo genome (else none)."""
    if ANNOTATION.get("gtf"):
        return ANNOTATION["gtf"]
    return f"{RUN}/annotation/demo.gtf" if DEMO_GENOME else None


def pas_path():
    if ANNOTATION.get("pas"):
        return ANNOTATION["pas"]
    return f"{RUN}/annotation/demo_pas.tsv" if DEMO_GENOME and not ANNOTATION.get("gtf") else None


def annotation_inputs(wildcards):
    return {k: v for k, v in (("gtf", gtf_path()), ("pas", pas_path())) if v}


def cohort_source(cohort):
    """The cohort's VCF as given (or the demo VCF); plain text VCFs are compressed by bgzip_vcf."""
    path = VARIANTS["cohorts"][cohort]
    return path or f"{variant_dir(cohort)}/input/demo.vcf"


def cohort_vcf(wildcards):
    source = cohort_source(wildcards.cohort)
    return f"{variant_dir(wildcards.cohort)}/input/cohort.vcf.gz" if source.endswith(".vcf") else source


def shard_done_files(wildcards):
    with checkpoints.shard_variants.get(cohort=wildcards.cohort).output.shards.open() as handle:
        table = pd.read_csv(handle, sep="\t")
    return [f"{variant_dir(wildcards.cohort)}/shards/shard_{s}.done" for s in table["shard"]]


def variant_outputs():
    return [f"{variant_dir(c)}/summaries/done.json" for c in VARIANTS.get("cohorts", {})]


def check_inputs():
    """Stop before any job runs when the configured checkpoint, a cohort VCF or an annotation file does not exist."""
    problems = []
    weights = config["model"].get("checkpoint")  # ("checkpoint" is a Snakemake keyword)
    if weights and not os.path.exists(weights):
        problems.append(f"model.checkpoint: {weights} does not exist (give the checkpoint folder, or null for seeded synthetic weights)")
    for name, path in VARIANTS.get("cohorts", {}).items():
        if path and not os.path.exists(path):
            problems.append(f"variants.cohorts.{name}: {path} does not exist (give a VCF/BCF path, or null for the demo cohort)")
    for key in ("gtf", "pas"):
        path = ANNOTATION.get(key)
        if path and not os.path.exists(path):
            problems.append(f"annotation.{key}: {path} does not exist")
    if problems:
        raise ValueError("genotile: error: " + "; ".join(problems))


check_inputs()
