"""Write variant scores: tidy Parquet per scorer, a variant x track Zarr matrix, failures.

Layout of a scoring run's output folder::

    scores/<scorer-slug>.parquet     tidy rows (columns ``engine.SCORE_COLUMNS``), one file per scorer
    scores.zarr/<scorer-slug>        float32 [variant, track] (xarray-readable), one array per scorer
    failures.parquet                 (variant, scorer) pairs that could not be scored, with the reason

Shards of a cohort write their own part files (``write_shard``); ``merge_shards`` streams them into
the final files without holding the cohort in memory. The Zarr matrix holds, for gene- and
junction-level scorers, the row of largest ``|score|`` among the variant's genes/junctions (signed);
the Parquet keeps every row.

A folder output holds exactly what its run wrote: ``scores/`` and ``scores.zarr`` are built whole
beside their final names and swapped in, so a scorer dropped from the config leaves no stale table
behind, and readers take the list of tables from the done-file (:func:`merged_scorers`), never
from a glob. Shard folders are read the same way: only the files their done-file lists.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genotile.runtime.atomic import replace_path, write_parquet
from genotile.runtime.tables import read_parquet
from genotile.variants.engine import FAILURE_COLUMNS, ScoringResult, _empty_scores

__all__ = [
    "MergeError", "merge_shards", "merged_scorers", "read_scores", "read_shard_listing", "scorer_record",
    "scorer_slug", "shard_scorers", "shard_tracks", "write_matrix", "write_shard",
]  # fmt: skip


_SIDE_FILES = ("failures.parquet", "tracks.parquet", "stats.json")

Listing = Collection[str]
"""The file names of a shard folder that its done-file lists (the only ones a merge reads)."""


class MergeError(ValueError):
    """Shard or score folders that do not hold what their done-files say; the message names the file and the fix."""


def read_shard_listing(done: str | os.PathLike[str], folder: str | os.PathLike[str]) -> frozenset[str]:
    """The files the shard done-file ``done`` lists, each checked to be in ``folder``.

    Why: the done-file is the shard's declared output; a file in the folder that it does not list
    (left by an older run, or a killed one) is not part of this shard and must not be merged.
    """
    try:
        listed = json.loads(Path(done).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MergeError(f"shard done-file {done} cannot be read as a file listing ({exc}); "
                         f"delete it and re-run its score_shard job") from None
    missing = sorted(name for name in listed if not (Path(folder) / name).is_file())
    if missing:
        raise MergeError(f"shard folder {folder} lacks {missing} that its done-file {done} lists; "
                         f"delete {done} and re-run that score_shard job")
    return frozenset(listed)


def _listed(folder: Path, listing: Listing | None) -> frozenset[str]:
    """A shard folder's files to read: its listing, or every file when none is given (a folder just written)."""
    if listing is not None:
        return frozenset(listing)
    return frozenset(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else frozenset()


def scorer_slug(name: str) -> str:
    """File-system name of a scorer id: ``CenterMask|DNASE|501|DIFF_MEAN`` -> ``CenterMask.DNASE.501.DIFF_MEAN``."""
    return ".".join(part or "-" for part in name.split("|"))


def _name_of_slug(slug: str) -> str:
    """Inverse of :func:`scorer_slug` (kinds, outputs, widths and aggregations hold no ``.`` and are never ``-``)."""
    return "|".join("" if part == "-" else part for part in slug.split("."))


def scorer_record(name: str) -> dict[str, Any]:
    """A scorer id ``kind|OUTPUT|width|aggregation`` (``engine.scorer_name``) as the done-file records it."""
    kind, output, width, aggregation = (name.split("|") + ["", "", ""])[:4]
    slug = scorer_slug(name)
    return {"name": name, "slug": slug, "kind": kind, "output": output, "width": int(width) if width else None,
            "aggregation": aggregation or None, "table": f"scores/{slug}.parquet", "matrix_group": slug}


def shard_scorers(shards: Sequence[str | os.PathLike[str]], listings: Sequence[Listing] | None = None) -> list[str]:
    """The scorer ids the shards were scored with (``stats.json``), in slug order; every shard must agree.

    A shard without a listed ``stats.json`` (older layout) is described by its listed score tables.
    """
    seen: dict[tuple[str, ...], str] = {}
    for i, shard in enumerate(shards):
        folder = Path(shard)
        files = _listed(folder, listings[i] if listings is not None else None)
        names: list[str] | None = None
        if "stats.json" in files:
            names = json.loads((folder / "stats.json").read_text()).get("scorers")
        if names is None:
            names = [_name_of_slug(f.removesuffix(".parquet")) for f in files
                     if f.endswith(".parquet") and f not in _SIDE_FILES]
        seen.setdefault(tuple(sorted(names, key=scorer_slug)), str(folder))
    if len(seen) > 1:
        (a, where_a), (b, where_b) = list(seen.items())[:2]
        raise MergeError(f"shards were scored with different scorers: {where_a} has {list(a)}, {where_b} has {list(b)}; "
                         "re-run the score_shard jobs (snakemake --forcerun score_shard)")
    return list(next(iter(seen))) if seen else []


def shard_tracks(shards: Sequence[str | os.PathLike[str]], listings: Sequence[Listing] | None = None) -> dict[str, pd.DataFrame]:
    """Per scorer slug, the track table the shards were scored with (from the first shard that lists one)."""
    for i, folder in enumerate(shards):
        if "tracks.parquet" in _listed(Path(folder), listings[i] if listings is not None else None):
            table = read_parquet(Path(folder) / "tracks.parquet")
            return {slug: t.drop(columns="scorer").reset_index(drop=True) for slug, t in table.groupby("scorer", sort=False)}
    return {}


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    write_parquet(frame, path, index=False, compression="zstd")


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


def _merge_table(parts: Sequence[Path], target: Path, include_values: bool) -> int:
    """Stream the part files of one scorer into ``target`` in fixed row groups; returns its rows.

    The columns are those of the first part with rows: an empty part stores its text columns as
    Arrow ``null`` (nothing to infer a type from), which rows of text cannot be cast to. With no
    rows at all the table is empty, with the first part's columns (the engine's when there is none).
    """
    writer = None
    empty_schema = None
    pending: list[pa.Table] = []
    buffered = n = 0
    for part in parts:
        table = pq.read_table(part)
        if table.num_rows == 0:
            empty_schema = empty_schema or table.schema
            continue
        if writer is None:
            writer = pq.ParquetWriter(target, table.schema, compression="zstd")
        pending.append(table.cast(writer.schema))
        buffered += table.num_rows
        n += table.num_rows
        if buffered >= MERGED_ROW_GROUP:
            pending, buffered = _write_full_row_groups(writer, pending)
    if writer is None:
        schema = empty_schema or pa.Schema.from_pandas(_empty_scores(include_values), preserve_index=False)
        writer = pq.ParquetWriter(target, schema, compression="zstd")
    elif buffered:
        writer.write_table(pa.concat_tables(pending))
    writer.close()
    return n


def merge_shards(
    shards: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    failures_path: str | os.PathLike[str] | None = None,
    listings: Sequence[Listing] | None = None,
    scorers: Sequence[str] | None = None,
    include_values: bool = False,
) -> dict[str, int]:
    """Stream every shard's per-scorer parts into ``out/scores/<slug>.parquet`` and the failures table.

    ``listings[i]`` names the files of ``shards[i]`` to read (its done-file's list; all its files
    when ``None``). ``scorers`` (ids) are the tables to write, each even when no shard has a row
    for it (an empty cohort still gets every configured table); default: the shards' own
    (:func:`shard_scorers`). ``scores/`` is built whole and swapped in, so it holds exactly these
    tables. The failures go to ``failures_path`` (default ``out/failures.parquet``; the workflow
    declares it, and on cloud runs a declared file lives apart from the mirrored folders). Returns
    rows per scorer slug. Shards must come in variant order (the Zarr matrix relies on it).
    """
    out = Path(out)
    folders = [Path(s) for s in shards]
    files = [_listed(f, listings[i] if listings is not None else None) for i, f in enumerate(folders)]
    names = list(scorers) if scorers is not None else shard_scorers(folders, files)
    slugs = sorted({scorer_slug(n) for n in names})
    counts: dict[str, int] = {}

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        for slug in slugs:
            parts = [f / f"{slug}.parquet" for f, listed in zip(folders, files) if f"{slug}.parquet" in listed]
            counts[slug] = _merge_table(parts, tmp / f"{slug}.parquet", include_values)

    replace_path(out / "scores", build)
    failures = [read_parquet(f / "failures.parquet") for f, listed in zip(folders, files) if "failures.parquet" in listed]
    frame = pd.concat(failures, ignore_index=True) if failures else pd.DataFrame(columns=list(FAILURE_COLUMNS))
    _write_parquet(frame, Path(failures_path) if failures_path is not None else out / "failures.parquet")
    return counts


def merged_scorers(done: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The scorer tables a merge wrote, as its done-file ``scores.done.json`` lists them (:func:`scorer_record`).

    Readers take this list, never a glob of ``scores/``: it is what this run's config asked for.
    """
    try:
        record = json.loads(Path(done).read_text())
    except (OSError, ValueError) as exc:
        raise MergeError(f"{done} cannot be read ({exc}); re-run the merge_scores job") from None
    if not isinstance(record, dict) or "scorers" not in record:
        raise MergeError(f"{done} does not list its scorer tables (written by an older genotile); "
                         "re-run the merge_scores job (snakemake --forcerun merge_scores)")
    return list(record["scorers"])


def read_scores(folder: str | os.PathLike[str], scorer: str) -> pd.DataFrame:
    """The tidy table of one scorer (id or slug) from a merged output folder."""
    slug = scorer if "|" not in scorer else scorer_slug(scorer)
    return read_parquet(Path(folder) / "scores" / f"{slug}.parquet")


def strongest_per_track(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, track): the gene/junction row with the largest ``|score|`` (NaN ignored)."""
    if table.empty:
        return table
    order = table.assign(_abs=table["score"].abs().fillna(-1.0)).sort_values("_abs", ascending=False, kind="stable")
    return order.drop_duplicates(["variant_id", "track_index"]).drop(columns="_abs")


_NO_TRACKS = pd.DataFrame({"track_index": pd.Series(dtype=np.int64), "name": pd.Series(dtype=str)})


def write_matrix(
    folder: str | os.PathLike[str],
    variant_ids: Sequence[str],
    tracks: Mapping[str, pd.DataFrame],
    chunk_variants: int = 4096,
    scorers: Sequence[str] | None = None,
) -> Path:
    """``scores.zarr``: per scorer a float32 ``[variant, track]`` array over all ``variant_ids`` (NaN = not scored).

    ``tracks[slug]`` gives the track table (``track_index``, ``name``) of each scorer; scores are read
    back from ``folder/scores/<slug>.parquet`` one scorer at a time. ``scorers`` (slugs) are the
    groups to write (default: those of ``tracks``); one without a track table (an empty cohort, no
    shard told its tracks) gets an empty track axis. The store is built whole and swapped in, so
    it holds exactly these groups.
    """
    import xarray as xr
    import zarr

    folder = Path(folder)
    index = pd.Index(list(variant_ids))
    final = folder / "scores.zarr"
    wanted = list(tracks) if scorers is None else [s for s in tracks if s in set(scorers)]
    wanted += [s for s in (scorers or []) if s not in tracks]

    def build(tmp: Path) -> None:
        if not wanted:
            zarr.open_group(str(tmp), mode="w")
        for slug in wanted:
            track_table = tracks.get(slug, _NO_TRACKS)
            path = folder / "scores" / f"{slug}.parquet"
            cols = track_table["track_index"].to_numpy(np.int64)
            matrix = np.full((len(index), len(cols)), np.nan, np.float32)
            if path.exists():
                table = strongest_per_track(read_parquet(path, columns=["variant_id", "track_index", "score"]))
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
