"""One trainer for every fine-tuning mode (and for distillation): a jit-compiled step, data parallel, exact resume.

The trainer knows nothing of what is learnt: the caller injects

* ``loss_fn(predictions, batch) -> (total, {name: value})``: predictions are the model's output tree
  (float32, in the frame of the augmented batch), ``batch`` the augmented batch (``targets``,
  ``masks`` and anything else the source put in it). Measured tracks or a teacher's predictions are
  the same to it;
* a :class:`genotile.train.batches.BatchSource`: deterministic in (its seed, a position);
* optionally ``apply_fn(variables, dna, organism, key) -> (predictions, new_model_state)``; the default
  runs today's (inference-mode) model, :func:`train_mode_apply` the train-mode one.

One step: fold the step number into the run's key (so a resumed step draws what the uninterrupted one
drew), augment inside the jit, differentiate the loss with respect to the trainable leaves only, clip,
AdamW (accumulating when asked), every ``checkpoint_every`` steps an Orbax checkpoint. On CPU every
operation is deterministic, so kill-and-resume ends with bit-identical weights.

Precision: parameters (master weights) and optimizer moments are float32; ``precision: auto`` computes
in bfloat16 on accelerators (the policy of the reference's *inference*, ``genotile.model.config.Precision``,
for the memory a 1 Mb window needs; the reference's fine-tuning notebook computes in float32) and in
float32 on CPU; losses are computed in float32.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from genotile.model.alphagenome import ALL_OUTPUTS, AlphaGenome, OutputRequest
from genotile.model.checkpoints import LoadedModel
from genotile.model.config import GENOME_TRACK_RESOLUTIONS, Precision, get_precision
from genotile.model.layers import TrainMode
from genotile.model.predictor import batch_mesh
from genotile.outputs import SPLICE_JUNCTIONS
from genotile.runtime.progress import format_duration
from genotile.train.augment import SITE_POSITIONS, AugmentSettings, TargetSpec, augment, check_batch
from genotile.train.batches import Batch, BatchSource
from genotile.train.checkpointing import TrainCheckpoints
from genotile.train.freezing import Trainable, merge, partition, trainable_paths
from genotile.train.lora import LoraSettings, apply_adapters, init_adapters
from genotile.train.optimizer import OptimizerSettings, build_optimizer

LOG = logging.getLogger(__name__)

LossFn = Callable[[Any, Batch], tuple[jax.Array, Mapping[str, jax.Array]]]
ApplyFn = Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[Any, Any]]
#: ``(variables, batch, key) -> (predictions, new_model_state)``: a forward that reads more of the batch than
#: the sequence (:func:`target_sites_apply`: the junction head on the targets' splice sites).
BatchApplyFn = Callable[[Any, Batch, jax.Array], tuple[Any, Any]]


class TrainerError(ValueError):
    """Training settings or a batch the trainer cannot use, with the fix."""


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """Everything that shapes a run's result (all of it but the bookkeeping fields goes into the resume
    fingerprint). ``steps`` counts batches; the run may be extended by raising it."""

    steps: int
    trainable: Trainable = Trainable()
    optimizer: OptimizerSettings = OptimizerSettings()
    augment: AugmentSettings = AugmentSettings()
    lora: LoraSettings = LoraSettings()  # used in mode lora only
    seed: int = 0
    precision: str = "auto"  # auto: bfloat16 compute on accelerators, float32 on CPU
    #: None: the inference forward (stored batch-norm statistics, no dropout), right for a frozen trunk (heads,
    #: LoRA); a TrainMode: the train-mode forward (batch statistics and their EMA, dropout, remat), for full training.
    model_mode: TrainMode | None = None
    # bookkeeping (not in the fingerprint)
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise TrainerError(f"training steps must be at least 1, got {self.steps}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise TrainerError("checkpoint_every and log_every must be at least 1")

    def compute_precision(self, backend: str | None = None) -> Precision:
        if self.precision == "auto":
            return get_precision("float32" if (backend or jax.default_backend()) == "cpu" else "bfloat16")
        return get_precision(self.precision)

    def result_settings(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        for key in ("steps", "checkpoint_every", "keep_checkpoints", "log_every"):
            values.pop(key)
        if self.trainable.only_heads is None:  # absent, as before the field existed: older runs still resume
            values["trainable"].pop("only_heads")
        if self.trainable.mode != "lora":
            values.pop("lora")
        return values


@dataclasses.dataclass(frozen=True)
class TrainResult:
    step: int  # batches consumed in total (this run and the ones it resumed)
    resumed_from: int | None  # the checkpoint step this call started from
    last_loss: float | None
    last_parts: dict[str, float]


def default_track_means(config: Any) -> dict[str, np.ndarray]:
    """Scale 1 for every track: predictions in the model's own units (as the predictor without metadata)."""
    return {h: np.ones((config.num_organisms, config.tracks(h)), np.float32) for h in GENOME_TRACK_RESOLUTIONS}


def inference_apply(module: AlphaGenome, request: OutputRequest, track_means: Mapping[str, Any]) -> ApplyFn:
    """Today's model: batch-norm from the stored ``var_ema``, no dropout; the model state is unchanged."""

    def apply(variables, dna, organism, key):
        del key
        return module.apply(variables, dna, organism, track_means, request), variables["state"]

    return apply


def train_mode_apply(module: AlphaGenome, request: OutputRequest, track_means: Mapping[str, Any],
                     mode: TrainMode | bool = True) -> ApplyFn:
    """The train-mode model (batch statistics, EMA update, dropout from ``key``): the state comes back updated."""

    def apply(variables, dna, organism, key):
        out, updated = module.apply(
            variables, dna, organism, track_means, request, train=mode, mutable=["state"], rngs={"dropout": key}
        )
        return out, updated["state"]

    return apply


def target_sites_apply(module: AlphaGenome, request: OutputRequest, track_means: Mapping[str, Any],
                       mode: TrainMode | None) -> BatchApplyFn:
    """The model with its junction head run on the batch's splice-site slots (``batch[SITE_POSITIONS]``, ``[B, 4, K]``).

    Why: the junction targets are counts on the measured sites; on the sites the classification head would pick
    (top K above 0.1) most measured junctions would have no slot, and the slots would move as that head trains.
    The reference's training data carries such sites beside its junction counts (``splice_site_positions
    [4, K]``, spec §9). The
    forward is the request without the junction head plus the 1-bp embeddings, then
    :meth:`AlphaGenome.predict_junctions` on them: the inference forward itself is not changed."""
    junctions = SPLICE_JUNCTIONS.head
    inner_request = dataclasses.replace(
        request, heads=tuple(h for h in request.heads if h != junctions),
        embedding_resolutions=tuple(sorted({*request.embedding_resolutions, 1})))
    inner = (inference_apply(module, inner_request, track_means) if mode is None
             else train_mode_apply(module, inner_request, track_means, mode))
    keep_embeddings = request.embeddings or 1 in request.embedding_resolutions

    def apply(variables, batch, key):
        out, state = inner(variables, batch["dna"], batch["organism"], key)
        out = dict(out)
        embeddings = out["embeddings_1bp"] if keep_embeddings else out.pop("embeddings_1bp")
        if junctions in request.heads:
            out[junctions] = module.apply(variables, embeddings, jnp.asarray(batch[SITE_POSITIONS], jnp.int32),
                                          batch["organism"], method=AlphaGenome.predict_junctions)
        return out, state

    return apply


def _as_float32(tree: Any) -> Any:
    return jax.tree.map(lambda x: x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


class Trainer:
    """Fine-tunes one model. Build it, call :meth:`fit` (it resumes from ``checkpoint_dir`` when that holds
    a run with the same settings), read :meth:`variables`."""

    def __init__(
        self,
        model: LoadedModel,
        loss_fn: LossFn,
        settings: TrainSettings,
        *,
        targets: Mapping[str, TargetSpec] | None = None,
        request: OutputRequest = ALL_OUTPUTS,
        track_means: Mapping[str, Any] | None = None,
        apply_fn: ApplyFn | None = None,
        checkpoint_dir: str | Path | None = None,
        devices: Sequence[jax.Device] | None = None,
        run_config: Mapping[str, Any] | None = None,
        junctions_on_target_sites: bool = False,
    ) -> None:
        """``run_config``: anything else that shapes the result (loss settings, data settings), JSON-able:
        it joins the resume fingerprint. ``targets``: how each target moves under augmentation.
        ``junctions_on_target_sites``: run the junction head on the batch's splice-site slots
        (:func:`target_sites_apply`; with the default ``apply_fn`` only)."""
        self.model = model
        self.loss_fn = loss_fn
        self.settings = settings
        self.targets = dict(targets or {})
        self.request = request
        self.mesh = batch_mesh(devices)
        self.precision = settings.compute_precision(self.mesh.devices.flat[0].platform)
        self.module = AlphaGenome(model.config, self.precision)
        means = dict(track_means) if track_means is not None else default_track_means(model.config)
        self.track_means = {k: jnp.asarray(v, jnp.float32) for k, v in means.items()}
        self.junctions_on_target_sites = bool(junctions_on_target_sites)
        if self.junctions_on_target_sites and apply_fn is not None:
            raise TrainerError("junctions_on_target_sites builds its own forward; pass no apply_fn with it")
        if apply_fn is None:
            mode = settings.model_mode
            apply_fn = (inference_apply(self.module, request, self.track_means) if mode is None
                        else train_mode_apply(self.module, request, self.track_means, mode))
        self.apply_fn = apply_fn
        if self.junctions_on_target_sites:
            self._batch_apply: BatchApplyFn = target_sites_apply(self.module, request, self.track_means,
                                                                 settings.model_mode)
        else:
            self._batch_apply = lambda variables, batch, key: apply_fn(variables, batch["dna"], batch["organism"], key)
        self.optimizer = build_optimizer(settings.optimizer)
        self.run_config = dict(run_config or {})
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)

        self._replicated = NamedSharding(self.mesh, PartitionSpec())
        self._rows = NamedSharding(self.mesh, PartitionSpec("batch"))
        params = model.variables["params"]
        self.trainable_paths = trainable_paths(params, settings.trainable)
        trainable_params, self._frozen = partition(params, self.trainable_paths)
        trainable = {"params": trainable_params}
        if settings.trainable.mode == "lora":
            trainable["lora"] = init_adapters(params, settings.lora, jax.random.fold_in(jax.random.key(settings.seed), 1))
        put = lambda tree: jax.device_put(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree), self._replicated)
        self._frozen = put(self._frozen)
        state = {
            "trainable": put(trainable),
            "model_state": put(model.variables.get("state", {})),
            "rng": jax.random.key_data(jax.random.key(settings.seed)),
            "step": jnp.zeros((), jnp.int32),
            "position": jnp.zeros((), jnp.int32),
            "loss": jnp.zeros((), jnp.float32),  # the last step's total: a resumed run's learning curve reads it
        }
        state["opt_state"] = jax.device_put(self.optimizer.init(state["trainable"]), self._replicated)
        self._state = jax.device_put(state, self._replicated)
        self._step_fn = self._compile()
        self._checked_batch = False

    # -- what the caller reads ------------------------------------------------------------------------------

    @property
    def step(self) -> int:
        return int(self._state["step"])

    @property
    def last_step_loss(self) -> float:
        """The total loss of the last step taken (0 before the first), restored with a checkpoint."""
        return float(self._state["loss"])

    @property
    def opt_state(self) -> Any:
        return self._state["opt_state"]

    def trainable_params(self) -> Any:
        """``{'params': the trained leaves, 'lora': the adapters (mode lora)}``: what the optimizer sees."""
        return self._state["trainable"]

    def variables(self) -> dict[str, Any]:
        """The full variable tree (base weights with the trained leaves in place, adapters merged into their
        kernels), as numpy float32: what ``genotile.model.checkpoints.save_checkpoint`` writes and the
        predictor loads."""
        params = self._full_params(self._state["trainable"], self._frozen)
        return jax.device_get({"params": params, "state": self._state["model_state"]})

    def _full_params(self, trainable: Mapping[str, Any], frozen: Any) -> dict[str, Any]:
        params = merge(trainable["params"], frozen)
        if "lora" in trainable:
            params = apply_adapters(params, trainable["lora"], self.settings.lora)
        return params

    def run_description(self, source: BatchSource) -> dict[str, Any]:
        """What the fingerprint covers: the base weights, model, settings, targets, request, source, loss."""
        return {
            "model": {"identity": self.model.identity, "config": dataclasses.asdict(self.model.config)},
            "settings": self.settings.result_settings(),
            "precision": self.precision.name,
            "request": dataclasses.asdict(self.request),
            "targets": {k: dataclasses.asdict(v) for k, v in sorted(self.targets.items())},
            "source": dict(source.fingerprint()),
            "loss": getattr(self.loss_fn, "__qualname__", type(self.loss_fn).__name__),
            "run_config": self.run_config,
            **({"junctions_on_target_sites": True} if self.junctions_on_target_sites else {}),
        }

    # -- the step -------------------------------------------------------------------------------------------

    def _compile(self):
        loss_fn, apply_fn, optimizer = self.loss_fn, self._batch_apply, self.optimizer
        augment_settings, targets, full_params = self.settings.augment, self.targets, self._full_params

        def train_step(state, frozen, batch):
            key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
            augment_key, dropout_key = jax.random.split(key)
            batch = augment(batch, augment_key, augment_settings, targets)

            def objective(trainable):
                variables = {"params": full_params(trainable, frozen), "state": state["model_state"]}
                predictions, model_state = apply_fn(variables, batch, dropout_key)
                total, parts = loss_fn(_as_float32(predictions), batch)
                return total, (parts, model_state)

            (total, (parts, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(state["trainable"])
            updates, opt_state = optimizer.update(grads, state["opt_state"], state["trainable"])
            new_state = {
                "trainable": optax.apply_updates(state["trainable"], updates),
                "opt_state": opt_state,
                "model_state": model_state,
                "rng": state["rng"],
                "step": state["step"] + 1,
                "position": state["position"] + 1,
                "loss": jnp.asarray(total, jnp.float32),
            }
            return new_state, total, dict(parts)

        donate = () if self.mesh.devices.flat[0].platform == "cpu" else (0,)
        return jax.jit(
            train_step,
            in_shardings=(self._replicated, self._replicated, self._rows),
            out_shardings=(self._replicated, self._replicated, self._replicated),
            donate_argnums=donate,
        )

    def _device_batch(self, batch: Batch) -> Batch:
        if not self._checked_batch:
            rows = int(np.asarray(batch["dna"]).shape[0])
            devices = self.mesh.devices.size
            if rows % devices:
                raise TrainerError(
                    f"a batch of {rows} rows cannot be split over {devices} devices; fix: make the batch size a "
                    f"multiple of {devices}"
                )
            check_batch(batch, self.settings.augment, self.targets)
            self._checked_batch = True
        batch = dict(batch)
        batch["dna"] = np.asarray(batch["dna"], np.float32)
        batch["organism"] = np.asarray(batch["organism"], np.int32)
        return jax.device_put(batch, self._rows)

    # -- the loop -------------------------------------------------------------------------------------------

    def _open_checkpoints(self, source: BatchSource) -> TrainCheckpoints | None:
        if self.checkpoint_dir is None:
            return None
        return TrainCheckpoints(self.checkpoint_dir, self.run_description(source), keep=self.settings.keep_checkpoints)

    def resume(self, checkpoints: TrainCheckpoints) -> int | None:
        """Load the newest complete checkpoint (after checking its settings); returns its step, None if none."""
        step = checkpoints.latest_step()
        if step is None:
            return None
        checkpoints.check(step)
        if step == self.step:  # a later fit() call of the same run: the state in memory is that checkpoint's
            return step
        self._state = checkpoints.restore(step, self._state)
        LOG.info("resumed from the checkpoint of step %s in %s", f"{step:,}", checkpoints.directory)
        return step

    def fit(self, source: BatchSource, stop_after: int | None = None) -> TrainResult:
        """Train to ``settings.steps`` (resuming from the checkpoint folder when it holds this run).

        ``stop_after``: return after that many steps of this call (a test's "kill", or a time-boxed job);
        the state at return is checkpointed like the end of a run.
        """
        checkpoints = self._open_checkpoints(source)
        try:
            resumed = self.resume(checkpoints) if checkpoints is not None else None
            return self._loop(source, checkpoints, resumed, stop_after)
        finally:
            if checkpoints is not None:
                checkpoints.close()

    def _loop(
        self, source: BatchSource, checkpoints: TrainCheckpoints | None, resumed: int | None, stop_after: int | None
    ) -> TrainResult:
        total_steps = self.settings.steps
        start = self.step
        end = total_steps if stop_after is None else min(total_steps, start + stop_after)
        stream: Iterator[Batch] = source.batches(int(self._state["position"]))
        last_loss, last_parts = None, {}
        clock = time.perf_counter()
        since, since_step = clock, start
        in_flight = None
        for step in range(start + 1, end + 1):
            batch = self._device_batch(next(stream))
            self._state, total, parts = self._step_fn(self._state, self._frozen, batch)
            # At most one step runs ahead of the host: JAX dispatches asynchronously, and without this wait
            # the host queues a batch per step until the next log (up to log_every batches in memory).
            if in_flight is not None:
                jax.block_until_ready(in_flight)
            in_flight = total
            last_log = step % self.settings.log_every == 0 or step == end
            if last_log:
                last_loss, last_parts = float(total), {k: float(v) for k, v in parts.items()}
                now = time.perf_counter()
                rate = (step - since_step) / max(now - since, 1e-9)
                since, since_step = now, step
                self._log(step, total_steps, last_loss, last_parts, rate)
            if checkpoints is not None and (step % self.settings.checkpoint_every == 0 or step == end):
                checkpoints.save(step, self._state)
        return TrainResult(self.step, resumed, last_loss, last_parts)

    def _log(self, step: int, total: int, loss: float, parts: Mapping[str, float], rate: float) -> None:
        heads = ", ".join(f"{k} {v:.4g}" for k, v in parts.items())
        eta = format_duration((total - step) / rate) if rate > 0 else "?"
        LOG.info(
            "step %s/%s: loss %.4g%s, %.2f steps/s, ETA %s",
            f"{step:,}", f"{total:,}", loss, f" ({heads})" if heads else "", rate, eta,
        )
