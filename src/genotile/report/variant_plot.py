"""REF vs ALT tracks around a cohort's strongest variant, for the Snakemake report.

Why this plot: a score is one number per (variant, scorer, track); a reader checking a hit wants to
see the two predictions it came from. The variant is the one with the largest ``|score|`` among the
cohort's centre-mask effect scores (the summaries' ``summary_variants.parquet``; ``ACTIVE_*`` scores
measure activity, not a change, and are left out), and the output plotted is that scorer's output, so the picture is the one the score summarises.

The passes are the scoring engine's own: the window is :func:`genotile.variants.sequences.variant_window`
(the reference's centring), the inputs :func:`~genotile.variants.sequences.ref_alt_sequences`, and the
forward :class:`genotile.variants.predict.VariantModel` on the configured model
(:func:`genotile.model.loading.load_predictor`). As in the centre-mask scorer, ALT is drawn as
predicted (not re-aligned for indels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from genotile.outputs import CONTACT_MAPS, SCORER_OUTPUTS, SPLICE_JUNCTIONS
from genotile.report.track_plot import Region, draw_genes, message_figure, save_figure

__all__ = ["Hit", "RefAlt", "plot_ref_alt", "plot_variant", "predict_ref_alt", "strongest_variant"]

#: Output types whose predictions are 1-D tracks (what a REF/ALT line plot can show).
TRACK_OUTPUTS: Final = frozenset(SCORER_OUTPUTS) - {CONTACT_MAPS.scorer_output, SPLICE_JUNCTIONS.scorer_output}
#: Tracks drawn (the hit's track first, then the next ones in head order).
MAX_TRACKS: Final = 3


@dataclass(frozen=True)
class Hit:
    """The strongest variant: its table row (``variant_id, chrom, pos, ref, alt``), scorer, output, track and score."""

    variant: Any
    scorer: str
    output: str
    track_name: str
    score: float


@dataclass(frozen=True)
class RefAlt:
    """REF and ALT predictions ``[bins, tracks]`` of one output over ``region``, the track names and bp per bin."""

    region: Region
    ref: np.ndarray
    alt: np.ndarray
    names: list[str]
    resolution: int


def strongest_variant(summary: pd.DataFrame, variants: pd.DataFrame) -> Hit | None:
    """The variant with the largest ``|score|`` among centre-mask effect rows (not ``ACTIVE_*``) on a track output;
    None when there is none.

    Why centre masks only: their scores are comparable across variants of one output, and they
    need no annotation, so every run that scores variants has them (the recommended set does).
    """
    if summary.empty or variants.empty:
        return None
    parts = summary["scorer"].astype(str).str.split("|", expand=True)
    effect = ~parts[3].fillna("").str.startswith("ACTIVE")  # ACTIVE_* aggregations measure activity, not a change
    rows = summary[(parts[0] == "CenterMask") & parts[1].isin(TRACK_OUTPUTS) & effect].dropna(subset=["score"])
    if rows.empty:
        return None
    best = rows.loc[rows["score"].abs().idxmax()]
    match = variants[variants["variant_id"] == best["variant_id"]]
    if match.empty:
        return None
    return Hit(next(match.itertuples(index=False)), str(best["scorer"]), str(best["scorer"]).split("|")[1],
               str(best["track_name"]), float(best["score"]))


def predict_ref_alt(predictor: Any, genome: Any, hit: Hit, window_bp: int, organism: int | str = "human") -> RefAlt:
    """REF and ALT forward passes of ``hit``'s centred window for its output (the scoring engine's passes)."""
    from genotile.sequence.encoding import one_hot
    from genotile.variants.predict import VariantModel
    from genotile.variants.scorers import resolution_for_output
    from genotile.variants.sequences import ref_alt_sequences, variant_window

    v = hit.variant
    start, end = variant_window(v.chrom, int(v.pos), v.ref, v.alt, window_bp, genome.length(v.chrom))
    ref_seq, alt_seq = ref_alt_sequences(genome.sequence, v.chrom, start, end, int(v.pos), v.ref, v.alt)
    model = VariantModel(predictor, [hit.output], organism)
    ref, alt = model.predict(np.stack([one_hot(ref_seq), one_hot(alt_seq)]), 2)
    names = model.tracks[hit.output]["name"].astype(str).tolist()
    return RefAlt(Region(v.chrom, start, end, f"{v.variant_id}"), ref.values[hit.output], alt.values[hit.output],
                  names, resolution_for_output(hit.output))


def plot_ref_alt(pair: RefAlt, hit: Hit, genes: pd.DataFrame | None = None, exons: pd.DataFrame | None = None) -> Any:
    """REF and ALT lines (top), ALT - REF (middle) and the gene lane (bottom), the variant marked in each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = _track_order(pair.names, hit.track_name)
    region, res = pair.region, pair.resolution
    x = region.start + np.arange(pair.ref.shape[0]) * res + res / 2
    fig, axes = plt.subplots(3, 1, figsize=(11, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.2]})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, t in enumerate(order):
        c = colours[k % len(colours)]
        axes[0].plot(x, pair.ref[:, t], color=c, lw=0.8, label=f"{pair.names[t]} REF")
        axes[0].plot(x, pair.alt[:, t], color=c, lw=0.8, ls="--", label=f"{pair.names[t]} ALT")
        axes[1].plot(x, pair.alt[:, t] - pair.ref[:, t], color=c, lw=0.8, label=pair.names[t])
    v = hit.variant
    for ax in axes:
        ax.axvline(int(v.pos) - 0.5, color="crimson", lw=0.8, alpha=0.6)
    axes[0].set_ylabel(f"{hit.output}\n{res} bp", rotation=0, ha="right", va="center", fontsize=8)
    axes[1].set_ylabel("ALT - REF", rotation=0, ha="right", va="center", fontsize=8)
    axes[0].legend(loc="upper right", fontsize=6, ncol=len(order), frameon=False)
    for ax in axes[:2]:
        ax.spines[["top", "right"]].set_visible(False)
    draw_genes(axes[2], genes, exons, region)
    axes[2].set_xlim(region.start, region.end)
    axes[2].set_xlabel(f"{region.contig} (bp); red line: the variant")
    fig.suptitle(f"{v.variant_id} ({v.chrom}:{int(v.pos):,} {v.ref}>{v.alt}): REF vs ALT {hit.output}, window {region}\n"
                 f"strongest centre-mask score {hit.score:.4g} ({hit.scorer}, track {hit.track_name})", fontsize=9)
    fig.tight_layout()
    return fig


def _track_order(names: list[str], first: str) -> list[int]:
    lead = names.index(first) if first in names else 0
    return [lead, *[i for i in range(len(names)) if i != lead]][:MAX_TRACKS]


def plot_variant(
    model_cfg: Mapping[str, Any], fasta: str, variants_path: str, summary_path: str, out_png: str,
    window_bp: int, organism: str = "human", gtf: str | None = None, predictor: Any = None,
) -> Hit | None:
    """The workflow's ``plot_variant`` step: REF vs ALT around the cohort's strongest variant into ``out_png``.

    A cohort with no centre-mask score (no variant passed normalisation, or no such scorer) still
    gets a figure that says so, so the report always has one per cohort. ``predictor`` (tests)
    skips loading the configured model.
    """
    from genotile.runtime.tables import read_parquet
    from genotile.sequence.fasta import Genome

    hit = strongest_variant(read_parquet(summary_path), read_parquet(variants_path))
    if hit is None:
        save_figure(message_figure("no centre-mask score in this cohort: no REF vs ALT plot"), out_png)
        return None
    if predictor is None:
        from genotile.model.loading import load_predictor

        predictor = load_predictor(model_cfg)
    genome = Genome(fasta)
    pair = predict_ref_alt(predictor, genome, hit, window_bp, organism)
    genes = exons = None
    if gtf:
        from genotile.variants.annotation import AnnotationError, read_gtf

        try:
            annotation = read_gtf(gtf, contigs=[pair.region.contig])
            genes, exons = annotation.genes, annotation.exons
        except AnnotationError:  # no gene on this contig: the lane says so
            pass
    save_figure(plot_ref_alt(pair, hit, genes, exons), out_png)
    return hit
