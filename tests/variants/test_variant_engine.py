"""The scoring engine with the tiny model: tiled equals centred on a centred tile, failures, scorer parsing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genotile.model.checkpoints import synthetic_model
from genotile.model.predictor import Predictor
from genotile.sequence.demo import write_demo_annotation, write_demo_genome
from genotile.sequence.fasta import Genome
from genotile.tracks.tiling import tile_contig
from genotile.variants.annotation import read_gtf, read_pas_table
from genotile.variants.engine import ScoringError, ScoringOptions, parse_scorers, score_variants, scorer_name
from genotile.variants.predict import VariantModel, align_alternate_jax
from genotile.variants.sequences import align_alternate, indel_alignment, variant_window

WINDOW = 16_384


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    genome = Genome(write_demo_genome(folder / "demo.fa"))
    gtf, pas = write_demo_annotation(folder / "demo.gtf", folder / "pas.tsv")
    specs = parse_scorers(["recommended"])
    predictor = Predictor(synthetic_model("tiny", 0), None, precision="float32")
    model = VariantModel(predictor, {s.output for s in specs})
    return genome, read_gtf(gtf), read_pas_table(pas), specs, model


def _variant(genome: Genome, pos0: int, ref_len: int, alt: str | None = None) -> dict:
    ref = genome.sequence("demo1", pos0, pos0 + ref_len).upper()
    alt = alt if alt is not None else ({"A": "C", "C": "G", "G": "T", "T": "A"}[ref[0]] if ref_len == 1 else ref[0])
    if alt.startswith("+"):  # insertion after the anchor
        alt = ref + alt[1:]
    return {"variant_id": f"demo1:{pos0 + 1}:{ref}>{alt}", "chrom": "demo1", "pos": pos0 + 1, "ref": ref, "alt": alt}


def _centred_on(window_start: int, ref_len: int) -> int:
    """The 0-based start of a variant with this REF length whose centred window starts at window_start."""
    for pos0 in range(window_start, window_start + WINDOW):
        if variant_window("demo1", pos0 + 1, "A" * ref_len, "A", WINDOW)[0] == window_start:
            return pos0
    raise AssertionError("no such position")


@pytest.mark.slow
def test_tiled_equals_centred_when_the_tile_is_centred_on_the_variant(setup):
    genome, ann, pas, specs, model = setup
    tile = next(w for w in tile_contig("demo1", genome.length("demo1"), WINDOW, WINDOW // 2) if w.start == 0)
    rows = [_variant(genome, _centred_on(tile.start, 1), 1),
            _variant(genome, _centred_on(tile.start, 1), 1, "+TTA"),
            _variant(genome, _centred_on(tile.start, 4), 4)]
    for r in rows:  # all in the tile's owned region, so tiled mode scores them in this tile
        assert tile.own_start <= r["pos"] - 1 < tile.own_end
    variants = pd.DataFrame(rows)
    centred = score_variants(model, genome, variants, specs, ScoringOptions("centered", WINDOW, batch_size=2), ann, pas)
    tiled = score_variants(model, genome, variants, specs, ScoringOptions("tiled", WINDOW, batch_size=2), ann, pas)
    assert tiled.stats["forward_passes"] == 4 and centred.stats["forward_passes"] == 6  # one shared REF pass
    assert centred.failures.empty and tiled.failures.empty
    assert set(centred.scores) == {scorer_name(s) for s in specs}
    for name, table in centred.scores.items():
        assert len(table) > 0, name
        pd.testing.assert_frame_equal(table, tiled.scores[name], check_exact=True, obj=name)
    lfc = centred.scores["GeneMaskLFC|RNA_SEQ||"]
    assert set(lfc["variant_id"]) == set(variants["variant_id"]) and (lfc["gene_name"] == "ALPHA1").all()


@pytest.mark.slow
def test_failures_are_collected_and_the_rest_is_scored(setup, tmp_path):
    genome, _, pas, _, model = setup
    lines = [f'demo1\tx\tgene\t{i * 10 + 1}\t{i * 10 + 5}\t.\t+\t.\tgene_id "G{i}"; gene_name "G{i}"; gene_type "protein_coding";'
             for i in range(300)]  # 300 genes under one variant's window: more than the scorers accept
    lines += [f'demo1\tx\ttranscript\t{i * 10 + 1}\t{i * 10 + 5}\t.\t+\t.\tgene_id "G{i}"; transcript_id "T{i}";' for i in range(300)]
    crowded = tmp_path / "crowded.gtf"
    crowded.write_text("\n".join(lines) + "\n")
    specs = parse_scorers([{"scorer": "GeneMaskLFC", "output": "RNA_SEQ"},
                           {"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_MEAN"}])
    variants = pd.DataFrame([_variant(genome, 2_000, 1)])
    result = score_variants(model, genome, variants, specs, ScoringOptions("centered", WINDOW), read_gtf(crowded), pas)
    assert result.failures[["scorer", "reason"]].values.tolist() == [["GeneMaskLFC|RNA_SEQ||", "scorer_failed"]]
    assert "300 genes" in result.failures["detail"].iloc[0]
    assert len(result.scores["CenterMask|DNASE|501|DIFF_MEAN"]) == len(model.tracks["DNASE"])
    assert result.scores["GeneMaskLFC|RNA_SEQ||"].empty


def test_gene_scorers_without_annotation_stop_with_the_fix(setup):
    genome, _, _, _, model = setup
    with pytest.raises(ScoringError, match="annotation.gtf"):
        score_variants(model, genome, pd.DataFrame([_variant(genome, 2_000, 1)]),
                       parse_scorers([{"scorer": "GeneMaskLFC", "output": "RNA_SEQ"}]), ScoringOptions(window_bp=WINDOW))


@pytest.mark.parametrize("entry, message", [
    ("everything", "not a preset"),
    ({"scorer": "Magic", "output": "DNASE"}, "unknown scorer"),
    ({"scorer": "ContactMap", "output": "DNASE"}, "cannot score output"),
    ({"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "MEDIAN"}, "aggregation"),
    ({"scorer": "CenterMask", "output": "DNASE", "width": -3, "aggregation": "DIFF_MEAN"}, "width"),
    ({"scorer": "GeneMaskLFC", "output": "RNA_SEQ", "width": 501}, "no width"),
])
def test_parse_scorers_refuses_bad_entries(entry, message):
    with pytest.raises(ScoringError, match=message):
        parse_scorers([entry])


def test_parse_scorers_recommended_and_duplicates():
    specs = parse_scorers(["recommended", {"scorer": "ContactMap", "output": "contact_maps"}])
    assert len(specs) == 19 and specs[12].scorer == "ContactMap"
    assert all(s.scorer != "Polyadenylation" for s in parse_scorers(["recommended"], "mouse"))
    assert scorer_name(specs[0]) == "CenterMask|ATAC|501|DIFF_LOG2_SUM"


@pytest.mark.parametrize("ref_len, alt_len, start0", [(1, 1, 500), (1, 4, 500), (5, 1, 500), (1, 3, 1020), (3, 1, 10)])
def test_device_alignment_equals_host_alignment(ref_len, alt_len, start0):
    import jax.numpy as jnp

    rng = np.random.default_rng(ref_len * 10 + alt_len)
    values = rng.normal(size=(1_024, 6)).astype(np.float32)
    alignment = indel_alignment(start0, ref_len, alt_len, 0, 1_024)
    arrays = {k: jnp.asarray(getattr(alignment, k)) for k in
              ("alt_mask", "insertion_reindex", "insertion_crop", "deletion_zeros", "deletion_reindex")}
    np.testing.assert_array_equal(np.asarray(align_alternate_jax(jnp.asarray(values), arrays)), align_alternate(values, alignment))


def test_model_keeps_non_padding_tracks_and_splice_classes(setup):
    *_, model = setup
    assert model.tracks["SPLICE_SITES"]["name"].tolist() == ["donor", "acceptor", "donor", "acceptor"]
    assert model.tracks["SPLICE_SITES"]["strand"].tolist() == ["+", "+", "-", "-"]
    assert model.junctions and "splice_sites_junction" not in model.request.heads
    with pytest.raises(ValueError, match="unknown scorer output"):
        VariantModel(model.predictor, {"NOPE"})
