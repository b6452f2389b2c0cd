"""Score outputs (Parquet, Zarr matrix, shard merge), dosages from genotypes, and summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from genotile.sequence.demo import write_demo_genome, write_demo_vcf
from genotile.sequence.fasta import Genome
from genotile.settings import MergeSettings
from genotile.variants import outputs, summaries
from genotile.variants.engine import SCORE_COLUMNS, ScoringResult
from genotile.variants.genotypes import dosage_matrix
from genotile.variants.normalize import normalize_vcf

TRACKS = pd.DataFrame({"track_index": [0, 2, 5], "name": ["t0", "t2", "t5"], "strand": ["+", "-", "."]})


def _rows(variant: str, scorer: str, genes: list[str], scores: list[list[float]]) -> pd.DataFrame:
    rows = []
    for gene, values in zip(genes, scores):
        for (_, t), value in zip(TRACKS.iterrows(), values):
            rows.append((variant, "c1", 10, "A", "G", scorer, gene, gene, "+" if gene else "", -1, -1,
                         t.track_index, t["name"], t.strand, np.float32(value)))
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS)).astype({"score": np.float32})


def _result(variants: list[str], offset: float) -> ScoringResult:
    lfc = pd.concat([_rows(v, "GeneMaskLFC|RNA_SEQ||", ["g1", "g2"], [[1 + offset, -5, 0], [-2, 3, np.nan]]) for v in variants])
    cm = pd.concat([_rows(v, "CenterMask|DNASE|501|DIFF_MEAN", [""], [[offset, 0.5, -0.25]]) for v in variants])
    failures = pd.DataFrame({"variant_id": ["x"], "chrom": ["c1"], "pos": [1], "ref": ["A"], "alt": ["C"], "scorer": ["*"],
                             "reason": ["window_failed"], "detail": ["d"]})
    return ScoringResult({"GeneMaskLFC|RNA_SEQ||": lfc.reset_index(drop=True), "CenterMask|DNASE|501|DIFF_MEAN": cm.reset_index(drop=True)},
                         failures, {"seconds": 1.0}, {"GeneMaskLFC|RNA_SEQ||": TRACKS, "CenterMask|DNASE|501|DIFF_MEAN": TRACKS})


def test_shards_merge_into_one_table_per_scorer_and_a_matrix(tmp_path):
    a = outputs.write_shard(_result(["v1", "v2"], 0.0), tmp_path / "s0")
    b = outputs.write_shard(_result(["v3"], 10.0), tmp_path / "s1")
    counts = outputs.merge_shards([a, b], tmp_path / "out")
    assert counts == {"CenterMask.DNASE.501.DIFF_MEAN": 9, "GeneMaskLFC.RNA_SEQ.-.-": 18}
    lfc = outputs.read_scores(tmp_path / "out", "GeneMaskLFC|RNA_SEQ||")
    assert lfc["variant_id"].unique().tolist() == ["v1", "v2", "v3"] and len(pd.read_parquet(tmp_path / "out/failures.parquet")) == 2
    outputs.write_matrix(tmp_path / "out", ["v1", "v2", "v3", "v4"], outputs.shard_tracks([a, b]))
    ds = xr.open_zarr(tmp_path / "out/scores.zarr", group="GeneMaskLFC.RNA_SEQ.-.-")
    m = ds["score"].values
    # Per (variant, track) the gene with the largest |score|, sign kept; NaN for an unscored variant.
    np.testing.assert_array_equal(m[0], [-2, -5, 0])
    np.testing.assert_array_equal(m[2], [11, -5, 0])
    assert np.isnan(m[3]).all() and ds["track"].values.tolist() == ["t0", "t2", "t5"]


def test_summaries_per_variant_gene_and_sample():
    table = _result(["v1", "v2"], 0.0).scores["GeneMaskLFC|RNA_SEQ||"]
    top = summaries.per_variant(table, top_k=2)
    assert top[top["variant_id"] == "v1"]["score"].tolist() == [-5, 3] and top["rank"].tolist() == [1, 2, 1, 2]
    genes = summaries.per_gene(table)
    assert genes.set_index("gene_id").loc["g1", "max_abs_score"] == 5 and genes["n_variants"].tolist() == [2, 2]
    effects = {"lfc": summaries.variant_effects(table, by_gene=True)}
    dosage = np.array([[1, 0, 2], [0, 0, 1]], np.int8)  # v1, v2 x samples a, b, c
    carried, per_sample = summaries.per_sample(pd.Series(["v1", "v2"]), dosage, ["a", "b", "c"], effects, {"lfc": 4.0})
    assert carried.values.tolist() == [["a", "v1", 1], ["c", "v1", 2], ["c", "v2", 1]]
    # Only g1 of v1/v2 reaches |score| 5 >= 4: carried by a (1 copy) and c (2 copies of v1, 1 of v2).
    assert per_sample[["sample", "gene_id", "n_high_effect", "dosage_sum"]].values.tolist() == [["a", "g1", 1, 1], ["c", "g1", 2, 3]]


def test_dosages_of_split_multiallelic_records(tmp_path):
    fasta = write_demo_genome(tmp_path / "demo.fa")
    vcf = write_demo_vcf(tmp_path / "demo.vcf", fasta)
    variants, _ = normalize_vcf(vcf, Genome(fasta))
    dosage, missing, samples = dosage_matrix(vcf, variants)
    assert samples == ["S01", "S02", "S03", "S04", "S05", "S06"] and dosage.shape == (len(variants), 6)
    lines = [line.split("\t") for line in vcf.read_text().splitlines() if not line.startswith("#")]
    for row, variant in variants.iterrows():
        fields = lines[int(variant.record_index)]
        for s, gt in enumerate(fields[9:]):
            alleles = gt.replace("|", "/").split("/")
            assert dosage[row, s] == sum(a == str(variant.allele_index) for a in alleles)
            assert missing[row, s] == ("." in alleles)
    assert (variants["allele_index"] == 2).any()  # a split multi-allelic record is covered


def test_figures_are_written(tmp_path):
    table = _result(["v1", "v2"], 0.0).scores["CenterMask|DNASE|501|DIFF_MEAN"]
    effects = {"cm": summaries.variant_effects(table, by_gene=False)}
    burden = summaries.sample_burden(pd.Series(["v1", "v2"]), np.ones((2, 2), np.int8), ["a", "b"], effects)
    paths = summaries.figures(effects, burden, tmp_path)
    assert [p.name for p in paths] == ["effect_distributions.png", "sample_burden.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


@pytest.mark.parametrize("name", ["CenterMask|DNASE|501|DIFF_MEAN", "GeneMaskLFC|RNA_SEQ||"])
def test_scorer_slug_is_a_plain_file_name(name):
    slug = outputs.scorer_slug(name)
    assert "|" not in slug and "/" not in slug and slug.split(".")[0] == name.split("|")[0]


def test_merged_table_is_the_same_bytes_however_the_variants_were_sharded(tmp_path, monkeypatch):
    """Row groups have a fixed size, so 1 shard or 3 give the same file (determinism across job layout)."""
    from genotile.variants import outputs

    monkeypatch.setattr(outputs, "MERGED_ROW_GROUP", 4)
    rows = pd.DataFrame({"variant_id": [f"v{i}" for i in range(11)], "score": np.arange(11, dtype=np.float32)})

    def merged(cuts: list[int], name: str) -> bytes:
        folders = []
        for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(rows)])):
            folder = tmp_path / name / f"shard_{i}"
            folder.mkdir(parents=True)
            rows.iloc[a:b].to_parquet(folder / "CenterMask.DNASE.501.DIFF_LOG2_SUM.parquet", index=False)
            folders.append(folder)
        assert outputs.merge_shards(folders, tmp_path / name / "out") == {"CenterMask.DNASE.501.DIFF_LOG2_SUM": 11}
        return (tmp_path / name / "out" / "scores" / "CenterMask.DNASE.501.DIFF_LOG2_SUM.parquet").read_bytes()

    one = merged([], "one")
    assert merged([3, 9], "three") == one == merged([1, 2, 5], "four")
    assert pd.read_parquet(tmp_path / "one" / "out" / "scores" / "CenterMask.DNASE.501.DIFF_LOG2_SUM.parquet").equals(rows)


# ---------------------------------------------------------------- folder outputs hold what their done-file lists
CM, LFC = "CenterMask|DNASE|501|DIFF_MEAN", "GeneMaskLFC|RNA_SEQ||"
CM_SLUG, LFC_SLUG = outputs.scorer_slug(CM), outputs.scorer_slug(LFC)


def _shard(tmp_path, name: str, variants: list[str], offset: float = 0.0, keep: tuple[str, ...] = (CM, LFC)) -> tuple[str, str]:
    """A shard folder scored with the scorers ``keep`` and its done-file (as steps.score_shard writes it)."""

    full = _result(variants or ["none"], offset)
    rows = slice(None) if variants else slice(0, 0)  # no variants: empty tables, as the engine writes them
    result = ScoringResult({k: full.scores[k].iloc[rows].astype(object).astype({"score": np.float32}) if not variants
                            else full.scores[k] for k in keep}, full.failures, {"seconds": 1.0}, {k: full.tracks[k] for k in keep})
    folder = outputs.write_shard(result, tmp_path / "shards" / name)
    done = tmp_path / "shards" / f"{name}.done"
    done.write_text(json.dumps({"files": sorted(p.name for p in folder.iterdir())}))
    return str(folder), str(done)


def _variants(tmp_path, ids: list[str]) -> str:
    path = tmp_path / "variants.parquet"
    pd.DataFrame({"variant_id": ids, "chrom": "c1", "pos": 10, "ref": "A", "alt": "G"}).to_parquet(path)
    return str(path)


def _merge(tmp_path, shards: list[tuple[str, str]], variants: list[str], **kwargs) -> dict:

    from genotile.variants.steps import merge_scores

    out = tmp_path / "cohort"
    settings = kwargs.pop("settings", None)
    merge_scores(settings, _variants(tmp_path, variants), [s for s, _ in shards], str(out), str(out / "failures.parquet"),
          str(out / "scores.done.json"), shard_dones=[d for _, d in shards], **kwargs)
    return json.loads((out / "scores.done.json").read_text())


def test_merge_reads_only_the_files_a_shard_done_file_lists(tmp_path):
    folder, done = _shard(tmp_path, "shard_0", ["v1", "v2"])
    # A table an older run left in the shard folder, not in its listing: never merged.
    _result(["old"], 99.0).scores[CM].to_parquet(Path(folder) / "GeneMaskActive.RNA_SEQ.-.-.parquet")
    record = _merge(tmp_path, [(folder, done)], ["v1", "v2"])
    assert record["files"] == [f"scores/{CM_SLUG}.parquet", f"scores/{LFC_SLUG}.parquet"]
    assert sorted(p.name for p in (tmp_path / "cohort" / "scores").iterdir()) == [f"{CM_SLUG}.parquet", f"{LFC_SLUG}.parquet"]
    # A listed file that is gone: one message naming the folder, the done-file and the fix.
    (Path(folder) / f"{CM_SLUG}.parquet").unlink()
    with pytest.raises(outputs.MergeError, match=r"shard_0 lacks .*CenterMask.* re-run that score_shard job"):
        _merge(tmp_path, [(folder, done)], ["v1", "v2"])


def test_merge_removes_the_tables_and_groups_of_a_dropped_scorer(tmp_path):
    """Item 11: after variants.scorers changes, scores/ and scores.zarr hold only the new scorers."""
    first = _merge(tmp_path, [_shard(tmp_path, "shard_0", ["v1", "v2"])], ["v1", "v2"])
    assert [r["kind"] for r in first["scorers"]] == ["CenterMask", "GeneMaskLFC"]
    (tmp_path / "cohort" / "scores" / "stray.parquet").write_bytes(b"")  # any other file goes too
    second = _merge(tmp_path, [_shard(tmp_path, "shard_0", ["v1", "v2"], keep=(CM,))], ["v1", "v2"])
    cohort = tmp_path / "cohort"
    assert [p.name for p in (cohort / "scores").iterdir()] == [f"{CM_SLUG}.parquet"]
    import zarr

    assert sorted(name for name, _ in zarr.open_group(str(cohort / "scores.zarr"), mode="r").groups()) == [CM_SLUG]
    assert second["scorers"] == [{**outputs.scorer_record(CM), "rows": 6}]
    assert second["scorers"][0] | {"kind": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_MEAN"} == second["scorers"][0]
    assert second["matrix_groups"] == [CM_SLUG] and second["rows_per_scorer"] == {CM_SLUG: 6}


def test_merge_stops_when_shards_do_not_have_the_configured_scorers(tmp_path):
    settings = MergeSettings("human", ({"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_MEAN"},),
                             include_values=False)
    shard = _shard(tmp_path, "shard_0", ["v1"])  # scored with CM and LFC: a stale shard
    with pytest.raises(outputs.MergeError, match=r"were scored with .*GeneMaskLFC.* the config asks for .*forcerun score_shard"):
        _merge(tmp_path, [shard], ["v1"], settings=settings, has_gtf=True, has_pas=True)


def test_a_shard_with_no_rows_for_a_scorer_merges_with_one_that_has_rows(tmp_path):
    """Empty parts store text columns as Arrow null; the merged table takes its types from a part with rows."""
    empty, _ = _shard(tmp_path, "shard_0", [])
    full, _ = _shard(tmp_path, "shard_1", ["v3"])
    counts = outputs.merge_shards([empty, full], tmp_path / "out")
    assert counts == {CM_SLUG: 3, LFC_SLUG: 6}
    table = outputs.read_scores(tmp_path / "out", CM)
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert table["variant_id"].tolist() == ["v3"] * 3
    assert pq.read_schema(tmp_path / "out" / "scores" / f"{CM_SLUG}.parquet").field("chrom").type in (pa.string(), pa.large_string())


def test_an_empty_cohort_gets_empty_tables_and_matrix_groups(tmp_path, capsys):
    """Item 13: no shards (no variant to score) -> every configured scorer's empty table and group, a clear message."""
    settings = MergeSettings("human", ({"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_MEAN"},
                                       {"scorer": "GeneMaskLFC", "output": "RNA_SEQ"}), include_values=False)
    record = _merge(tmp_path, [], [], settings=settings, has_gtf=True)
    assert record["message"] == "no variants to score" and record["rows_per_scorer"] == {CM_SLUG: 0, LFC_SLUG: 0}
    assert "no variants to score" in capsys.readouterr().err
    table = outputs.read_scores(tmp_path / "cohort", LFC)
    assert table.empty and list(table.columns) == list(SCORE_COLUMNS)
    ds = xr.open_zarr(tmp_path / "cohort" / "scores.zarr", group=CM_SLUG)
    assert ds["score"].shape == (0, 0)
