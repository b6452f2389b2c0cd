"""What every variant scorer is: a class with a name, the outputs it reads, its needs and a score function.

Why a class per kind and a registry: the engine, the config checks, the CLI and the summaries all ask
the same questions of a scorer kind (which outputs may it read, does it need a GTF or a PAS table, are
its rows per gene, what are its scores); each kind answers them once, in its own module, and
:func:`register` puts it in :data:`REGISTRY` where everyone looks it up.

Numerics (all kinds): the reference runs these reductions in JAX on float32 inputs, so accumulation is
float32 (``dtype=np.float32``) and scores are float32 (junction deltas: float16, as the reference stores
them). Reduction order differs from XLA's, so results agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, NamedTuple

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

    from genotile.variants.annotation import GeneAnnotation, PasTable
    from genotile.variants.predict import VariantModel, WindowPrediction

__all__ = [
    "F32", "MIN_VARIANT_BUCKET", "REGISTRY", "DeviceRead", "ScoreRows", "Scorer", "ScorerInputs", "ScorerSpec", "SettingsError",
    "VariantArrays", "WindowArrays", "WindowInputs", "register", "row_bucket", "scorer",
]  # fmt: skip

F32 = np.float32
Array = npt.NDArray[np.floating]


class SettingsError(ValueError):
    """A scorer entry whose settings this kind does not take (the engine adds the entry's position)."""


@dataclass(frozen=True)
class ScorerSpec:
    """One scorer setting: ``scorer`` kind, ``output`` type, centre-mask ``width`` and
    ``aggregation`` (None where not applicable), and whether it is ``human_only``."""

    scorer: str
    output: str
    width: int | None = None
    aggregation: str | None = None
    human_only: bool = False


@dataclass(frozen=True)
class ScorerInputs:
    """Everything a scorer may read for one variant in one window.

    ``ref``/``alt``: the window's predictions (forward coordinates); ``aligned(output)``: ALT of that
    output indel-aligned to REF (cached per variant; the centre-mask and contact-map scorers compare
    position by position and must not use it, as in the reference). ``annotation``/``pas`` are None when
    the run has no GTF / PAS table (scorers that need them are never called then).
    """

    variant: Any  # a row of the variants table (itertuples): chrom, pos, ref, alt, variant_id
    interval_start: int
    length: int
    model: VariantModel
    ref: WindowPrediction
    alt: WindowPrediction
    aligned: Callable[[str], np.ndarray]
    annotation: GeneAnnotation | None = None
    pas: PasTable | None = None

    @property
    def start0(self) -> int:
        """0-based start of the variant."""
        return int(self.variant.pos) - 1

    def tracks(self, output: str) -> pd.DataFrame:
        """``track_index``, ``name``, ``strand`` of the channels kept for ``output``."""
        return self.model.tracks[output]

    def genes(self) -> GeneAnnotation:
        """The gene annotation (a scorer with ``needs_genes`` is only called when there is one)."""
        assert self.annotation is not None, "the engine checks needs_genes before scoring"
        return self.annotation


class ScoreRows(NamedTuple):
    """One scorer's result for one variant: ``scores [R, T]``, per-row ``labels`` (``gene_id``,
    ``gene_name``, ``gene_strand``, ``junction_start``, ``junction_end``; absent = not per gene), and the
    optional REF/ALT aggregates ``[R, T]`` written when ``include_values`` is set."""

    scores: np.ndarray
    labels: dict[str, np.ndarray]
    ref_values: np.ndarray | None = None
    alt_values: np.ndarray | None = None


@dataclass(frozen=True)
class DeviceRead:
    """What a scorer reduced on the device reads (:meth:`Scorer.device_read`): one ``output`` at its scored
    resolution, over ``bins`` bins around the variant's bin (None: every bin of the window; contact maps:
    the whole map). The engine computes the head only there (``genotile.variants.device_pass``).

    ``aligned``: :meth:`Scorer.device_score` gets ALT indel-aligned to REF (:mod:`genotile.variants.device_align`;
    whole-window reads only). ``window``: the kind takes per-window arrays (:meth:`Scorer.device_window`) and
    returns one row per window row (``[R, T]``). ``variant``: the kind takes per-variant arrays
    (:meth:`Scorer.device_variant`: the genes the variant overlaps) and returns one row per variant row.
    ``ref_outputs``: it reads the REF outputs in :meth:`Scorer.device_score` (False: only what
    :meth:`Scorer.device_ref` kept, so a whole-window REF output need not stay on the device)."""

    output: str
    bins: int | None
    aligned: bool = False
    window: bool = False
    ref_outputs: bool = True
    variant: bool = False

    def __post_init__(self) -> None:
        if self.aligned and self.bins is not None:
            raise ValueError("an aligned device read must read the whole window (bins=None)")
        if self.window and self.variant:
            raise ValueError("a device read takes window arrays or variant arrays, not both")


@dataclass(frozen=True)
class WindowInputs:
    """What a device reduction may read once per window (:meth:`Scorer.device_window`), before any pass."""

    chrom: str
    interval_start: int
    length: int
    model: VariantModel
    annotation: GeneAnnotation | None = None
    pas: PasTable | None = None

    def genes(self) -> GeneAnnotation:
        assert self.annotation is not None, "the engine checks needs_genes before scoring"
        return self.annotation


@dataclass(frozen=True)
class WindowArrays:
    """One window's host-built inputs of a per-row device reduction (:meth:`Scorer.device_window`).

    ``arrays``: sent to the device once per window with the REF state, by name (kinds that build the same name,
    e.g. LFC and Active their exon masks, share one copy); their row axis is padded to :func:`row_bucket` rows so
    windows with different row counts reuse compiled passes. ``rows``: the real row count (the host keeps the
    first ``rows`` rows of each score); ``labels``: their per-row labels (:func:`gene_rows`). ``error``: why
    no variant of this window can be scored by the kind (each becomes a failure row, as from :meth:`Scorer.score`);
    its ``arrays`` then still hold zero rows, padded, so the passes keep their shapes."""

    arrays: Mapping[str, np.ndarray]
    rows: int
    labels: dict[str, np.ndarray]
    error: str | None = None


@dataclass(frozen=True)
class VariantArrays:
    """One variant's host-built inputs of a per-variant device reduction (:meth:`Scorer.device_variant`).

    ``arrays``: by name, at their natural sizes; the engine pads the first ``pad_axes[name]`` axes (default 1) of
    each to :func:`row_bucket` (``MIN_VARIANT_BUCKET``) with zeros, and batches a variant only with variants of the
    same padded shapes, so a row's program (and its bytes) depends on its own inputs alone. ``rows``, ``labels``,
    ``error``: as in :class:`WindowArrays` (an ``error`` variant becomes a failure row of the kind)."""

    arrays: Mapping[str, np.ndarray]
    rows: int
    labels: dict[str, np.ndarray]
    error: str | None = None
    pad_axes: Mapping[str, int] = field(default_factory=dict)


#: Fewest rows a padded variant array has: most variants overlap one to four genes, so one compiled shape serves them.
MIN_VARIANT_BUCKET = 4

#: Fewest rows a padded window array has: with at most 256 genes a window (``MAX_GENES_PER_WINDOW``) this leaves
#: 6 row buckets (8 ... 256), so a job compiles its passes at most ~6 times, while the extra rows cost nothing.
MIN_ROW_BUCKET = 8


def row_bucket(rows: int, minimum: int = MIN_ROW_BUCKET) -> int:
    """Padded row count of ``rows`` rows: the next power of two, at least ``minimum``."""
    return max(minimum, 1 << max(rows - 1, 0).bit_length())


class Scorer:
    """Base of every scorer kind; a subclass sets the class attributes and :meth:`score`.

    ``name``: the kind as configs, scorer ids (``kind|OUTPUT|width|aggregation``) and file names spell
    it. ``outputs``: the variant-scorer outputs (:attr:`genotile.outputs.Output.scorer_output`) it may
    read. ``needs_genes`` / ``needs_pas``: it needs ``annotation.gtf`` / ``annotation.pas``; a
    gene scorer's rows are per gene (the summaries group them so).
    """

    name: ClassVar[str]
    outputs: ClassVar[frozenset[str]]
    needs_genes: ClassVar[bool] = False
    needs_pas: ClassVar[bool] = False

    @classmethod
    def settings(cls, width: Any, aggregation: Any) -> tuple[int | None, str | None]:
        """Checked ``(width, aggregation)`` of a config entry; by default a kind takes neither."""
        if width is not None or aggregation is not None:
            raise SettingsError(f"{cls.name} takes no width/aggregation")
        return None, None

    def score(self, spec: ScorerSpec, inputs: ScorerInputs) -> ScoreRows:
        """The host reduction on whole-window numpy outputs (kinds without a device reduction use it)."""
        raise NotImplementedError

    # -- the device reduction (issue 15): a kind that has one sets all three -----------------------------

    def device_read(self, spec: ScorerSpec) -> DeviceRead | None:
        """What :meth:`device_score` reads, or None when this kind reduces on the host (:meth:`score`)."""
        return None

    def device_bounds(self, spec: ScorerSpec, start0: int, interval_start: int, length_bins: int) -> tuple[int, int]:
        """Host side, per variant: the half-open bin range ``[lo, hi)`` the reduction covers (window bins).

        Raises ValueError for a variant this scorer cannot score (it becomes a failure row, as from :meth:`score`).
        By default the whole window: per-row kinds, whose window or variant arrays say where, do not read them.
        """
        return 0, length_bins

    def device_window(self, spec: ScorerSpec, inputs: WindowInputs) -> WindowArrays:
        """Host side, once per window, for a read with ``window=True``: the window's arrays and row labels."""
        raise NotImplementedError

    def device_variant(self, spec: ScorerSpec, inputs: WindowInputs, variant: Any) -> VariantArrays:
        """Host side, once per variant, for a read with ``variant=True``: its arrays (intervals of the genes it
        overlaps, ...) and row labels; ``variant`` is a row of the variants table."""
        raise NotImplementedError

    def device_ref(self, spec: ScorerSpec, ref: Any, window: Mapping[str, Any]) -> dict[str, Any]:
        """Traced JAX, once per window in the REF pass, for a read with ``window=True``: named arrays computed
        from the REF outputs (``[S, T]``) and the window arrays, kept on the device with them (e.g. the REF gene
        means, so an ALT pass only reduces ALT). A name two kinds build must mean the same array."""
        return {}

    def device_score(
        self, spec: ScorerSpec, ref: Any, alt: Any, lo: Any, hi: Any, window: Mapping[str, Any] | None = None
    ) -> tuple[Any, Any, Any]:
        """Traced JAX, per variant: ``(score [T], ref_value [T] | None, alt_value [T] | None)`` from REF/ALT
        float32 outputs over the bins :meth:`device_read` asked for (``[W, T]``; contact maps ``[P, P, T]``),
        with ``lo``/``hi`` the bounds relative to their first bin. Must equal :meth:`score` to float32
        reduction-order rounding (tests/variants/test_device_pass.py checks every kind that has it).

        A ``window=True`` read returns ``[R, T]`` arrays over the padded window rows instead and gets ``window``:
        its window arrays and its :meth:`device_ref` results, by name; ``ref`` is None unless it asked for
        ``ref_outputs``; ``alt`` is aligned when it asked for ``aligned``. A ``variant=True`` read likewise gets its
        padded :meth:`device_variant` arrays in ``window`` and returns ``[R, T]`` over the padded variant rows."""
        raise NotImplementedError


    def device_rows(self, spec: ScorerSpec, result: tuple[Any, ...], arrays: WindowArrays | VariantArrays | None) -> ScoreRows:
        """Host side, per variant: its :class:`ScoreRows` from what :meth:`device_score` returned (copied to the
        host, dtypes kept) and, for a per-row kind, its window's or variant's arrays. By default ``(score,
        ref_value, alt_value)``: one row, or the first ``arrays.rows`` rows with their labels; a kind whose rows
        are chosen on the device (the junction scorer's picks) overrides it."""
        score, rv, av = (None if x is None else np.asarray(x, np.float32) for x in result)
        if arrays is None:
            return ScoreRows(score[None], {}, None if rv is None else rv[None], None if av is None else av[None])
        n = arrays.rows
        return ScoreRows(score[:n], arrays.labels, None if rv is None else rv[:n], None if av is None else av[:n])


#: Scorer kind name -> its class, in registration order (the order configs and messages list them).
REGISTRY: Final[dict[str, type[Scorer]]] = {}


def register(cls: type[Scorer]) -> type[Scorer]:
    """Class decorator: make a scorer kind known by its ``name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"scorer kind {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def scorer(kind: str) -> Scorer:
    """The scorer of a kind name (KeyError if unknown; :func:`genotile.variants.engine.parse_scorers`
    turns that into a message listing the kinds)."""
    return REGISTRY[kind]()


def gene_rows(genes: pd.DataFrame) -> dict[str, np.ndarray]:
    """The per-row labels of one row per gene."""
    return {
        "gene_id": genes["gene_id"].to_numpy(object),
        "gene_name": genes["gene_name"].to_numpy(object),
        "gene_strand": genes["gene_strand"].to_numpy(object),
    }
