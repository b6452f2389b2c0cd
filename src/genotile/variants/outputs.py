"""Write variant scores: tidy Parquet per scorer, a variant x track Zarr matrix, failures.

Layout of a scoring run's output folder::

    scores/<scorer-slug>.parquet     tidy rows (columns ``engine.SCORE_COLUMNS``), one file per scorer
    scores.zarr/<scorer-slug>        float32 [variant, track] (xarray-readable), one array per scorer
    failures.parquet                 (variant, scorer) pairs that could not be scored, with the reason

Shards of a cohort write their own part files (``write_shard``); ``merge_shards`` streams them into
the final files without holding the cohort in memory. The Zarr matrix holds, for gene- and
junction-level scorers, the row of largest ``|score|`` among the variant's genes/junctions (signed);
the Parquet keeps every row.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genotile.atomic import replace_path
from genotile.variants.engine import FAILURE_COLUMNS, ScoringResult

__all__ = ["merge_shards", "read_scores", "scorer_slug", "write_matrix", "write_shard"]


_SIDE_FILES = ("failures.parquet", "tracks.parquet")


def shard_tracks(shards: Sequence[str | os.PathLike[str]]) -> dict[str, pd.DataFrame]:
    """Per scorer slug, the track table the shards were scored with (from the first shard that has one)."""
    for folder in shards:
        path = Path(folder) / "tracks.parquet"
        if path.exists():
            table = pd.read_parquet(path)
            return {slug: t.drop(columns="scorer").reset_index(drop=True) for slug, t in table.groupby("scorer", sort=False)}
    return {}


def scorer_slug(name: str) -> str:
    """File-system name of a scorer id: ``CenterMask|DNASE|501|DIFF_MEAN`` -> ``CenterMask.DNASE.501.DIFF_MEAN``."""
    return ".".join(part or "-" for part in name.split("|"))


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False, compression="zstd")
    os.replace(tmp, path)


def write_shard(result: ScoringResult, folder: str | os.PathLike[str]) -> Path:
    """One shard's scores (``<slug>.parquet`` per scorer), failures and stats, built beside and renamed in."""
    final = Path(folder)

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        for name, table in result.scores.items():
            table.to_parquet(tmp / f"{scorer_slug(name)}.parquet", index=False, compression="zstd")
        result.failures.to_parquet(tmp / "failures.parquet", index=False, compression="zstd")
        track_tables = [t.assign(scorer=scorer_slug(name)) for name, t in result.tracks.items()]
        if track_tables:
            pd.concat(track_tables, ignore_index=True).to_parquet(tmp / "tracks.parquet", index=False)
        (tmp / "stats.json").write_text(json.dumps({**result.stats, "scorers": sorted(result.scores)}, indent=1))

    replace_path(final, build)
    return final


#: Rows per row group of a merged scorer table. Fixed, so the merged file is the same bytes however the
#: variants were cut into shards (one row group per shard would make it depend on the shard layout).
MERGED_ROW_GROUP = 65_536


def _write_full_row_groups(writer: pq.ParquetWriter, pending: list[pa.Table]) -> tuple[list[pa.Table], int]:
    """Write every complete ``MERGED_ROW_GROUP`` of the buffered tables; return the remainder."""
    table = pa.concat_tables(pending)
    full = table.num_rows - table.num_rows % MERGED_ROW_GROUP
    for start in range(0, full, MERGED_ROW_GROUP):
        writer.write_table(table.slice(start, MERGED_ROW_GROUP))
    rest = table.slice(full)
    return ([rest] if rest.num_rows else []), rest.num_rows


def merge_shards(shards: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 failures_path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Stream every shard's per-scorer parts into ``out/scores/<slug>.parquet`` and the failures table.

    The failures go to ``failures_path`` (default ``out/failures.parquet``; the workflow declares it,
    and on cloud runs a declared file lives apart from the mirrored folders). Returns rows per scorer.
    Shards must come in variant order (the Zarr matrix relies on it).
    """
    out = Path(out)
    folders = [Path(s) for s in shards]
    slugs = sorted({p.stem for f in folders for p in f.glob("*.parquet") if p.name not in _SIDE_FILES})
    counts: dict[str, int] = {}
    for slug in slugs:
        target = out / "scores" / f"{slug}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        writer = None
        pending: list[pa.Table] = []
        buffered = n = 0
        for folder in folders:
            part = folder / f"{slug}.parquet"
            if not part.exists():
                continue
            table = pq.read_table(part)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            pending.append(table.cast(writer.schema))
            buffered += table.num_rows
            n += table.num_rows
            if buffered >= MERGED_ROW_GROUP:
                pending, buffered = _write_full_row_groups(writer, pending)
        if writer is not None:
            if buffered:
                writer.write_table(pa.concat_tables(pending))
            writer.close()
            os.replace(tmp, target)
        counts[slug] = n
    failures = [pd.read_parquet(f / "failures.parquet") for f in folders if (f / "failures.parquet").exists()]
    frame = pd.concat(failures, ignore_index=True) if failures else pd.DataFrame(columns=list(FAILURE_COLUMNS))
    _write_parquet(frame, Path(failures_path) if failures_path is not None else out / "failures.parquet")
    return counts


def read_scores(folder: str | os.PathLike[str], scorer: str) -> pd.DataFrame:
    """The tidy table of one scorer (id or slug) from a merged output folder."""
    slug = scorer if "|" not in scorer else scorer_slug(scorer)
    return pd.read_parquet(Path(folder) / "scores" / f"{slug}.parquet")


def strongest_per_track(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, track): the gene/junction row with the largest ``|score|`` (NaN ignored)."""
    if table.empty:
        return table
    order = table.assign(_abs=table["score"].abs().fillna(-1.0)).sort_values("_abs", ascending=False, kind="stable")
    return order.drop_duplicates(["variant_id", "track_index"]).drop(columns="_abs")


def write_matrix(
    folder: str | os.PathLike[str],
    variant_ids: Sequence[str],
    tracks: Mapping[str, pd.DataFrame],
    chunk_variants: int = 4096,
) -> Path:
    """``scores.zarr``: per scorer a float32 ``[variant, track]`` array over all ``variant_ids`` (NaN = not scored).

    ``tracks[slug]`` gives the track table (``track_index``, ``name``) of each scorer; scores are read
    back from ``folder/scores/<slug>.parquet`` one scorer at a time.
    """
    import xarray as xr
    import zarr

    folder = Path(folder)
    index = pd.Index(list(variant_ids))
    final = folder / "scores.zarr"

    def build(tmp: Path) -> None:
        for slug, track_table in tracks.items():
            path = folder / "scores" / f"{slug}.parquet"
            cols = track_table["track_index"].to_numpy(np.int64)
            matrix = np.full((len(index), len(cols)), np.nan, np.float32)
            if path.exists():
                table = strongest_per_track(pd.read_parquet(path, columns=["variant_id", "track_index", "score"]))
                rows = index.get_indexer(table["variant_id"])
                col_of = pd.Index(cols).get_indexer(table["track_index"])
                ok = (rows >= 0) & (col_of >= 0)
                matrix[rows[ok], col_of[ok]] = table["score"].to_numpy(np.float32)[ok]
            array = xr.DataArray(
                matrix, dims=("variant", "track"),
                coords={"variant": np.asarray(index, dtype=str), "track": track_table["name"].astype(str).to_numpy(),
                        "track_index": ("track", cols)},
                name="score", attrs={"scorer": slug, "reduction": "largest |score| over genes/junctions"},
            )
            chunks = {"variant": min(chunk_variants, max(1, len(index))), "track": max(1, len(cols))}
            array.to_dataset().chunk(chunks).to_zarr(tmp, group=slug, mode="a", consolidated=False)
        with warnings.catch_warnings():  # consolidated metadata is an xarray convention outside the v3 spec
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(tmp))

    replace_path(final, build)
    return final
