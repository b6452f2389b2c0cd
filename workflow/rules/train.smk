# Training data (fine-tuning): the training windows and their split, then the measured targets of the tracks
# sheet at 1 bp and 128 bp. Defined only when train.tracks_sheet is set; not part of `rule all` yet (request
# results/<run>/train/targets.zarr, or the training rules that read it).
from genotile.train.tracks_sheet import sheet_files

TRAIN = f"{RUN}/train"
TRAIN_CONFIG = config.get("train", {})

if TRAIN_CONFIG.get("tracks_sheet"):

    # The fine-tuning demo's measured track (config/finetune_demo.yaml): made only when a sheet names it.
    rule demo_targets:
        input:
            fasta=FASTA,
            fasta_index=FASTA_INDEX,
        output:
            bigwig=f"{TRAIN}/demo_signal.bw",
        log:
            f"{RUN}/logs/demo_targets.log",
        conda:
            GENOTILE_ENV
        script:
            "../../scripts/demo_targets.py"

    rule split_windows:
        input:
            fasta=FASTA,
            fasta_index=FASTA_INDEX,
            beds=[
                b
                for b in (
                    TRAIN_CONFIG["regions_bed"],
                    TRAIN_CONFIG["validation_bed"],
                    TRAIN_CONFIG["test_bed"],
                )
                if b
            ],
        output:
            windows=f"{TRAIN}/windows.tsv",
        log:
            f"{RUN}/logs/split_windows.log",
        conda:
            GENOTILE_ENV
        params:
            settings=rule_settings(config, "split_windows"),
        script:
            "../../scripts/split_windows.py"

    rule prepare_targets:
        input:
            fasta=FASTA,
            fasta_index=FASTA_INDEX,
            windows=f"{TRAIN}/windows.tsv",
            sheet=TRAIN_CONFIG["tracks_sheet"],
            bigwigs=sheet_files(TRAIN_CONFIG["tracks_sheet"]),
        output:
            targets=directory(f"{TRAIN}/targets.zarr"),
            qc=f"{TRAIN}/targets_qc.tsv",
            tracks=f"{TRAIN}/tracks.tsv",
        log:
            f"{RUN}/logs/prepare_targets.log",
        conda:
            GENOTILE_ENV
        params:
            settings=rule_settings(config, "prepare_targets"),
        script:
            "../../scripts/prepare_targets.py"

    # The GPU rule of fine-tuning. Its resume checkpoints (train/checkpoints) are not an output: a killed job
    # rerun continues from them; the delivered model is the step with the best validation loss.
    rule train_model:
        input:
            fasta=FASTA,
            fasta_index=FASTA_INDEX,
            windows=f"{TRAIN}/windows.tsv",
            targets=f"{TRAIN}/targets.zarr",
            tracks=f"{TRAIN}/tracks.tsv",
        output:
            model=directory(f"{TRAIN}/model"),
            curve=f"{TRAIN}/learning_curve.tsv",
            summary=f"{TRAIN}/train_summary.json",
        log:
            f"{RUN}/logs/train_model.log",
        conda:
            GENOTILE_ENV
        threads: config["inference"]["threads"]
        resources:
            gpu=config["inference"]["gpus_per_job"],
            mem_mb=config["inference"]["mem_mb"],
        params:
            settings=rule_settings(config, "train_model"),
            checkpoints=f"{TRAIN}/checkpoints",
        script:
            "../../scripts/train_model.py"
