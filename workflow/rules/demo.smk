# Demo stage: a seeded genome and one predicted window. Replaced by tiling/predict/stitch rules next.

rule demo_genome:
    output:
        fasta=f"{config['results']}/genome.fa",
    params:
        seed=config["demo_genome"]["seed"],
    log:
        f"{config['results']}/logs/demo_genome.log",
    conda:
        "../../envs/genotile.yaml"
    shell:
        "genotile demo-genome --out {output.fasta} --seed {params.seed} > {log} 2>&1"


rule predict_window:
    input:
        fasta=rules.demo_genome.output.fasta,
    output:
        directory(f"{config['results']}/prediction.zarr"),
    params:
        region=config["region"],
        outputs=" ".join(config["outputs"]),
        seed=config["model"]["seed"],
        size=config["model"]["size"],
    log:
        f"{config['results']}/logs/predict_window.log",
    threads: 2
    conda:
        "../../envs/genotile.yaml"
    shell:
        "genotile predict --fasta {input.fasta} --region {params.region} --size {params.size} --seed {params.seed} "
        "--outputs {params.outputs} --out {output} > {log} 2>&1"
