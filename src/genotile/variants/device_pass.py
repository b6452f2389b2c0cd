"""The device side of variant scoring: one REF pass per window kept on the device, ALT passes that reduce there.

Why (issue 15): a scoring job used to copy every track of every position of both alleles' windows to the
host and reduce them in numpy. For the annotation-free recommended scorers that is ~0.74 GB per 131-kb window
of which the scorers read ~0.4%, and on the CPU most of the "forward" was the 1-bp heads over every position.
Here, for the scorer kinds that have a device reduction (:meth:`~genotile.variants.scorers.base.Scorer.device_read`):

* the REF pass of a window runs once and its state stays on the device: the encoder outputs (the local
  encoder's input), the sequence embeddings at the resolutions the scorers read, and the head outputs of
  whole-window reads (contact maps, ``width: null`` centre masks);
* each ALT pass (batched, rows mapped one by one so a row's bytes do not depend on its batch) computes the
  trunk (with :func:`genotile.model.local_encoder.local_encode` for substitutions), then a head only on the
  bins a scorer reads around the variant (a genome-track head is pointwise along the sequence, so those bins
  equal the whole-window head's), the same for REF from the kept embeddings, and the scorers' reductions;
* only the scores (``[T]`` per scorer, plus REF/ALT values) come back to the host.

Per-row kinds take arrays built on the host: per window (GeneMaskLFC/Active,
:attr:`~genotile.variants.scorers.base.DeviceRead.window`; :meth:`DevicePasses.window`: exon masks padded to a
row bucket), which travel with the REF state, the REF pass adding what the kind keeps of REF (gene means); or per
variant (GeneMaskSplicing, Polyadenylation, SpliceJunction, :attr:`~genotile.variants.scorers.base.DeviceRead.variant`;
:meth:`DevicePasses.variant`: the intervals of the genes it overlaps), which travel with its ALT row, rows batching
only with rows of the same padded shapes. ALT is indel-aligned on the device (:mod:`genotile.variants.device_align`,
per-row parameters) and ``[R, T]`` scores come back. For the junction scorer the REF state keeps the 1-bp
embeddings and splice-site probabilities, and each ALT row predicts both alleles' junctions on their shared
candidate sites (:meth:`DevicePasses._junction_pair`).

A kind without a device reduction (none of the built-in ones; a user's own) gets its outputs from the same
passes, copied to the host (:class:`genotile.variants.predict.WindowPrediction`), so a job runs the trunk once
per allele whatever its scorer mix.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genotile.model import local_encoder
from genotile.model.alphagenome import AlphaGenome, OutputRequest
from genotile.model.predictor import NonFiniteOutputError
from genotile.model.splicing import splice_site_positions
from genotile.outputs import CONTACT_MAPS, SPLICE_JUNCTIONS, SPLICE_SITE_USAGE, SPLICE_SITES, by_scorer_output
from genotile.variants import scorers as S
from genotile.variants.device_align import IDENTITY, align_alternate_jax
from genotile.variants.predict import OUTPUT_FIELDS, VariantModel, WindowPrediction
from genotile.variants.scorers.base import MIN_VARIANT_BUCKET, DeviceRead, row_bucket

__all__ = ["MAX_AUTO_BATCH", "MAX_AUTO_BATCH_CPU", "AltRoute", "DevicePasses", "Gather", "RefState", "WindowRows", "alt_route",
           "auto_batch_size", "device_passes", "pad_variant_arrays"]

#: Most ALT rows per call ``batch_size: auto`` picks: rows are computed one by one inside a call (byte identity),
#: so a bigger batch saves only dispatches and host round trips, and those are paid back well before this.
MAX_AUTO_BATCH = 16
#: The same on the CPU: there a bigger batch is slower (its working set leaves the caches); measured on the chr20
#: cohort (BENCHMARKS.md, "batch_size: auto on the CPU"): 7.35 variants/s at 4 rows against 4.97 at 16.
MAX_AUTO_BATCH_CPU = 4
#: Share of the free device memory the batch's inputs and host-bound outputs may take.
AUTO_BATCH_MEMORY_SHARE = 0.25

#: 128-bp bins decoded beyond a scorer's window on each side when an ALT pass decodes a slice only: more than
#: the decoder's receptive field (3 x (128 + 64 + ... + 2) = 762 bp, plus rounding at each up-sampling).
DECODER_MARGIN_BINS = 12

#: Widest substitution recomputed locally; wider ones (rare MNVs) take the full encoder pass.
MAX_LOCAL_WIDTH = 64

#: Heads :meth:`DevicePasses._head` runs with ``AlphaGenome.splice_head`` (the others are genome-track heads).
SPLICE_SITE_HEADS = frozenset({SPLICE_SITES.head, SPLICE_SITE_USAGE.head})

RefState = dict[str, Any]  # device arrays of one window's REF pass (see DevicePasses.ref)
#: Per device scorer: its :class:`~genotile.variants.scorers.base.WindowArrays` or (per variant)
#: :class:`~genotile.variants.scorers.base.VariantArrays` (None: not a per-row kind).
WindowRows = list[S.WindowArrays | S.VariantArrays | None]


@dataclasses.dataclass(frozen=True)
class Gather:
    """One output the device scorers read: its head, resolution, kept channels and how many bins around the
    variant (``bins``; None = the whole window, kept from the REF pass). Scorers of one output share it."""

    output: str
    head: str
    resolution: int
    bins: int | None
    channels: tuple[int, ...]

    @property
    def contact(self) -> bool:
        return self.output == CONTACT_MAPS.scorer_output

    @property
    def junction(self) -> bool:
        """Splice junctions: REF keeps its 1-bp embeddings and site probabilities; each ALT row predicts the
        junctions of both alleles on their shared candidate sites (:meth:`DevicePasses._junction_pair`)."""
        return self.output == SPLICE_JUNCTIONS.scorer_output


@dataclasses.dataclass(frozen=True)
class AltRoute:
    """How an ALT row's encoder outputs are computed: ``width`` None = the full encoder, else the local
    recomputation of a changed span of (at most) ``width`` bases (bucketed to a power of two)."""

    width: int | None = None


def alt_route(start0: int, ref: str, alt: str, window_start: int, window_len: int, enabled: bool) -> tuple[AltRoute, int]:
    """The route of one variant and the start of its (bucketed) span in the window: a substitution inside the
    window goes local (``local_encoder.local_span``), an indel or a wide MNV the full encoder."""
    span = local_encoder.local_span(start0, len(ref), len(alt), window_start, window_len) if enabled else None
    if span is None or span[1] <= span[0] or span[1] - span[0] > MAX_LOCAL_WIDTH:
        return AltRoute(None), 0
    width = 1 << math.ceil(math.log2(span[1] - span[0]))
    return AltRoute(width), min(span[0], window_len - width)


class DevicePasses:
    """The compiled REF and ALT passes of one scoring job (model, device scorers, host outputs, window length)."""

    def __init__(self, model: VariantModel, specs: Sequence[S.ScorerSpec], window_bp: int) -> None:
        self.model = model
        self.window_bp = window_bp
        predictor = model.predictor
        self.module: AlphaGenome = predictor.module
        self.means = predictor.track_means
        self.kinds = {s: S.scorer(s.scorer) for s in specs}
        self.device_specs = tuple(s for s in specs if self.kinds[s].device_read(s) is not None)
        self.reads: tuple[DeviceRead, ...] = tuple(self.kinds[s].device_read(s) for s in self.device_specs)  # type: ignore[misc]
        host_outputs = sorted({s.output for s in specs if s not in self.device_specs})
        self.gathers = self._gathers()
        self.spec_gather = tuple(
            next(i for i, g in enumerate(self.gathers) if g.output == s.output) for s in self.device_specs
        )
        #: Per junction gather: the device scorer whose per-variant ``body_intervals`` mark its candidate sites.
        self.junction_spec = {i: self.spec_gather.index(i) for i, g in enumerate(self.gathers) if g.junction}
        #: Per gather: whether ALT is aligned for some scorer, whether a whole-window REF output stays on the device.
        self.aligned = tuple(any(r.aligned for r, i in zip(self.reads, self.spec_gather) if i == k) for k in range(len(self.gathers)))
        self.keep_ref = tuple(
            g.contact or any(r.ref_outputs for r, i in zip(self.reads, self.spec_gather) if i == k) for k, g in enumerate(self.gathers)
        )
        host = model.request_for(host_outputs)
        self.host_heads = set(host.heads)
        contact = any(g.contact for g in self.gathers)
        heads = host.heads + ((CONTACT_MAPS.head,) if contact and CONTACT_MAPS.head not in host.heads else ())
        channels = host.channels + tuple(
            (g.head, g.channels) for g in self.gathers if g.contact and CONTACT_MAPS.head not in self.host_heads
        )
        sequence = {g.resolution for g in self.gathers if not g.contact}
        #: The REF pass keeps whole-window embeddings at every resolution a device scorer reads.
        self.request = dataclasses.replace(host, heads=heads, channels=channels, embedding_resolutions=tuple(sorted(sequence)))
        # ALT passes decode only a slice around the variant when every 1-bp read is a window around it and no
        # host scorer needs whole-window 1-bp outputs (the decoder is most of a 1-bp forward on the CPU)
        windowed = [g for g in self.gathers if g.resolution == 1 and not g.contact and g.bins is not None]
        whole_1bp = any(g.resolution == 1 and not g.contact and g.bins is None for g in self.gathers)
        host_1bp = dataclasses.replace(host, embedding_resolutions=()).needs_1bp
        length_bins = window_bp // local_encoder.TRUNK_BIN_BP
        self.decoder_bins = 0
        if windowed and not whole_1bp and not host_1bp:
            widest = max(windowed, key=lambda g: g.bins or 0)
            self.decoder_gather = self.gathers.index(widest)
            self.decoder_bins = min(length_bins, -(-(widest.bins or 0) // local_encoder.TRUNK_BIN_BP) + 1 + 2 * DECODER_MARGIN_BINS)
            self.alt_request = dataclasses.replace(
                self.request, embedding_resolutions=tuple(sorted(sequence - {1} | {128})), tower_output=True,
            )
        else:
            self.alt_request = self.request
        self.host_outputs = tuple(host_outputs)
        self.junctions = host.embeddings
        self.mesh = predictor.mesh
        self._ref_fn = jax.jit(self._ref_pass)
        self._alt_fns: dict[AltRoute, Any] = {}
        self._device_variables: dict[int, Any] = {}

    # -- set-up ----------------------------------------------------------------------------------------

    def _gathers(self) -> tuple[Gather, ...]:
        widest: dict[str, int | None] = {}
        for spec in self.device_specs:
            read = self.kinds[spec].device_read(spec)
            assert read is not None
            if read.output in widest and (widest[read.output] is None or read.bins is None):
                widest[read.output] = None
            else:
                widest[read.output] = max(widest.get(read.output) or 0, read.bins) if read.bins is not None else None
        gathers = []
        for output, bins in widest.items():
            head, _ = OUTPUT_FIELDS[output]
            resolution = 1 if output == SPLICE_JUNCTIONS.scorer_output else by_scorer_output(output).scored_resolution
            length = self.window_bp // resolution
            keep = None if bins is None or bins >= length else bins
            channels = tuple(self.model.tracks[output]["track_index"].tolist())
            gathers.append(Gather(output, head, resolution, keep, channels))
        return tuple(gathers)

    def anchors(self, start0: int, interval_start: int) -> np.ndarray:
        """First bin of each gathered window for a variant: centred on its bin, kept inside the window."""
        out = np.zeros(len(self.gathers), np.int32)
        for i, g in enumerate(self.gathers):
            if g.bins is None:
                continue
            length = self.window_bp // g.resolution
            centre = (start0 - interval_start) // g.resolution
            out[i] = min(max(centre - g.bins // 2, 0), length - g.bins)
        return out

    def bounds(self, start0: int, interval_start: int) -> tuple[np.ndarray, list[str | None]]:
        """``[n_specs, 2]`` bounds of each device scorer for a variant, and per scorer None or why it failed."""
        out = np.zeros((len(self.device_specs), 2), np.int32)
        errors: list[str | None] = []
        for i, spec in enumerate(self.device_specs):
            g = self.gathers[self.spec_gather[i]]
            try:
                out[i] = self.kinds[spec].device_bounds(spec, start0, interval_start, self.window_bp // self._bin_bp(g))
                errors.append(None)
            except ValueError as err:
                errors.append(f"{type(err).__name__}: {err}")
        return out, errors

    def window(self, inputs: S.WindowInputs) -> tuple[dict[str, np.ndarray], WindowRows]:
        """A window's arrays for the per-row device scorers, merged by name, and each scorer's
        :class:`~genotile.variants.scorers.base.WindowArrays` (None for the other device scorers)."""
        arrays: dict[str, np.ndarray] = {}
        rows: WindowRows = []
        for spec, read in zip(self.device_specs, self.reads):
            built = self.kinds[spec].device_window(spec, inputs) if read.window else None
            if built is not None:
                for name, array in built.arrays.items():
                    arrays.setdefault(name, array)
            rows.append(built)
        return arrays, rows

    def variant(self, inputs: S.WindowInputs, variant: Any) -> tuple[dict[str, np.ndarray], list[S.VariantArrays | None]]:
        """A variant's arrays for the per-variant device scorers (:meth:`~genotile.variants.scorers.base.Scorer.device_variant`),
        padded (:func:`pad_variant_arrays`) and named ``"<scorer index>|<name>"``, and each scorer's
        :class:`~genotile.variants.scorers.base.VariantArrays` (None for the other device scorers)."""
        arrays: dict[str, np.ndarray] = {}
        rows: list[S.VariantArrays | None] = []
        for j, (spec, read) in enumerate(zip(self.device_specs, self.reads)):
            built = self.kinds[spec].device_variant(spec, inputs, variant) if read.variant else None
            if built is not None:
                arrays.update({f"{j}|{k}": v for k, v in pad_variant_arrays(built).items()})
            rows.append(built)
        return arrays, rows

    @staticmethod
    def _bin_bp(g: Gather) -> int:
        return by_scorer_output(g.output).scored_resolution

    # -- the traced passes -----------------------------------------------------------------------------

    def _head(self, variables: Any, g: Gather, emb: jax.Array, org: jax.Array) -> jax.Array:
        if g.head in SPLICE_SITE_HEADS:  # as WindowPrediction has them: class probabilities without the padding class
            channels = np.asarray(g.channels, np.int32)
            out = self.module.apply(
                variables, g.head, emb[None], org, None if g.head == SPLICE_SITES.head else channels, method=AlphaGenome.splice_head,
            )
            predictions = out["predictions"][0].astype(jnp.float32)
            return predictions[:, channels] if g.head == SPLICE_SITES.head else predictions
        out = self.module.apply(
            variables, g.head, emb[None], org, self.means[g.head], g.resolution, np.asarray(g.channels, np.int32),
            method=AlphaGenome.track_head,
        )
        return out[f"predictions_{g.resolution}bp"][0].astype(jnp.float32)

    def _site_probs(self, variables: Any, emb: jax.Array, org: jax.Array) -> jax.Array:
        """All five splice-site class probabilities ``[S, 5]`` from 1-bp embeddings (the junction candidates)."""
        out = self.module.apply(variables, SPLICE_SITES.head, emb[None], org, method=AlphaGenome.splice_head)
        return out["predictions"][0]

    def _junction_pair(
        self, variables: Any, g: Gather, ref: tuple[jax.Array, jax.Array], alt: tuple[jax.Array, jax.Array], gene: jax.Array,
        org: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """REF and ALT junctions ``[K, K, 2T]`` (kept tissues, + strand then -) on shared sites ``[4, K]``: the
        top sites of ``max(REF, ALT)`` site probabilities inside the overlapped genes' bodies (``gene [S]``), as
        :meth:`genotile.variants.predict.VariantModel.junction_pair` on the host (ALT embeddings aligned)."""
        cfg = self.model.predictor.config
        weight = gene[:, None].astype(ref[1].dtype)
        candidates = jnp.maximum(ref[1] * weight, alt[1] * weight)
        positions = splice_site_positions(candidates[None], cfg.num_splice_sites, cfg.splice_site_threshold)
        keep = np.asarray(g.channels, np.int32)
        channels = np.concatenate([keep, keep + cfg.tracks(g.head)])

        def head(emb: jax.Array) -> jax.Array:
            out = self.module.apply(variables, emb[None], positions, org, method=AlphaGenome.predict_junctions)
            return out["predictions"][0][..., channels].astype(jnp.float32)

        return head(ref[0]), head(alt[0]), positions[0]

    def _forward(self, variables: Any, encoded: Any, org: jax.Array, request: OutputRequest) -> Any:
        trunk, skips = encoded
        return self.module.apply(variables, trunk, skips, org, self.means, request, method=AlphaGenome.from_encoder)

    def _decoded_slice(self, variables: Any, encoded: Any, raw: Mapping[str, Any], org: jax.Array, anchor: jax.Array) -> tuple[jax.Array, jax.Array]:
        """ALT 1-bp embeddings of a slice of ``decoder_bins`` 128-bp bins around the widest 1-bp window, and the
        slice's first base: the decoder is run on that slice only (:meth:`AlphaGenome.embeddings_1bp_window`)."""
        bin_bp = local_encoder.TRUNK_BIN_BP
        length_bins = self.window_bp // bin_bp
        first = jnp.clip(anchor[self.decoder_gather] // bin_bp - DECODER_MARGIN_BINS, 0, length_bins - self.decoder_bins)
        emb = self.module.apply(
            variables, raw["tower_output"], encoded[1], org, raw["embeddings_128bp"], first, self.decoder_bins,
            method=AlphaGenome.embeddings_1bp_window,
        )
        return emb[0], first * bin_bp

    def _host_part(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        keep = {h: raw[h] for h in self.host_heads if h in raw}
        if self.junctions:
            keep["embeddings_1bp"] = raw["embeddings_1bp"]
        return keep

    def _ref_pass(
        self, variables: Any, dna: jax.Array, org: jax.Array, window: dict[str, jax.Array]
    ) -> tuple[RefState, dict[str, Any], jax.Array]:
        encoded = self.module.apply(variables, dna, method=AlphaGenome.encode)
        raw = self._forward(variables, encoded, org, self.request)
        state: RefState = {"trunk": encoded[0][0], "skips": {k: v[0] for k, v in encoded[1].items()}}
        for r in self.request.embedding_resolutions:
            state[f"emb{r}"] = raw[f"embeddings_{r}bp"][0]
        outs: dict[int, jax.Array] = {}
        for i, g in enumerate(self.gathers):
            if g.contact:
                outs[i] = raw[CONTACT_MAPS.head]["predictions"][0].astype(jnp.float32)
            elif g.junction:
                outs[i] = self._site_probs(variables, raw_embeddings(raw, 1)[0], org)
            elif g.bins is None:
                outs[i] = self._head(variables, g, raw_embeddings(raw, g.resolution)[0], org)
        state.update({f"out{i}": x for i, x in outs.items() if self.keep_ref[i]})
        bad = sum(jnp.sum(~jnp.isfinite(x)) for x in jax.tree.leaves((state, outs)) if jnp.issubdtype(x.dtype, jnp.floating))
        kept = dict(window)  # what the per-row scorers keep of REF (gene means: NaN for padded rows, so not checked)
        for spec, read, i in zip(self.device_specs, self.reads, self.spec_gather):
            if read.window:
                kept.update(self.kinds[spec].device_ref(spec, outs[i], window))
        state["window"] = kept
        return state, self._host_part(raw), jnp.asarray(bad, jnp.int32)

    def _alt_row(self, route: AltRoute, variables: Any, ref: RefState, dna, org, anchor, bounds, start, align, extra) -> tuple:
        org = org[None]
        if route.width is None:
            encoded = self.module.apply(variables, dna[None], method=AlphaGenome.encode)
        else:
            ref_encoded = (ref["trunk"][None], {k: v[None] for k, v in ref["skips"].items()})
            encoded = local_encoder.local_encode(self.module, variables, ref_encoded, dna[None], start[None], route.width)
        raw = self._forward(variables, encoded, org, self.alt_request)
        decoded = self._decoded_slice(variables, encoded, raw, org, anchor) if self.decoder_bins else None
        outs: dict[int, tuple[jax.Array | None, jax.Array]] = {}
        aligned: dict[int, jax.Array] = {}
        sites: dict[int, jax.Array] = {}
        for i, g in enumerate(self.gathers):
            if g.contact:
                outs[i] = ref[f"out{i}"], raw[CONTACT_MAPS.head]["predictions"][0].astype(jnp.float32)
            elif g.junction:
                emb = raw_embeddings(raw, 1)[0]
                probs = self._site_probs(variables, emb, org)
                if self.aligned[i]:
                    emb, probs = align_alternate_jax(emb, align), align_alternate_jax(probs, align)
                gene = intervals_mask(extra[f"{self.junction_spec[i]}|body_intervals"], emb.shape[0])
                r, a, sites[i] = self._junction_pair(variables, g, (ref["emb1"], ref[f"out{i}"]), (emb, probs), gene, org)
                outs[i] = r, a
                aligned[i] = a  # the pair is on aligned ALT already
            elif g.bins is None:
                outs[i] = ref.get(f"out{i}"), self._head(variables, g, raw_embeddings(raw, g.resolution)[0], org)
                if self.aligned[i]:
                    aligned[i] = align_alternate_jax(outs[i][1], align)
            else:
                window = lambda x, at, i=i, g=g: jax.lax.dynamic_slice_in_dim(x, at, g.bins, 0)  # noqa: E731
                emb_ref = window(ref[f"emb{g.resolution}"], anchor[i])
                if g.resolution == 1 and decoded is not None:
                    emb_alt = window(decoded[0], anchor[i] - decoded[1])
                else:
                    emb_alt = window(raw_embeddings(raw, g.resolution)[0], anchor[i])
                outs[i] = self._head(variables, g, emb_ref, org), self._head(variables, g, emb_alt, org)
        scores = []
        for j, (spec, read) in enumerate(zip(self.device_specs, self.reads)):
            i = self.spec_gather[j]
            offset = anchor[i] if self.gathers[i].bins is not None else 0
            r, a = outs[i]
            a = aligned[i] if read.aligned else a
            window = ref["window"] if read.window else None
            if read.variant:
                prefix = f"{j}|"
                window = {k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix)}
                if i in sites:
                    window["splice_site_positions"] = sites[i]
            scores.append(self.kinds[spec].device_score(spec, r, a, bounds[j, 0] - offset, bounds[j, 1] - offset, window))
        host = jax.tree.map(lambda x: x[0], self._host_part(raw))
        return tuple(scores), host

    def _alt_fn(self, route: AltRoute):
        """The jitted ALT call of a route: rows mapped one by one (a row's bytes do not depend on its batch)."""
        if route not in self._alt_fns:

            def call(variables, ref, dna, org, anchor, bounds, start, align, extra):
                one = lambda x: self._alt_row(route, variables, ref, *x)  # noqa: E731
                return jax.lax.map(one, (dna, org, anchor, bounds, start, align, extra))

            self._alt_fns[route] = jax.jit(call)
        return self._alt_fns[route]

    def _variables_on(self, index: int) -> Any:
        """The parameters' copy on device ``index`` (the predictor replicates them; no new memory)."""
        if index not in self._device_variables:
            device = self.model.predictor.devices[index]

            def local(x: jax.Array) -> jax.Array:
                return next(shard.data for shard in x.addressable_shards if shard.device == device)

            self._device_variables[index] = jax.tree.map(local, self.model.predictor.variables)
        return self._device_variables[index]

    @property
    def device_count(self) -> int:
        return len(self.model.predictor.devices)

    # -- the calls -------------------------------------------------------------------------------------

    def ref(self, dna: np.ndarray, window: Mapping[str, np.ndarray] | None = None) -> tuple[list[RefState], WindowPrediction]:
        """A window's REF pass (one-hot ``[S, 4]``) on the first device: its state for the ALT passes, copied to
        every device, and its host outputs for the host scorers. ``window``: the per-row scorers' window arrays
        (:meth:`window`), sent once here and kept in the state (``state["window"]``, with the scorers' REF parts)."""
        p = self.model.predictor
        first = p.devices[0]
        org = jax.device_put(np.full((1,), self.model.organism, np.int32), first)
        dna_device = jax.device_put(np.asarray(dna, np.float32)[None], first)
        window_device = {k: jax.device_put(np.asarray(v), first) for k, v in (window or {}).items()}
        began = time.perf_counter()
        state, host, bad = jax.block_until_ready(self._ref_fn(self._variables_on(0), dna_device, org, window_device))
        self.model.device_seconds += time.perf_counter() - began
        if int(bad):
            raise NonFiniteOutputError(
                f"the REF pass produced {int(bad):,} non-finite values (inf/NaN): the weights are probably corrupted; "
                "run `genotile model verify <checkpoint dir>`"
            )
        states = [state] + [jax.device_put(state, d) for d in p.devices[1:]]
        return states, self.model.host_predictions(host, 1, self.host_outputs)[0]

    def submit(
        self, route: AltRoute, ref: list[RefState], dna: np.ndarray, anchors: np.ndarray, bounds: np.ndarray,
        starts: np.ndarray, aligns: np.ndarray | None = None, device: int = 0, extra: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[Any, int]:
        """Start the ALT passes of a batch (``dna [B, S, 4]``, per row ``anchors``, ``bounds``, ``starts``, indel
        ``aligns`` (:func:`~genotile.variants.device_align.alignment_params`; None: no indels) and the per-variant
        scorers' arrays ``extra`` (:meth:`variant`, stacked ``[B, ...]``; rows of one call share their shapes) on one
        route and device, without waiting (JAX dispatches asynchronously): :meth:`collect` takes the handle.

        Why one single-device program per call rather than a batch split over a device mesh: the same call shape
        then compiles to the same program whatever the device count, so scores are byte-identical on 1 or N
        devices; the engine keeps every device busy by submitting one call to each before collecting."""
        target = self.model.predictor.devices[device]
        org = np.full((dna.shape[0],), self.model.organism, np.int32)
        aligns = np.tile(IDENTITY, (dna.shape[0], 1)) if aligns is None else aligns
        args = [jax.device_put(np.asarray(x), target) for x in (np.asarray(dna, np.float32), org, anchors, bounds, starts, aligns)]
        rows = {k: jax.device_put(np.asarray(v), target) for k, v in (extra or {}).items()}
        return self._alt_fn(route)(self._variables_on(device), ref[device], *args, rows), dna.shape[0]

    def collect(self, handle: tuple[Any, int]) -> tuple[list[list[tuple[np.ndarray | None, ...]]], list[WindowPrediction]]:
        """A submitted call's results: per row, what each device scorer's ``device_score`` returned (by default
        ``(score, ref_value, alt_value)``), on the host with its dtypes, and the rows' host outputs."""
        outputs, batch = handle
        began = time.perf_counter()
        scores, host = jax.block_until_ready(outputs)
        self.model.device_seconds += time.perf_counter() - began
        scores = jax.device_get(scores)
        per_row = [[tuple(None if v is None else np.asarray(v[b]) for v in spec) for spec in scores] for b in range(batch)]
        return per_row, self.model.host_predictions(host, batch, self.host_outputs)

    def alt(
        self, route: AltRoute, ref: list[RefState], dna: np.ndarray, anchors: np.ndarray, bounds: np.ndarray, starts: np.ndarray,
        aligns: np.ndarray | None = None, extra: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[list[list[tuple[np.ndarray | None, ...]]], list[WindowPrediction]]:
        """:meth:`submit` on the first device, then :meth:`collect`."""
        return self.collect(self.submit(route, ref, dna, anchors, bounds, starts, aligns, extra=extra))


def intervals_mask(intervals: jax.Array, length: int) -> jax.Array:
    """``[length]`` bool: the union of ``intervals [I, 2]`` (``[lo, hi)``; empty ones add nothing)."""
    pos = jnp.arange(length, dtype=jnp.int32)[:, None]
    return jnp.any((pos >= intervals[None, :, 0]) & (pos < intervals[None, :, 1]), axis=1)


def pad_variant_arrays(built: S.VariantArrays) -> dict[str, np.ndarray]:
    """A variant's arrays with their first ``pad_axes`` axes zero-padded to :func:`~genotile.variants.scorers.base.row_bucket`
    (at least ``MIN_VARIANT_BUCKET``): few distinct shapes, so few compilations."""
    out = {}
    for name, array in built.arrays.items():
        array = np.asarray(array)
        axes = built.pad_axes.get(name, 1)
        widths = [(0, row_bucket(n, MIN_VARIANT_BUCKET) - n) for n in array.shape[:axes]]
        out[name] = np.pad(array, widths + [(0, 0)] * (array.ndim - axes)) if array.ndim else array
    return out


def raw_embeddings(raw: Mapping[str, Any], resolution: int) -> jax.Array:
    """The sequence embeddings ``[B, N, C]`` at ``resolution`` from a forward's output tree."""
    return raw[f"embeddings_{resolution}bp"]


def device_passes(model: VariantModel, specs: Sequence[S.ScorerSpec], window_bp: int) -> DevicePasses:
    """The job's :class:`DevicePasses`, cached on the model so repeated scoring calls compile once."""
    cache = model.__dict__.setdefault("_device_passes", {})
    key = (tuple(specs), window_bp)
    if key not in cache:
        cache[key] = DevicePasses(model, specs, window_bp)
    return cache[key]


def free_device_memory(device: jax.Device) -> int | None:
    """Bytes still free on ``device`` (an accelerator's allocator statistics; on the CPU the host's free memory)."""
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # backends without allocator statistics
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    from genotile.model.predictor import available_memory_bytes

    return available_memory_bytes()


def row_bytes(passes: DevicePasses) -> int:
    """Bytes one ALT row of a call holds beyond the per-row working set (which the row-by-row map reuses): its
    one-hot input, its host-bound outputs (device copy and float32 host copy) and its scores."""
    from genotile.model.predictor import output_bytes

    cfg = passes.model.predictor.config
    host = OutputRequest(
        heads=tuple(h for h in passes.request.heads if h in passes.host_heads), resolutions=passes.request.resolutions,
        embeddings=passes.junctions, channels=passes.request.channels,
    )  # fmt: skip
    outputs = sum(output_bytes(cfg, host, 1, passes.window_bp, passes.model.predictor.precision.output).values()) if host.heads else 0
    return passes.window_bp * 4 * 4 + outputs + 64 * 1024


def auto_batch_size(model: VariantModel, specs: Sequence[S.ScorerSpec], window_bp: int) -> int:
    """``variants.batch_size: auto``: as many ALT rows per call as a quarter of the first device's free memory
    holds (:func:`row_bytes`), at most :data:`MAX_AUTO_BATCH` (:data:`MAX_AUTO_BATCH_CPU` on the CPU), at least 1,
    a multiple of the device count."""
    passes = device_passes(model, specs, window_bp)
    free = free_device_memory(model.predictor.devices[0])
    devices = len(model.predictor.devices)
    if free is None:
        return devices
    rows = int(AUTO_BATCH_MEMORY_SHARE * free // row_bytes(passes))
    cap = MAX_AUTO_BATCH_CPU if model.predictor.devices[0].platform == "cpu" else MAX_AUTO_BATCH
    rows = max(1, min(cap, rows)) * devices
    return rows
