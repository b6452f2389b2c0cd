"""The scorer registry (genotile.variants.scorers): every kind is one registered class, and everyone reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genotile.outputs import SCORER_OUTPUTS
from genotile.variants import scorers as S
from genotile.variants import summaries
from genotile.variants.engine import GENE_SCORERS, ScoringError, parse_scorers, scorers_for_annotation

ROOT = Path(__file__).resolve().parents[2]


def test_registry_lists_the_reference_kinds_in_order() -> None:
    assert list(S.REGISTRY) == ["CenterMask", "ContactMap", "GeneMaskLFC", "GeneMaskActive", "GeneMaskSplicing",
                                "Polyadenylation", "SpliceJunction"]
    assert GENE_SCORERS == {"GeneMaskLFC", "GeneMaskActive", "GeneMaskSplicing", "Polyadenylation", "SpliceJunction"}
    assert S.PAS_SCORERS == {"Polyadenylation"}
    for cls in S.REGISTRY.values():
        assert cls.outputs and cls.outputs <= set(SCORER_OUTPUTS), cls.name


def test_schema_scorer_enum_equals_the_registry() -> None:
    """The schema is YAML and cannot import Python: this keeps its scorer enum equal to the registry."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    for section in ("variants", "ism"):  # ism.scorers takes the same entries
        entry = schema["properties"][section]["properties"]["scorers"]["items"]["oneOf"][1]
        assert entry["properties"]["scorer"]["enum"] == list(S.REGISTRY), section


def test_summaries_take_rows_per_gene_from_the_kind() -> None:
    empty = pd.DataFrame()
    assert summaries.ScorerTable("GeneMaskLFC|RNA_SEQ||", "GeneMaskLFC", empty).by_gene is True
    assert summaries.ScorerTable("CenterMask|DNASE|501|DIFF_MEAN", "CenterMask", empty).by_gene is False
    with pytest.raises(ValueError, match="scorer kind 'Nope'"):
        summaries.ScorerTable("Nope|DNASE||", "Nope", empty)


@pytest.fixture
def toy_kind():
    """A new kind is one registered class: the engine's parsing and annotation checks pick it up."""

    @S.register
    class ToyGeneScorer(S.Scorer):
        name = "ToyGeneScorer"
        outputs = frozenset({"DNASE"})
        needs_genes = True

        def score(self, spec: S.ScorerSpec, inputs: S.ScorerInputs) -> S.ScoreRows:
            return S.ScoreRows(np.zeros((1, 1), np.float32), {})

    yield ToyGeneScorer
    del S.REGISTRY["ToyGeneScorer"]


def test_a_new_kind_is_one_registered_class(toy_kind) -> None:
    specs = parse_scorers([{"scorer": "ToyGeneScorer", "output": "dnase"}])
    assert specs == (S.ScorerSpec("ToyGeneScorer", "DNASE"),)
    assert isinstance(S.scorer("ToyGeneScorer"), toy_kind)
    with pytest.raises(ScoringError, match="ToyGeneScorer cannot score output 'ATAC'; it takes DNASE"):
        parse_scorers([{"scorer": "ToyGeneScorer", "output": "ATAC"}])
    with pytest.raises(ScoringError, match="ToyGeneScorer takes no width/aggregation"):
        parse_scorers([{"scorer": "ToyGeneScorer", "output": "DNASE", "width": 5}])
    # needs_genes: skipped without a GTF (GENE_SCORERS was computed before it existed; the registry is read live)
    kept, notes = scorers_for_annotation(specs, has_gtf=False, has_pas=False)
    assert kept == () and "ToyGeneScorer" in notes[0]


def test_registering_a_kind_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        S.register(S.CenterMask)
