# The Snakemake report's figures and pages (README "The report"): a track plot per run, REF vs ALT around each
# cohort's strongest variant, the tiling and track-selection pages, and each cohort's summaries and figures.
# Not part of `rule all` (changing a summary setting re-runs only what it affects); the target `report_figures`
# builds them, then `snakemake report_figures --report <run>/report.html` writes the report (`make demo` does both).


# Every file the report shows that a rule of this file makes (none for parts the config leaves out).
REPORT_OUTPUTS = (
    (
        [f"{RUN}/report/tracks.png", f"{RUN}/report/tiling.html", f"{RUN}/report/track_selection.html"]
        if config["tracks"]
        else []
    )
    + [
        f"{RUN}/report/variants/{cohort}/{name}"
        for cohort in VARIANTS.get("cohorts", {})
        for name in ("ref_alt.png", "summaries")
    ]
    + TRAINING_REPORT_OUTPUTS
    + ism_report_outputs()
)


rule report_figures:
    input:
        final_outputs(),
        variant_outputs(),
        ism_outputs(),
        REPORT_OUTPUTS,


rule plot_tracks:
    input:
        unpack(annotation_inputs),
        windows=f"{RUN}/windows.tsv",
        summary=f"{RUN}/tracks.summary.json",
    output:
        png=report(f"{RUN}/report/tracks.png", caption="../report/tracks.rst", category="2. Tracks"),
    log:
        f"{RUN}/logs/plot_tracks.log",
    conda:
        GENOTILE_ENV
    params:
        tracks=TRACKS_ZARR,
        storage=STORAGE_ROOT,
    script:
        "../../scripts/plot_tracks.py"


rule report_tables:
    input:
        windows=f"{RUN}/windows.tsv",
        n_runs=f"{RUN}/n_runs.bed",
        summary=f"{RUN}/tracks.summary.json",
    output:
        tiling=report(f"{RUN}/report/tiling.html", caption="../report/tiling.rst", category="1. Run"),
        selection=report(f"{RUN}/report/track_selection.html", caption="../report/selection.rst", category="1. Run"),
    log:
        f"{RUN}/logs/report_tables.log",
    conda:
        GENOTILE_ENV
    params:
        tracks=TRACKS_ZARR,
        storage=STORAGE_ROOT,
    script:
        "../../scripts/report_tables.py"


rule plot_variant:
    input:
        unpack(annotation_inputs),
        model=MODEL_INPUT,
        variants=f"{RUN}/variants/{{cohort}}/variants.parquet",
        summaries=f"{RUN}/variants/{{cohort}}/summaries/done.json",
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        png=report(
            f"{RUN}/report/variants/{{cohort}}/ref_alt.png",
            caption="../report/ref_alt.rst",
            category="3. Variants",
            subcategory="{cohort}",
        ),
    log:
        f"{RUN}/logs/plot_variant_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    threads: config["inference"]["threads"]
    params:
        model=RESOLVED_MODEL,
        window_bp=lambda wildcards: VARIANTS["window_bp"],  # evaluated only for a run with cohorts
        organism=config.get("organism", "human"),
        cohort=lambda wildcards: variant_dir(wildcards.cohort),
        storage=STORAGE_ROOT,
    script:
        "../../scripts/plot_variant.py"


rule report_summaries:
    input:
        summaries=f"{RUN}/variants/{{cohort}}/summaries/done.json",
    output:
        folder=report(
            directory(f"{RUN}/report/variants/{{cohort}}/summaries"),
            patterns=["{name}.html", "{name}.png"],
            caption="../report/summaries.rst",
            category="3. Variants",
            subcategory="{cohort}",
        ),
    log:
        f"{RUN}/logs/report_summaries_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    params:
        cohort=lambda wildcards: variant_dir(wildcards.cohort),
        storage=STORAGE_ROOT,
    script:
        "../../scripts/report_summaries.py"
