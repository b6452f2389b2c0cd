"""HTML pages for the Snakemake report: the tiling (windows and what was skipped), the track selection and the
variant summaries, as tables a browser shows inline.

Why HTML: Snakemake's report shows images, PDFs and HTML inline and offers every other file (TSV, BED,
Parquet) only as a download; these pages are small views of those outputs (the run's own files stay
as they are, and are what scripts should read). Each page is written under a temporary name and
renamed (:func:`genotile.runtime.atomic.replace_path`).
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pandas as pd

from genotile.runtime.atomic import replace_path, write_text

__all__ = ["html_page", "report_summaries", "report_tables", "selection_table", "tiling_table"]

#: Rows of a summary table shown on its page (the largest ``|score|`` first); the Parquet file has them all.
TOP_ROWS: Final = 25
_STYLE: Final = (
    "body{font-family:sans-serif;font-size:13px;margin:1em}table{border-collapse:collapse;margin-bottom:1.5em}"
    "th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}caption{text-align:left;"
    "font-weight:bold;padding:4px 0}p{max-width:60em}"
)


def html_page(title: str, sections: Sequence[tuple[str, str, pd.DataFrame]]) -> str:
    """A standalone page: ``title`` and, per section, a heading, a sentence and a table (no external assets,
    so it renders the same inside the report's zip or its single HTML file)."""
    body = [f"<h2>{html.escape(title)}</h2>"]
    for heading, note, table in sections:
        body.append(f"<h3>{html.escape(heading)}</h3>")
        if note:
            body.append(f"<p>{html.escape(note)}</p>")
        body.append(table.to_html(index=False, na_rep="", border=0, float_format=lambda x: f"{x:.4g}"))
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def tiling_table(windows: pd.DataFrame, n_runs: pd.DataFrame) -> pd.DataFrame:
    """Per contig: windows, windows skipped because all N, batches, and the N runs (count and bp) of ``n_runs.bed``."""
    w = windows.assign(all_n=windows["all_n"].astype(bool), contig=windows["contig"].astype(str))
    per = w.groupby("contig", sort=False).agg(windows=("window", "size"), skipped_all_n=("all_n", "sum"),
                                               length_bp=("own_end", "max"), batches=("batch", "nunique"))
    runs = n_runs.assign(contig=n_runs["contig"].astype(str), bp=n_runs["end"] - n_runs["start"])
    nr = runs.groupby("contig", sort=False).agg(n_runs=("bp", "size"), n_bp=("bp", "sum"))
    out = per.join(nr, how="left").fillna({"n_runs": 0, "n_bp": 0}).astype({"n_runs": int, "n_bp": int})
    return out.reset_index()


def selection_table(store: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per stored track: output (head), resolution, track index and the track's metadata columns."""
    from genotile.report.track_plot import store_tracksets
    from genotile.tracks.store import open_tracks

    if not Path(store).exists():  # the selection has no 1-D track: no store (contact maps/junctions only)
        return pd.DataFrame(columns=["output", "resolution"])
    tree = open_tracks(store)
    frames = []
    for head, res in store_tracksets(tree):
        ds = tree[f"{head}/{res}"].to_dataset(inherit=False)
        columns = {name: ds.coords[name].values for name in ds.coords if ds.coords[name].dims == ("track",)}
        frame = pd.DataFrame(columns)
        frame.insert(0, "resolution", res)
        frame.insert(0, "output", head)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["output", "resolution"])


def _read_bed(path: str | os.PathLike[str]) -> pd.DataFrame:
    if Path(path).stat().st_size == 0:
        return pd.DataFrame({"contig": pd.Series(dtype=str), "start": pd.Series(dtype=int), "end": pd.Series(dtype=int)})
    return pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], names=["contig", "start", "end"],
                       dtype={"contig": str}, comment="#")


def report_tables(windows: str, n_runs: str, store: str, tiling_html: str, selection_html: str) -> None:
    """The workflow's ``report_tables`` step: the tiling page and the track-selection page of one run."""
    from genotile.runtime.tables import read_tsv

    table = read_tsv(windows)
    skipped = table[table["all_n"].astype(bool)]
    note = (f"{len(table):,} windows; {len(skipped):,} all-N window(s) skipped (not predicted, NaN in the store): "
            + (", ".join(f"{r.contig}:{r.start + 1:,}-{r.end:,}" for r in skipped.itertuples()) or "none"))
    write_text(tiling_html, html_page("Tiling: windows and what was skipped", [
        ("Per contig", note, tiling_table(table, _read_bed(n_runs))),
        ("Windows (windows.tsv)", "Owned regions partition each contig; all_n windows were not predicted.", table),
    ]))
    selection = selection_table(store)
    write_text(selection_html, html_page("Track selection (what the store holds)", [
        ("Stored tracks", f"{len(selection):,} tracks over {selection[['output', 'resolution']].drop_duplicates().shape[0]} "
         "output/resolution groups (genotile.open_tracks(path)['<output>/<res>bp/<contig>']).", selection),
    ]))


def report_summaries(summaries: str, out_dir: str) -> None:
    """The workflow's ``report_summaries`` step: the cohort's summary tables as one page, and its figures, in ``out_dir``.

    The figures are copied (byte for byte) because the summaries folder is not a declared output
    (rules declare done-files), and Snakemake's report only shows declared outputs.
    """
    from genotile.runtime.tables import read_parquet

    folder = Path(summaries)

    def top(name: str, by: str) -> pd.DataFrame:
        frame = read_parquet(folder / name)
        if by in frame and len(frame):
            frame = frame.reindex(frame[by].abs().sort_values(ascending=False, kind="stable").index)
        return frame.head(TOP_ROWS)

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        sections = [
            ("Strongest variant effects (summary_variants.parquet)",
             f"The top {TOP_ROWS} rows by |score| (each variant's top rows per scorer are in the file).",
             top("summary_variants.parquet", "score")),
            ("Genes (summary_genes.parquet)", f"The top {TOP_ROWS} genes by max |score| of the gene scorers.",
             top("summary_genes.parquet", "max_abs_score")),
            ("Samples (summary_samples.parquet)", f"The first {TOP_ROWS} samples.", top("summary_samples.parquet", "")),
        ]
        (tmp / "summaries.html").write_text(html_page(f"Variant summaries: {folder.parent.name}", sections))
        figures = folder / "figures"
        if figures.is_dir():
            for png in sorted(figures.glob("*.png")):
                shutil.copyfile(png, tmp / png.name)

    replace_path(out_dir, build)
