"""The fine-tune in the Snakemake report: learning curves, observed vs predicted, and the evaluation table.

Why these three: the learning curve shows whether training converged and which step was delivered (the
lowest validation loss); observed against the untrained and the fine-tuned model over one held-out
window shows what a Pearson value means on the data; the page lists every evaluated track's Pearson
(new tracks against the observed data, original tracks against the base model), so a regression of the
original tracks is visible next to the gain on the new ones.
"""

from __future__ import annotations

import os
from typing import Final

import pandas as pd

from genotile.report.pages import html_page
from genotile.report.track_plot import save_figure
from genotile.runtime.atomic import write_text
from genotile.train.evaluate_model import FINE_TUNED, UNTRAINED

__all__ = ["evaluation_page", "plot_learning_curve", "plot_observed_vs_predicted", "plot_training"]

#: At most this many new tracks get a panel in the observed-vs-predicted figure (the first, in sheet order).
MAX_PANELS: Final = 6


def _figure(rows: int, width: float = 9.0, height: float = 2.4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, 1, figsize=(width, 0.6 + height * rows), squeeze=False)
    return fig, axes[:, 0]


def plot_learning_curve(curve: pd.DataFrame):
    """Training (logged batches) and validation loss against the step; the delivered (best) step marked."""
    fig, (ax,) = _figure(1, height=3.2)
    for split, style in (("train", {"color": "0.6", "lw": 1}), ("validation", {"color": "C0", "lw": 2, "marker": "o"})):
        rows = curve[curve["split"] == split].sort_values("step")
        if len(rows):
            ax.plot(rows["step"], rows["loss"], label=split, **style)
    validation = curve[curve["split"] == "validation"]
    if len(validation):
        best = validation.loc[validation["loss"].idxmin()]
        ax.axvline(best["step"], color="C3", ls="--", lw=1, label=f"delivered: step {int(best['step']):,}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (new tracks)")
    ax.legend(frameon=False)
    ax.set_title("train_model: learning curve")
    fig.tight_layout()
    return fig


def plot_observed_vs_predicted(region: pd.DataFrame):
    """Per new track: observed, untrained and fine-tuned values over the first held-out window (N bins blank)."""
    tracks = list(dict.fromkeys(zip(region["head"], region["track"])))[:MAX_PANELS]
    if not tracks:  # a fine-tune on splice samples alone: no bigWig track to show
        fig, (ax,) = _figure(1)
        ax.text(0.5, 0.5, "no bigWig tracks in the sheet (splice targets only: see the loss table)", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    fig, axes = _figure(len(tracks))
    for ax, (head, track) in zip(axes, tracks):
        rows = region[(region["head"] == head) & (region["track"] == track)].sort_values("start")
        masked = rows["masked"].astype(bool).to_numpy()
        middle = (rows["start"] + rows["end"]) / 2
        for column, style in (("observed", {"color": "k", "lw": 1.2}), (UNTRAINED, {"color": "0.6", "lw": 1}),
                              (FINE_TUNED, {"color": "C0", "lw": 1.2})):
            ax.plot(middle, rows[column].where(~masked), label=column, **style)
        contig, start, end = rows["contig"].iloc[0], int(rows["start"].min()), int(rows["end"].max())
        ax.set_title(f"{head} {track}: {contig}:{start + 1:,}-{end:,} (held out)", fontsize=10)
        ax.set_xlim(start, end)  # the whole window, N stretches (blank) included
        ax.set_ylabel(f"per {int(rows['end'].iloc[0] - rows['start'].iloc[0])} bp")
        ax.legend(frameon=False, fontsize=8, loc="upper right")
    axes[-1].set_xlabel("position")
    fig.tight_layout()
    return fig


def evaluation_page(evaluation: pd.DataFrame, losses: pd.DataFrame) -> str:
    """The evaluation table as a page: new tracks side by side (untrained, fine-tuned), original tracks, losses."""
    sections = []
    new = evaluation[evaluation["kind"] == "new"]
    if len(new):
        wide = new.pivot_table(index=["head", "track", "resolution_bp", "scale"], columns="model", values="pearson",
                               sort=True).reset_index()
        wide = wide[[c for c in ("head", "track", "resolution_bp", "scale", UNTRAINED, FINE_TUNED) if c in wide]]
        sections.append(("New tracks: Pearson against the observed data",
                         "Held-out windows, N bases left out; the untrained model is the base with the new heads "
                         "as initialised.", wide))
    original = evaluation[evaluation["kind"] == "original"]
    if len(original):
        cols = ["head", "channel", "track", "resolution_bp", "scale", "pearson"]
        sections.append(("Original tracks: fine-tuned against the base model",
                         "A seeded sample per trained head: 1 means training did not move them.", original[cols]))
    sections.append(("Loss per head", "The training loss on the held-out windows (no augmentation).", losses))
    return html_page("Fine-tuning: held-out evaluation", sections)


def plot_training(curve_path: str | os.PathLike[str], region_path: str | os.PathLike[str],
                  evaluation_path: str | os.PathLike[str], losses_path: str | os.PathLike[str],
                  curve_png: str | os.PathLike[str], region_png: str | os.PathLike[str],
                  page_html: str | os.PathLike[str]) -> None:
    """Step ``plot_training``: the learning curve, the held-out region and the evaluation page for the report."""
    save_figure(plot_learning_curve(pd.read_csv(curve_path, sep="\t")), curve_png)
    save_figure(plot_observed_vs_predicted(pd.read_csv(region_path, sep="\t")), region_png)
    evaluation = pd.read_parquet(evaluation_path)
    write_text(page_html, evaluation_page(evaluation, pd.read_csv(losses_path, sep="\t")))
