# Shared paths and helpers. Outputs of a run live under <results>/<run>/.
import os
import sys

from genotile.config_checks import config_notes, config_problems
from genotile.outputs import SPLICE_JUNCTIONS
from genotile.runtime.provenance import rule_settings
from genotile.runtime.remote_inputs import index_of, input_problems, is_url
from genotile.runtime.storage_mirror import remote_root
from genotile.runtime.tables import read_tsv
from genotile.runtime.finetuned import (
    base_model_config,
    finetuned_checkpoint_path,
    is_finetuned,
    resolved_model_config,
)

RUN = f"{config['results']}/{config['run']}"
GENOME = config["genome"]["fasta"] or f"{RUN}/genome/demo.fa"  # as configured (a path or an s3:// / gs:// URL)
GENOTILE_ENV = "../../envs/genotile.yaml"

# Folders (the Zarr stores, written in place by many jobs; bigWig, score and summary folders) are not
# declared outputs: rules declare done-files. With a default storage provider (cloud profiles: no shared
# filesystem) jobs mirror the folders to where the storage plugin keeps the run's declared files
# (genotile.runtime.storage_mirror); on a shared filesystem STORAGE_ROOT is None and nothing is mirrored.
STORAGE_ROOT = remote_root(
    workflow.storage_settings.default_storage_provider, workflow.storage_settings.default_storage_prefix
)
TRACKS_ZARR = f"{RUN}/tracks.zarr"
# model.checkpoint: finetuned (genotile.runtime.finetuned): the rules that load the model wait for train_model.
MODEL_INPUT = [finetuned_checkpoint_path(config)] if is_finetuned(config["model"]) else []
RESOLVED_MODEL = resolved_model_config(config)  # the model: section with "finetuned" resolved to its path
CONTACTS_ZARR = f"{RUN}/contact_maps.zarr"


def batch_done_files(wildcards):
    """One done-file per batch; known only after tiling (checkpoint)."""
    # .open(): with a storage plugin (cloud profiles) the checkpoint's table is fetched first.
    with checkpoints.plan_windows.get().output.windows.open() as handle:
        table = read_tsv(handle)
    return [f"{RUN}/batches/batch_{b}.done" for b in sorted(table["batch"].unique())]


def batch_junction_files(wildcards):
    return [f.replace(".done", ".junctions.parquet") for f in batch_done_files(wildcards)]


def final_outputs():
    """The track part's products; none for a variants-only run (``tracks: []``)."""
    if not config["tracks"]:
        return []
    outputs = [f"{RUN}/tracks.summary.json"]
    if config["export"]["bigwig"]:
        outputs.append(f"{RUN}/bigwig/done.json")
    if any(str(t.get("output")) in (SPLICE_JUNCTIONS.output_type, SPLICE_JUNCTIONS.head) for t in config["tracks"]):
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
    return {k: input_file(v) for k, v in (("gtf", gtf_path()), ("pas", pas_path())) if v}


def gene_loss_inputs(wildcards):
    """The GTF of the RNA-seq gene-level loss: an input of train_model and evaluate_model only when train.gene_loss_weight > 0."""
    if float(config.get("train", {}).get("gene_loss_weight") or 0) > 0 and gtf_path():
        return {"gtf": input_file(gtf_path())}
    return {}


def cohort_source(cohort):
    """The cohort's VCF as given (or the demo VCF); plain text VCFs are compressed by bgzip_vcf."""
    path = VARIANTS["cohorts"][cohort]
    return path or f"{variant_dir(cohort)}/input/demo.vcf"


def cohort_vcf(wildcards):
    source = cohort_source(wildcards.cohort)
    return f"{variant_dir(wildcards.cohort)}/input/cohort.vcf.gz" if source.endswith(".vcf") else input_file(source)


def cohort_index(wildcards):
    """A URL cohort's .tbi/.csi when the bucket has one (a region query needs it); local indexes sit beside the VCF."""
    source = cohort_source(wildcards.cohort)
    return index_input(source, "vcf") if not source.endswith(".vcf") else []


def shard_done_files(wildcards):
    with checkpoints.shard_variants.get(cohort=wildcards.cohort).output.shards.open() as handle:
        table = read_tsv(handle)
    return [f"{variant_dir(wildcards.cohort)}/shards/shard_{s}.done" for s in table["shard"]]


def variant_outputs():
    return [f"{variant_dir(c)}/summaries/done.json" for c in VARIANTS.get("cohorts", {})]


# In-silico mutagenesis (workflow/rules/ism.smk): one job per named region; none when ism.regions is empty or null.
ISM_REGIONS = (config.get("ism") or {}).get("regions") or {}


def ism_dir(name):
    return f"{RUN}/ism/{name}"


def ism_outputs():
    return [f"{ism_dir(name)}/done.json" for name in ISM_REGIONS]


def ism_report_outputs():
    return [f"{ism_dir(name)}/ism_logo.png" for name in ISM_REGIONS]


# Inputs given as s3:// or gs:// URLs are fetched by the storage plugins (genotile.runtime.remote_inputs).
def input_file(path):
    """A configured input as declared by the rules, i.e. a URL through storage() and a path as is."""
    return storage(path) if is_url(path) else path


def index_input(path, kind):
    """The URL input's index (.fai, .tbi/.csi) when the bucket has one, so jobs fetch it too; else nothing."""
    index = index_of(path, kind) if is_url(path) else None
    return [storage(index)] if index else []


def check_inputs():
    """Stop before any job runs when a configured input (genome, checkpoint, cohort VCF, annotation) is missing.

    Runs in the submitting process only: a cloud job has no copy of local inputs, only of what it declares.
    """
    configured = [
        ("genome.fasta", config["genome"]["fasta"]),
        (
            ("train.base_checkpoint", base_model_config(config)["checkpoint"])
            if is_finetuned(config["model"])
            else ("model.checkpoint", config["model"].get("checkpoint"))
        ),
    ]  # ("checkpoint" is a Snakemake keyword)
    configured += [(f"variants.cohorts.{name}", path) for name, path in VARIANTS.get("cohorts", {}).items()]
    configured += [(f"annotation.{key}", ANNOTATION.get(key)) for key in ("gtf", "pas")]
    problems = input_problems(configured, STORAGE_ROOT)
    if problems:
        raise ValueError("genotile: error: " + "; ".join(problems))


def check_config():
    """Stop before any job runs on a config problem a job would meet later (genotile.config_checks);
    print what the run skips on purpose (e.g. gene scorers of the recommended set without a GTF)."""
    has_gtf, has_pas = gtf_path() is not None, pas_path() is not None
    schema = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
    problems = config_problems(config, schema, has_gtf, has_pas)
    if problems:
        raise ValueError("genotile: error: " + "\n  ".join(["the config cannot run:", *problems]))
    for note in config_notes(config, has_gtf, has_pas):
        print(f"genotile: note: {note}", file=sys.stderr)


if workflow.is_main_process:
    check_config()
    check_inputs()
FASTA = input_file(GENOME)
FASTA_INDEX = index_input(GENOME, "fasta")
