"""The tracks sheet: which measured bigWig tracks a fine-tune trains on, checked before anything is read.

Why a sheet and not config entries: a lab's tracks are a table (dozens of files, two per stranded
track), and the reference's fine-tuning takes exactly such a frame (spec §9: ``name, strand,
file_path`` and an optional ``nonzero_mean`` per output type). One row per bigWig file:

``name``          track name; the two rows of a stranded track share it (and the output type)
``output_type``   a genome-track output of :mod:`genotile.outputs` (``dnase``, ``atac``, ``rna_seq``, ...)
``strand``        ``+`` / ``-`` (one strand of a stranded track) or ``.`` (unstranded)
``file_path``     the bigWig; a relative path is read from the working directory, like every config path
``biosample``, ``assay``   what was measured (kept as track metadata)
``nonzero_mean``  optional: the track's scale; empty means computed from the data (:mod:`genotile.train.targets`)

A row of output type ``splice_junctions`` is one RNA-seq sample's STAR ``SJ.out.tab`` instead of a bigWig
(strand ``.``: the table holds both strands; no ``nonzero_mean``): it trains the splice heads
(:mod:`genotile.train.splice_targets`); its order among the splice rows is its junction channel.
A row of output type ``splice_site_usage`` is the *raw* (read-count) RNA-seq coverage bigWig of such a
sample (``name``: the ``splice_junctions`` row's; strand ``+`` and ``-``, one row each, or ``.`` for an
unstranded coverage serving both strands; no ``nonzero_mean``): with the sample's junctions it gives the
usage head's targets (:mod:`genotile.train.splice_usage`).

Each row is validated against ``workflow/schemas/tracks_sheet.schema.yaml``; then the rules the
schema cannot say: unique tracks, complete strand pairs, existing files. Every error names the
sheet, the row (as a spreadsheet shows it: header = line 1) and the fix.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

from genotile.outputs import OUTPUTS, SPLICE_JUNCTIONS, SPLICE_SITE_USAGE
from genotile.train.data_errors import TrainingDataError

__all__ = ["BIGWIG_OUTPUT_TYPES", "COLUMNS", "SHEET_OUTPUT_TYPES", "SPLICE_OUTPUT_TYPE", "SPLICE_ROW_TYPES", "SHEET_SCHEMA_PATH",
           "USAGE_OUTPUT_TYPE", "read_tracks_sheet", "sheet_files"]

SHEET_SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "tracks_sheet.schema.yaml"
#: The sheet's columns, in order (``nonzero_mean`` may be left out).
COLUMNS = ("name", "output_type", "strand", "file_path", "biosample", "assay", "nonzero_mean")
REQUIRED = COLUMNS[:-1]
#: Output types a bigWig can train: the genome-track heads (reference order).
BIGWIG_OUTPUT_TYPES = tuple(o.output_type for o in OUTPUTS if o.genome_track)
#: The output type of a STAR ``SJ.out.tab`` row (splice targets).
SPLICE_OUTPUT_TYPE = SPLICE_JUNCTIONS.output_type
#: The output type of a splice sample's raw coverage bigWig row (splice-site usage targets).
USAGE_OUTPUT_TYPE = SPLICE_SITE_USAGE.output_type
#: The rows that train the existing splice heads rather than adding new tracks.
SPLICE_ROW_TYPES = (SPLICE_OUTPUT_TYPE, USAGE_OUTPUT_TYPE)
SHEET_OUTPUT_TYPES = (*BIGWIG_OUTPUT_TYPES, *SPLICE_ROW_TYPES)


@functools.cache
def _schema() -> dict[str, Any]:
    return yaml.safe_load(SHEET_SCHEMA_PATH.read_text())


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise TrainingDataError(f"tracks sheet {path} does not exist; set train.tracks_sheet to a TSV (config/README.md)")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"tracks sheet {path}: not a readable tab-separated table ({exc}); "
                                f"write a header line with the columns {', '.join(COLUMNS)}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in COLUMNS]
    if missing or unknown:
        what = "; ".join(x for x in (f"missing column(s) {missing}" if missing else "",
                                     f"unknown column(s) {unknown}" if unknown else "") if x)
        raise TrainingDataError(f"tracks sheet {path}: {what}. The columns are {', '.join(COLUMNS)} (tab-separated; "
                                "nonzero_mean may be left out)")
    if frame.empty:
        raise TrainingDataError(f"tracks sheet {path} has no rows; add one row per bigWig file")
    return frame


def _row_record(row: pd.Series) -> dict[str, Any]:
    record: dict[str, Any] = {c: str(row[c]).strip() for c in REQUIRED}
    record["output_type"] = record["output_type"].lower()  # the reference's frames say DNASE, RNA_SEQ
    text = str(row.get("nonzero_mean", "")).strip()
    if text and text.lower() not in ("nan", "na", "none", "null"):
        try:
            record["nonzero_mean"] = float(text)
        except ValueError:
            record["nonzero_mean"] = text  # the schema names it
    else:
        record["nonzero_mean"] = None
    return record


def _schema_message(error: jsonschema.ValidationError) -> str:
    column = error.path[0] if error.path else None
    if error.validator == "enum" and column == "output_type":
        return (f"output_type {error.instance!r} is not a genome-track output; use one of "
                f"{', '.join(SHEET_OUTPUT_TYPES)} (splice_junctions: a STAR SJ.out.tab; splice_site_usage: the raw "
                "coverage bigWig of a splice_junctions sample; contact maps cannot be trained from the sheet)")
    if error.validator == "enum" and column == "strand":
        return f"strand {error.instance!r} must be +, - (one row per strand of a stranded track) or . (unstranded)"
    if column == "nonzero_mean":
        return f"nonzero_mean {error.instance!r} must be a positive number, or empty to have it computed"
    if error.validator in ("minLength", "pattern") and column:
        return f"{column} is empty; fill it in"
    return f"{'/'.join(map(str, error.path)) or 'row'}: {error.message}"


def read_tracks_sheet(path: str | os.PathLike[str], *, check_files: bool = True,
                      made_by_run: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The validated sheet: columns :data:`COLUMNS` (``nonzero_mean`` float, NaN where not given), one row per file.

    Rows are ordered as the model's channels will be: by output type in the reference's head order,
    then in sheet order (a strand pair stays where the sheet puts it). A ``row`` column keeps each
    row's line in the sheet for later messages. ``check_files`` (default) also requires every bigWig
    to exist, except those under ``made_by_run`` (the run's folder: a rule of the run makes them, as the
    fine-tuning demo's synthetic track, and Snakemake runs it first).
    """
    path = Path(path)
    frame = _read_raw(path)
    validator = jsonschema.Draft202012Validator(_schema())
    records = []
    for index, row in frame.iterrows():
        line = int(index) + 2  # header = line 1
        record = _row_record(row)
        error = jsonschema.exceptions.best_match(validator.iter_errors(record))
        if error is not None:
            raise TrainingDataError(f"tracks sheet {path}, line {line} (track {record['name']!r}): {_schema_message(error)}")
        if record["output_type"] == SPLICE_OUTPUT_TYPE and (record["strand"] != "." or record["nonzero_mean"] is not None):
            raise TrainingDataError(
                f"tracks sheet {path}, line {line} (track {record['name']!r}): a splice_junctions row is one sample's "
                "SJ.out.tab, which holds both strands and has no scale; give strand . and leave nonzero_mean empty")
        if record["output_type"] == USAGE_OUTPUT_TYPE and record["nonzero_mean"] is not None:
            raise TrainingDataError(
                f"tracks sheet {path}, line {line} (track {record['name']!r}): a splice_site_usage row is a raw coverage "
                "bigWig whose reads are compared with the junctions' reads, so it has no scale; leave nonzero_mean empty")
        records.append({**record, "row": line})
    sheet = pd.DataFrame(records, columns=[*COLUMNS, "row"])
    sheet["nonzero_mean"] = sheet["nonzero_mean"].astype(float)
    _check_tracks(sheet, path)
    _check_usage_samples(sheet, path)
    if check_files:
        _check_files(sheet, path, made_by_run)
    order = {name: i for i, name in enumerate(SHEET_OUTPUT_TYPES)}
    sheet = sheet.sort_values("output_type", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return sheet


def _check_tracks(sheet: pd.DataFrame, path: Path) -> None:
    """Unique (output type, name, strand); a stranded name has exactly one + and one - row and no . row."""
    duplicated = sheet[sheet.duplicated(["output_type", "name", "strand"], keep="first")]
    if len(duplicated):
        row = duplicated.iloc[0]
        first = sheet[(sheet["output_type"] == row["output_type"]) & (sheet["name"] == row["name"])
                      & (sheet["strand"] == row["strand"])].iloc[0]
        raise TrainingDataError(
            f"tracks sheet {path}, line {row['row']}: track {row['name']!r} ({row['output_type']}, strand "
            f"{row['strand']}) is already on line {first['row']}; give each track its own name (a stranded track "
            "is one + row and one - row with the same name)")
    for (output_type, name), group in sheet.groupby(["output_type", "name"], sort=False):
        strands = list(group["strand"])
        if "." in strands and len(strands) > 1:
            raise TrainingDataError(
                f"tracks sheet {path}, lines {', '.join(map(str, group['row']))}: track {name!r} ({output_type}) mixes "
                "strand . with + / -; an unstranded track is one . row, a stranded one a + row and a - row")
        if "." not in strands and sorted(strands) != ["+", "-"]:
            have = strands[0]
            want = "-" if have == "+" else "+"
            raise TrainingDataError(
                f"tracks sheet {path}, line {group['row'].iloc[0]}: track {name!r} ({output_type}) has a {have} strand "
                f"file but no {want} strand partner; add a row with the same name and output_type and strand {want}, "
                "or mark the track unstranded (strand .)")


def _check_usage_samples(sheet: pd.DataFrame, path: Path) -> None:
    """Every splice_site_usage row names a splice_junctions row's sample (its junctions are half of the usage)."""
    samples = set(sheet.loc[sheet["output_type"] == SPLICE_OUTPUT_TYPE, "name"])
    for row in sheet[sheet["output_type"] == USAGE_OUTPUT_TYPE].itertuples():
        if row.name not in samples:
            have = ", ".join(repr(n) for n in sorted(samples)) or "none"
            raise TrainingDataError(
                f"tracks sheet {path}, line {row.row}: splice_site_usage track {row.name!r} has no splice_junctions row "
                f"of that name (splice samples: {have}); usage needs the sample's junctions: add its SJ.out.tab as a "
                "splice_junctions row with the same name, or rename the row to its sample")


def _check_files(sheet: pd.DataFrame, path: Path, made_by_run: str | os.PathLike[str] | None = None) -> None:
    run = Path(made_by_run).resolve() if made_by_run else None
    for row in sheet.itertuples():
        if run is not None and Path(row.file_path).resolve().is_relative_to(run):
            continue
        if not Path(row.file_path).is_file():
            kind = "SJ.out.tab" if row.output_type == SPLICE_OUTPUT_TYPE else "bigWig"
            raise TrainingDataError(
                f"tracks sheet {path}, line {row.row}: {kind} {row.file_path} of track {row.name!r} does not exist "
                f"(relative paths are read from the working directory {Path.cwd()}); fix the path")


def sheet_files(path: str | os.PathLike[str] | None) -> list[str]:
    """The bigWig and SJ.out.tab paths a sheet names, for a rule's inputs; [] when the sheet is absent or unreadable.

    Tolerant on purpose: the Snakefile calls it while parsing, and a broken sheet must reach
    :func:`read_tracks_sheet` in the job (one clear message), not fail the parse with a traceback.
    """
    if not path or not Path(path).is_file():
        return []
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return []
    if "file_path" not in frame.columns:
        return []
    return sorted({p.strip() for p in frame["file_path"] if p.strip()})


def is_missing(value: Any) -> bool:
    """True for a NaN/None ``nonzero_mean`` (not given in the sheet)."""
    return value is None or (isinstance(value, float) and math.isnan(value))
