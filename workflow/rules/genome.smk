# The genome: the user's FASTA, or the seeded demo genome (several contigs, one shorter than a window,
# one with a long N gap).


rule demo_genome:
    output:
        fasta=f"{RUN}/genome/demo.fa",
    log:
        f"{RUN}/logs/demo_genome.log",
    conda:
        GENOTILE_ENV
    params:
        seed=config["genome"]["demo_seed"],
    shell:
        "genotile demo-genome --out {output.fasta} --seed {params.seed} > {log} 2>&1"
