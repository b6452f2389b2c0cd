"""Prediction entry points: a jit-compiled, output-selective forward pass with the reference's semantics.

``Predictor`` owns one model's weights, its track metadata (for the
``nonzero_mean`` scaling, padding NaNs and strand maps) and one compiled
function per output request, so model load and compilation are paid once per
process however many batches follow. Outputs come back as float32 numpy
arrays under the reference's names (``rna_seq/predictions_1bp``,
``splice_sites_junction/predictions``, ``contact_maps/predictions`` ...).

Negative-strand windows follow the reference exactly (``augmentation.py``):
the caller passes the reverse-complemented sequence, and the outputs are
mapped back to forward coordinates: tracks reversed and strand-swapped by the
metadata's re-indexing, DNase shifted by one base, contact maps flipped on
both axes, junction strands swapped and site positions mirrored.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import pandas as pd
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from genotile.model.alphagenome import ALL_OUTPUTS, AlphaGenome, OutputRequest
from genotile.model.checkpoints import LoadedModel
from genotile.model.config import GENOME_TRACK_RESOLUTIONS, ModelConfig, Precision, get_precision
from genotile.model.metadata import ORGANISMS, load_metadata, organism_index, strand_reindexing
from genotile.model.new_tracks import check_matches, extend_frame, new_track_means, new_track_reindexing
from genotile.outputs import CONTACT_MAPS, DNASE, MODEL_HEADS, SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES, by_head
from genotile.outputs import HEAD_OF_OUTPUT_TYPE as HEAD_OF_OUTPUT
from genotile.outputs import OUTPUT_TYPE_OF_HEAD as OUTPUT_OF_HEAD
from genotile.sequence.encoding import GRID_BP, validate_length

Outputs = dict[str, np.ndarray]
SPLICE_CLASS_REINDEXING = np.array([2, 3, 0, 1, 4])
JUNCTION_ROW_ORDER = np.array([2, 3, 0, 1])


def batch_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The one data-parallel mesh (axis ``batch``) over ``devices`` (default: every local device);
    the predictor and the trainer split rows over it the same way."""
    return Mesh(np.array(tuple(devices) if devices is not None else jax.local_devices()), ("batch",))


class PredictionError(ValueError):
    """A request the predictor cannot serve, with the reason."""


class OutputMemoryWarning(ResourceWarning):
    """A prediction whose outputs will probably not fit in the memory available."""


def available_memory_bytes() -> int | None:
    """Memory the process can still get (psutil when installed, else the free pages); None when unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or failing: fall back to sysconf
        try:
            return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None


def output_bytes(cfg: Any, request: OutputRequest, batch: int, length: int, device_dtype: Any = np.float32) -> dict[str, int]:
    """Bytes the outputs of ``request`` take for ``batch`` sequences of ``length`` bp, per head/resolution:
    float32 host arrays plus their device copies in the output dtype."""
    per = 4 + np.dtype(device_dtype).itemsize
    return {name: n * per * int(batch) for name, n in output_elements(cfg, request, length).items()}


def output_elements(cfg: Any, request: OutputRequest, length: int) -> dict[str, int]:
    """Values the model returns for one sequence of ``length`` bp, per head/resolution.

    A genome-track head gives raw and scaled predictions; splice heads logits and predictions;
    junctions predictions and a mask over both strands' tissues. Mirrors
    :class:`genotile.model.alphagenome.AlphaGenome`'s outputs (``tests/model/test_predictor.py`` checks it
    against ``jax.eval_shape``).
    """
    bins_pair = (length // GRID_BP) ** 2

    def channels(head: str) -> int:
        chosen = request.channels_for(head)
        return cfg.tracks(head) if chosen is None else len(chosen)

    sizes: dict[str, int] = {}
    for head in request.genome_heads:
        for res in request.head_resolutions(head):
            sizes[f"{head}/{res}bp"] = 2 * channels(head) * (length // res)
    if request.needs_pair:
        sizes[CONTACT_MAPS.head] = bins_pair * channels(CONTACT_MAPS.head)
    if SPLICE_SITES.head in request.heads:
        sizes[SPLICE_SITES.head] = 2 * length * cfg.tracks(SPLICE_SITES.head)
    if SPLICE_SITE_USAGE.head in request.heads:
        sizes[SPLICE_SITE_USAGE.head] = 2 * length * channels(SPLICE_SITE_USAGE.head)
    if SPLICE_JUNCTIONS.head in request.heads:
        k = cfg.num_splice_sites
        sizes[SPLICE_JUNCTIONS.head] = 2 * k * k * 2 * cfg.tracks(SPLICE_JUNCTIONS.head) + 4 * k
    if request.embeddings:
        if request.needs_128bp:
            sizes["embeddings_128bp"] = (length // 128) * 2 * cfg.tower_channels
        if request.needs_1bp:
            sizes["embeddings_1bp"] = length * 2 * cfg.embed_channels
        if request.needs_pair:
            sizes["embeddings_pair"] = bins_pair * cfg.pair_channels
    return sizes


class NonFiniteOutputError(PredictionError):
    """A forward pass produced inf/NaN where the model cannot (damaged weights): the job must stop."""


@dataclasses.dataclass(frozen=True)
class TrackMetadata:
    """Per-organism track tables for every head (``None`` where no metadata was given).

    With a fine-tuned model's new tracks (:meth:`with_new_tracks`) each head's frame lists the original
    tracks followed by the new ones (indexed as head channels), so selections and names see them
    like any other track; means and strand pairs are still derived per part.
    """

    frames: Mapping[int, Mapping[str, pd.DataFrame]]  # organism index -> head name -> frame
    base_frames: Mapping[int, Mapping[str, pd.DataFrame]] | None = dataclasses.field(default=None, compare=False)
    new_tracks: pd.DataFrame | None = dataclasses.field(default=None, compare=False)
    config: ModelConfig | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> "TrackMetadata":
        frames = {}
        for i, organism in enumerate(ORGANISMS):
            by_output = load_metadata(folder, organism)
            frames[i] = {HEAD_OF_OUTPUT[o]: f for o, f in by_output.items()}
        return cls(frames)

    def with_new_tracks(self, cfg: ModelConfig, table: pd.DataFrame | None) -> "TrackMetadata":
        """The same metadata with a fine-tuned model's new tracks appended to their heads' frames."""
        if table is None or not cfg.new_tracks:
            return self
        base = self.base_frames if self.base_frames is not None else self.frames
        frames = {o: {h: extend_frame(f, cfg, table, h, o) for h, f in heads.items()} for o, heads in base.items()}
        return TrackMetadata(frames, base, table, cfg)

    def track_means(self, heads: Sequence[str], num_organisms: int = 2) -> dict[str, np.ndarray]:
        """``[num_organisms, C]`` ``nonzero_mean`` per genome-track head (NaN for padding tracks)."""
        base = self.base_frames if self.base_frames is not None else self.frames
        added = new_track_means(self.config, self.new_tracks) if self.config is not None else {}
        means = {}
        for head in heads:
            rows = [_organism_means(base[o][head]) for o in range(num_organisms)]
            means[head] = np.stack(rows).astype(np.float32)
            if head in added:
                means[head] = np.concatenate([means[head], added[head]], axis=-1)
        return means

    def frame(self, organism: int, head: str) -> pd.DataFrame:
        return self.frames[organism][head]

    def strand_reindexing(self, organism: int, head: str) -> np.ndarray:
        """Reverse-complement channel permutation: the metadata's pairs, then the new tracks' own pairs."""
        base = self.base_frames if self.base_frames is not None else self.frames
        permutation = strand_reindexing(base[organism][head], OUTPUT_OF_HEAD[head])
        if self.config is not None and self.config.added_tracks(head):
            permutation = np.concatenate([permutation, new_track_reindexing(self.config, self.new_tracks, head)])
        return permutation


def _organism_means(frame: pd.DataFrame) -> np.ndarray:
    """A head's track means for one organism, as the reference derives them.

    Padding rows carry no ``nonzero_mean`` (NaN here), so padding tracks predict
    NaN. When *no* row of a head has one (mouse PRO-cap is all padding), the
    reference's table has no such column at all and it scales by 1 instead.
    """
    values = frame["nonzero_mean"].to_numpy(np.float64)
    return np.ones_like(values) if np.isnan(values).all() else values


def flatten_outputs(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested prediction dict -> ``{'head/name': array}`` (the reference's key paths joined by '/')."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_outputs(value, name + "/"))
        else:
            flat[name] = value
    return flat


def _to_host(x: jax.Array) -> np.ndarray:
    """bf16/f16 -> float32 numpy, ints and bools unchanged (as the reference's API upcasts)."""
    a = np.asarray(jax.device_get(x))
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) or a.dtype.name == "bfloat16" else a


class Predictor:
    """Batched forward passes of one model, compiled once per output request."""

    def __init__(
        self,
        model: LoadedModel,
        metadata: TrackMetadata | str | os.PathLike[str] | None = None,
        precision: Precision | str = "bfloat16",
        deterministic_batches: bool = True,
        devices: Sequence[jax.Device] | None = None,
    ) -> None:
        """``deterministic_batches``: compute the rows of a batch one after another inside one compiled call.

        XLA blocks a matmul differently for different batch shapes, so a window predicted in a batch of
        4 differs in the last bits from the same window alone; mapping over rows makes every window's
        output independent of what it was batched with (bit-identical stores whatever the batch size).
        At 1 Mb one window already fills an accelerator, so little throughput is lost. ``False`` runs
        rows as one batched computation.
        """
        self.model = model
        self.deterministic_batches = deterministic_batches
        self.config = model.config
        self.precision = get_precision(precision)
        if metadata is not None and not isinstance(metadata, TrackMetadata):
            metadata = TrackMetadata.from_folder(metadata)
        check_matches(self.config, model.new_tracks, model.identity)
        #: The fine-tuned model's new tracks (None without): named and scaled from this table.
        self.new_tracks = model.new_tracks
        if metadata is not None:
            metadata = metadata.with_new_tracks(self.config, self.new_tracks)
        self.metadata = metadata
        self.module = AlphaGenome(self.config, self.precision)
        self.devices = tuple(devices) if devices is not None else tuple(jax.local_devices())
        self.mesh = batch_mesh(self.devices)
        self.variables = jax.device_put(model.variables, NamedSharding(self.mesh, PartitionSpec()))
        self._compiled: dict[OutputRequest, Any] = {}
        self._memory_warned: set[tuple[OutputRequest, int, int]] = set()
        self._nonfinite_counters: dict[OutputRequest, Any] = {}
        genome_heads = tuple(GENOME_TRACK_RESOLUTIONS)
        if metadata is not None:
            self.track_means = metadata.track_means(genome_heads, self.config.num_organisms)
        else:
            # Without metadata, predictions stay in the model's own units (the reference's behaviour
            # when a track table has no nonzero_mean); fine for the tiny demo model.
            self.track_means = {
                h: np.ones((self.config.num_organisms, self.config.base_tracks(h)), np.float32) for h in genome_heads
            }
            for head, means in new_track_means(self.config, self.new_tracks).items() if self.config.new_tracks else ():
                self.track_means[head] = np.concatenate([self.track_means[head], means], axis=-1)

    def _forward(self, request: OutputRequest):
        """The jit-compiled forward for one request (kept per predictor, so it is freed with it).

        Takes a batch whose size is a multiple of the device count (see :meth:`forward`).
        """
        if request not in self._compiled:
            module, means = self.module, self.track_means

            def batched(variables, dna, org):
                return module.apply(variables, dna, org, means, request)

            def row_by_row(variables, dna, org):
                one = lambda row: batched(variables, row[0][None], row[1][None])
                return jax.tree.map(lambda x: x[:, 0], jax.lax.map(one, (dna, org)))

            rows = PartitionSpec("batch")
            per_device = jax.shard_map(
                row_by_row if self.deterministic_batches else batched,
                mesh=self.mesh,
                in_specs=(PartitionSpec(), rows, rows),
                out_specs=rows,
            )
            self._compiled[request] = jax.jit(per_device)
        return self._compiled[request]

    @property
    def device_count(self) -> int:
        return len(self.devices)

    def forward(self, request: OutputRequest, dna: np.ndarray, org: np.ndarray) -> Any:
        """Raw (device) output tree for ``dna [B, S, 4]``, rows split over the predictor's devices.

        Pads the batch to a multiple of the device count with all-zero rows and drops them again.
        """
        batch = dna.shape[0]
        padded = -batch % self.device_count
        if padded:
            dna = np.concatenate([dna, np.zeros((padded, *dna.shape[1:]), dna.dtype)])
            org = np.concatenate([org, np.repeat(org[-1:], padded)])
        rows = NamedSharding(self.mesh, PartitionSpec("batch"))
        dna_device = jax.device_put(np.asarray(dna, np.float32), rows)
        org_device = jax.device_put(np.asarray(org, np.int32), rows)
        raw = self._forward(request)(self.variables, dna_device, org_device)
        self._check_finite(request, raw, org_device, batch)
        return jax.tree.map(lambda x: x[:batch], raw) if padded else raw

    def _nonfinite_counter(self, request: OutputRequest):
        """A jitted ``(raw, org) -> {output name: [B] int32}`` count of inf/NaN values per row, on the device.

        A separate computation from the forward (which stays exactly as compiled, so outputs are
        bit-identical), reading each output once and returning only a few integers. Padding tracks
        are NaN on purpose (their ``nonzero_mean`` is NaN): in ``predictions_*`` outputs the channels
        whose mean is not finite for the row's organism are not counted.
        """
        if request not in self._nonfinite_counters:
            finite_means = {}
            for head in request.genome_heads:
                means = self.track_means[head]
                channels = request.channels_for(head)
                finite_means[head] = np.isfinite(means if channels is None else means[..., channels])

            def count(raw, org):
                counts = {}
                for name, x in flatten_outputs(raw).items():
                    if not jax.numpy.issubdtype(x.dtype, jax.numpy.floating):
                        continue
                    head, _, field = name.partition("/")
                    bad = ~jax.numpy.isfinite(x)
                    if head in finite_means and field.startswith("predictions_"):
                        real = jax.numpy.asarray(finite_means[head])[org]  # [B, C]: not a padding track
                        bad = bad & real.reshape(real.shape[0], *([1] * (x.ndim - 2)), real.shape[1])
                    counts[name] = jax.numpy.sum(bad.reshape(bad.shape[0], -1), axis=1, dtype=jax.numpy.int32)
                return counts

            self._nonfinite_counters[request] = jax.jit(count)
        return self._nonfinite_counters[request]

    def _check_finite(self, request: OutputRequest, raw: Any, org: jax.Array, batch: int) -> None:
        """Stop with the head named when real rows of ``raw`` hold inf/NaN (only a few integers reach the host)."""
        counts = jax.device_get(self._nonfinite_counter(request)(raw, org))
        per_head: dict[str, int] = {}
        for name, rows in counts.items():
            per_head[name.split("/")[0]] = per_head.get(name.split("/")[0], 0) + int(np.asarray(rows)[:batch].sum())
        bad = {head: n for head, n in per_head.items() if n}
        if not bad:
            return
        head, n = next(iter(bad.items()))
        others = ", ".join(f"{h}: {c:,}" for h, c in list(bad.items())[1:])
        where = self.model.identity.partition(":")[2]
        folder = where if self.model.source in ("genotile", "official") else "<checkpoint dir>"
        raise NonFiniteOutputError(
            f"head {head} produced {n:,} non-finite values (inf/NaN)"
            + (f" (other heads too: {others})" if others else "")
            + f": the weights are probably corrupted; run `genotile model verify {folder}`"
        )

    def check_output_memory(self, request: OutputRequest, batch: int, length: int, negative_strand: bool = False) -> int:
        """Warn (:class:`OutputMemoryWarning`) before a call whose outputs will not fit in memory; returns the estimate.

        Why: every head at 1 bp is large (RNA-seq alone: 768 tracks x 1,048,576 bp x 4 bytes = 3.2 GB
        per window, and each output comes back twice, raw and scaled), so a request for all channels of
        a few heads on one 1 Mb window needs tens of GB and the process is killed without a word.
        """
        sizes = output_bytes(self.config, request, batch, length, self.precision.output)
        total = sum(sizes.values()) * (2 if negative_strand else 1)  # the reverse complement maps back into copies
        available = available_memory_bytes()
        if available is not None and total > 0.8 * available and (request, batch, length) not in self._memory_warned:
            self._memory_warned.add((request, batch, length))
            from genotile.runtime.wording import format_bytes

            top = sorted(sizes.items(), key=lambda kv: -kv[1])[:4]
            parts = ", ".join(f"{name} {format_bytes(n)}" for name, n in top)
            warnings.warn(
                f"Predictor.predict: the outputs of this request need about {format_bytes(total)} ({parts}, ...) for "
                f"{batch} sequence(s) of {length:,} bp, and only {format_bytes(available)} of memory is available; the "
                "process may be killed. Fix: request only what you need: fewer heads, resolutions=(128,) instead of 1 bp, "
                "and channels=((head, (i, j, ...)),) in the OutputRequest (genotile.tracks.selection builds one from "
                "metadata filters); or pass fewer sequences per call.",
                OutputMemoryWarning,
                stacklevel=3,
            )
        return total

    def first_device_variables(self) -> Any:
        """The parameters' copy on the first device (no new memory), for single-device follow-up calls."""
        return jax.tree.map(lambda x: x.addressable_data(0), self.variables)

    def predict(
        self,
        dna: np.ndarray,
        organisms: Sequence[int | str] | np.ndarray | int | str = 0,
        request: OutputRequest = ALL_OUTPUTS,
        negative_strand: Sequence[bool] | np.ndarray | bool = False,
        tracks: Mapping[str, np.ndarray] | None = None,
    ) -> Outputs:
        """Raw head outputs for a one-hot batch ``[B, S, 4]``.

        ``negative_strand[b]`` marks rows whose sequence is the reverse
        complement of the window; their outputs are mapped back to forward
        coordinates. ``tracks`` keeps only the given channels of a head
        (``{head: channel indices}``), after any strand re-indexing.
        """
        dna = np.asarray(dna)
        if dna.ndim == 2:
            dna = dna[None]
        if dna.ndim != 3 or dna.shape[-1] != 4:
            raise PredictionError(f"expected one-hot DNA of shape [batch, length, 4], got {list(dna.shape)}")
        validate_length(dna.shape[1])
        self.check_output_memory(request, dna.shape[0], dna.shape[1], bool(np.any(negative_strand)))
        batch = dna.shape[0]
        org = _organism_array(organisms, batch)
        neg = np.broadcast_to(np.asarray(negative_strand, bool), (batch,))
        computed = self._with_strand_partners(request, org) if neg.any() else request
        raw = self.forward(computed, dna, org)
        outputs = {k: _to_host(v) for k, v in flatten_outputs(raw).items()}
        if neg.any():
            outputs = self._reverse_complement(outputs, org, neg, dna.shape[1], computed)
        if computed is not request:
            outputs = _keep_requested_channels(outputs, computed, request)
        if tracks:
            outputs = select_output_tracks(outputs, tracks)
        return outputs

    def _with_strand_partners(self, request: OutputRequest, org: np.ndarray) -> OutputRequest:
        """Add each selected channel's other-strand partner: a reverse complement reads it in its place."""
        if not request.channels:
            return request
        channels = []
        for head, chosen in request.channels:
            wanted = set(chosen)
            for organism in set(org.tolist()):
                reindex = self._reindexing(head, organism)
                if reindex is not None:
                    wanted |= set(reindex[list(chosen)].tolist())
            channels.append((head, tuple(sorted(wanted))))
        return dataclasses.replace(request, channels=tuple(channels))

    def _reverse_complement(
        self, outputs: Outputs, org: np.ndarray, neg: np.ndarray, length: int, request: OutputRequest
    ) -> Outputs:
        result = {}
        for name, value in outputs.items():
            head, _, field = name.partition("/")
            rows = [
                self._rc_one(head, field, value[b : b + 1], int(org[b]), length, request) if neg[b] else value[b : b + 1]
                for b in range(value.shape[0])
            ]
            result[name] = np.concatenate(rows, axis=0)
        return result

    def _rc_one(
        self, head: str, field: str, value: np.ndarray, organism: int, length: int, request: OutputRequest
    ) -> np.ndarray:
        reindex = self._reindexing(head, organism)
        channels = request.channels_for(head)
        if reindex is not None and channels is not None:
            # Re-express the full-head permutation in the computed channels' positions.
            position = {int(c): i for i, c in enumerate(channels)}
            reindex = np.array([position[int(reindex[c])] for c in channels])
        return reverse_complement_output(head, field, value, reindex, length)

    def _reindexing(self, head: str, organism: int) -> np.ndarray | None:
        if head.startswith("embeddings") or not by_head(head).stranded:
            return None
        if head == SPLICE_SITES.head:
            return SPLICE_CLASS_REINDEXING
        if head == SPLICE_JUNCTIONS.head:
            tissues = self.config.tracks(head)
            return np.concatenate([np.arange(tissues, 2 * tissues), np.arange(tissues)])
        if self.metadata is None:
            raise PredictionError(
                f"reverse-complementing {head} outputs needs the track metadata (which channels are + and - "
                "strand); pass the metadata folder"
            )
        return self.metadata.strand_reindexing(organism, head)


def _keep_requested_channels(outputs: Outputs, computed: OutputRequest, request: OutputRequest) -> Outputs:
    """Drop the strand partners that were computed only for the reverse complement."""
    result = dict(outputs)
    for head, chosen in request.channels:
        positions = {int(c): i for i, c in enumerate(computed.channels_for(head))}
        keep = [positions[c] for c in chosen]
        for name, value in outputs.items():
            if name.split("/")[0] == head:
                result[name] = value[..., keep]
    return result


def _organism_array(organisms: Sequence[int | str] | np.ndarray | int | str, batch: int) -> np.ndarray:
    if isinstance(organisms, (int, str, np.integer)):
        organisms = [organisms] * batch
    org = np.array([organism_index(o) for o in organisms], np.int32)
    if org.shape != (batch,):
        raise PredictionError(f"got {org.shape[0]} organism indices for a batch of {batch}")
    return org


def reverse_complement_output(
    head: str, field: str, value: np.ndarray, reindexing: np.ndarray | None, length: int
) -> np.ndarray:
    """Map one output of a reverse-complemented window back to forward coordinates (batch of 1 or more).

    Takes numpy or JAX arrays (the trainer maps targets into a reverse-complemented window's frame
    with it inside the jit: the map is its own inverse except for DNase's first base, which becomes 0).
    """
    xp = jax.numpy if isinstance(value, jax.Array) else np
    if head == CONTACT_MAPS.head or field == "embeddings_pair":
        return value[:, ::-1, ::-1]
    if head == SPLICE_JUNCTIONS.head:
        if field == "splice_site_positions":
            mirrored = xp.where(value < 0, -1, length - 1 - value)
            return mirrored[:, JUNCTION_ROW_ORDER]
        return value[..., reindexing] if reindexing is not None else value
    if head.startswith("embeddings"):
        return value[:, ::-1]
    flipped = value[:, ::-1]
    if reindexing is not None:
        flipped = flipped[..., reindexing]
    if head == DNASE.head and field.endswith("_1bp"):
        # Cut-site convention: the two strands' 1-bp values are one base apart after reversal.
        flipped = xp.roll(flipped, 1, axis=1)
        flipped = flipped.at[:, 0].set(0) if xp is not np else _zero_first_position(flipped)
    return np.ascontiguousarray(flipped) if xp is np else flipped


def _zero_first_position(value: np.ndarray) -> np.ndarray:
    value[:, 0] = 0
    return value


def select_output_tracks(outputs: Outputs, tracks: Mapping[str, np.ndarray]) -> Outputs:
    """Keep the chosen channels of each head; junction channels are chosen per tissue on both strands."""
    unknown = sorted(set(tracks) - set(MODEL_HEADS))
    if unknown:
        raise PredictionError(f"track selection names unknown head(s) {unknown}")
    result = dict(outputs)
    for name, value in outputs.items():
        head, _, field = name.partition("/")
        if head not in tracks or field in ("splice_site_positions",):
            continue
        index = np.asarray(tracks[head], np.int64)
        if head == SPLICE_JUNCTIONS.head:
            tissues = value.shape[-1] // 2
            index = np.concatenate([index, index + tissues])
        result[name] = value[..., index]
    return result
