# In-silico mutagenesis (README "In-silico mutagenesis"): one job per region of ism.regions, every SNV of the
# region scored in one window (one REF pass), written as ism.zarr [position, alt, track], the strongest effects
# and a logo figure for the report. Outputs: <results>/<run>/ism/<name>/.


rule ism:
    input:
        unpack(annotation_inputs),
        model=MODEL_INPUT,
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        done=f"{RUN}/ism/{{name}}/done.json",
        strongest=f"{RUN}/ism/{{name}}/strongest.parquet",
        failures=f"{RUN}/ism/{{name}}/failures.parquet",
        stats=f"{RUN}/ism/{{name}}/stats.json",
        logo=report(
            f"{RUN}/ism/{{name}}/ism_logo.png",
            caption="../report/ism.rst",
            category="5. In-silico mutagenesis",
            subcategory="{name}",
        ),
    log:
        f"{RUN}/logs/ism_{{name}}.log",
    wildcard_constraints:
        name="[A-Za-z0-9_.-]+",
    conda:
        GENOTILE_ENV
    threads: config["inference"]["threads"]
    resources:
        gpu=config["inference"]["gpus_per_job"],
        mem_mb=config["inference"]["mem_mb"],
    params:
        settings=rule_settings(config, "ism"),
        region=lambda wildcards: ISM_REGIONS[wildcards.name],
        folder=lambda wildcards: ism_dir(wildcards.name),
        storage=STORAGE_ROOT,
    script:
        "../../scripts/ism.py"
