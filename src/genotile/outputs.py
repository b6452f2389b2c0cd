"""The one vocabulary of model outputs: every spelling of every output, in one table.

Why: one output has up to three names depending on who asks -- the config and the
track metadata say ``splice_sites``, the model's head (and its parameter tree,
``alphagenome/head/<head>``) says ``splice_sites_classification``, and the variant
scorers (the reference's ``requested_output``) say ``SPLICE_SITES``. Every module
looks its spelling up here instead of keeping its own mapping, so adding or renaming
an output is one row. ``workflow/schemas/config.schema.yaml`` cannot import Python;
``tests/test_outputs.py`` checks that its ``tracks[].output`` enum equals
:data:`CONFIG_SPELLINGS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ATAC", "CAGE", "CHIP_HISTONE", "CHIP_TF", "CONTACT_MAPS", "DNASE", "PROCAP", "RNA_SEQ", "SPLICE_JUNCTIONS",
    "SPLICE_SITES", "SPLICE_SITE_USAGE", "CONFIG_SPELLINGS", "GENOME_TRACK_HEADS", "HEAD_OF_OUTPUT_TYPE", "MODEL_HEADS", "OUTPUTS", "OUTPUT_TYPES",
    "OUTPUT_TYPE_OF_HEAD", "Output", "SCORER_OUTPUTS", "SLICEABLE_HEADS", "by_head", "by_output_type",
    "by_scorer_output",
]  # fmt: skip


@dataclass(frozen=True)
class Output:
    """One model output and its names and shape facts.

    ``output_type``: the genotile name (config ``tracks: - output:``, metadata frames, protos as
    ``OUTPUT_TYPE_<upper>``). ``head``: the model's head (``--outputs`` of ``genotile predict``,
    prediction keys ``<head>/predictions...``, parameter paths). ``scorer_output``: the variant
    scorers' ``requested_output``. ``resolutions``: bp per bin it is predicted at (the variant
    scorers read the finest). ``channels``: metadata rows (padded; for junctions, tissues).
    ``sliceable``: the head's weights can be sliced to selected channels before the matmul.
    ``stranded``: channels have strand partners that swap when the window is reverse-complemented.
    ``genome_track``: a per-position track head with ``predictions_<res>bp`` fields.
    ``strand_pairs_in_metadata``: which channel is the strand partner of which is only known from the
    track metadata (splice-site classes and junctions have a fixed layout; contact maps no strand).
    """

    output_type: str
    head: str
    scorer_output: str
    resolutions: tuple[int, ...]
    channels: int
    sliceable: bool
    stranded: bool
    genome_track: bool
    strand_pairs_in_metadata: bool

    @property
    def scored_resolution(self) -> int:
        """bp per bin of the tensor the variant scorers read (the finest one, as the reference scorers read it)."""
        return min(self.resolutions)

    @property
    def scored_field(self) -> str:
        """The prediction field the variant scorers read (the reference's ``extract_predictions``)."""
        return f"predictions_{self.scored_resolution}bp" if self.genome_track else "predictions"


def _track(name: str, resolutions: tuple[int, ...], channels: int) -> Output:
    return Output(name, name, name.upper(), resolutions, channels, sliceable=True, stranded=True, genome_track=True,
                  strand_pairs_in_metadata=True)


#: Every output in the reference's head order (``HeadName``); channel counts as counted in the official track metadata.
OUTPUTS: Final[tuple[Output, ...]] = (
    _track("atac", (1, 128), 256),
    _track("dnase", (1, 128), 384),
    _track("procap", (1, 128), 128),
    _track("cage", (1, 128), 640),
    _track("rna_seq", (1, 128), 768),
    _track("chip_tf", (128,), 1664),
    _track("chip_histone", (128,), 1152),
    Output("contact_maps", "contact_maps", "CONTACT_MAPS", (2048,), 28, sliceable=True, stranded=False, genome_track=False,
           strand_pairs_in_metadata=False),
    Output("splice_sites", "splice_sites_classification", "SPLICE_SITES", (1,), 5, sliceable=False, stranded=True,
           genome_track=False, strand_pairs_in_metadata=False),
    Output("splice_site_usage", "splice_sites_usage", "SPLICE_SITE_USAGE", (1,), 734, sliceable=True, stranded=True,
           genome_track=False, strand_pairs_in_metadata=True),
    Output("splice_junctions", "splice_sites_junction", "SPLICE_JUNCTIONS", (1,), 367, sliceable=False, stranded=True,
           genome_track=False, strand_pairs_in_metadata=False),
)

_BY_OUTPUT_TYPE: Final = {o.output_type: o for o in OUTPUTS}
_BY_HEAD: Final = {o.head: o for o in OUTPUTS}
_BY_SCORER: Final = {o.scorer_output: o for o in OUTPUTS}

#: genotile output-type names, reference order.
OUTPUT_TYPES: Final[tuple[str, ...]] = tuple(_BY_OUTPUT_TYPE)
#: Model head names, reference order (``alphagenome/head/<head>``).
MODEL_HEADS: Final[tuple[str, ...]] = tuple(_BY_HEAD)
#: Variant-scorer output names (``requested_output``), reference order.
SCORER_OUTPUTS: Final[tuple[str, ...]] = tuple(_BY_SCORER)
#: output type -> head, and back.
HEAD_OF_OUTPUT_TYPE: Final[Mapping[str, str]] = {o.output_type: o.head for o in OUTPUTS}
OUTPUT_TYPE_OF_HEAD: Final[Mapping[str, str]] = {o.head: o.output_type for o in OUTPUTS}
#: Genome-track heads and their resolutions (bp).
GENOME_TRACK_HEADS: Final[Mapping[str, tuple[int, ...]]] = {o.head: o.resolutions for o in OUTPUTS if o.genome_track}
#: Heads whose weights can be sliced to the selected channels.
SLICEABLE_HEADS: Final[frozenset[str]] = frozenset(o.head for o in OUTPUTS if o.sliceable)
#: What a config's ``tracks: - output:`` accepts: output types first, then head names that differ.
CONFIG_SPELLINGS: Final[tuple[str, ...]] = (*OUTPUT_TYPES, *(h for h in MODEL_HEADS if h not in _BY_OUTPUT_TYPE))


def by_output_type(name: str) -> Output:
    """The output of a genotile output-type name (KeyError if unknown)."""
    return _BY_OUTPUT_TYPE[name]


def by_head(head: str) -> Output:
    """The output of a model head name (KeyError if unknown)."""
    return _BY_HEAD[head]


def by_scorer_output(name: str) -> Output:
    """The output of a variant-scorer output name, e.g. ``SPLICE_SITES`` (KeyError if unknown)."""
    return _BY_SCORER[name]


#: Every output's record, by name: code names an output through these, never through a string literal
#: (``tests/test_outputs.py`` checks that no module outside this one spells an output).
ATAC: Final[Output] = by_output_type("atac")
PROCAP: Final[Output] = by_output_type("procap")
CAGE: Final[Output] = by_output_type("cage")
RNA_SEQ: Final[Output] = by_output_type("rna_seq")  # the only squashed head (1/0.75 power, soft clip)
CHIP_TF: Final[Output] = by_output_type("chip_tf")
CHIP_HISTONE: Final[Output] = by_output_type("chip_histone")
CONTACT_MAPS: Final[Output] = by_output_type("contact_maps")
DNASE: Final[Output] = by_output_type("dnase")  # the 1-bp cut-site shift of its predictions
SPLICE_SITES: Final[Output] = by_output_type("splice_sites")
SPLICE_SITE_USAGE: Final[Output] = by_output_type("splice_site_usage")
SPLICE_JUNCTIONS: Final[Output] = by_output_type("splice_junctions")
