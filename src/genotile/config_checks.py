"""Config problems a run can know before its first job, found in the submitting process.

Snakemake's schema validation (``snakemake.utils.validate``) fills in the defaults and catches
unknown keys and wrong types, but some mistakes pass it and would only surface minutes later in
a job (after normalisation, sharding or a prediction batch had already run):

* JSON Schema counts ``16384.0`` as an integer, and ``plan_windows`` then crashes on a float;
* window and owned sizes that do not fit together (``tiling.validate_sizes``);
* a track filter that matches nothing, or a scorer entry naming an unknown output;
* a gene scorer listed explicitly without ``annotation.gtf`` (the ``recommended`` set instead
  scores what it can and says what it skipped: :func:`genotile.variants.engine.scorers_for_annotation`);
* a training window size off the 2,048-bp grid or, above 131,072 bp, off the loss's segment, or a bad tracks
  sheet (an unknown output type, a track named twice, a strand without its partner: ``train.*``);
* ``train.dropout_rate`` above 0 in a mode other than ``full`` (only the train-mode tower has dropout);
* ``train.gene_loss_weight`` above 0 without a gene annotation (``annotation.gtf``) or without an ``rna_seq``
  row in the tracks sheet (the term applies to the new RNA-seq tracks only);
* an ISM region (``ism.regions.<name>``) that is not ``contig:start-end``, is too long, or (when the FASTA is
  local and indexed) names an unknown contig or one shorter than ``ism.window_bp``; an ISM scorer that needs
  an annotation the run lacks;
* a config that asks for nothing at all (``tracks: []``, no cohort, no ISM region and no tracks sheet).

:func:`config_problems` returns one message per problem, each naming the config key and the fix;
:func:`config_notes` returns what the run will skip on purpose, for the user to read up front.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from genotile.outputs import RNA_SEQ
from genotile.runtime.finetuned import is_finetuned


def _is_strict_integer(_checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_STRICT_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer)
_StrictValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_STRICT_TYPES)


def _key(path: Any) -> str:
    parts = []
    for part in path:
        parts.append(f"[{part}]" if isinstance(part, int) else ("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def type_problems(config: Mapping[str, Any], schema_path: str | Path) -> list[str]:
    """Values the schema accepts only because JSON Schema reads ``16384.0`` as an integer."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    problems = []
    for error in _StrictValidator(schema).iter_errors(config):
        if error.validator == "type" and isinstance(error.instance, float):
            whole = int(error.instance) if error.instance.is_integer() else None
            fix = f"write {whole}" if whole is not None else "give a whole number"
            problems.append(f"{_key(error.absolute_path)}: {error.instance!r} is not an integer ({fix})")
    return problems


def _tiling_problems(config: Mapping[str, Any]) -> list[str]:
    from genotile.tracks.tiling import TilingError, validate_sizes

    problems = []
    sizes = [("tiling", config["tiling"]["window_bp"], config["tiling"]["owned_bp"], "owned_bp")]
    variants = config.get("variants", {})
    if variants.get("cohorts") and variants.get("mode") == "tiled" and variants.get("tile_owned_bp"):
        sizes.append(("variants", variants["window_bp"], variants["tile_owned_bp"], "tile_owned_bp"))
    for section, window, owned, owned_key in sizes:
        if not config["tracks"] and section == "tiling":
            continue
        try:
            validate_sizes(int(window), int(owned))
        except TilingError as exc:
            problems.append(f"{section}.window_bp / {section}.{owned_key}: {exc}")
            continue
        chunk = int(config.get("store", {}).get("chunk_bp") or owned)
        if section == "tiling" and int(owned) % chunk:  # init_store would stop on it, after the genome steps
            problems.append(f"store.chunk_bp = {chunk:,} does not divide tiling.owned_bp = {int(owned):,}: the owned "
                            f"regions of two jobs would share store chunks; use a chunk_bp that divides {int(owned):,} "
                            f"(e.g. {int(owned):,} itself)")
    return problems


def _gene_loss_problems(config: Mapping[str, Any], has_gtf: bool) -> list[str]:
    """``train.gene_loss_weight`` above 0 needs a GTF and new RNA-seq tracks (train_model would stop on either)."""
    from genotile.train.tracks_sheet import read_tracks_sheet

    weight = float(config["train"].get("gene_loss_weight") or 0)
    if weight <= 0:
        return []
    problems = []
    if not has_gtf:
        problems.append(f"train.gene_loss_weight = {weight:g} needs gene annotation for its gene masks: set "
                        "annotation.gtf (a GENCODE/Ensembl GTF), or set train.gene_loss_weight: 0")
    try:
        sheet = read_tracks_sheet(config["train"]["tracks_sheet"], check_files=False)
    except ValueError:
        return problems  # the sheet's own problem is reported by _train_problems
    if not (sheet["output_type"] == RNA_SEQ.output_type).any():
        problems.append(f"train.gene_loss_weight = {weight:g} applies to rna_seq tracks, but "
                        f"{config['train']['tracks_sheet']} has none; fix: add rna_seq rows to train.tracks_sheet, "
                        "or set train.gene_loss_weight: 0")
    return problems


def _train_problems(config: Mapping[str, Any], has_gtf: bool = False) -> list[str]:
    """The training window sizes and the tracks sheet (its rows and files), as the training rules will check them,
    and the gene-level loss's inputs (:func:`_gene_loss_problems`)."""
    from genotile.settings import SplitWindowsSettings
    from genotile.train.steps import check_split_sizes
    from genotile.train.tracks_sheet import read_tracks_sheet

    problems = []
    for check in (lambda: check_split_sizes(SplitWindowsSettings.from_config(config)),
                  lambda: read_tracks_sheet(config["train"]["tracks_sheet"],
                                            made_by_run=f"{config['results']}/{config['run']}")):
        try:
            check()
        except ValueError as exc:
            problems.append(f"train: {exc}")
    rate = float(config["train"].get("dropout_rate") or 0)
    mode = config["train"].get("mode", "heads")
    if rate > 0 and mode != "full":
        problems.append(f"train.dropout_rate = {rate:g} acts in mode full only (the train-mode tower), but train.mode "
                        f"is {mode}; fix: set train.dropout_rate: 0, or train.mode: full")
    return problems + _gene_loss_problems(config, has_gtf)


def _track_problems(config: Mapping[str, Any]) -> list[str]:
    """Resolve the track selection as ``plan_windows`` will (metadata, no weights)."""
    if not config["tracks"]:
        return []
    from genotile.settings import SelectionSettings
    from genotile.tracks.steps import resolve_track_selection

    new_tracks = None
    if is_finetuned(config["model"]) and (config.get("train") or {}).get("tracks_sheet"):
        # before training has run, the fine-tuned model's new tracks are the sheet's, in prepare_targets' order
        from genotile.model.metadata import organism_index
        from genotile.model.new_tracks import new_tracks_from_targets
        from genotile.train.targets import sheet_channels
        from genotile.train.tracks_sheet import SPLICE_ROW_TYPES, read_tracks_sheet

        try:
            sheet = sheet_channels(read_tracks_sheet(config["train"]["tracks_sheet"], check_files=False))
        except ValueError:
            return []  # the sheet's own problem is reported by _train_problems
        sheet = sheet[~sheet["output_type"].isin(SPLICE_ROW_TYPES)]  # splice rows train existing heads: no new tracks
        new_tracks = new_tracks_from_targets(sheet, organism_index(config["organism"])) if len(sheet) else None
    try:
        resolve_track_selection(SelectionSettings.from_config(config), new_tracks)
    except ValueError as exc:
        return [f"tracks: {exc}"]
    return []


def _explicit_specs(config: Mapping[str, Any]):
    from genotile.variants.engine import parse_scorers

    entries = [e for e in config["variants"]["scorers"] if not isinstance(e, str)]
    return parse_scorers(entries, config.get("organism", "human")) if entries else ()


def _scorer_problems(config: Mapping[str, Any], has_gtf: bool, has_pas: bool) -> list[str]:
    from genotile.variants.engine import parse_scorers
    from genotile.variants.scorers import REGISTRY

    variants = config.get("variants", {})
    if not variants.get("cohorts"):
        return []
    try:
        parse_scorers(variants["scorers"], config.get("organism", "human"))
        explicit = _explicit_specs(config)
    except ValueError as exc:
        return [f"variants.{exc}"]
    problems = []
    needs_gtf = sorted({s.scorer for s in explicit if REGISTRY[s.scorer].needs_genes})
    if needs_gtf and not has_gtf:
        problems.append(f"variants.scorers: {', '.join(needs_gtf)} need gene annotation: set annotation.gtf "
                        "(a GENCODE/Ensembl GTF), or drop them")
    needs_pas = sorted({s.scorer for s in explicit if REGISTRY[s.scorer].needs_pas})
    if needs_pas and not has_pas:
        problems.append(f"variants.scorers: {', '.join(needs_pas)} needs a PAS table: set annotation.pas, or drop it")
    return problems


def _fasta_contigs(fasta: Any) -> dict[str, int] | None:
    """Contig lengths from a local FASTA's ``.fai`` (cheap: no FASTA read); None for the demo genome, a URL or no index."""
    if not fasta or "://" in str(fasta):
        return None
    index = Path(f"{fasta}.fai")
    if not index.is_file():
        return None
    lengths = {}
    for line in index.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[1].isdigit():
            lengths[fields[0]] = int(fields[1])
    return lengths


def _ism_problems(config: Mapping[str, Any], has_gtf: bool, has_pas: bool) -> list[str]:
    """Each ISM region as the ``ism`` job will parse it, and the ISM scorers as :func:`_scorer_problems` checks cohorts'."""
    from genotile.variants.engine import parse_scorers
    from genotile.variants.ism import IsmError, parse_ism_region
    from genotile.variants.scorers import REGISTRY

    ism = config.get("ism") or {}
    regions = ism.get("regions") or {}
    if not regions:
        return []
    problems = []
    contigs = _fasta_contigs(config.get("genome", {}).get("fasta"))
    for name, text in regions.items():
        try:
            parse_ism_region(text, f"ism.regions.{name}", int(ism["window_bp"]), contigs)
        except IsmError as exc:
            problems.append(str(exc))
    organism = config.get("organism", "human")
    try:
        parse_scorers(ism["scorers"], organism)
        entries = [e for e in ism["scorers"] if not isinstance(e, str)]  # the recommended set skips what it cannot serve
        explicit = parse_scorers(entries, organism) if entries else ()
    except ValueError as exc:
        return [*problems, f"ism.{exc}"]
    needs_gtf = sorted({s.scorer for s in explicit if REGISTRY[s.scorer].needs_genes})
    if needs_gtf and not has_gtf:
        problems.append(f"ism.scorers: {', '.join(needs_gtf)} need gene annotation: set annotation.gtf, or drop them")
    needs_pas = sorted({s.scorer for s in explicit if REGISTRY[s.scorer].needs_pas})
    if needs_pas and not has_pas:
        problems.append(f"ism.scorers: {', '.join(needs_pas)} needs a PAS table: set annotation.pas, or drop it")
    return problems


def config_problems(config: Mapping[str, Any], schema_path: str | Path, has_gtf: bool, has_pas: bool) -> list[str]:
    """Every problem of a schema-validated config (defaults filled in) that would stop a job later.

    ``schema_path``: the workflow's config schema. ``has_gtf`` / ``has_pas``: whether the run has a
    gene annotation / PAS table (configured, or the demo annotation on the demo genome).
    """
    problems = type_problems(config, schema_path)
    if problems:  # sizes and selections cannot be judged on floats
        return problems
    training = bool(config.get("train", {}).get("tracks_sheet"))
    ism_regions = (config.get("ism") or {}).get("regions")
    if not config["tracks"] and not config.get("variants", {}).get("cohorts") and not training and not ism_regions:
        return ["nothing to do: `tracks` is empty, `variants.cohorts` names no cohort and `ism.regions` no region; "
                "select tracks to predict, a cohort VCF to score, a region to mutate, or several (config/README.md)"]
    problems += _tiling_problems(config)
    problems += _train_problems(config, has_gtf) if training else []
    problems += _scorer_problems(config, has_gtf, has_pas)
    problems += _ism_problems(config, has_gtf, has_pas)
    problems += _track_problems(config)
    return problems


def config_notes(config: Mapping[str, Any], has_gtf: bool, has_pas: bool) -> list[str]:
    """What the run skips on purpose, said before the first job (and again in each score job's log)."""
    from genotile.variants.engine import parse_scorers, scorers_for_annotation

    notes = []
    variants = config.get("variants", {})
    if variants.get("cohorts"):
        specs = parse_scorers(variants["scorers"], config.get("organism", "human"))
        notes += scorers_for_annotation(specs, has_gtf, has_pas)[1]
    ism = config.get("ism") or {}
    if ism.get("regions"):
        specs = parse_scorers(ism["scorers"], config.get("organism", "human"))
        notes += [f"ism: {note}" for note in scorers_for_annotation(specs, has_gtf, has_pas)[1]]
    return notes
