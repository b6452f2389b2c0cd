"""Summaries of scored variants: per variant, per gene and per sample, plus figures.

* **Per variant** (``summary_variants.parquet``): for each scorer, the ``top_k`` rows with the
  largest ``|score|`` (track, and gene/junction where the scorer has one).
* **Per gene** (``summary_genes.parquet``): for gene-level scorers, per gene and scorer, how
  many variants were scored, the largest ``|score|`` and which variant/track gave it.
* **Per sample** (``sample_variants.parquet``, ``summary_samples.parquet``): each sample's
  carried scored variants with dosage (0 never listed), and per scorer (and gene, for gene
  scorers) the number of *high-effect* variants carried, the summed dosage and the
  dosage-weighted sum of ``|score|``.

High effect: a variant's effect for a scorer is its largest ``|score|`` over tracks (and genes);
it is *high* when it reaches the scorer's threshold: a fixed number from the config where given,
else the ``high_effect_quantile`` of that scorer's effects over the cohort (default 0.9). Why a
quantile default: score scales differ by orders of magnitude between scorers (log fold changes
vs. summed coverage), so one fixed number cannot fit all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["figures", "per_gene", "per_sample", "per_variant", "variant_effects"]


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


def per_sample(
    variant_ids: pd.Series,
    dosage: np.ndarray,
    samples: list[str],
    effects: Mapping[str, pd.DataFrame],
    thresholds: Mapping[str, float] | None = None,
    quantile: float = 0.9,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(sample_variants, summary_samples)`` from dosages ``[V, N]`` and per-scorer effects.

    ``effects[scorer]`` is :func:`variant_effects` output (with ``gene_id`` for gene scorers).
    """
    thresholds = dict(thresholds or {})
    ids = pd.Index(variant_ids.to_numpy())
    v_idx, s_idx = np.nonzero(dosage > 0)
    carried = pd.DataFrame({
        "sample": np.asarray(samples, object)[s_idx], "variant_id": ids.to_numpy()[v_idx],
        "dosage": dosage[v_idx, s_idx].astype(np.int8),
    })
    rows = []
    for scorer, eff in effects.items():
        if eff.empty:
            continue
        cut = threshold_for(scorer, eff.groupby("variant_id")["effect"].max(), thresholds, quantile)
        high = eff[eff["effect"] >= cut]
        if high.empty:
            continue
        groups = high.groupby("gene_id", sort=False) if "gene_id" in high else [("", high)]
        for gene_id, g in groups:
            rows_v = ids.get_indexer(g["variant_id"])
            ok = rows_v >= 0
            d = dosage[rows_v[ok]].astype(np.int32)  # [v, N]
            eff_values = g["effect"].to_numpy(np.float64)[ok][:, None]
            n_high = (d > 0).sum(axis=0)
            for s, name in enumerate(samples):
                if n_high[s]:
                    rows.append((name, scorer, gene_id, cut, int(n_high[s]), int(d[:, s].sum()),
                                 float((d[:, s:s + 1] * eff_values).sum())))
    summary = pd.DataFrame(rows, columns=["sample", "scorer", "gene_id", "threshold", "n_high_effect", "dosage_sum",
                                          "weighted_effect_sum"])
    return carried, summary


def figures(effects: Mapping[str, pd.DataFrame], summary_samples: pd.DataFrame, folder: str | os.PathLike[str]) -> list[Path]:
    """Two PNGs: the distribution of variant effects per scorer, and high-effect burden per sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    names = [k for k, v in effects.items() if not v.empty]
    fig, axes = plt.subplots(max(1, len(names)), 1, figsize=(7, 1.6 * max(1, len(names))), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        values = effects[name].groupby("variant_id")["effect"].max().to_numpy(np.float64)
        ax.hist(values[np.isfinite(values)], bins=30, color="#4472c4")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("variant effect (largest |score|)")
    fig.tight_layout()
    path = folder / "effect_distributions.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(8, 4))
    if not summary_samples.empty:
        burden = summary_samples.groupby(["sample", "scorer"])["n_high_effect"].sum().unstack(fill_value=0)
        burden.plot.bar(stacked=True, ax=ax, legend=False)
        ax.set_ylabel("high-effect variants carried")
    ax.set_title("high-effect variant burden per sample (stacked over scorers)")
    fig.tight_layout()
    path = folder / "sample_burden.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    return written
