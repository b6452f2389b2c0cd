# Stitching is done by the prediction jobs' chunk-aligned writes; this step checks every batch finished
# and writes the summary that marks the store complete.

rule finalize_store:
    input:
        done=batch_done_files,
    output:
        summary=f"{RUN}/tracks.summary.json",
    params:
        tracks=TRACKS_ZARR,
    log:
        f"{RUN}/logs/finalize_store.log",
    conda:
        GENOTILE_ENV
    script:
        "../../scripts/finalize_store.py"
