"""Device-side scoring (genotile.variants.device_pass): equal to the host scorers on whole-window outputs, byte-identical
across batch sizes, local encoder routes, gathered windows that hold every scorer's bins."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genotile.model.checkpoints import synthetic_model
from genotile.model.predictor import Predictor
from genotile.sequence.demo import write_demo_genome
from genotile.sequence.encoding import one_hot
from genotile.sequence.fasta import Genome
from genotile.variants import scorers as S
from genotile.variants.device_align import IDENTITY, align_alternate_jax, alignment_params
from genotile.variants.device_pass import MAX_LOCAL_WIDTH, AltRoute, alt_route, device_passes
from genotile.variants.engine import ScoringOptions, parse_scorers, score_variants, scorer_name
from genotile.variants.predict import VariantModel
from genotile.variants.sequences import align_alternate, indel_alignment, ref_alt_sequences

WINDOW = 16_384
ENTRIES = [
    *({"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": a.value} for a in S.Aggregation),
    {"scorer": "CenterMask", "output": "ATAC", "width": None, "aggregation": "DIFF_MEAN"},
    {"scorer": "CenterMask", "output": "ATAC", "width": 2001, "aggregation": "L2_DIFF"},
    {"scorer": "CenterMask", "output": "CHIP_HISTONE", "width": 2001, "aggregation": "ACTIVE_SUM"},
    {"scorer": "CenterMask", "output": "CHIP_TF", "width": None, "aggregation": "DIFF_LOG2_SUM"},
    {"scorer": "ContactMap", "output": "CONTACT_MAPS"},
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    genome = Genome(write_demo_genome(tmp_path_factory.mktemp("device") / "demo.fa"))
    specs = parse_scorers(ENTRIES)
    predictor = Predictor(synthetic_model("tiny", 0), None, precision="float32")
    return genome, specs, VariantModel(predictor, {s.output for s in specs})


def _variants(genome: Genome) -> pd.DataFrame:
    """SNVs mid-tile and at the contig's first bases (a window edge), an MNV, an insertion and a deletion."""
    rows = []
    for pos0, ref_len, alt in [(3, 1, None), (4_000, 1, None), (6_100, 3, None), (7_000, 1, "+GA"), (8_000, 4, "")]:
        ref = genome.sequence("demo1", pos0, pos0 + ref_len).upper()
        if alt is None:
            alt = "".join({"A": "C", "C": "G", "G": "T", "T": "A"}.get(b, "A") for b in ref)
        elif alt.startswith("+"):
            alt = ref + alt[1:]
        else:
            alt = ref[0]
        rows.append({"variant_id": f"demo1:{pos0 + 1}:{ref}>{alt}", "chrom": "demo1", "pos": pos0 + 1, "ref": ref, "alt": alt})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def scored(setup):
    genome, specs, model = setup
    variants = _variants(genome)
    options = ScoringOptions("tiled", WINDOW, batch_size=2, include_values=True)
    return variants, score_variants(model, genome, variants, specs, options)


@pytest.mark.slow
def test_device_scores_equal_the_host_scorers_on_whole_window_outputs(setup, scored):
    genome, specs, model = setup
    variants, result = scored
    assert result.failures.empty, result.failures
    start, end = 0, WINDOW  # every variant is in the contig's first tile
    for v in variants.itertuples(index=False):
        ref_seq, alt_seq = ref_alt_sequences(genome.sequence, "demo1", start, end, int(v.pos), v.ref, v.alt)
        ref, alt = model.predict(np.stack([one_hot(ref_seq), one_hot(alt_seq)]))
        alignment = indel_alignment(int(v.pos) - 1, len(v.ref), len(v.alt), start, end - start)
        inputs = S.ScorerInputs(v, start, end - start, model, ref, alt, lambda o: align_alternate(alt.values[o], alignment))
        for spec in specs:
            expected = S.scorer(spec.scorer).score(spec, inputs)
            table = result.scores[scorer_name(spec)]
            got = table[table["variant_id"] == v.variant_id]
            # a difference of two float32 sums carries the sums' rounding (~1e-7 of the sums), so the tolerance
            # scales with the sums (mean value x bins), not with the score; the values (means) below are the sharp check
            read = S.scorer(spec.scorer).device_read(spec)
            bins = read.bins or WINDOW // S.resolution_for_output(spec.output)
            means = [x for x in (expected.ref_values, expected.alt_values) if x is not None]
            scale = max(1.0, float(np.nanmax(np.abs(expected.scores))), *(float(np.nanmax(np.abs(x))) * bins for x in means))
            where = f"{scorer_name(spec)} {v.variant_id}"
            np.testing.assert_allclose(got["score"].to_numpy(), expected.scores.reshape(-1), rtol=2e-5, atol=2e-6 * scale, err_msg=where)
            if expected.ref_values is not None:
                np.testing.assert_allclose(got["ref_value"].to_numpy(), expected.ref_values.reshape(-1), rtol=2e-5, atol=1e-6, err_msg=where)
                np.testing.assert_allclose(got["alt_value"].to_numpy(), expected.alt_values.reshape(-1), rtol=2e-5, atol=1e-6, err_msg=where)


@pytest.mark.slow
def test_scores_do_not_depend_on_the_batch_size(setup, scored):
    genome, specs, model = setup
    variants, batched = scored
    alone = score_variants(model, genome, variants, specs, ScoringOptions("tiled", WINDOW, batch_size=1, include_values=True))
    for name, table in batched.scores.items():
        pd.testing.assert_frame_equal(table, alone.scores[name], check_exact=True, obj=name)


@pytest.mark.slow
def test_local_encoder_scores_equal_full_encoder_scores(setup, scored):
    genome, specs, model = setup
    variants, local = scored
    full = score_variants(model, genome, variants, specs, ScoringOptions("tiled", WINDOW, batch_size=2, include_values=True, local_encoder=False))
    for name, table in local.scores.items():
        np.testing.assert_allclose(table["score"], full.scores[name]["score"], rtol=1e-5, atol=1e-6, err_msg=name)


def test_alt_routes():
    assert alt_route(100, "A", "C", 0, WINDOW, True) == (AltRoute(1), 100)
    assert alt_route(100, "ACG", "TTT", 0, WINDOW, True) == (AltRoute(4), 100)
    assert alt_route(WINDOW - 2, "AC", "GT", 0, WINDOW, True) == (AltRoute(2), WINDOW - 2)
    assert alt_route(WINDOW - 3, "ACG", "TTT", 0, WINDOW, True) == (AltRoute(4), WINDOW - 4)  # the bucket stays inside
    assert alt_route(100, "A", "AC", 0, WINDOW, True) == (AltRoute(None), 0)  # an indel: the full encoder
    assert alt_route(100, "A", "C", 0, WINDOW, False) == (AltRoute(None), 0)
    wide = "A" * (MAX_LOCAL_WIDTH + 1)
    assert alt_route(100, wide, "C" * len(wide), 0, WINDOW, True) == (AltRoute(None), 0)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, WINDOW - 1))
def test_every_scorer_bins_lie_in_its_gathered_window(setup, position):
    _, specs, model = setup
    plan = device_passes(model, specs, WINDOW)
    anchors = plan.anchors(position, 0)
    bounds, errors = plan.bounds(position, 0)
    assert errors == [None] * len(plan.device_specs)
    for j, spec in enumerate(plan.device_specs):
        g = plan.gathers[plan.spec_gather[j]]
        lo, hi = bounds[j]
        assert lo < hi, scorer_name(spec)
        if g.bins is not None:
            assert 0 <= anchors[plan.spec_gather[j]] <= WINDOW // g.resolution - g.bins
            assert anchors[plan.spec_gather[j]] <= lo and hi <= anchors[plan.spec_gather[j]] + g.bins, scorer_name(spec)


# -- the gene-mask scorers on the device (per-window exon masks, ALT aligned on the device) ------------------------

GENE_ENTRIES = [
    {"scorer": "GeneMaskLFC", "output": "RNA_SEQ"},
    {"scorer": "GeneMaskActive", "output": "RNA_SEQ"},
    {"scorer": "CenterMask", "output": "RNA_SEQ", "width": None, "aggregation": "DIFF_MEAN"},  # shares the gather
    {"scorer": "GeneMaskSplicing", "output": "RNA_SEQ"},  # per-variant genes; stranded tracks
    {"scorer": "GeneMaskSplicing", "output": "SPLICE_SITE_USAGE"},
    {"scorer": "Polyadenylation", "output": "RNA_SEQ"},  # per-variant PAS windows
    {"scorer": "SpliceJunction", "output": "SPLICE_JUNCTIONS"},  # junctions of both alleles in the ALT pass
]
#: The gene scorers that reduce on the device (the host fixture turns their device reduction off).
DEVICE_GENE_KINDS = ("GeneMaskLFC", "GeneMaskActive", "GeneMaskSplicing", "Polyadenylation", "SpliceJunction")
#: Windows (demo1) and their variants (0-based start, REF length, ALT: None = substitution, "+XY" = insertion,
#: "" = deletion to the first base): ALPHA1 (+, exons 3,000-3,400, 6,000-6,300, 9,500-11,000) with variants at both
#: window edges; BETA2 (-) and GAMMA3 (+) together (both strands); a window where no transcript starts (no genes).
GENE_WINDOWS = {
    (0, WINDOW): [(0, 1, None), (3_100, 1, None), (6_100, 3, None), (9_600, 1, "+GA"), (10_000, 4, ""),
                  (WINDOW - 4, 3, ""), (WINDOW - 1, 1, "+TT"), (WINDOW - 1, 1, None)],
    (40_960, 40_960 + WINDOW): [(44_500, 1, None), (44_800, 1, "+C"), (52_100, 2, "")],
    (16_384, 16_384 + WINDOW): [(20_000, 1, None), (30_100, 3, "")],
}  # fmt: skip


def _gene_variants(genome: Genome, items: list[tuple[int, int, str | None]]) -> pd.DataFrame:
    rows = []
    for pos0, ref_len, alt in items:
        ref = genome.sequence("demo1", pos0, pos0 + ref_len).upper()
        if alt is None:
            alt = "".join({"A": "C", "C": "G", "G": "T", "T": "A"}.get(b, "A") for b in ref)
        else:
            alt = ref + alt[1:] if alt.startswith("+") else ref[0]
        rows.append({"variant_id": f"demo1:{pos0 + 1}:{ref}>{alt}", "chrom": "demo1", "pos": pos0 + 1, "ref": ref, "alt": alt})
    return pd.DataFrame(rows)


def _stranded_model(predictor: Predictor, outputs: set[str]) -> VariantModel:
    """A model whose RNA-seq tracks are +, -, . in turn (the tiny model's are all unstranded), so the gene
    scorers' strand NaN pattern is exercised."""
    model = VariantModel(predictor, outputs)
    tracks = model.tracks["RNA_SEQ"]
    model.tracks["RNA_SEQ"] = tracks.assign(strand=np.resize(np.array(["+", "-", "."], object), len(tracks)))
    return model


def _score_gene_windows(model: VariantModel, genome: Genome, specs, annotation, batch_size: int):
    """Every GENE_WINDOWS window scored on its own (``window=``), tables and failures concatenated."""
    annotation, pas = annotation
    options = ScoringOptions("tiled", WINDOW, batch_size=batch_size, include_values=True)
    results = [
        score_variants(model, genome, _gene_variants(genome, items), specs, options, annotation, pas, window=("demo1", *span))
        for span, items in GENE_WINDOWS.items()
    ]
    tables = {name: pd.concat([r.scores[name] for r in results], ignore_index=True) for name in results[0].scores}
    return tables, pd.concat([r.failures for r in results], ignore_index=True)


@pytest.fixture(scope="module")
def gene_scored(setup, tmp_path_factory):
    """The gene windows scored on the device (batch 2 and 1) and by the host scorers (their device reduction off)."""
    from genotile.sequence.demo import write_demo_annotation
    from genotile.variants.annotation import read_gtf, read_pas_table

    genome, _, base = setup
    folder = tmp_path_factory.mktemp("genes")
    gtf, pas = write_demo_annotation(folder / "demo.gtf", folder / "pas.tsv")
    annotation = (read_gtf(gtf), read_pas_table(pas))
    specs = parse_scorers(GENE_ENTRIES)
    model = _stranded_model(base.predictor, {s.output for s in specs})
    device = _score_gene_windows(model, genome, specs, annotation, 2)
    alone = _score_gene_windows(model, genome, specs, annotation, 1)
    host_model = _stranded_model(base.predictor, {s.output for s in specs})
    with pytest.MonkeyPatch.context() as patch:
        for kind in DEVICE_GENE_KINDS:
            patch.setattr(S.REGISTRY[kind], "device_read", lambda self, spec: None)
        assert not {s.scorer for s in device_passes(host_model, specs, WINDOW).device_specs} & set(DEVICE_GENE_KINDS)
        host = _score_gene_windows(host_model, genome, specs, annotation, 2)
    plan = device_passes(model, specs, WINDOW)
    return plan, device, alone, host, (model, host_model, genome, specs, annotation)


@pytest.mark.slow
def test_gene_mask_device_scores_equal_the_host_scorers(gene_scored):
    plan, (tables, failures), _, (host_tables, host_failures), _ = gene_scored
    assert {s.scorer for s in plan.device_specs} == {*DEVICE_GENE_KINDS, "CenterMask"}
    pd.testing.assert_frame_equal(failures, host_failures)
    assert failures.empty, failures
    for name, table in tables.items():
        expected = host_tables[name]
        assert len(table) == len(expected) > 0, name
        exact = [c for c in table.columns if c not in ("score", "ref_value", "alt_value")]
        pd.testing.assert_frame_equal(table[exact], expected[exact], obj=name)  # same variants, genes, tracks, order
        for column in ("score", "ref_value", "alt_value"):
            got, want = table[column].to_numpy(), expected[column].to_numpy()
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name} {column}: NaN pattern")
            # gene means are float32 sums over ~1,000 exon bases in another order: ~1e-6 relative; an LFC carries that
            # as an absolute error. Junction deltas are float16 (as the reference keeps them): a float32 rounding
            # difference in the junction head flips a few of them by one float16 step (~1e-3 relative)
            rtol = 2e-3 if name.startswith("SpliceJunction") else 1e-5
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-5, err_msg=f"{name} {column}")
    for name in ("GeneMaskSplicing|RNA_SEQ||", "GeneMaskSplicing|SPLICE_SITE_USAGE||"):  # a maximum: bit for bit
        pd.testing.assert_frame_equal(tables[name], host_tables[name], check_exact=True, obj=name)
    polyadenylation = tables["Polyadenylation|RNA_SEQ||"]
    assert set(polyadenylation["gene_name"]) >= {"ALPHA1"} and (polyadenylation["score"] > 0).any()
    splicing = tables["GeneMaskSplicing|RNA_SEQ||"]
    # the variants inside a gene body (30,101 too: a body with no TSS in its window, so no LFC rows there)
    assert set(splicing["pos"]) == {3_101, 6_101, 9_601, 10_001, 30_101, 44_501, 44_801, 52_101} and splicing["score"].notna().any()
    lfc = tables["GeneMaskLFC|RNA_SEQ||"]
    genes = lfc.groupby("pos")["gene_name"].unique().map(sorted).to_dict()
    assert genes[1] == genes[3_101] == genes[WINDOW] == ["ALPHA1"] and genes[44_501] == ["BETA2", "GAMMA3"]
    assert 20_001 not in genes and 30_101 not in genes  # the window without genes: no rows
    stranded = lfc[(lfc["track_strand"] != ".") & (lfc["track_strand"] != lfc["gene_strand"])]
    assert len(stranded) and stranded["score"].isna().all() and stranded["ref_value"].notna().all()
    assert lfc[lfc["track_strand"] == "."]["score"].notna().all()


@pytest.mark.slow
def test_gene_mask_device_scores_do_not_depend_on_the_batch_size(gene_scored):
    _, (tables, failures), (alone, alone_failures), _, _ = gene_scored
    pd.testing.assert_frame_equal(failures, alone_failures)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, alone[name], check_exact=True, obj=name)


def test_row_bucket():
    from genotile.variants.scorers.base import MIN_ROW_BUCKET, row_bucket

    assert [row_bucket(n) for n in (0, 1, MIN_ROW_BUCKET, MIN_ROW_BUCKET + 1, 256)] == [8, 8, 8, 16, 256]


@settings(max_examples=80, deadline=None)
@given(st.integers(-1, 13), st.integers(0, 4), st.integers(0, 4), st.integers(0, 2**31 - 1))
def test_device_alignment_equals_align_alternate_bit_for_bit(start0, ref_len, alt_len, seed):
    try:
        alignment = indel_alignment(start0, ref_len, alt_len, 0, 12)
    except ValueError:
        return  # the engine fails such a variant before any scorer
    x = np.random.default_rng(seed).normal(size=(12, 3)).astype(np.float32)
    x[seed % 12, seed % 3] = np.nan
    align = _jit_align()
    got = np.asarray(align(x, alignment_params(alignment)))
    np.testing.assert_array_equal(got.view(np.int32), align_alternate(x, alignment).view(np.int32))  # NaN bits too
    if not alignment.is_indel:
        np.testing.assert_array_equal(np.asarray(align(x, IDENTITY)).view(np.int32), x.view(np.int32))


@functools.cache
def _jit_align():
    """One jitted :func:`align_alternate_jax` for the property test (one compilation for all its examples)."""
    import jax

    return jax.jit(align_alternate_jax)


@pytest.mark.slow
def test_a_window_with_too_many_genes_fails_alike_on_the_device_and_the_host(gene_scored, monkeypatch):
    from genotile.variants import annotation as A

    *_, (model, host_model, genome, specs, annotation) = gene_scored  # both plans are compiled and cached already
    monkeypatch.setattr(A, "MAX_GENES_PER_WINDOW", 0)
    variants = _gene_variants(genome, GENE_WINDOWS[(0, WINDOW)][1:3])
    options = ScoringOptions("tiled", WINDOW, batch_size=2, include_values=True)
    device, host = (score_variants(m, genome, variants, specs, options, *annotation, window=("demo1", 0, WINDOW)) for m in (model, host_model))
    pd.testing.assert_frame_equal(device.failures, host.failures)
    gene_scorers = {scorer_name(s) for s in specs if s.scorer in DEVICE_GENE_KINDS and s.scorer != "Polyadenylation"}  # own limit
    assert set(device.failures["scorer"]) == gene_scorers and len(device.failures) == 2 * len(gene_scorers)
    assert device.failures["detail"].str.startswith("AnnotationError: 1 genes in demo1").all()
    for name, table in device.scores.items():
        pd.testing.assert_frame_equal(table, host.scores[name], check_exact=False, rtol=1e-5, atol=1e-5, obj=name)
