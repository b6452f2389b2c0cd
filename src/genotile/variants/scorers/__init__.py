"""Variant scorers: one module per kind, each a registered :class:`~.base.Scorer` with its numpy maths.

Reproduces the reference AlphaGenome scorers (``alphagenome_research/model/variant_scoring/*.py``).
Every score function takes predictions already mapped to forward genomic coordinates.

* :mod:`.base` -- the :class:`~.base.Scorer` contract, :data:`~.base.REGISTRY`, :class:`~.base.ScorerSpec`.
* :mod:`.center_mask`, :mod:`.contact_map`, :mod:`.gene_mask` (LFC, Active), :mod:`.gene_mask_splicing`,
  :mod:`.polyadenylation`, :mod:`.splice_junction` -- one kind each (several for gene masks).
* :mod:`.recommended` -- the official recommended set.

Adding a kind: a new module here with a ``@register``-ed ``Scorer`` subclass, plus its test; every
module of this package is imported below (new ones after the reference's kinds, alphabetically), so the
engine, config checks, CLI and summaries find it in the registry.
"""

from __future__ import annotations

import importlib
import pkgutil

from genotile.variants.scorers.base import (
    REGISTRY,
    Scorer,
    ScorerInputs,
    ScoreRows,
    ScorerSpec,
    SettingsError,
    VariantArrays,
    WindowArrays,
    WindowInputs,
    register,
    scorer,
)  # fmt: skip
from genotile.variants.scorers.center_mask import (
    Aggregation,
    CenterMask,
    center_mask,
    center_mask_bins,
    center_mask_score,
    resolution_for_output,
)  # fmt: skip
from genotile.variants.scorers.contact_map import ContactMap, contact_map_score
from genotile.variants.scorers.gene_mask import GeneMaskActive, GeneMaskLFC, apply_strand_nan, gene_mask_active, gene_mask_lfc, gene_means
from genotile.variants.scorers.gene_mask_splicing import GeneMaskSplicing, gene_mask_splicing
from genotile.variants.scorers.polyadenylation import (
    MAX_GENES,
    MAX_PAS,
    PAS_MASK_WIDTH,
    Polyadenylation,
    pas_window_intervals,
    pas_window_masks,
    polyadenylation_score,
)  # fmt: skip
from genotile.variants.scorers.recommended import RECOMMENDED, recommended_scorers
from genotile.variants.scorers.splice_junction import (
    MAX_SPLICE_SITES,
    Junctions,
    SpliceJunction,
    junction_max_per_gene,
    splice_junction_delta,
    unstack_junctions,
)  # fmt: skip

__all__ = [
    "Aggregation", "CenterMask", "ContactMap", "GENE_SCORERS", "GeneMaskActive", "GeneMaskLFC", "GeneMaskSplicing",
    "Junctions", "MAX_GENES", "MAX_PAS", "MAX_SPLICE_SITES", "PAS_MASK_WIDTH", "PAS_SCORERS", "Polyadenylation",
    "RECOMMENDED", "REGISTRY", "ScoreRows", "Scorer", "ScorerInputs", "ScorerSpec", "SettingsError", "SpliceJunction", "VariantArrays",
    "WindowArrays", "WindowInputs", "apply_strand_nan", "center_mask", "center_mask_bins", "center_mask_score", "contact_map_score",
    "gene_mask_active", "gene_mask_lfc", "gene_mask_splicing", "gene_means", "junction_max_per_gene",
    "pas_window_intervals", "pas_window_masks", "polyadenylation_score", "recommended_scorers", "register", "resolution_for_output",
    "scorer", "splice_junction_delta", "unstack_junctions",
]  # fmt: skip

# Every other module here is a scorer kind too: importing it registers it (a new kind is one file).
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

#: Kinds that need gene annotation (``annotation.gtf``); their rows are per gene.
GENE_SCORERS = frozenset(name for name, cls in REGISTRY.items() if cls.needs_genes)
#: Kinds that need a polyadenylation-site table (``annotation.pas``).
PAS_SCORERS = frozenset(name for name, cls in REGISTRY.items() if cls.needs_pas)
