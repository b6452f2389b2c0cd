# Variant scoring: per cohort VCF, normalise -> shard -> score (one job per shard, the accelerator rule)
# -> merge -> summarise. Outputs: <results>/<run>/variants/<cohort>/ (README "Variant scoring").


rule demo_annotation:
    output:
        gtf=f"{RUN}/annotation/demo.gtf",
        pas=f"{RUN}/annotation/demo_pas.tsv",
    log:
        f"{RUN}/logs/demo_annotation.log",
    conda:
        GENOTILE_ENV
    shell:
        "genotile demo-cohort --gtf {output.gtf} --pas {output.pas} > {log} 2>&1"


rule demo_cohort:
    input:
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        vcf=f"{RUN}/variants/{{cohort}}/input/demo.vcf",
    log:
        f"{RUN}/logs/demo_cohort_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    params:
        seed=config["genome"]["demo_seed"],
    shell:
        "genotile demo-cohort --fasta {input.fasta} --vcf {output.vcf} --seed {params.seed} > {log} 2>&1"


rule bgzip_vcf:
    input:
        vcf=lambda wc: input_file(cohort_source(wc.cohort)),
    output:
        vcf=f"{RUN}/variants/{{cohort}}/input/cohort.vcf.gz",
        tbi=f"{RUN}/variants/{{cohort}}/input/cohort.vcf.gz.tbi",
    log:
        f"{RUN}/logs/bgzip_vcf_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    script:
        "../../scripts/bgzip_vcf.py"


rule normalize_variants:
    input:
        vcf=cohort_vcf,
        vcf_index=cohort_index,
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        variants=f"{RUN}/variants/{{cohort}}/variants.parquet",
        rejects=f"{RUN}/variants/{{cohort}}/rejects.parquet",
    log:
        f"{RUN}/logs/normalize_variants_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    params:
        settings=rule_settings(config, "normalize_variants"),
    script:
        "../../scripts/normalize_variants.py"


checkpoint shard_variants:
    input:
        variants=f"{RUN}/variants/{{cohort}}/variants.parquet",
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        shards=f"{RUN}/variants/{{cohort}}/shards.tsv",
    log:
        f"{RUN}/logs/shard_variants_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    params:
        settings=rule_settings(config, "shard_variants"),
    script:
        "../../scripts/shard_variants.py"


rule score_shard:
    input:
        unpack(annotation_inputs),
        model=MODEL_INPUT,
        variants=f"{RUN}/variants/{{cohort}}/variants.parquet",
        shards=f"{RUN}/variants/{{cohort}}/shards.tsv",
        fasta=FASTA,
        fasta_index=FASTA_INDEX,
    output:
        done=f"{RUN}/variants/{{cohort}}/shards/shard_{{shard}}.done",
    log:
        f"{RUN}/logs/score_shard_{{cohort}}_{{shard}}.log",
    conda:
        GENOTILE_ENV
    threads: config["inference"]["threads"]
    resources:
        gpu=config["inference"]["gpus_per_job"],
        mem_mb=config["inference"]["mem_mb"],
    params:
        settings=rule_settings(config, "score_shard"),
        folder=lambda wildcards: f"{variant_dir(wildcards.cohort)}/shards/shard_{wildcards.shard}",
        storage=STORAGE_ROOT,
    script:
        "../../scripts/score_shard.py"


rule merge_scores:
    input:
        variants=f"{RUN}/variants/{{cohort}}/variants.parquet",
        shards=shard_done_files,
    output:
        failures=f"{RUN}/variants/{{cohort}}/failures.parquet",
        done=f"{RUN}/variants/{{cohort}}/scores.done.json",
    log:
        f"{RUN}/logs/merge_scores_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    params:
        folder=lambda wildcards: variant_dir(wildcards.cohort),
        shard_dones=shard_done_files,  # run-relative (the mirrored shard folders sit beside them)
        settings=rule_settings(config, "merge_scores"),
        has_gtf=gtf_path() is not None,  # which scorers score_shard kept (engine.scorers_for_annotation)
        has_pas=pas_path() is not None,
        storage=STORAGE_ROOT,
    script:
        "../../scripts/merge_scores.py"


rule summarize_variants:
    input:
        vcf=cohort_vcf,
        vcf_index=cohort_index,
        variants=f"{RUN}/variants/{{cohort}}/variants.parquet",
        scores=f"{RUN}/variants/{{cohort}}/scores.done.json",
    output:
        done=f"{RUN}/variants/{{cohort}}/summaries/done.json",
    log:
        f"{RUN}/logs/summarize_variants_{{cohort}}.log",
    conda:
        GENOTILE_ENV
    params:
        settings=rule_settings(config, "summarize_variants"),
        cohort=lambda wildcards: variant_dir(wildcards.cohort),
        storage=STORAGE_ROOT,
    script:
        "../../scripts/summarize_variants.py"
