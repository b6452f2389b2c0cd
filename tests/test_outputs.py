"""The output vocabulary (genotile.outputs): one table, and everything that spells outputs agrees with it."""

from __future__ import annotations

from pathlib import Path

import yaml

from genotile import outputs
from genotile.model import config, metadata

ROOT = Path(__file__).resolve().parents[1]


def test_three_spellings_of_one_output() -> None:
    o = outputs.by_output_type("splice_sites")
    assert (o.head, o.scorer_output) == ("splice_sites_classification", "SPLICE_SITES")
    assert outputs.by_head("splice_sites_classification") is o is outputs.by_scorer_output("SPLICE_SITES")
    assert outputs.OUTPUT_TYPE_OF_HEAD["splice_sites_junction"] == "splice_junctions"


def test_names_are_unique_and_in_reference_order() -> None:
    assert outputs.MODEL_HEADS == (
        "atac", "dnase", "procap", "cage", "rna_seq", "chip_tf", "chip_histone", "contact_maps",
        "splice_sites_classification", "splice_sites_usage", "splice_sites_junction",
    )  # fmt: skip
    for names in (outputs.OUTPUT_TYPES, outputs.MODEL_HEADS, outputs.SCORER_OUTPUTS):
        assert len(set(names)) == len(outputs.OUTPUTS)


def test_shape_facts() -> None:
    assert outputs.GENOME_TRACK_HEADS["chip_tf"] == (128,) and outputs.GENOME_TRACK_HEADS["dnase"] == (1, 128)
    assert outputs.SLICEABLE_HEADS == set(outputs.GENOME_TRACK_HEADS) | {"contact_maps", "splice_sites_usage"}
    assert [o.head for o in outputs.OUTPUTS if not o.stranded] == ["contact_maps"]
    assert {o.scorer_output: o.scored_resolution for o in outputs.OUTPUTS if o.scored_resolution != 1} == {
        "CHIP_TF": 128, "CHIP_HISTONE": 128, "CONTACT_MAPS": 2048}
    assert outputs.by_output_type("rna_seq").scored_field == "predictions_1bp"
    assert outputs.CONTACT_MAPS.scored_field == "predictions"


def test_model_and_metadata_tables_derive_from_it() -> None:
    assert not hasattr(config, "HEAD_NAMES") and not hasattr(metadata, "HEAD_NAMES")  # one name per table
    assert metadata.OUTPUT_TYPES == outputs.OUTPUT_TYPES
    assert config.HEAD_TRACKS == {o.head: o.channels for o in outputs.OUTPUTS}


def test_schema_enum_equals_the_table() -> None:
    """The schema is YAML and cannot import Python: this is what keeps it equal to the table."""
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    enum = schema["properties"]["tracks"]["items"]["properties"]["output"]["enum"]
    assert tuple(enum) == outputs.CONFIG_SPELLINGS


def test_cli_choices_are_the_heads() -> None:
    from genotile.cli.tracks import OUTPUT_CHOICES

    assert tuple(OUTPUT_CHOICES) == outputs.MODEL_HEADS


def test_no_module_spells_an_output_outside_the_vocabulary() -> None:
    """Code names outputs through genotile.outputs' records: a string constant that *is* an output's spelling
    (its config name, head or scorer name) anywhere else in the package is a second vocabulary in the making.
    Strings that merely mention one (messages, docstrings with examples) and ``__all__`` (names of functions
    that happen to be spelled like an output) do not count."""
    import ast

    spellings = {name for o in outputs.OUTPUTS for name in (o.output_type, o.head, o.scorer_output)}
    found = []
    for path in sorted((ROOT / "src/genotile").rglob("*.py")):
        if path.name == "outputs.py":
            continue
        tree = ast.parse(path.read_text())
        exports = {id(c) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                   for c in ast.walk(node.value)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in spellings and id(node) not in exports:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == [], "\n".join(found)
