"""AlphaGenome output-track metadata: parsing, padding, strand re-indexing, selection.

Why this exists: every head's channel axis is only meaningful through the
official ``OutputMetadataResponse_ORGANISM_*.textproto`` files (which channel is
which assay, biosample and strand, and which channels are padding). genotile
never ships those files; the user points at a folder holding them (for example
``src/alphagenome_research/model/metadata`` of their own clone of
``google-deepmind/alphagenome_research``), and this module turns them into one
pandas DataFrame per output type, row ``i`` describing head channel ``i``.

Conventions follow the reference (``alphagenome`` / ``alphagenome_research``):

* ``ontology_curie`` is ``f"{TYPE}:{id:07d}"``, e.g. ``CL:0000084``.
* ``strand`` is ``'+'``, ``'-'`` or ``'.'``.
* A padding track is one whose name, lower-cased, equals ``"padding"``.
* ``biosample_type`` / ``endedness`` are the enum names without prefix, lower-case.
* The reference calls the assay column ``"Assay title"``; genotile uses
  ``assay_title`` (see :data:`REFERENCE_COLUMN_NAMES`).

Splice junctions are special: their metadata lists *tissues* (367 rows), and the
head has ``2 * 367`` channels laid out as ``[all tissues on +, all tissues on -]``.
Their frame therefore has one row per tissue, with strand ``'.'``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from genotile import outputs

__all__ = [
    "COLUMNS",
    "JUNCTION_STRANDS",
    "MetadataError",
    "ORGANISMS",
    "ORGANISM_ALIASES",
    "OUTPUT_TYPES",
    "PADDED_CHANNELS",
    "PROTO_OUTPUT_TYPES",
    "REFERENCE_COLUMN_NAMES",
    "SPLICE_SITE_REINDEXING",
    "canonical_output_type",
    "count_real_tracks",
    "head_channels",
    "junction_strand_swap",
    "load_metadata",
    "metadata_path",
    "organism_index",
    "select_tracks",
    "strand_reindexing",
]


class MetadataError(ValueError):
    """Raised when the track-metadata folder or its files cannot be used."""


# --------------------------------------------------------------------------
# Output types and heads
# --------------------------------------------------------------------------

#: genotile output-type names, reference order (:mod:`genotile.outputs`).
OUTPUT_TYPES: Final[tuple[str, ...]] = outputs.OUTPUT_TYPES

#: genotile output-type name -> ``OutputType`` enum name in the protos.
PROTO_OUTPUT_TYPES: Final[Mapping[str, str]] = {
    t: f"OUTPUT_TYPE_{t.upper()}" for t in OUTPUT_TYPES
}

#: Metadata rows per output type (same for both organisms; counted in the official metadata textprotos). For
#: ``splice_junctions`` this is the number of *tissues*: the head has
#: ``JUNCTION_STRANDS`` times as many channels (see :func:`head_channels`).
PADDED_CHANNELS: Final[Mapping[str, int]] = {o.output_type: o.channels for o in outputs.OUTPUTS}

#: Junction channels are ``[tissues on + strand, tissues on - strand]``.
JUNCTION_STRANDS: Final[int] = 2

#: Classes donor+, acceptor+, donor-, acceptor-, none ("Padding") after reverse
#: complement: the strands swap, the "none" class stays.
SPLICE_SITE_REINDEXING: Final[tuple[int, ...]] = (2, 3, 0, 1, 4)

_PROTO_TO_OUTPUT_TYPE: Final[Mapping[str, str]] = {
    v: k for k, v in PROTO_OUTPUT_TYPES.items()
}


def canonical_output_type(name: str) -> str:
    """Map a genotile name, head name or proto enum name to the genotile name.

    Why: callers hold whichever spelling their context uses (parameter paths,
    protos, config files); everything here is keyed by the genotile name.
    """
    key = str(name).strip()
    lowered = key.lower()
    if lowered in outputs.HEAD_OF_OUTPUT_TYPE:
        return lowered
    for output_type, head in outputs.HEAD_OF_OUTPUT_TYPE.items():
        if lowered == head:
            return output_type
    upper = key.upper()
    if upper in _PROTO_TO_OUTPUT_TYPE:
        return _PROTO_TO_OUTPUT_TYPE[upper]
    if f"OUTPUT_TYPE_{upper}" in _PROTO_TO_OUTPUT_TYPE:
        return _PROTO_TO_OUTPUT_TYPE[f"OUTPUT_TYPE_{upper}"]
    raise ValueError(
        f"unknown output type {name!r}; expected one of {', '.join(OUTPUT_TYPES)} "
        "(head names and OUTPUT_TYPE_* enum names are accepted too)"
    )


def head_channels(output_type: str) -> int:
    """Width of the head's channel axis (junctions: tissues x 2 strands)."""
    output_type = canonical_output_type(output_type)
    rows = PADDED_CHANNELS[output_type]
    return rows * JUNCTION_STRANDS if output_type == outputs.SPLICE_JUNCTIONS.output_type else rows


# --------------------------------------------------------------------------
# Organisms
# --------------------------------------------------------------------------

#: Organism order of the released weights: every organism-specific parameter has
#: a leading axis of 2 and index 0 is human, 1 is mouse.
ORGANISMS: Final[tuple[str, ...]] = ("human", "mouse")

_PROTO_ORGANISMS: Final[tuple[str, ...]] = ("HOMO_SAPIENS", "MUS_MUSCULUS")
_TAXONOMY_IDS: Final[tuple[int, ...]] = (9606, 10090)

#: Accepted spellings (compared case-insensitively, ``-``/space read as ``_``).
ORGANISM_ALIASES: Final[Mapping[str, int]] = {
    "human": 0,
    "homo_sapiens": 0,
    "organism_homo_sapiens": 0,
    "h_sapiens": 0,
    "hsapiens": 0,
    "hs": 0,
    "hsa": 0,
    "9606": 0,
    "mouse": 1,
    "mus_musculus": 1,
    "organism_mus_musculus": 1,
    "m_musculus": 1,
    "mmusculus": 1,
    "mm": 1,
    "mmu": 1,
    "10090": 1,
}


def organism_index(organism: str | int | Any) -> int:
    """Return 0 (human) or 1 (mouse) for a name, alias, index or enum member.

    Why: the organism index selects parameter slices, so a typo must fail loudly
    instead of silently using the other organism's weights. Accepts the
    ``alphagenome`` ``Organism`` enum (by member name) and taxonomy ids too.
    """
    if isinstance(organism, bool):
        raise ValueError(f"unknown organism {organism!r}; {_organism_help()}")
    if isinstance(organism, (int, np.integer)):
        value = int(organism)
        if value in (0, 1):
            return value
        if value in _TAXONOMY_IDS:
            return _TAXONOMY_IDS.index(value)
        raise ValueError(f"unknown organism index {value}; {_organism_help()}")
    name = getattr(organism, "name", organism)  # enum members
    if isinstance(name, str):
        key = re.sub(r"[\s\-]+", "_", name.strip().lower())
        if key in ORGANISM_ALIASES:
            return ORGANISM_ALIASES[key]
    raise ValueError(f"unknown organism {organism!r}; {_organism_help()}")


def _organism_help() -> str:
    names = ", ".join(sorted(ORGANISM_ALIASES))
    return f"accepted: 0 (human), 1 (mouse), or one of: {names} (case-insensitive)"


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

#: Columns of every frame, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "index",
    "name",
    "strand",
    "padding",
    "assay_title",
    "ontology_curie",
    "biosample_name",
    "biosample_type",
    "biosample_life_stage",
    "data_source",
    "endedness",
    "genetically_modified",
    "nonzero_mean",
    "gtex_tissue",
    "histone_mark",
    "transcription_factor",
)

#: genotile column -> the column name the reference DataFrames use, where they differ.
REFERENCE_COLUMN_NAMES: Final[Mapping[str, str]] = {"assay_title": "Assay title"}

_PADDING_NAME: Final[str] = "padding"
_STRANDS: Final[Mapping[str, str]] = {
    "STRAND_POSITIVE": "+",
    "STRAND_NEGATIVE": "-",
    "STRAND_UNSTRANDED": ".",
}
_FILE_GLOB: Final[str] = "OutputMetadataResponse_ORGANISM_*.textproto"


def metadata_path(folder: str | os.PathLike[str], organism: str | int | Any) -> Path:
    """Path of the organism's textproto inside ``folder`` (not checked to exist)."""
    proto_name = _PROTO_ORGANISMS[organism_index(organism)]
    return Path(folder).expanduser() / f"OutputMetadataResponse_ORGANISM_{proto_name}.textproto"


def load_metadata(
    folder: str | os.PathLike[str], organism: str | int | Any
) -> dict[str, pd.DataFrame]:
    """Parse one organism's track metadata into a frame per output type.

    Why: every consumer (track selection, reverse complement, writers) needs
    the same head-ordered view; parsing is cached by path, mtime and size, and
    each call returns fresh copies so callers may modify them freely.
    """
    path = _resolve_metadata_file(folder, organism)
    stat = path.stat()
    frames = _parse_cached(str(path), stat.st_mtime_ns, stat.st_size)
    return {name: frame.copy(deep=True) for name, frame in frames.items()}


def _resolve_metadata_file(folder: str | os.PathLike[str], organism: str | int | Any) -> Path:
    root = Path(folder).expanduser()
    expected = metadata_path(root, organism)
    hint = (
        "point it at a folder holding the AlphaGenome track metadata "
        f"({_FILE_GLOB}), e.g. src/alphagenome_research/model/metadata in a clone of "
        "google-deepmind/alphagenome_research"
    )
    if not root.exists():
        raise MetadataError(f"metadata folder {str(root)!r} does not exist; {hint}")
    if not root.is_dir():
        raise MetadataError(f"metadata folder {str(root)!r} is not a directory; {hint}")
    if not expected.is_file():
        try:
            entries = sorted(p.name for p in root.iterdir())
        except OSError as err:  # pragma: no cover - permissions
            entries = [f"<cannot list: {err}>"]
        shown = ", ".join(entries[:20])
        if len(entries) > 20:
            shown += f", ... ({len(entries)} entries)"
        present = sorted(p.name for p in root.glob(_FILE_GLOB))
        raise MetadataError(
            f"metadata folder {str(root)!r} has no {expected.name} for organism "
            f"{ORGANISMS[organism_index(organism)]!r}; metadata files present: "
            f"{', '.join(present) if present else 'none'}; folder contains: "
            f"{shown if entries else 'nothing'}; {hint}"
        )
    return expected.resolve()


@functools.lru_cache(maxsize=8)
def _parse_cached(path: str, mtime_ns: int, size: int) -> dict[str, pd.DataFrame]:
    """Parse once per (file, version); mtime/size only serve as the cache key."""
    del mtime_ns, size
    return _parse_file(Path(path))


def _parse_file(path: Path) -> dict[str, pd.DataFrame]:
    # Imported lazily: protobuf + generated modules are only needed here.
    from alphagenome.protos import dna_model_pb2, dna_model_service_pb2
    from google.protobuf import text_format

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise MetadataError(f"cannot parse {path}: not UTF-8 text ({err})") from err
    try:
        response = text_format.Parse(text, dna_model_service_pb2.MetadataResponse())
    except text_format.ParseError as err:
        line = err.GetLine()
        where = f"line {line}" if line is not None else "unknown line"
        raise MetadataError(
            f"cannot parse {path} as an AlphaGenome MetadataResponse textproto "
            f"at {where}: {err}"
        ) from err

    output_type_names = dna_model_pb2.OutputType.Name
    frames: dict[str, pd.DataFrame] = {}
    for entry in response.output_metadata:
        proto_name = output_type_names(entry.output_type)
        output_type = _PROTO_TO_OUTPUT_TYPE.get(proto_name)
        if output_type is None:
            raise MetadataError(f"{path}: unsupported output type {proto_name}")
        if output_type in frames:
            raise MetadataError(f"{path}: output type {proto_name} appears twice")
        payload = entry.WhichOneof("payload")
        expected_payload = "junctions" if output_type == outputs.SPLICE_JUNCTIONS.output_type else "tracks"
        if payload != expected_payload:
            raise MetadataError(
                f"{path}: {proto_name} carries {payload!r} metadata, expected {expected_payload!r}"
            )
        rows = [
            _row_from_proto(track, dna_model_pb2, where=f"{path}: {proto_name} row {i}")
            for i, track in enumerate(getattr(entry, payload).metadata)
        ]
        frame = _frame(rows)
        frame.attrs["output_type"] = output_type
        if len(frame) != PADDED_CHANNELS[output_type]:
            raise MetadataError(
                f"{path}: {proto_name} has {len(frame)} tracks but head "
                f"{outputs.HEAD_OF_OUTPUT_TYPE[output_type]!r} has {PADDED_CHANNELS[output_type]} "
                "padded channels; the file does not match the released model"
            )
        frames[output_type] = frame

    missing = [PROTO_OUTPUT_TYPES[t] for t in OUTPUT_TYPES if t not in frames]
    if missing:
        raise MetadataError(f"{path}: no metadata for output types {', '.join(missing)}")
    return {t: frames[t] for t in OUTPUT_TYPES}


def _row_from_proto(track: Any, pb2: Any, *, where: str) -> dict[str, Any]:
    """One metadata row; optional proto fields that are unset become missing."""
    row: dict[str, Any] = {"name": track.name}
    if "strand" in track.DESCRIPTOR.fields_by_name:  # TrackMetadata
        strand = _STRANDS.get(pb2.Strand.Name(track.strand))
        if strand is None:
            raise MetadataError(f"{where} ({track.name!r}): strand is unspecified")
        row["strand"] = strand
    else:  # JunctionMetadata: one row per tissue, covering both strands
        row["strand"] = "."
    has = track.HasField
    if has("assay"):
        row["assay_title"] = track.assay
    # An unset ontology type (enum 0) would make the reference raise; here it is missing.
    if has("ontology_term") and track.ontology_term.ontology_type != 0:
        term = track.ontology_term
        prefix = pb2.OntologyType.Name(term.ontology_type).removeprefix("ONTOLOGY_TYPE_")
        row["ontology_curie"] = f"{prefix}:{term.id:07d}"
    if has("biosample"):
        biosample = track.biosample
        row["biosample_name"] = biosample.name
        row["biosample_type"] = (
            pb2.BiosampleType.Name(biosample.type).removeprefix("BIOSAMPLE_TYPE_").lower()
        )
        if biosample.HasField("stage"):
            row["biosample_life_stage"] = biosample.stage
    optional_fields = {
        "transcription_factor_code": "transcription_factor",
        "histone_mark_code": "histone_mark",
        "gtex_tissue": "gtex_tissue",
        "data_source": "data_source",
        "genetically_modified": "genetically_modified",
        "nonzero_mean": "nonzero_mean",
    }
    fields = track.DESCRIPTOR.fields_by_name
    for field, column in optional_fields.items():
        if field in fields and has(field):
            row[column] = getattr(track, field)
    if "endedness" in fields and has("endedness"):
        row["endedness"] = pb2.Endedness.Name(track.endedness).removeprefix("ENDEDNESS_").lower()
    return row


def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Assemble rows into the fixed column layout with stable dtypes."""
    data: dict[str, Any] = {}
    n = len(rows)
    data["index"] = np.arange(n, dtype=np.int64)
    for column in COLUMNS:
        if column in ("index", "padding"):
            continue
        values = [row.get(column) for row in rows]
        if column == "nonzero_mean":
            data[column] = pd.array(
                [np.nan if v is None else float(v) for v in values], dtype="float64"
            )
        elif column == "genetically_modified":
            data[column] = pd.array(values, dtype="boolean")
        else:
            data[column] = pd.Series(values, dtype="object")
    data["padding"] = np.array(
        [str(row["name"]).lower() == _PADDING_NAME for row in rows], dtype=bool
    )
    return pd.DataFrame({c: data[c] for c in COLUMNS})


# --------------------------------------------------------------------------
# Strand re-indexing for reverse complement
# --------------------------------------------------------------------------


def junction_strand_swap(num_tissues: int) -> np.ndarray:
    """Channel permutation of the junction head after reverse complement.

    Why: junction channels are ``[tissues on +, tissues on -]``; reverse
    complementing swaps the halves (tissue order is kept). The positions/rows
    of the splice sites are remapped separately by the reverse-complement code.
    """
    n = int(num_tissues)
    return np.concatenate([np.arange(n, 2 * n), np.arange(n)]).astype(np.int32)


def strand_reindexing(frame: pd.DataFrame, output_type: str | None = None) -> np.ndarray:
    """Channel permutation the reference applies after reverse complement.

    Why: on the reverse-complemented input a ``+`` track's output is the ``-``
    track's prediction. The reference pairs the k-th ``+`` row with the k-th
    ``-`` row in metadata order (not by biosample), leaves ``.`` rows (all
    padding included) in place, and fails when the counts differ. Splice sites
    give ``[2, 3, 0, 1, 4]``. For splice junctions (output type from
    ``frame.attrs`` or the argument) the result has ``2 * len(frame)`` entries:
    :func:`junction_strand_swap`, over head channels rather than frame rows.

    ``frame`` must be a whole head frame from :func:`load_metadata` (one
    organism), since positions in it are head channels.
    """
    kind = output_type if output_type is not None else frame.attrs.get("output_type")
    kind = canonical_output_type(kind) if kind is not None else None
    channels = frame["index"].to_numpy()
    if not np.array_equal(channels, np.arange(len(frame))):
        raise ValueError(
            "strand_reindexing needs the whole head frame (rows 0..n-1 in head order), "
            "not a selection of it"
        )
    if kind == outputs.SPLICE_JUNCTIONS.output_type:
        return junction_strand_swap(len(frame))
    strands = frame["strand"].to_numpy(dtype=object)
    positive = np.flatnonzero(strands == "+")
    negative = np.flatnonzero(strands == "-")
    if len(positive) != len(negative):
        raise MetadataError(
            f"cannot pair strands of {kind or 'this output type'}: {len(positive)} '+' "
            f"tracks but {len(negative)} '-' tracks (the reference pairs them by rank)"
        )
    permutation = np.arange(len(frame), dtype=np.int32)
    permutation[positive] = negative
    permutation[negative] = positive
    if kind == outputs.SPLICE_SITES.output_type and tuple(permutation.tolist()) != SPLICE_SITE_REINDEXING:
        raise MetadataError(
            f"splice-site metadata strands {list(strands)} do not give the expected "
            f"class permutation {list(SPLICE_SITE_REINDEXING)}"
        )
    return permutation


# --------------------------------------------------------------------------
# Selection and counting
# --------------------------------------------------------------------------


def _as_list(value: str | Iterable[str], argument: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    values = list(value)
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{argument} must be a str or a list of str, got {bad[0]!r}")
    return values


def select_tracks(
    frame: pd.DataFrame,
    *,
    ontology_curie: str | Iterable[str] | None = None,
    biosample_name: str | Iterable[str] | None = None,
    assay: str | Iterable[str] | None = None,
    strand: str | Iterable[str] | None = None,
    name_regex: str | Iterable[str] | None = None,
    include_padding: bool = False,
) -> np.ndarray:
    """Head channels (the frame's ``index`` column) matching all given filters.

    Why: users pick tracks by biology, the model indexes channels. Each filter
    takes one value or a list (any of them matches, exact string equality;
    ``assay`` matches ``assay_title``; ``name_regex`` uses ``re.search``).
    Filters are ANDed; padding rows are dropped unless ``include_padding``.
    An empty result is returned as is: the caller decides whether it is an error.
    For splice junctions the result indexes tissues, not channels.
    """
    mask = np.ones(len(frame), dtype=bool)
    if not include_padding:
        mask &= ~frame["padding"].to_numpy(dtype=bool)
    exact = (
        ("ontology_curie", ontology_curie, "ontology_curie"),
        ("biosample_name", biosample_name, "biosample_name"),
        ("assay_title", assay, "assay"),
        ("strand", strand, "strand"),
    )
    for column, wanted, argument in exact:
        if wanted is None:
            continue
        values = _as_list(wanted, argument)
        if argument == "strand":
            unknown = sorted(set(values) - set(_STRANDS.values()))
            if unknown:
                raise ValueError(f"strand must be '+', '-' or '.', got {unknown}")
        mask &= frame[column].isin(values).to_numpy(dtype=bool)
    if name_regex is not None:
        patterns = [re.compile(p) for p in _as_list(name_regex, "name_regex")]
        names = frame["name"].astype(str).tolist()
        mask &= np.array(
            [any(p.search(name) for p in patterns) for name in names], dtype=bool
        )
    return frame["index"].to_numpy(dtype=np.int64)[mask]


def count_real_tracks(metadata: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Non-padding rows per output type, plus ``"total"`` real head channels.

    Why: the paper's totals (human 5,930, mouse 1,128) count junction tissues
    once per strand; the per-type entries count metadata rows (junctions: tissues).
    """
    counts: dict[str, int] = {}
    total = 0
    for output_type, frame in metadata.items():
        real = int((~frame["padding"].to_numpy(dtype=bool)).sum())
        counts[output_type] = real
        kind = canonical_output_type(output_type)
        total += real * JUNCTION_STRANDS if kind == outputs.SPLICE_JUNCTIONS.output_type else real
    counts["total"] = total
    return counts
