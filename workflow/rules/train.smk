# Fine-tuning: the training windows and their split, the measured targets of the tracks sheet at 1 and 128 bp,
# training (the delivered model: the best validation step) and the held-out evaluation, with the report's
# figures. Defined only when train.tracks_sheet is set; `rule all` then includes the evaluation (and with
# model.checkpoint: finetuned, the run's predictions and scores use the trained model).
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

    # train.delta_checkpoint: the best model also as a delta against the base (genotile.train.delta_output).
    TRAIN_DELTA_OUTPUT = (
        {"model_delta": directory(f"{TRAIN}/model_delta")} if TRAIN_CONFIG.get("delta_checkpoint") else {}
    )

    # The GPU rule of fine-tuning. Its resume checkpoints (train/checkpoints) are not an output: a killed job
    # rerun continues from them; the delivered model is the step with the best validation loss.
    rule train_model:
        input:
            unpack(gene_loss_inputs),
            fasta=FASTA,
            fasta_index=FASTA_INDEX,
            windows=f"{TRAIN}/windows.tsv",
            targets=f"{TRAIN}/targets.zarr",
            tracks=f"{TRAIN}/tracks.tsv",
        output:
            **TRAIN_DELTA_OUTPUT,
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

    # The held-out split in the untrained and the fine-tuned model: Pearson per track, loss per head, a region.
    rule evaluate_model:
        input:
            unpack(gene_loss_inputs),
            fasta=FASTA,
            fasta_index=FASTA_INDEX,
            windows=f"{TRAIN}/windows.tsv",
            targets=f"{TRAIN}/targets.zarr",
            tracks=f"{TRAIN}/tracks.tsv",
            model=f"{TRAIN}/model",
        output:
            evaluation=f"{TRAIN}/evaluation.parquet",
            losses=f"{TRAIN}/evaluation_losses.tsv",
            region=f"{TRAIN}/evaluation_region.tsv",
        log:
            f"{RUN}/logs/evaluate_model.log",
        conda:
            GENOTILE_ENV
        threads: config["inference"]["threads"]
        resources:
            gpu=config["inference"]["gpus_per_job"],
            mem_mb=config["inference"]["mem_mb"],
        params:
            settings=rule_settings(config, "evaluate_model"),
        script:
            "../../scripts/evaluate_model.py"

    # The fine-tune's report entries (category "4. Fine-tuning"): learning curve, held-out region, evaluation page.
    rule plot_training:
        input:
            curve=f"{TRAIN}/learning_curve.tsv",
            region=f"{TRAIN}/evaluation_region.tsv",
            evaluation=f"{TRAIN}/evaluation.parquet",
            losses=f"{TRAIN}/evaluation_losses.tsv",
        output:
            curve=report(
                f"{RUN}/report/training/learning_curve.png",
                caption="../report/learning_curve.rst",
                category="4. Fine-tuning",
            ),
            region=report(
                f"{RUN}/report/training/observed_vs_predicted.png",
                caption="../report/observed_vs_predicted.rst",
                category="4. Fine-tuning",
            ),
            page=report(
                f"{RUN}/report/training/evaluation.html",
                caption="../report/evaluation.rst",
                category="4. Fine-tuning",
            ),
        log:
            f"{RUN}/logs/plot_training.log",
        conda:
            GENOTILE_ENV
        script:
            "../../scripts/plot_training.py"


# What a run with a tracks sheet delivers from training (rule all): the evaluated fine-tune.
TRAINING_OUTPUTS = (
    [f"{TRAIN}/evaluation.parquet", f"{TRAIN}/evaluation_losses.tsv"] if TRAIN_CONFIG.get("tracks_sheet") else []
)
# The report's fine-tuning entries (target report_figures).
TRAINING_REPORT_OUTPUTS = (
    [f"{RUN}/report/training/{name}" for name in ("learning_curve.png", "observed_vs_predicted.png", "evaluation.html")]
    if TRAIN_CONFIG.get("tracks_sheet")
    else []
)
