# Shared paths and helpers. Outputs of a run live under <results>/<run>/.
import os

import pandas as pd

RUN = f"{config['results']}/{config['run']}"
FASTA = config["genome"]["fasta"] or f"{RUN}/genome/demo.fa"
GENOTILE_ENV = "../../envs/genotile.yaml"


def batch_done_files(wildcards):
    """One done-file per batch; known only after tiling (checkpoint)."""
    table = pd.read_csv(checkpoints.plan_windows.get().output.windows, sep="\t")
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
