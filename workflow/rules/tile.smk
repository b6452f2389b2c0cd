# Tiling: windows whose owned regions cover every selected base once, grouped into batches; prints the
# storage the track selection will need before anything is predicted.

checkpoint plan_windows:
    input:
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        windows=f"{RUN}/windows.tsv",
        report=report(f"{RUN}/storage_report.txt", caption="../report/storage_report.rst", category="1. Run"),
    params:
        settings=rule_settings(config, "plan_windows"),
    log:
        f"{RUN}/logs/plan_windows.log",
    conda:
        GENOTILE_ENV
    script:
        "../../scripts/plan_windows.py"
