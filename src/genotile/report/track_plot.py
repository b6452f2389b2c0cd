"""Track plots for the Snakemake report: a region of the store, its selected tracks over the gene annotation.

Why a plot at all: the store is a Zarr folder of float arrays; a bioinformatician opening the report
wants to *see* that the predictions sit where the genes are (and are NaN over N gaps) before opening
the store themselves. One panel per stored output and resolution (``<head>/<res>bp``), one line per
track, and a gene lane (gene bodies, exons, strand) underneath on the same x axis.

The store is read with :func:`genotile.open_tracks` (xarray), so the plot shows exactly what a user
reading the store gets. The figure is drawn with matplotlib's Agg backend (no display needed) and
saved without a timestamp, so re-running the rule gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from genotile.runtime.atomic import replace_path
from genotile.tracks.store import N_MASK_GROUP, open_tracks

__all__ = ["Region", "choose_region", "draw_genes", "message_figure", "plot_store_region", "plot_tracks", "save_figure",
           "store_contigs", "store_tracksets"]

#: At most this many tracks are drawn per panel (the first ones, in store order): more lines are unreadable.
MAX_TRACKS_PER_PANEL: Final = 6
#: PNG metadata without matplotlib's version stamp, so the same store gives the same bytes.
_PNG_METADATA: Final = {"Software": None}


@dataclass(frozen=True)
class Region:
    """A 0-based half-open interval ``[start, end)`` of one contig, and why it was chosen (the plot title)."""

    contig: str
    start: int
    end: int
    label: str = ""

    def __str__(self) -> str:
        return f"{self.contig}:{self.start + 1:,}-{self.end:,}"


def store_tracksets(tree: Any) -> list[tuple[str, str]]:
    """The ``(head, "<res>bp")`` groups of an opened store, in store order (the N mask is not a track set)."""
    groups = []
    for head, node in tree.children.items():
        if head == N_MASK_GROUP:
            continue
        groups.extend((head, res) for res in node.children if res.endswith("bp") and res[:-2].isdigit())
    return groups


def store_contigs(tree: Any) -> dict[str, int]:
    """Contig -> length (bp) of an opened store, from its 1-bp (or first) track set."""
    head, res = store_tracksets(tree)[0]
    step = int(res[:-2])
    return {c: int(n.dataset.sizes["position"]) * step for c, n in tree[f"{head}/{res}"].children.items()}


def choose_region(windows: pd.DataFrame, genes: pd.DataFrame | None = None, contigs: Sequence[str] | None = None) -> Region:
    """The region to plot: the first gene on a stored contig, padded to one window; else the first window not all N.

    Why a gene: the plot's point is tracks *over the annotation*. Why one window wide: it is the
    unit the model predicted, so the plot shows a whole window's context and its seams.
    """
    usable = windows[~windows["all_n"].astype(bool)] if "all_n" in windows else windows
    if usable.empty:
        raise ValueError("every window is all N: there is no predicted region to plot")
    width = int((usable["end"] - usable["start"]).max())
    stored = set(contigs) if contigs is not None else set(usable["contig"].astype(str))
    if genes is not None and len(genes):
        on = genes[genes["Chromosome"].astype(str).isin(stored)]
        if len(on):
            gene = on.iloc[0]
            contig = str(gene["Chromosome"])
            length = int(usable.loc[usable["contig"].astype(str) == contig, "end"].max())
            centre = (int(gene["Start"]) + int(gene["End"])) // 2
            start = max(0, min(centre - width // 2, length - width))
            name = gene.get("gene_name") or gene.get("gene_id") or "gene"
            return Region(contig, start, min(length, start + width), f"around gene {name}")
    first = usable.iloc[0]
    return Region(str(first["contig"]), int(first["start"]), int(first["end"]), f"window {int(first['window'])}")


def draw_genes(ax: Any, genes: pd.DataFrame | None, exons: pd.DataFrame | None, region: Region) -> None:
    """Gene bodies (thin line, strand arrow) and exons (boxes) of ``region`` on ``ax``; "no genes" when none."""
    ax.set_yticks([])
    ax.set_ylabel("genes", rotation=0, ha="right", va="center")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    rows = _in_region(genes, region)
    if rows is None or rows.empty:
        ax.text(0.5, 0.5, "no annotated gene in this region", transform=ax.transAxes, ha="center", va="center",
                color="0.4")
        ax.set_ylim(0, 1)
        return
    exon_rows = _in_region(exons, region)
    for lane, gene in enumerate(rows.itertuples(index=False)):
        y = -lane
        lo, hi = max(gene.Start, region.start), min(gene.End, region.end)
        ax.plot([lo, hi], [y, y], color="0.2", lw=1)
        arrow = ">" if gene.Strand == "+" else "<" if gene.Strand == "-" else "|"
        ax.plot((lo + hi) / 2, y, marker=arrow, color="0.2", ms=5)
        if exon_rows is not None and "gene_id" in exon_rows:
            for exon in exon_rows[exon_rows["gene_id"] == gene.gene_id].itertuples(index=False):
                ax.add_patch(_box(max(exon.Start, region.start), min(exon.End, region.end), y))
        ax.text(lo, y + 0.3, f"{gene.gene_name or gene.gene_id} ({gene.Strand})", fontsize=8, va="bottom")
    ax.set_ylim(-len(rows) + 0.4, 1)


def _box(start: int, end: int, y: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((start, y - 0.2), end - start, 0.4, color="0.2")


def _in_region(frame: pd.DataFrame | None, region: Region) -> pd.DataFrame | None:
    if frame is None or frame.empty:
        return frame
    keep = (frame["Chromosome"].astype(str) == region.contig) & (frame["End"] > region.start) & (frame["Start"] < region.end)
    return frame[keep].drop_duplicates()


def plot_store_region(
    store: str | os.PathLike[str], region: Region, genes: pd.DataFrame | None = None, exons: pd.DataFrame | None = None,
) -> Any:
    """A matplotlib figure: one panel per stored ``<head>/<res>bp`` (up to :data:`MAX_TRACKS_PER_PANEL` tracks
    each, named in the legend) over ``region``, and the gene lane underneath; x in contig bp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tree = open_tracks(store)
    groups = store_tracksets(tree)
    fig, axes = plt.subplots(len(groups) + 1, 1, figsize=(11, 1.6 * len(groups) + 1.4), sharex=True,
                             gridspec_kw={"height_ratios": [3] * len(groups) + [2]}, squeeze=False)
    axes = axes[:, 0]
    for ax, (head, res) in zip(axes, groups):
        data = tree[f"{head}/{res}/{region.contig}"].dataset["predictions"]
        step = int(res[:-2])
        window = data.sel(position=slice(region.start - region.start % step, region.end - 1))
        window = window.isel(track=slice(0, MAX_TRACKS_PER_PANEL)).load()
        x = window["position"].to_numpy() + step / 2
        names = window["name"].to_numpy() if "name" in window.coords else np.arange(window.sizes["track"])
        for t in range(window.sizes["track"]):
            ax.plot(x, window.isel(track=t).to_numpy(), lw=0.8, label=str(names[t]))
        shown = window.sizes["track"]
        total = data.sizes["track"]
        ax.set_ylabel(f"{head}\n{res}", rotation=0, ha="right", va="center", fontsize=8)
        ax.legend(loc="upper right", fontsize=6, ncol=min(shown, 6), frameon=False,
                  title=None if shown == total else f"first {shown} of {total} tracks", title_fontsize=6)
        ax.spines[["top", "right"]].set_visible(False)
    draw_genes(axes[-1], genes, exons, region)
    axes[-1].set_xlim(region.start, region.end)
    axes[-1].set_xlabel(f"{region.contig} (bp)")
    fig.suptitle(f"Predicted tracks, {region} ({region.label})" if region.label else f"Predicted tracks, {region}")
    fig.tight_layout()
    return fig


def message_figure(text: str) -> Any:
    """A small figure that only says ``text``: a report entry that explains why there is no plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def save_figure(fig: Any, out_png: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG under a temporary name and rename it (a killed job leaves no half figure)."""
    import matplotlib.pyplot as plt

    try:
        return replace_path(out_png, lambda tmp: fig.savefig(tmp, format="png", dpi=110, metadata=_PNG_METADATA))
    finally:
        plt.close(fig)


def plot_tracks(store: str, windows: str, out_png: str, gtf: str | None = None) -> Region | None:
    """The workflow's ``plot_tracks`` step: the store's tracks over one region (:func:`choose_region`) into ``out_png``."""
    from genotile.runtime.tables import read_tsv
    from genotile.variants.annotation import AnnotationError, read_gtf

    if not Path(store).exists():  # the selection has no 1-D track (contact maps / junctions only)
        save_figure(message_figure(f"no track store ({store}): the track selection has no 1-D track to plot"), out_png)
        return None
    tree = open_tracks(store)
    contigs = list(store_contigs(tree))
    try:
        annotation = read_gtf(gtf, contigs=contigs) if gtf else None
    except AnnotationError:  # no gene on the stored contigs: plot a window, the lane says so
        annotation = None
    genes = annotation.genes if annotation is not None else None
    exons = annotation.exons if annotation is not None else None
    region = choose_region(read_tsv(windows), genes, contigs)
    save_figure(plot_store_region(store, region, genes, exons), out_png)
    return region

