"""genotile.config_checks: config problems that stop a run before its first job, naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from genotile.config_checks import config_notes, config_problems, type_problems

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
METADATA = ROOT.parent / "shared" / "alphagenome" / "metadata"


def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, str(SCHEMA))
    return config


def test_the_demo_config_has_no_problem():
    assert config_problems(validated(DEMO), SCHEMA, has_gtf=True, has_pas=True) == []


def test_a_minimal_user_config_takes_the_schema_defaults_not_the_demos():
    config = validated({"run": "ecoli", "genome": {"fasta": "ecoli.fa"}, "tracks": [{"output": "dnase", "indices": [0]}]})
    assert config["tiling"]["window_bp"] == 1_048_576 and config["tiling"]["owned_bp"] == 524_288
    assert config["variants"]["cohorts"] == {}  # no demo cohort comes along
    assert config_problems(config, SCHEMA, has_gtf=False, has_pas=False) == []


def test_a_float_where_an_integer_belongs_is_named():
    config = validated({**DEMO, "tiling": {**DEMO["tiling"], "window_bp": 16384.0}})
    assert type_problems(config, SCHEMA) == ["tiling.window_bp: 16384.0 is not an integer (write 16384)"]
    assert config_problems(config, SCHEMA, True, True) == type_problems(config, SCHEMA)


def test_a_variants_only_config_is_valid_and_an_empty_one_is_not():
    variants_only = validated({"run": "v", "genome": {"fasta": "g.fa"}, "variants": {"cohorts": {"c": "c.vcf.gz"}}})
    assert variants_only["tracks"] == []
    assert config_problems(variants_only, SCHEMA, has_gtf=True, has_pas=True) == []
    nothing = validated({"run": "v", "genome": {"fasta": "g.fa"}})
    assert config_problems(nothing, SCHEMA, True, True)[0].startswith("nothing to do: `tracks` is empty")


def test_sizes_that_do_not_fit_are_named():
    config = validated({**DEMO, "tiling": {**DEMO["tiling"], "window_bp": 16384, "owned_bp": 32768}})
    (problem,) = config_problems(config, SCHEMA, True, True)
    assert problem.startswith("tiling.window_bp / tiling.owned_bp:") and "larger than window_bp" in problem


def test_a_store_chunk_that_does_not_divide_the_owned_size_is_named():
    config = validated({**DEMO, "store": {**DEMO.get("store", {}), "chunk_bp": 6144}})
    (problem,) = config_problems(config, SCHEMA, True, True)
    assert problem.startswith("store.chunk_bp = 6,144 does not divide tiling.owned_bp = 8,192")
    assert "use a chunk_bp that divides 8,192" in problem
    fine = validated({**DEMO, "store": {**DEMO.get("store", {}), "chunk_bp": 4096}})
    assert config_problems(fine, SCHEMA, True, True) == []


def test_an_explicit_gene_scorer_without_a_gtf_stops_the_recommended_set_skips_them():
    explicit = validated({**DEMO, "variants": {**DEMO["variants"], "scorers": [{"scorer": "GeneMaskLFC", "output": "RNA_SEQ"}]}})
    (problem,) = config_problems(explicit, SCHEMA, has_gtf=False, has_pas=False)
    assert "GeneMaskLFC need gene annotation: set annotation.gtf" in problem
    recommended = validated(DEMO)
    assert config_problems(recommended, SCHEMA, has_gtf=False, has_pas=False) == []
    (note,) = config_notes(recommended, has_gtf=False, has_pas=False)
    assert note.startswith("no gene annotation (annotation.gtf): the GeneMaskActive, GeneMaskLFC") and "skipped" in note
    assert config_notes(recommended, has_gtf=True, has_pas=False) == [
        "no PAS table (annotation.pas): the Polyadenylation scorer is skipped"]


def test_a_bad_scorer_entry_is_named_with_its_index():
    config = validated({**DEMO, "variants": {**DEMO["variants"], "scorers": [
        "recommended", {"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "MEDIAN"}]}})
    (problem,) = config_problems(config, SCHEMA, True, True)
    assert problem.startswith("variants.scorers[1]: aggregation 'MEDIAN' unknown")


@pytest.mark.skipif(not METADATA.is_dir(), reason="needs ../shared/alphagenome/metadata")
def test_a_track_filter_that_matches_nothing_stops_before_any_job():
    config = validated({**DEMO, "model": {**DEMO["model"], "metadata": str(METADATA)},
                        "tracks": [{"output": "dnase", "biosample_name": "no such biosample"}]})
    (problem,) = config_problems(config, SCHEMA, True, True)
    assert problem.startswith("tracks: ")


def test_a_training_config_is_checked_before_any_job(tmp_path):
    config = validated({"run": "t", "train": {"tracks_sheet": str(tmp_path / "none.tsv"), "window_bp": 10000}})
    problems = config_problems(config, SCHEMA, False, False)  # a tracks sheet alone is something to do
    assert len(problems) == 2, problems
    assert problems[0].startswith("train: train.window_bp = 10,000 must be a positive multiple of 2,048 bp")
    assert problems[1] == f"train: tracks sheet {tmp_path / 'none.tsv'} does not exist; set train.tracks_sheet to a TSV " \
                          "(config/README.md)"


@pytest.mark.parametrize(("rows", "expected"), [
    ([["rna", "rna_seq", "+", "a.bw"]], r"line 2: track 'rna' \(rna_seq\) has a \+ strand file but no - strand partner; add a row"),
    ([["dn", "dnasee", ".", "a.bw"]], r"line 2 \(track 'dn'\): output_type 'dnasee' is not a genome-track output; use one of"),
    ([["dn", "dnase", ".", "a.bw"], ["dn", "dnase", ".", "b.bw"]], r"line 3: track 'dn' .* is already on line 2; give each"),
])
def test_a_bad_tracks_sheet_stops_before_any_job(tmp_path, rows, expected):
    import re

    for name in ("a.bw", "b.bw"):
        (tmp_path / name).write_bytes(b"")  # existence is all the sheet checks; the bigWigs' content is prepare_targets'
    sheet = tmp_path / "tracks.tsv"
    sheet.write_text("name\toutput_type\tstrand\tfile_path\tbiosample\tassay\n"
                     + "".join(f"{n}\t{o}\t{s}\t{tmp_path / f}\tx\ty\n" for n, o, s, f in rows))
    config = validated({"run": "t", "train": {"tracks_sheet": str(sheet), "window_bp": 4096}})
    (problem,) = config_problems(config, SCHEMA, False, False)
    assert problem.startswith(f"train: tracks sheet {sheet}, line ") and re.search(expected, problem), problem


def test_a_training_window_off_the_loss_segment_stops_before_any_job(tmp_path):
    sheet = tmp_path / "tracks.tsv"
    (tmp_path / "a.bw").write_bytes(b"")
    sheet.write_text(f"name\toutput_type\tstrand\tfile_path\tbiosample\tassay\ndn\tdnase\t.\t{tmp_path / 'a.bw'}\tx\ty\n")
    config = validated({"run": "t", "train": {"tracks_sheet": str(sheet), "window_bp": 196608}})
    assert config_problems(config, SCHEMA, False, False) == [
        "train: train.window_bp = 196,608: a window longer than 131,072 bp must be a whole number of the loss's "
        "131,072-bp segments (the reference's), e.g. 131,072 or 262,144"]


def test_a_bad_ism_region_stops_naming_its_key_and_the_fix(tmp_path):
    bad = validated({**DEMO, "ism": {**DEMO["ism"], "regions": {"a": "demo1:100", "b": "demo1:1-20000"}}})
    problems = config_problems(bad, SCHEMA, True, True)
    assert len(problems) == 2
    assert problems[0].startswith("ism.regions.a: 'demo1:100' is not a region; write contig:start-end")
    assert problems[1].startswith("ism.regions.b: ") and "at most 10,000 bp" in problems[1]
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c1\n" + "A" * 20000 + "\n>c2\n" + "A" * 100 + "\n")
    (tmp_path / "g.fa.fai").write_text("c1\t20000\t4\t20000\t20001\nc2\t100\t20009\t100\t101\n")
    on_fasta = validated({**DEMO, "genome": {"fasta": str(fasta)}, "tracks": [], "variants": {"cohorts": {}},
                          "ism": {**DEMO["ism"], "regions": {"ok": "c1:10-20", "gone": "c9:1-10", "small": "c2:1-10"}}})
    problems = config_problems(on_fasta, SCHEMA, True, True)
    assert len(problems) == 2, problems
    assert "ism.regions.gone: contig 'c9'" in problems[0] and "ism.regions.small: contig c2 is 100 bp" in problems[1]


def test_an_ism_only_config_is_valid_and_its_explicit_gene_scorer_needs_a_gtf():
    ism_only = validated({"run": "i", "genome": {"fasta": "g.fa"}, "ism": {"regions": {"r": "chr1:1-10"}}})
    assert ism_only["ism"]["window_bp"] == 131072 and ism_only["ism"]["scorers"] == ["recommended"]
    assert config_problems(ism_only, SCHEMA, has_gtf=False, has_pas=False) == []
    assert config_notes(ism_only, False, False) == [
        "ism: no gene annotation (annotation.gtf): the GeneMaskActive, GeneMaskLFC, GeneMaskSplicing, Polyadenylation, "
        "SpliceJunction scorer(s) are skipped"]
    genes = validated({**ism_only, "ism": {**ism_only["ism"], "scorers": [{"scorer": "GeneMaskLFC", "output": "RNA_SEQ"}]}})
    (problem,) = config_problems(genes, SCHEMA, has_gtf=False, has_pas=False)
    assert problem.startswith("ism.scorers: GeneMaskLFC need gene annotation")
    none = validated({"run": "i", "genome": {"fasta": "g.fa"}, "ism": {"regions": None}})
    assert config_problems(none, SCHEMA, True, True)[0].startswith("nothing to do")


def test_a_sheet_with_splice_samples_has_no_problem_and_adds_no_track(tmp_path):
    """SJ.out.tab rows train the existing splice heads: the track selection sees only the bigWig rows' new tracks."""
    (tmp_path / "a.bw").write_bytes(b"")
    (tmp_path / "s.SJ.out.tab").write_text("")
    sheet = tmp_path / "tracks.tsv"
    sheet.write_text("name\toutput_type\tstrand\tfile_path\tbiosample\tassay\n"
                     f"dn\tdnase\t.\t{tmp_path / 'a.bw'}\tx\ty\nliver\tsplice_junctions\t.\t{tmp_path / 's.SJ.out.tab'}\tx\ty\n")
    for tracks in ([{"output": "dnase", "name_regex": "^dn$"}], [{"output": "splice_junctions", "indices": [0]}]):
        config = validated({**DEMO, "model": {**DEMO["model"], "checkpoint": "finetuned"}, "tracks": tracks,
                            "train": {"tracks_sheet": str(sheet), "window_bp": 4096}})
        assert config_problems(config, SCHEMA, True, True) == []
    only_splice = tmp_path / "splice.tsv"
    only_splice.write_text("name\toutput_type\tstrand\tfile_path\tbiosample\tassay\n"
                           f"liver\tsplice_junctions\t.\t{tmp_path / 's.SJ.out.tab'}\tx\ty\n")
    config = validated({**DEMO, "model": {**DEMO["model"], "checkpoint": "finetuned"},
                        "tracks": [{"output": "splice_junctions", "indices": [0]}],
                        "train": {"tracks_sheet": str(only_splice), "window_bp": 4096}})
    assert config_problems(config, SCHEMA, True, True) == []


def test_the_gene_loss_weight_needs_a_gtf_and_rna_seq_tracks(tmp_path):
    """train.gene_loss_weight > 0: without annotation.gtf, or with a sheet of no rna_seq track, the run stops up front."""
    for name in ("p.bw", "m.bw", "a.bw"):
        (tmp_path / name).write_bytes(b"")
    header = "name\toutput_type\tstrand\tfile_path\tbiosample\tassay\n"
    rna = tmp_path / "rna.tsv"
    rna.write_text(header + f"r\trna_seq\t+\t{tmp_path / 'p.bw'}\tx\ty\nr\trna_seq\t-\t{tmp_path / 'm.bw'}\tx\ty\n")
    dnase = tmp_path / "dnase.tsv"
    dnase.write_text(header + f"dn\tdnase\t.\t{tmp_path / 'a.bw'}\tx\ty\n")
    train = lambda sheet, weight: validated({"run": "t", "train": {"tracks_sheet": str(sheet), "window_bp": 4096,
                                                                  "gene_loss_weight": weight}})
    assert config_problems(train(rna, 0.5), SCHEMA, True, False) == []
    assert config_problems(train(dnase, 0), SCHEMA, False, False) == []  # off: nothing is needed
    assert config_problems(train(rna, 0.5), SCHEMA, False, False) == [
        "train.gene_loss_weight = 0.5 needs gene annotation for its gene masks: set annotation.gtf (a GENCODE/Ensembl "
        "GTF), or set train.gene_loss_weight: 0"]
    assert config_problems(train(dnase, 2), SCHEMA, True, False) == [
        f"train.gene_loss_weight = 2 applies to rna_seq tracks, but {dnase} has none; fix: add rna_seq rows to "
        "train.tracks_sheet, or set train.gene_loss_weight: 0"]
    with pytest.raises(Exception, match="gene_loss_weight"):
        train(rna, -1)  # the schema's minimum


def test_dropout_outside_mode_full_stops_the_run(tmp_path):
    """Only the train-mode tower (mode full) has dropout: a rate in mode heads or lora would be silently unused."""
    (tmp_path / "a.bw").write_bytes(b"")
    sheet = tmp_path / "dnase.tsv"
    sheet.write_text("name\toutput_type\tstrand\tfile_path\tbiosample\tassay\n" f"dn\tdnase\t.\t{tmp_path / 'a.bw'}\tx\ty\n")
    train = lambda mode, rate: validated({"run": "t", "train": {"tracks_sheet": str(sheet), "window_bp": 4096,
                                                               "mode": mode, "dropout_rate": rate}})
    assert config_problems(train("full", 0.1), SCHEMA, False, False) == []
    assert config_problems(train("heads", 0), SCHEMA, False, False) == []
    assert config_problems(train("lora", 0.1), SCHEMA, False, False) == [
        "train.dropout_rate = 0.1 acts in mode full only (the train-mode tower), but train.mode is lora; fix: set "
        "train.dropout_rate: 0, or train.mode: full"]
    with pytest.raises(Exception, match="dropout_rate"):
        train("full", 1)  # the schema's bound: every activation dropped
