"""The training stage trains on another model's predictions: distillation's shape, with nothing changed.

Why a test of its own: distillation (the next issue) is meant to be a new targets callable and nothing
else. Here a teacher (the tiny model, another seed) predicts each window's DNase tracks through the
windows source's :data:`genotile.train.windows_source.TargetsFn`, the student (the tiny model, seed 0) is
trained on them with the reference's genome-track loss by the unchanged trainer, and it moves towards the
teacher: its loss against the teacher falls and its predictions correlate better with the teacher's.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from genotile.model.alphagenome import OutputRequest
from genotile.model.checkpoints import synthetic_model
from genotile.model.predictor import Predictor
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.train.augment import AugmentSettings, TargetSpec
from genotile.train.freezing import Trainable
from genotile.train.losses import head_loss
from genotile.train.optimizer import OptimizerSettings
from genotile.train.trainer import Trainer, TrainSettings
from genotile.train.windows_source import WindowsSource
from tests.helpers.train_data import random_sequence, write_fasta

WINDOW, MARGIN, CHANNELS, STEPS = 4096, 1024, 4, 12
REQUEST = OutputRequest(heads=("dnase",), resolutions=(1, 128), channels=(("dnase", tuple(range(CHANNELS))),))


def teacher_targets(teacher: Predictor, genome: Genome):
    """A :data:`TargetsFn` whose targets are the teacher's 1-bp DNase predictions over the asked bases."""

    def read(contig: str, start: int, end: int) -> dict[str, np.ndarray]:
        dna = one_hot(genome.sequence(contig, start, end))
        return {"dnase": teacher.predict(dna[None], 0, REQUEST)["dnase/predictions_1bp"][0]}

    return read


def distillation_loss(predictions, batch):
    """The reference's genome-track loss of the student's DNase head against the teacher's values."""
    head_batch = {"organism_index": batch["organism"], "dnase": batch["targets"]["dnase"],
                  "dnase_mask": batch["masks"]["dnase"]}
    terms = head_loss("dnase", predictions["dnase"], head_batch,
                      track_means={"dnase": jnp.ones((2, CHANNELS), jnp.float32)}, segment_bp=WINDOW)
    return terms["loss"], {"dnase": terms["loss"]}


@pytest.mark.slow
def test_the_student_moves_towards_the_teacher(tmp_path):
    fasta = write_fasta(tmp_path / "genome.fa", {"c1": random_sequence(8 * WINDOW, 11)})
    genome = Genome(fasta)
    teacher = Predictor(synthetic_model("tiny", 1), precision="float32")
    student = synthetic_model("tiny", 0)
    windows = pd.DataFrame({"contig": "c1", "start": np.arange(1, 7) * WINDOW, "end": np.arange(2, 8) * WINDOW})
    source = WindowsSource(genome, windows, teacher_targets(teacher, genome), margin=MARGIN, batch_size=2, seed=0,
                           organism=0, identity={"teacher": teacher.model.identity})
    settings = TrainSettings(steps=STEPS, trainable=Trainable("full"), augment=AugmentSettings(max_shift=MARGIN),
                             optimizer=OptimizerSettings(learning_rate=2e-3, warmup_steps=0, decay_steps=STEPS),
                             precision="float32", log_every=STEPS)
    trainer = Trainer(student, distillation_loss, settings, targets={"dnase": TargetSpec("dnase")}, request=REQUEST)

    held_out = genome.sequence("c1", 0, WINDOW)
    wanted = teacher.predict(one_hot(held_out)[None], 0, REQUEST)["dnase/predictions_1bp"]

    def against_teacher(variables) -> tuple[float, float]:
        model = Predictor(student.__class__(student.config, variables, "synthetic", "student"), precision="float32")
        got = model.predict(one_hot(held_out)[None], 0, REQUEST)
        batch = {"organism": np.zeros(1, np.int32), "targets": {"dnase": wanted},
                 "masks": {"dnase": np.ones((1, 1, CHANNELS), bool)}}
        raw = {"dnase": {k.split("/", 1)[1]: jnp.asarray(v) for k, v in got.items() if k.startswith("dnase/scaled")}}
        loss = float(distillation_loss(raw, batch)[0])
        return loss, float(np.corrcoef(np.log1p(got["dnase/predictions_1bp"].ravel()), np.log1p(wanted.ravel()))[0, 1])

    loss_before, r_before = against_teacher(student.variables)
    result = trainer.fit(source)
    loss_after, r_after = against_teacher(trainer.variables())
    assert result.step == STEPS and np.isfinite(result.last_loss)
    assert loss_after < loss_before, (loss_before, loss_after)
    assert r_after > r_before, (r_before, r_after)
