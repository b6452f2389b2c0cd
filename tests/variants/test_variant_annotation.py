"""Gene/PAS annotation queries against hand-built GTFs, the demo annotation and real GENCODE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genotile.sequence.demo import write_demo_annotation
from genotile.variants.annotation import AnnotationError, pas_masks, read_gtf, read_pas_table
from genotile.variants.scorers import MAX_PAS

GENCODE = Path(__file__).resolve().parents[3] / "shared/realdata/hg38_chr1_1Mb/gencode_v29_chr1_first1.5Mb.gtf.gz"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ann")
    gtf, pas = write_demo_annotation(folder / "demo.gtf", folder / "pas.tsv")
    return read_gtf(gtf), read_pas_table(pas)


def test_gtf_coordinates_are_zero_based_half_open(demo):
    ann, _ = demo
    alpha = ann.genes.set_index("gene_name").loc["ALPHA1"]
    assert (alpha["Start"], alpha["End"], alpha["Strand"]) == (3_000, 11_000, "+")
    assert len(ann.transcripts) == 5 and len(ann.exons) == 12


def test_exon_masks_take_transcripts_whose_tss_is_in_the_window(demo):
    ann, _ = demo
    masks, genes = ann.exon_masks("demo1", 0, 16_384)
    assert genes["gene_name"].tolist() == ["ALPHA1"]
    expected = np.zeros(16_384, bool)
    for s, e in ((3_000, 3_400), (6_000, 6_300), (9_500, 11_000)):  # union of both transcripts' exons
        expected[s:e] = True
    np.testing.assert_array_equal(masks[:, 0], expected)
    # BETA2 is on '-': its TSS is its End (45,000), so a window holding its body but not 45,000 misses it.
    _, genes = ann.exon_masks("demo1", 28_000, 16_384)
    assert "BETA2" not in genes["gene_name"].tolist()
    masks, genes = ann.exon_masks("demo1", 32_768, 16_384)
    assert genes["gene_name"].tolist() == ["BETA2"]
    assert masks[:, 0].sum() == (36_200 - 36_000) + (45_000 - 44_000)  # exon 1 lies left of the window
    masks, genes = ann.exon_masks("chrZ", 0, 100)
    assert masks.shape == (100, 0) and genes.empty


def test_overlapping_genes_and_body_masks(demo):
    ann, _ = demo
    genes = ann.overlapping_genes("demo1", 31_000, 1, 1)
    assert genes["gene_name"].tolist() == ["BETA2"]
    assert ann.overlapping_genes("demo1", 2_999, 1, 1).empty  # ALPHA1 starts at 3,000 (0-based)
    assert ann.overlapping_genes("demo1", 2_999, 1, 3)["gene_name"].tolist() == ["ALPHA1"]  # insertion reaches it
    assert ann.overlapping_genes("demo1", 52_500, 1, 1, protein_coding=True).empty  # GAMMA3 is lncRNA
    body = ann.body_masks(genes, "demo1", 20_000, 16_384)
    assert body[:, 0].sum() == 16_384 - 10_000 and body[10_000:, 0].all()


def test_gtf_errors_name_the_file_and_fix(tmp_path):
    with pytest.raises(AnnotationError, match="does not exist"):
        read_gtf(tmp_path / "missing.gtf")
    gff = tmp_path / "x.gff3"
    gff.write_text("chr1\tsrc\tgene\t1\t100\t.\t+\t.\tID=gene1;Name=A\n")
    with pytest.raises(AnnotationError, match="GFF3"):
        read_gtf(gff)
    no_genes = tmp_path / "nogenes.gtf"
    no_genes.write_text('chr1\tsrc\texon\t1\t100\t.\t+\t.\tgene_id "g"; transcript_id "t";\n')
    with pytest.raises(AnnotationError, match="no 'gene' lines"):
        read_gtf(no_genes)
    bad = tmp_path / "bad.gtf"
    bad.write_text('chr1\tsrc\tgene\tone\t100\t.\t+\t.\tgene_id "g";\n')
    with pytest.raises(AnnotationError, match="non-numeric"):
        read_gtf(bad)


def test_pas_masks_follow_the_reference_rules(demo):
    ann, pas = demo
    genes = ann.overlapping_genes("demo1", 10_500, 1, 1)  # ALPHA1 (+), three PAS
    masks, kept = pas_masks(genes, pas, 0, 16_384, 10_501)
    assert masks.shape == (16_384, 1, MAX_PAS) and kept["num_pas"].tolist() == [3]
    # Slot order is the table's order (10,900, 10,150, 11,000), not sorted (spec §11 item 20).
    for slot, p in enumerate((10_900, 10_150, 11_000)):
        assert masks[p - 399 : p + 1, 0, slot].all() and masks[:, 0, slot].sum() == 400
    assert kept["min_pas_var_distance"].tolist() == [10_501 - 10_150]  # 0-based Start vs 1-based POS
    # A window holding fewer than 80 % of the gene's PAS keeps nothing.
    masks, kept = pas_masks(genes, pas, 10_500, 16_384, 10_501)
    assert kept.empty and masks.shape[1] == 0


def test_pas_table_errors(tmp_path):
    bad = tmp_path / "pas.tsv"
    bad.write_text("Chromosome\tStart\tEnd\tstrand\tgene_id\nchr1\t1\t2\t+\tG\n")
    with pytest.raises(AnnotationError, match="pas_strand"):
        read_pas_table(bad)
    bad.write_text("Chromosome\tStart\tEnd\tpas_strand\tgene_id\nchr1\t1\t2\tx\tG\n")
    with pytest.raises(AnnotationError, match="row 1"):
        read_pas_table(bad)


@pytest.mark.skipif(not GENCODE.exists(), reason="../shared/realdata not present")
def test_real_gencode_noc2l():
    ann = read_gtf(GENCODE)
    noc2l = ann.genes.set_index("gene_name").loc["NOC2L"]
    assert noc2l["Strand"] == "-" and noc2l["gene_type"] == "protein_coding"
    genes = ann.overlapping_genes("chr1", int(noc2l["Start"]) + 5_000, 1, 1, protein_coding=True)
    assert "NOC2L" in genes["gene_name"].tolist()
    masks, genes = ann.exon_masks("chr1", int(noc2l["End"]) - 8_000, 16_384)
    assert "NOC2L" in genes["gene_name"].tolist() and masks.any(axis=0).all()
