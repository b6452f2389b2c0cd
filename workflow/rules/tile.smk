# Tiling: windows whose owned regions cover every selected base once, grouped into batches; the track
# selection, resolved once for the run (track_selection.tsv, read by init_store and predict_batch); prints
# the storage the selection will need before anything is predicted.


checkpoint plan_windows:
    input:
        model=MODEL_INPUT,
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        windows=f"{RUN}/windows.tsv",
        report=report(f"{RUN}/storage_report.txt", caption="../report/storage_report.rst", category="1. Run"),
        selection=f"{RUN}/track_selection.tsv",
    log:
        f"{RUN}/logs/plan_windows.log",
    conda:
        GENOTILE_ENV
    params:
        settings=rule_settings(config, "plan_windows"),
    script:
        "../../scripts/plan_windows.py"
