# Export: one bigWig per stored track and resolution (NaN regions omitted), and splice junctions as
# Parquet and BED.


rule export_bigwig:
    input:
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
        summary=f"{RUN}/tracks.summary.json",
    output:
        done=f"{RUN}/bigwig/done.json",
    log:
        f"{RUN}/logs/export_bigwig.log",
    conda:
        GENOTILE_ENV
    params:
        tracks=TRACKS_ZARR,
        # run-relative on purpose, not derived from the output: genotile.runtime.storage_mirror moves the folder
        folder=lambda wildcards: f"{RUN}/bigwig",
        storage=STORAGE_ROOT,
    script:
        "../../scripts/export_bigwig.py"


rule merge_junctions:
    input:
        batches=batch_junction_files,
        summary=f"{RUN}/tracks.summary.json",
    output:
        parquet=f"{RUN}/junctions.parquet",
        bed=f"{RUN}/junctions.bed",
    log:
        f"{RUN}/logs/merge_junctions.log",
    conda:
        GENOTILE_ENV
    script:
        "../../scripts/merge_junctions.py"
