"""Summaries of scored variants: per variant, per gene and per sample, call rates, plus figures.

* **Per variant** (``summary_variants.parquet``): for each scorer, the ``top_k`` rows with the
  largest ``|score|`` (track, and gene/junction where the scorer has one), with the variant's
  call rate.
* **Per gene** (``summary_genes.parquet``): for gene-level scorers, per gene and scorer, how
  many variants were scored, the largest ``|score|`` and which variant/track gave it.
* **Per sample** (``sample_variants.parquet``, ``summary_samples.parquet``): each sample's
  carried scored variants with dosage (0 never listed), and per scorer (and gene, for gene
  scorers) the number of *high-effect* variants carried, how many of them the sample has a call
  for, the summed dosage and the dosage-weighted sum of ``|score|``.
* **Call rates** (``sample_call_rates.parquet``, ``variant_call_rates.parquet``): per sample and
  per variant, calls made, calls missing, the call rate, carriers and ALT copies.

Missing calls: a genotype with a missing allele (``./.``, ``./1``) is a missing call. It adds no
dosage and is not counted as a non-carrier either: ``called_variants`` next to each burden says
how many of the high-effect variants the sample was called at, so a burden of 0 out of 0 called
is not read as 0 out of 10.

High effect: a variant's effect for a scorer is its largest ``|score|`` over tracks (and genes);
it is *high* when it reaches the scorer's threshold: a fixed number from the config where given,
else the ``high_effect_quantile`` of that scorer's effects over the cohort (default 0.9). Why a
quantile default: score scales differ by orders of magnitude between scorers (log fold changes
vs. summed coverage), so one fixed number cannot fit all.

Figures are built by functions that return a matplotlib ``Figure`` (tests inspect them) and stay
readable from a handful of samples to tens of thousands: up to :data:`LABELLED_SAMPLES` samples are
drawn as labelled bars; larger cohorts as samples ranked by burden, with the top ones labelled.
Every scorer has its own colour (up to 60) and a legend entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from genotile.variants.genotypes import call_rates as genotype_call_rates
from genotile.variants.scorers import REGISTRY as SCORER_KINDS
from genotile.variants.scorers import Scorer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LABELLED_SAMPLES", "ScorerTable", "call_rates", "effect_distributions_figure", "figures", "per_gene",
    "per_sample", "per_variant", "sample_burden", "sample_burden_figure", "scorer_colours", "variant_effects",
    "write_summaries",
]  # fmt: skip

#: Cohorts up to this size get one labelled bar per sample; larger ones are ranked (labels would overprint).
LABELLED_SAMPLES = 50
#: Samples labelled in the "highest burden" panel of a large cohort.
TOP_SAMPLES = 25
NO_VARIANTS = "no variants to score"


def per_variant(table: pd.DataFrame, top_k: int = 5) -> pd.DataFrame:
    """The ``top_k`` rows of largest ``|score|`` per variant of one scorer's tidy table."""
    cols = ["variant_id", "scorer", "gene_id", "gene_name", "junction_start", "junction_end", "track_name", "score"]
    if table.empty:
        return pd.DataFrame(columns=[*cols, "rank"])
    ordered = table.assign(_abs=table["score"].abs()).dropna(subset=["_abs"])
    ordered = ordered.sort_values(["variant_id", "_abs"], ascending=[True, False], kind="stable")
    top = ordered.groupby("variant_id", sort=False).head(top_k)[cols].copy()
    top["rank"] = top.groupby("variant_id").cumcount() + 1
    return top.reset_index(drop=True)


def variant_effects(table: pd.DataFrame, by_gene: bool) -> pd.DataFrame:
    """Largest ``|score|`` per variant (and gene) of one scorer: columns variant_id[, gene_id], effect."""
    keys = ["variant_id", "gene_id"] if by_gene else ["variant_id"]
    if table.empty:
        return pd.DataFrame(columns=[*keys, "effect"])
    effect = table.assign(effect=table["score"].abs()).groupby(keys, sort=False)["effect"].max()
    return effect.reset_index().dropna(subset=["effect"])


def per_gene(table: pd.DataFrame) -> pd.DataFrame:
    """Per gene of a gene-level scorer: n_variants, max_abs_score and the variant and track that gave it."""
    cols = ["scorer", "gene_id", "gene_name", "n_variants", "max_abs_score", "top_variant_id", "top_track"]
    rows = table[table["gene_id"] != ""].dropna(subset=["score"]) if not table.empty else table
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows = rows.assign(_abs=rows["score"].abs())
    best = rows.sort_values("_abs", ascending=False, kind="stable").drop_duplicates("gene_id")
    counts = rows.groupby("gene_id")["variant_id"].nunique()
    out = pd.DataFrame({
        "scorer": best["scorer"].to_numpy(), "gene_id": best["gene_id"].to_numpy(), "gene_name": best["gene_name"].to_numpy(),
        "n_variants": counts.reindex(best["gene_id"]).to_numpy(np.int64), "max_abs_score": best["_abs"].to_numpy(np.float32),
        "top_variant_id": best["variant_id"].to_numpy(), "top_track": best["track_name"].to_numpy(),
    })
    return out.sort_values("max_abs_score", ascending=False, kind="stable").reset_index(drop=True)


def threshold_for(scorer: str, effects: pd.Series, thresholds: Mapping[str, float], quantile: float) -> float:
    """The high-effect threshold of a scorer: configured, else the cohort quantile of its effects."""
    if scorer in thresholds:
        return float(thresholds[scorer])
    values = effects.to_numpy(np.float64)
    return float(np.quantile(values, quantile)) if values.size else float("inf")


def _high_effect(scorer: str, eff: pd.DataFrame, thresholds: Mapping[str, float], quantile: float) -> tuple[float, pd.DataFrame]:
    """``(threshold, rows of eff at or above it)`` for one scorer's :func:`variant_effects`."""
    cut = threshold_for(scorer, eff.groupby("variant_id")["effect"].max(), thresholds, quantile)
    return cut, eff[eff["effect"] >= cut]


def _called_dosage(dosage: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    """Dosage with missing calls set to 0 copies (a missing call adds no dosage)."""
    return dosage if missing is None else np.where(missing, 0, dosage).astype(dosage.dtype)


def call_rates(variant_ids: pd.Series, dosage: np.ndarray, missing: np.ndarray, samples: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per sample, per variant)`` call-rate tables from the ``[V, N]`` dosage and missing-call matrices.

    The rates are :func:`genotile.variants.genotypes.call_rates`; the tables add the counts behind them.
    Columns: ``sample``/``variant_id``, ``called_variants``/``called_samples`` (calls made),
    ``missing_calls``/``missing_samples``, ``call_rate`` (NaN when there is nothing to call),
    ``carried_variants``/``carriers`` (called with at least one ALT copy) and ``alt_copies``.
    """
    called = ~missing
    d = _called_dosage(dosage, missing).astype(np.int64)
    sample_rate, variant_rate = genotype_call_rates(missing)
    per_sample = pd.DataFrame({
        "sample": np.asarray(samples, dtype=object), "called_variants": called.sum(axis=0).astype(np.int64),
        "missing_calls": missing.sum(axis=0).astype(np.int64), "call_rate": sample_rate.astype(np.float64),
        "carried_variants": (d > 0).sum(axis=0).astype(np.int64), "alt_copies": d.sum(axis=0).astype(np.int64),
    })
    per_variant = pd.DataFrame({
        "variant_id": variant_ids.to_numpy(dtype=object), "called_samples": called.sum(axis=1).astype(np.int64),
        "missing_samples": missing.sum(axis=1).astype(np.int64), "call_rate": variant_rate.astype(np.float64),
        "carriers": (d > 0).sum(axis=1).astype(np.int64), "alt_copies": d.sum(axis=1).astype(np.int64),
    })
    return per_sample, per_variant


SAMPLE_SUMMARY_COLUMNS = ("sample", "scorer", "gene_id", "threshold", "n_high_effect", "called_variants", "dosage_sum",
                          "weighted_effect_sum", "call_rate")


def per_sample(
    variant_ids: pd.Series,
    dosage: np.ndarray,
    samples: list[str],
    effects: Mapping[str, pd.DataFrame],
    thresholds: Mapping[str, float] | None = None,
    quantile: float = 0.9,
    missing: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(sample_variants, summary_samples)`` from dosages ``[V, N]`` and per-scorer effects.

    ``effects[scorer]`` is :func:`variant_effects` output (with ``gene_id`` for gene scorers).
    ``missing`` ``[V, N]`` marks missing calls: they add no dosage, and ``called_variants`` counts
    only the high-effect variants the sample has a call for. ``call_rate`` is the sample's call
    rate over all scored variants.
    """
    thresholds = dict(thresholds or {})
    missing = np.zeros(dosage.shape, bool) if missing is None else missing
    d_all = _called_dosage(dosage, missing)
    ids = pd.Index(variant_ids.to_numpy())
    names = np.asarray(samples, object)
    v_idx, s_idx = np.nonzero(d_all > 0)
    carried = pd.DataFrame({
        "sample": names[s_idx], "variant_id": ids.to_numpy()[v_idx], "dosage": d_all[v_idx, s_idx].astype(np.int8),
    })
    sample_rate, _ = genotype_call_rates(missing)
    parts = []
    for scorer, eff in effects.items():
        if eff.empty:
            continue
        cut, high = _high_effect(scorer, eff, thresholds, quantile)
        if high.empty:
            continue
        groups = high.groupby("gene_id", sort=False) if "gene_id" in high else [("", high)]
        for gene_id, g in groups:
            rows_v = ids.get_indexer(g["variant_id"])
            ok = rows_v >= 0
            d = d_all[rows_v[ok]].astype(np.int32)  # [v, N]
            eff_values = g["effect"].to_numpy(np.float64)[ok][:, None]
            n_high = (d > 0).sum(axis=0)
            keep = np.nonzero(n_high)[0]
            if not keep.size:
                continue
            parts.append(pd.DataFrame({
                "sample": names[keep], "scorer": scorer, "gene_id": gene_id, "threshold": cut,
                "n_high_effect": n_high[keep].astype(np.int64),
                "called_variants": (~missing[rows_v[ok]]).sum(axis=0)[keep].astype(np.int64),
                "dosage_sum": d.sum(axis=0)[keep].astype(np.int64),
                "weighted_effect_sum": (d * eff_values).sum(axis=0)[keep].astype(np.float64),
                "call_rate": sample_rate[keep].astype(np.float64),
            }))
    empty = pd.DataFrame({c: pd.Series(dtype=object if c in ("sample", "scorer", "gene_id") else np.float64)
                          for c in SAMPLE_SUMMARY_COLUMNS})
    summary = pd.concat(parts, ignore_index=True) if parts else empty
    return carried, summary


def sample_burden(
    variant_ids: pd.Series,
    dosage: np.ndarray,
    samples: list[str],
    effects: Mapping[str, pd.DataFrame],
    thresholds: Mapping[str, float] | None = None,
    quantile: float = 0.9,
    missing: np.ndarray | None = None,
) -> pd.DataFrame:
    """Samples x scorers: distinct high-effect variants each sample carries (called, dosage > 0).

    Why not sum ``summary_samples``: a gene scorer's variant that is high-effect in two genes
    would count twice there.
    """
    thresholds = dict(thresholds or {})
    d_all = _called_dosage(dosage, missing)
    ids = pd.Index(variant_ids.to_numpy())
    columns = {}
    for scorer, eff in effects.items():
        if eff.empty:
            continue
        _, high = _high_effect(scorer, eff, thresholds, quantile)
        rows_v = ids.get_indexer(pd.unique(high["variant_id"]))
        columns[scorer] = (d_all[rows_v[rows_v >= 0]] > 0).sum(axis=0).astype(np.int64)
    return pd.DataFrame(columns, index=pd.Index(samples, name="sample"), dtype=np.int64)


def scorer_colours(names: Sequence[str]) -> dict[str, tuple[float, float, float, float]]:
    """A distinct colour per scorer, the same in every figure (47 before any repeats).

    matplotlib's qualitative maps give 10 (tab10) or 12 (Set3) colours each; after tab10 come the
    dark and the mid shades of tab20b's five hues (kept apart from tab10's), then Set3's pastels,
    then tab20's light shades, so the first ~30 scorers stay easy to tell apart.
    """
    import matplotlib

    maps = matplotlib.colormaps
    b = maps["tab20b"].colors
    palette = [*maps["tab10"].colors, *b[0::4], *b[2::4], *maps["Set3"].colors, *maps["tab20"].colors[1::2]]
    return {name: (*palette[i % len(palette)][:3], 1.0) for i, name in enumerate(names)}


def _empty_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="0.35")


def effect_distributions_figure(effects: Mapping[str, pd.DataFrame], colours: Mapping[str, tuple] | None = None,
                                note: str | None = None) -> Figure:
    """One histogram per scorer (a grid of panels, each with its own scale and axis labels)."""
    from matplotlib.figure import Figure

    names = [k for k, v in effects.items() if not v.empty]
    colours = dict(colours or scorer_colours(names))
    ncols = 1 if len(names) <= 4 else 2 if len(names) <= 12 else 3
    nrows = max(1, -(-len(names) // ncols))
    fig = Figure(figsize=(4.2 * ncols, 2.1 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[max(1, len(names)):]:
        ax.remove()  # the grid's unused cells
    if not names:
        ax = axes[0, 0]
        _empty_note(ax, note or "no scores")
        ax.set_xlabel("variant effect (largest |score|)")
        ax.set_ylabel("variants")
    for ax, name in zip(axes.ravel(), names):
        values = effects[name].groupby("variant_id")["effect"].max().to_numpy(np.float64)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=30, histtype="stepfilled", color=colours.get(name, "#4472c4"))
        ax.set_title(f"{name} ({values.size:,} variants)", fontsize=8)
        ax.set_xlabel("variant effect (largest |score|)", fontsize=7)
        ax.set_ylabel("variants", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle("distribution of variant effects per scorer", fontsize=10)
    return fig


def _stacked_bars(ax, burden: pd.DataFrame, colours: Mapping[str, tuple]) -> None:
    """Labelled bars, one per sample, stacked over scorers."""
    x = np.arange(len(burden))
    bottom = np.zeros(len(burden))
    for name in burden.columns:
        values = burden[name].to_numpy(np.float64)
        ax.bar(x, values, bottom=bottom, width=0.8, color=colours[name], label=name, linewidth=0)
        bottom += values
    ax.set_xticks(x, [str(s) for s in burden.index], rotation=90 if len(burden) > 8 else 0,
                  fontsize=8 if len(burden) <= 25 else 6)
    ax.set_xlim(-0.6, len(burden) - 0.4)


def sample_burden_figure(burden: pd.DataFrame, colours: Mapping[str, tuple] | None = None, note: str | None = None,
                         labelled: int = LABELLED_SAMPLES, top: int = TOP_SAMPLES) -> Figure:
    """High-effect burden per sample, stacked over scorers, with a legend of the scorers' colours.

    Up to ``labelled`` samples: one labelled bar each, in cohort order. More (one label per sample
    would overprint): the total burden of every sample ranked, labelled bars of the ``top``
    samples with the highest burden, and per scorer the spread of the burden over all samples.
    """
    from matplotlib.figure import Figure

    burden = burden.loc[:, burden.sum(axis=0) > 0] if not burden.empty else burden
    colours = dict(colours or scorer_colours(list(burden.columns)))
    n, k = burden.shape
    legend_cols = 1 if k <= 16 else 2
    legend_width = 0 if burden.empty else 2.7 * legend_cols
    ylabel = "high-effect variants carried"
    title = "high-effect variant burden per sample (missing calls add no copy)"
    if burden.empty or n <= labelled:
        fig = Figure(figsize=(min(4.0 + 0.22 * max(n, 6), 16.0) + legend_width, 4.6), layout="constrained")
        ax = fig.subplots()
        if burden.empty:
            _empty_note(ax, note or ("the VCF has no samples" if n == 0 else "no high-effect variants carried"))
            ax.set_xticks([])
        else:
            _stacked_bars(ax, burden, colours)
            ax.set_title("stacked over scorers", fontsize=9)
        ax.set_xlabel(f"sample ({n:,})")
        ax.set_ylabel(ylabel)
        legend_ax = ax
    else:
        fig = Figure(figsize=(11.0 + legend_width, 7.2 + 0.24 * k), layout="constrained")
        ranked_ax, top_ax, spread_ax = fig.subplots(3, 1, height_ratios=[2.4, 3.4, 0.8 + 0.24 * k])
        total = burden.sum(axis=1).sort_values(ascending=False, kind="stable")
        rank = np.arange(1, n + 1)
        ranked_ax.fill_between(rank, total.to_numpy(np.float64), step="mid", color="0.55", linewidth=0)
        for q, style in ((0.5, "-"), (0.9, "--"), (0.99, ":")):
            value = float(np.quantile(total, q))
            ranked_ax.axhline(value, color="0.15", linestyle=style, linewidth=0.8, label=f"{q:.0%} quantile ({value:,.0f})")
        ranked_ax.set_xlim(0.5, n + 0.5)
        ranked_ax.set_xlabel(f"samples ranked by total burden (1 = highest; {n:,} samples)")
        ranked_ax.set_ylabel(f"{ylabel}\n(all scorers)")
        ranked_ax.set_title(f"total per sample, all {n:,} samples", fontsize=9)
        ranked_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
        _stacked_bars(top_ax, burden.loc[total.index[:top]], colours)
        top_ax.set_xlabel("sample")
        top_ax.set_ylabel(ylabel)
        top_ax.set_title(f"the {min(top, n)} samples with the highest burden, stacked over scorers", fontsize=9)
        names = list(burden.columns)
        boxes = spread_ax.boxplot([burden[c].to_numpy(np.float64) for c in names], orientation="horizontal",
                                  whis=(1, 99), showfliers=False, patch_artist=True, widths=0.6,
                                  medianprops={"color": "black", "linewidth": 1.2})
        for patch, name in zip(boxes["boxes"], names):
            patch.set_facecolor(colours[name])
        spread_ax.set_yticks(np.arange(1, k + 1), names, fontsize=7)
        spread_ax.invert_yaxis()
        spread_ax.set_xlabel(f"{ylabel} per sample (box: quartiles, whiskers: 1% to 99% of {n:,} samples)")
        spread_ax.set_ylabel("scorer")
        spread_ax.set_title("per scorer, over all samples", fontsize=9)
        legend_ax = top_ax
    if not burden.empty:
        legend_ax.legend(title="scorer", fontsize=7, title_fontsize=8, ncols=legend_cols, loc="upper left",
                         bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def figures(effects: Mapping[str, pd.DataFrame], burden: pd.DataFrame, folder: str | os.PathLike[str],
            note: str | None = None) -> list[Path]:
    """Two PNGs: the distribution of variant effects per scorer, and high-effect burden per sample.

    ``note`` is what an empty figure says (default: why it is empty, e.g. no samples).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    colours = scorer_colours([k for k, v in effects.items() if not v.empty])
    written = []
    for name, fig in (("effect_distributions.png", effect_distributions_figure(effects, colours, note)),
                      ("sample_burden.png", sample_burden_figure(burden, colours, note))):
        path = folder / name
        fig.savefig(path, dpi=100)
        written.append(path)
    return written


def scorer_kind(kind: str) -> type[Scorer]:
    """The registered scorer class of a kind recorded in the merge's done-file, or a message saying so."""
    try:
        return SCORER_KINDS[kind]
    except KeyError:
        raise ValueError(f"scores.done.json names scorer kind {kind!r}, which this genotile does not know "
                         f"({', '.join(SCORER_KINDS)}); re-run the merge with this version") from None


@dataclass(frozen=True)
class ScorerTable:
    """One merged scorer table as the merge's done-file records it: id, kind and the tidy rows.

    ``by_gene`` (rows per gene, summarised per gene too) defaults to what the kind's registered scorer
    says (:attr:`genotile.variants.scorers.Scorer.needs_genes`): the kind comes from the recorded spec,
    never from the table's file name.
    """

    name: str
    kind: str
    table: pd.DataFrame
    by_gene: bool | None = None

    def __post_init__(self) -> None:
        if self.by_gene is None:
            object.__setattr__(self, "by_gene", scorer_kind(self.kind).needs_genes)


def write_summaries(
    tables: Sequence[ScorerTable],
    variants: pd.DataFrame,
    dosage: np.ndarray,
    missing: np.ndarray,
    samples: list[str],
    folder: str | os.PathLike[str],
    top_k: int = 5,
    thresholds: Mapping[str, float] | None = None,
    quantile: float = 0.9,
) -> list[str]:
    """Every summary table and figure of a cohort into ``folder`` (which must be new); returns the files written.

    An empty cohort (no variant to score) gets the same files, empty, and figures that say so.
    """
    folder = Path(folder)
    folder.mkdir(parents=True)
    ids = variants["variant_id"] if "variant_id" in variants else pd.Series([], dtype=object)
    sample_rates, variant_rates = call_rates(ids, dosage, missing, samples)
    top, genes, effects = [], [], {}
    for scorer in tables:
        top.append(per_variant(scorer.table, top_k))
        if scorer.by_gene:
            genes.append(per_gene(scorer.table))
        effects[scorer.name] = variant_effects(scorer.table, by_gene=scorer.by_gene)
    top_frame = pd.concat([t for t in top if len(t)], ignore_index=True) if any(len(t) for t in top) else per_variant(pd.DataFrame())
    top_frame = top_frame.merge(variant_rates[["variant_id", "call_rate"]], on="variant_id", how="left")
    gene_frames = [g for g in genes if len(g)]
    gene_frame = pd.concat(gene_frames, ignore_index=True) if gene_frames else per_gene(pd.DataFrame())
    carried, per_sample_frame = per_sample(ids, dosage, samples, effects, thresholds, quantile, missing)
    burden = sample_burden(ids, dosage, samples, effects, thresholds, quantile, missing)
    tables_out = {
        "summary_variants.parquet": top_frame, "summary_genes.parquet": gene_frame,
        "sample_variants.parquet": carried, "summary_samples.parquet": per_sample_frame,
        "sample_call_rates.parquet": sample_rates, "variant_call_rates.parquet": variant_rates,
    }
    for name, frame in tables_out.items():
        frame.to_parquet(folder / name, index=False)
    note = NO_VARIANTS if variants.empty else None
    pngs = figures(effects, burden, folder / "figures", note)
    return [*tables_out, *(p.relative_to(folder).as_posix() for p in pngs)]
