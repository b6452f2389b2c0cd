"""REF and ALT forward passes for variant scoring, with the reference's junction pairing.

What the scorers need from the model, per window:

* the non-padding tracks of every output type a scorer reads (at the resolutions the reference scorers read:
  1 bp except ChIP at 128 bp and contact maps at 2,048 bp), moved to the host as float32;
* for the junction scorer, the 1-bp embeddings and splice-site probabilities, which stay on
  the device: the reference scores REF *and* ALT junctions on one shared candidate set, the
  top sites of ``max(REF, aligned ALT)`` inside the genes the variant overlaps
  (``_predict_variant`` in the reference's ``dna_model.py``), so junctions can only be
  computed once both alleles' passes exist (and, in tiled mode, once per variant even
  though the REF pass is shared).

The forward itself is the :class:`genotile.model.predictor.Predictor`'s compiled function, so a
window's outputs are bit-identical whether it runs alone or batched (rows are mapped one by
one), which is what makes tiled and centred scoring agree exactly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from genotile.model.alphagenome import OutputRequest
from genotile.model.metadata import organism_index
from genotile.model.new_tracks import extend_frame
from genotile.model.predictor import Predictor, _to_host
from genotile.model.splicing import splice_site_positions
from genotile.outputs import OUTPUTS, SLICEABLE_HEADS, SPLICE_JUNCTIONS, SPLICE_SITES
from genotile.variants.sequences import IndelAlignment

__all__ = ["OUTPUT_FIELDS", "VariantModel", "WindowPrediction", "align_alternate_jax"]

#: Output type -> (head, field) the scorers read (the reference's ``extract_predictions``).
OUTPUT_FIELDS: Final[Mapping[str, tuple[str, str]]] = {o.scorer_output: (o.head, o.scored_field) for o in OUTPUTS}
_SLICEABLE: Final = SLICEABLE_HEADS
_SPLICE_CLASSES: Final = ("donor", "acceptor", "donor", "acceptor", "Padding")
_SPLICE_STRANDS: Final = ("+", "+", "-", "-", ".")


@dataclass
class WindowPrediction:
    """One window's outputs: host ``values[output] [S_r, T]`` (contact maps ``[P, P, T]``) and, when
    junctions are scored, device ``embeddings`` ``[S, C]`` and splice ``probabilities`` ``[S, 5]``."""

    values: dict[str, np.ndarray]
    embeddings: jax.Array | None = None
    probabilities: jax.Array | None = None


def align_alternate_jax(x: jax.Array, alignment: Mapping[str, jax.Array]) -> jax.Array:
    """:func:`genotile.variants.sequences.align_alternate` for a device array ``[S, C]``.

    Why a second implementation: the 1-bp embeddings (``S x 1536``) are aligned on the device
    before the junction head, as the reference does, instead of a round trip to the host.
    """
    mask = alignment["alt_mask"][:, None]
    peak = jnp.max(jnp.where(mask, x, -jnp.inf), axis=0, keepdims=True)
    x = jnp.where(mask, peak, x)
    x = x[alignment["insertion_reindex"]]
    x = jnp.where(alignment["deletion_zeros"][:, None], jnp.zeros((), x.dtype), x)
    x = x[alignment["deletion_reindex"]]
    return x * (~alignment["insertion_crop"])[:, None].astype(x.dtype)


def _alignment_arrays(alignment: IndelAlignment) -> dict[str, np.ndarray]:
    return {
        "alt_mask": alignment.alt_mask,
        "insertion_reindex": alignment.insertion_reindex,
        "insertion_crop": alignment.insertion_crop,
        "deletion_zeros": alignment.deletion_zeros,
        "deletion_reindex": alignment.deletion_reindex,
    }


class VariantModel:
    """A :class:`Predictor` restricted to the outputs a set of scorers reads.

    ``tracks[output]`` is the table (``track_index``, ``name``, ``strand``) of the channels kept for
    each output type: the non-padding tracks, in head order, as the reference's scorers see them.
    """

    def __init__(self, predictor: Predictor, outputs: Iterable[str], organism: int | str = 0) -> None:
        self.predictor = predictor
        self.organism = organism_index(organism)
        self.outputs = tuple(sorted({o.upper() for o in outputs}))
        unknown = sorted(set(self.outputs) - set(OUTPUT_FIELDS))
        if unknown:
            raise ValueError(f"unknown scorer output(s) {unknown}; known: {', '.join(OUTPUT_FIELDS)}")
        self.tracks = {o: self._track_table(o) for o in self.outputs}
        self.junctions = SPLICE_JUNCTIONS.scorer_output in self.outputs
        self.request = self.request_for(self.outputs)
        cfg = predictor.config
        self._num_sites = cfg.num_splice_sites
        self._threshold = cfg.splice_site_threshold
        self._junction_fn = jax.jit(self._pair_junctions) if self.junctions else None
        #: Seconds spent in the compiled forward until the device finished (host copies excluded), summed
        #: over every call: the engine reads its growth to split a run's forward time (genotile.variants.timings).
        self.device_seconds = 0.0

    # -- set-up ------------------------------------------------------------------------

    def _track_table(self, output: str) -> pd.DataFrame:
        head, _ = OUTPUT_FIELDS[output]
        metadata = self.predictor.metadata
        if metadata is not None:
            frame = metadata.frame(self.organism, head)
            table = frame.loc[~frame["padding"].astype(bool), ["index", "name", "strand"]]
            table = table.rename(columns={"index": "track_index"})
        elif head == SPLICE_SITES.head:
            table = pd.DataFrame({"track_index": range(4), "name": _SPLICE_CLASSES[:4], "strand": _SPLICE_STRANDS[:4]})
        else:  # the original channels as track_i, a fine-tuned model's new ones under their sheet names
            cfg = self.predictor.config
            base = cfg.base_tracks(head)
            frame = pd.DataFrame({"index": np.arange(base), "name": [f"track_{i}" for i in range(base)], "strand": ".",
                                  "padding": False})
            frame = extend_frame(frame, cfg, self.predictor.new_tracks, head, self.organism)
            table = frame.loc[~frame["padding"].astype(bool), ["index", "name", "strand"]]
            table = table.rename(columns={"index": "track_index"})
        table = table.astype({"track_index": np.int64}).sort_values("track_index").reset_index(drop=True)
        table["strand"] = table["strand"].fillna(".").astype(str)
        return table

    def request_for(self, outputs: Iterable[str]) -> OutputRequest:
        """The forward's output request for some of the model's scorer outputs: their heads at the resolutions
        the scorers read, padding channels dropped (junctions: the splice-site head and the 1-bp embeddings)."""
        heads: list[str] = []
        resolutions: set[int] = set()
        channels = []
        outputs = tuple(outputs)
        junctions = SPLICE_JUNCTIONS.scorer_output in outputs
        for output in outputs:
            head, field = OUTPUT_FIELDS[output]
            if head == SPLICE_JUNCTIONS.head:
                head = SPLICE_SITES.head  # junctions are computed later, on shared sites
            if head not in heads:
                heads.append(head)
            if field.endswith("bp"):
                resolutions.add(int(field.rsplit("_", 1)[1][:-2]))
            if head in _SLICEABLE:
                channels.append((head, tuple(self.tracks[output]["track_index"].tolist())))
        return OutputRequest(
            heads=tuple(heads), resolutions=tuple(sorted(resolutions)) or (1,), embeddings=junctions,
            channels=tuple(channels),
        )

    # -- passes ------------------------------------------------------------------------

    def predict(self, dna: np.ndarray, rows_per_call: int | None = None) -> list[WindowPrediction]:
        """Forward passes of a one-hot batch ``[B, S, 4]`` (forward strand) -> one prediction per row.

        Why ``rows_per_call``: every distinct batch shape is a new XLA compilation (seconds on a CPU,
        tens of seconds for the full model), so rows go through in calls of exactly ``rows_per_call``
        and a remainder row by row: at most two shapes are ever compiled.
        """
        dna = np.asarray(dna, np.float32)
        size = rows_per_call or dna.shape[0]
        results: list[WindowPrediction] = []
        begin = 0
        while begin < dna.shape[0]:
            n = size if dna.shape[0] - begin >= size else 1
            results.extend(self._predict_call(dna[begin : begin + n]))
            begin += n
        return results

    def _predict_call(self, dna: np.ndarray) -> list[WindowPrediction]:
        p = self.predictor
        org = np.full((dna.shape[0],), self.organism, np.int32)
        t0 = time.perf_counter()
        raw = jax.block_until_ready(p.forward(self.request, dna, org))
        self.device_seconds += time.perf_counter() - t0
        return self.host_predictions(raw, dna.shape[0])

    def host_predictions(self, raw: Mapping[str, Any], batch: int, outputs: Iterable[str] | None = None) -> list[WindowPrediction]:
        """The first ``batch`` rows of a forward's output tree as :class:`WindowPrediction`: ``outputs`` (default
        every output whose head is in ``raw``) copied to the host as float32, junction inputs left on the device."""
        host: dict[str, np.ndarray] = {}
        wanted = self.outputs if outputs is None else tuple(outputs)
        for output in wanted:
            head, field = OUTPUT_FIELDS[output]
            if output == SPLICE_JUNCTIONS.scorer_output or head not in raw:
                continue
            value = _to_host(raw[head][field])[:batch]
            if head not in _SLICEABLE:  # splice classes: drop the padding class
                value = value[..., self.tracks[output]["track_index"].to_numpy()]
            host[output] = value
        junctions = self.junctions and "embeddings_1bp" in raw and SPLICE_SITES.head in raw
        rows = []
        for b in range(batch):
            emb = probs = None
            if junctions:
                emb = raw["embeddings_1bp"][b]
                probs = raw[SPLICE_SITES.head]["predictions"][b]
            rows.append(WindowPrediction({k: v[b] for k, v in host.items()}, emb, probs))
        return rows

    def _pair_junctions(self, variables: Any, ref_emb, ref_probs, alt_emb, alt_probs, gene_mask, alignment, org):
        module = self.predictor.module
        alt_emb = align_alternate_jax(alt_emb, alignment)
        alt_probs = align_alternate_jax(alt_probs, alignment)
        gene = gene_mask[:, None].astype(ref_probs.dtype)
        candidates = jnp.maximum(ref_probs * gene, alt_probs * gene)
        positions = splice_site_positions(candidates[None], self._num_sites, self._threshold)

        def head(emb):
            return module.apply(variables, emb[None], positions, org, method="predict_junctions")

        return head(ref_emb)["predictions"][0], head(alt_emb)["predictions"][0], positions[0]

    def junction_pair(
        self, ref: WindowPrediction, alt: WindowPrediction, alignment: IndelAlignment, gene_mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """REF and ALT junction predictions ``[K, K, 2T']`` on shared sites, and the sites ``[4, K]``.

        ``gene_mask [S]`` marks the bodies of the genes the variant overlaps (all False when none: then
        no site passes the threshold and there are no junctions, as in the reference).
        """
        assert self._junction_fn is not None, "junctions were not requested"
        p = self.predictor
        # The pair runs on the first device (the rows may have come from any of them).
        first = p.devices[0]
        arrays = {k: jax.device_put(v, first) for k, v in _alignment_arrays(alignment).items()}
        org = jax.device_put(np.full((1,), self.organism, np.int32), first)
        on_first = [jax.device_put(x, first) for x in (ref.embeddings, ref.probabilities, alt.embeddings, alt.probabilities)]
        r, a, positions = self._junction_fn(
            p.first_device_variables(), *on_first, jax.device_put(np.asarray(gene_mask), first), arrays, org,
        )
        keep = self.tracks[SPLICE_JUNCTIONS.scorer_output]["track_index"].to_numpy()
        tissues = p.config.tracks(SPLICE_JUNCTIONS.head)
        channels = np.concatenate([keep, keep + tissues])
        return _to_host(r)[..., channels], _to_host(a)[..., channels], np.asarray(jax.device_get(positions))

