# Prediction: one job per batch of windows, so the model is loaded and compiled once per job. Each job
# writes its windows' owned regions straight into the pre-allocated store (chunk-aligned: jobs never
# share a chunk) and writes its done-file last. The store is complete when finalize_store has checked
# every batch's done-file (there is no separate stitching: the chunk-aligned writes are the stitching).


rule init_store:
    input:
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
        selection=f"{RUN}/track_selection.tsv",
    output:
        marker=f"{RUN}/store.created",
        n_runs=f"{RUN}/n_runs.bed",
    log:
        f"{RUN}/logs/init_store.log",
    conda:
        GENOTILE_ENV
    params:
        settings=rule_settings(config, "init_store"),
        genome=lambda wildcards: GENOME,  # as configured, for provenance (the input may be a job-local copy)
        tracks=TRACKS_ZARR,
        contacts=CONTACTS_ZARR,
        junction_outputs=[f"{RUN}/junctions.parquet", f"{RUN}/junctions.bed"],  # removed when the selection has none
        storage=STORAGE_ROOT,
    script:
        "../../scripts/init_store.py"


rule predict_batch:
    input:
        model=MODEL_INPUT,
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
        windows=f"{RUN}/windows.tsv",
        selection=f"{RUN}/track_selection.tsv",
        store=f"{RUN}/store.created",
    output:
        done=f"{RUN}/batches/batch_{{batch}}.done",
        junctions=f"{RUN}/batches/batch_{{batch}}.junctions.parquet",
    log:
        f"{RUN}/logs/predict_batch_{{batch}}.log",
    conda:
        GENOTILE_ENV
    threads: config["inference"]["threads"]
    resources:
        gpu=config["inference"]["gpus_per_job"],
        mem_mb=config["inference"]["mem_mb"],
    params:
        settings=rule_settings(config, "predict_batch"),
        tracks=TRACKS_ZARR,
        contacts=CONTACTS_ZARR,
        storage=STORAGE_ROOT,
    script:
        "../../scripts/predict_batch.py"


rule finalize_store:
    input:
        done=batch_done_files,
    output:
        summary=f"{RUN}/tracks.summary.json",
    log:
        f"{RUN}/logs/finalize_store.log",
    conda:
        GENOTILE_ENV
    params:
        tracks=TRACKS_ZARR,
    script:
        "../../scripts/finalize_store.py"
