"""The ISM figure (shown in the report): a sequence-logo-style view of the per-position effect, one panel per scorer.

Why a logo: ISM answers "which bases matter here"; drawing each REF base with a height equal to the
effect of mutating it shows that at a glance, with the sequence readable underneath. The effect at a
position is the mean of its 3 ALT scores on the scorer's most affected track
(:func:`genotile.variants.ism.position_effect`): letters above the axis where mutating the base raises
the score on average, below where it lowers it. Regions too long to read letters in (more than
:data:`MAX_LETTERS` bases) are drawn as bars coloured by the REF base.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from genotile.runtime.atomic import replace_path

__all__ = ["BASE_COLOURS", "MAX_LETTERS", "MAX_PANELS", "logo_figure", "plot_ism"]

#: The usual logo colours (A green, C blue, G orange, T red).
BASE_COLOURS: Final = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}
#: Panels drawn (the first scorers in slug order); the Zarr store holds them all.
MAX_PANELS: Final = 6
#: Longest region drawn as letters; longer ones as bars.
MAX_LETTERS: Final = 200


def _save(fig: Any, out_png: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG under a temporary name and rename it; no software stamp, so reruns give the same bytes."""
    import matplotlib.pyplot as plt

    try:
        return replace_path(out_png, lambda tmp: fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None}))
    finally:
        plt.close(fig)


def _message(text: str) -> Any:
    """A small figure that only says ``text`` (why there is no logo)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def _letter(ax: Any, base: str, x: float, height: float) -> None:
    """Draw ``base`` filling the box ``[x, x + 1] x [0, height]`` (below the axis for a negative height)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    if not np.isfinite(height) or height == 0:
        return
    path = TextPath((0, 0), base, size=1, prop=FontProperties(family="DejaVu Sans", weight="bold"))
    box = path.get_extents()
    scale = Affine2D().translate(-box.x0, -box.y0).scale(0.9 / box.width, abs(height) / box.height)
    placed = scale.translate(x + 0.05, min(0.0, height)).transform_path(path)
    ax.add_patch(PathPatch(placed, facecolor=BASE_COLOURS.get(base, "grey"), edgecolor="none"))


def logo_figure(positions: np.ndarray, ref: Sequence[str], panels: Sequence[tuple[str, np.ndarray, str]],
                region: str) -> Any:
    """A figure with one logo panel per ``(scorer, effect per position, track name)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(positions)
    width = min(16.0, max(8.0, 0.18 * n + 2)) if n <= MAX_LETTERS else 16.0
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 1.9 * len(panels) + 0.6), squeeze=False)
    x = np.arange(n, dtype=float)
    for ax, (scorer, effect, track) in zip(axes[:, 0], panels, strict=True):
        if n <= MAX_LETTERS:
            for i, (base, h) in enumerate(zip(ref, effect, strict=True)):
                _letter(ax, base, x[i], float(h))
        else:
            colours = [BASE_COLOURS.get(b, "grey") for b in ref]
            ax.bar(x + 0.5, np.nan_to_num(effect), width=1.0, color=colours, linewidth=0)
        finite = effect[np.isfinite(effect)]
        top = float(np.max(np.abs(finite))) if finite.size else 1.0
        top = top if top > 0 else 1.0
        ax.set_ylim(-1.1 * top if (finite < 0).any() else 0, 1.1 * top if (finite > 0).any() or not finite.size else 0.1 * top)
        ax.set_xlim(0, n)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(f"{scorer} - track {track}", fontsize=9, loc="left")
        ax.set_ylabel("mean ALT score", fontsize=8)
        step = max(1, n // 12)
        ax.set_xticks(x[::step] + 0.5, [f"{int(p):,}" for p in positions[::step]], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    axes[-1, 0].set_xlabel(f"position on {region.split(':')[0]} (1-based)", fontsize=8)
    fig.suptitle(f"In-silico mutagenesis of {region} (letter height: mean score of its 3 substitutions)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_ism(result: Any, genome: Any, out_png: str | os.PathLike[str]) -> Path:
    """The ISM figure of ``result`` (:class:`genotile.variants.ism.IsmResult`) into ``out_png`` (written atomically)."""
    from genotile.variants.ism import position_effect
    from genotile.variants.outputs import scorer_slug

    region = result.region
    names = sorted(result.arrays, key=scorer_slug)[:MAX_PANELS]
    panels = []
    for name in names:
        effect, track = position_effect(result.arrays[name])
        if track >= 0:
            panels.append((name.replace("|", " ").strip(), effect, str(result.scoring.tracks[name]["name"].iloc[track])))
    if not panels:
        return _save(_message(f"ISM of {region.text}: no scorer gave a finite score"), out_png)
    positions = np.arange(region.start + 1, region.end + 1)
    ref = list(genome.sequence(region.contig, region.start, region.end))
    return _save(logo_figure(positions, ref, panels, region.text), out_png)
