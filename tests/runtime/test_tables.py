"""Tables read back by the workflow keep contig names as text (GRCh37/Ensembl names look like numbers)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from genotile.runtime.tables import read_parquet, read_tsv
from genotile.tracks.tiling import tile_windows, windows_table

CONTIGS = {"1": 30_000, "20": 20_000, "22:20000001-21000000": 12_000, "MT": 16_569}


@pytest.mark.parametrize("contigs", [{"1": 30_000, "20": 20_000}, CONTIGS], ids=["numeric", "mixed"])
def test_windows_table_round_trip_keeps_contigs_as_text(tmp_path, contigs):
    table = windows_table(tile_windows(contigs, 16_384, 8_192), contigs, 2)
    table.to_csv(tmp_path / "windows.tsv", sep="\t", index=False)
    read = read_tsv(tmp_path / "windows.tsv")
    assert list(dict.fromkeys(read["contig"])) == list(contigs)
    assert all(type(c) is str for c in read["contig"])
    assert read["start"].dtype.kind == "i" and read.equals(table)


def test_pandas_alone_reads_numeric_names_as_numbers(tmp_path):
    """Why genotile.runtime.tables exists: the old read-back turned contig '20' into the integer 20."""
    pd.DataFrame({"contig": ["1", "20"]}).to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    assert pd.read_csv(tmp_path / "w.tsv", sep="\t")["contig"].tolist() == [1, 20]
    assert read_tsv(tmp_path / "w.tsv")["contig"].tolist() == ["1", "20"]


@pytest.mark.parametrize("names", [["1", "20"], ["20"], ["22:20000001-21000000", "MT"], ["01", "1"]])
def test_read_tsv_never_turns_names_into_numbers(names):
    text = "shard\tchrom\tpos\tspan\n" + "".join(f"{i}\t{n}\t{i + 1}\t{n}:1-{n}:9\n" for i, n in enumerate(names))
    read = read_tsv(io.StringIO(text))  # a handle, as Snakemake's checkpoint .open() gives
    assert read["chrom"].tolist() == names and read["span"].tolist() == [f"{n}:1-{n}:9" for n in names]
    assert read["shard"].tolist() == list(range(len(names)))


def test_read_parquet_repairs_numeric_contig_columns(tmp_path):
    pd.DataFrame({"chrom": [1, 20], "pos": [5, 6]}).to_parquet(tmp_path / "v.parquet")
    read = read_parquet(tmp_path / "v.parquet")
    assert read["chrom"].tolist() == ["1", "20"] and read["pos"].tolist() == [5, 6]
    pd.DataFrame({"contig": ["20", "MT"]}).to_parquet(tmp_path / "j.parquet")
    assert read_parquet(tmp_path / "j.parquet", columns=["contig"])["contig"].tolist() == ["20", "MT"]


def test_a_pas_parquet_with_numeric_chromosomes_reads_as_text(tmp_path):
    from genotile.variants.annotation import read_pas_table

    pd.DataFrame({"Chromosome": [20, 20], "Start": [10, 50], "End": [11, 51], "pas_strand": ["+", "-"],
                  "gene_id": ["ENSG1.2", "ENSG1.2"]}).to_parquet(tmp_path / "pas.parquet")
    table = read_pas_table(tmp_path / "pas.parquet")
    assert table.by_gene["ENSG1"]["Chromosome"].tolist() == ["20", "20"]
