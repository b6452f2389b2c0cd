"""Held-out evaluation of a fine-tune: streaming Pearson correlations per track, linear and log1p.

Why streaming: a held-out split of a real genome is many 1-Mb windows x tracks at 1 bp; the
correlation over all of them is accumulated window by window (float64, Chan et al.'s pairwise merge of
means and co-moments, so the result equals the correlation of the concatenation for any chunking)
instead of holding the split in memory. ``log1p`` correlations read ``log1p(max(x, 0))``.

A track that is constant over the split (or has fewer than two finite pairs) has no correlation: its
value is NaN and :attr:`PearsonResult.reason` says why, so a table never hides it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["PearsonAccumulator", "PearsonResult", "sample_channels"]


@dataclass(frozen=True)
class PearsonResult:
    """Per track: the correlation (NaN when undefined), the finite pairs counted, and why a value is NaN ("" if not)."""

    pearson: np.ndarray
    n: np.ndarray
    reason: tuple[str, ...]


class PearsonAccumulator:
    """Pearson's r of ``x`` against ``y`` per track (column), accumulated over chunks ``[N, C]``.

    ``x_name``/``y_name`` name the two sides in the NaN reasons (e.g. "observed", "predicted").
    Non-finite pairs are skipped per track.
    """

    def __init__(self, n_tracks: int, *, log1p: bool = False, x_name: str = "x", y_name: str = "y") -> None:
        self.log1p, self.x_name, self.y_name = log1p, x_name, y_name
        zeros = lambda: np.zeros(n_tracks, np.float64)  # noqa: E731
        self.n, self.mean_x, self.mean_y, self.m2x, self.m2y, self.cxy = (zeros() for _ in range(6))
        self.min_x, self.min_y = np.full(n_tracks, np.inf), np.full(n_tracks, np.inf)
        self.max_x, self.max_y = np.full(n_tracks, -np.inf), np.full(n_tracks, -np.inf)

    def _prepare(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, np.float64)
        values = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[:, None]
        return np.log1p(np.maximum(values, 0.0)) if self.log1p else values

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add the pairs of one chunk (``x`` and ``y`` of the same shape, tracks last)."""
        x, y = self._prepare(x), self._prepare(y)
        if x.shape != y.shape:
            raise ValueError(f"PearsonAccumulator.update: {x.shape} and {y.shape} differ in shape")
        valid = np.isfinite(x) & np.isfinite(y)
        nb = valid.sum(axis=0).astype(np.float64)
        if not nb.any():
            return
        safe = np.maximum(nb, 1.0)
        xb, yb = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
        mx, my = xb.sum(axis=0) / safe, yb.sum(axis=0) / safe
        dx, dy = np.where(valid, x - mx, 0.0), np.where(valid, y - my, 0.0)
        m2x, m2y, cxy = (dx * dx).sum(axis=0), (dy * dy).sum(axis=0), (dx * dy).sum(axis=0)
        n = self.n + nb
        ratio = np.where(n > 0, nb / np.maximum(n, 1.0), 0.0)
        cross = np.where(n > 0, self.n * nb / np.maximum(n, 1.0), 0.0)
        delta_x, delta_y = mx - self.mean_x, my - self.mean_y
        self.mean_x = np.where(nb > 0, self.mean_x + delta_x * ratio, self.mean_x)
        self.mean_y = np.where(nb > 0, self.mean_y + delta_y * ratio, self.mean_y)
        self.m2x = self.m2x + np.where(nb > 0, m2x + delta_x * delta_x * cross, 0.0)
        self.m2y = self.m2y + np.where(nb > 0, m2y + delta_y * delta_y * cross, 0.0)
        self.cxy = self.cxy + np.where(nb > 0, cxy + delta_x * delta_y * cross, 0.0)
        self.n = n
        self.min_x = np.minimum(self.min_x, np.where(valid, x, np.inf).min(axis=0))
        self.max_x = np.maximum(self.max_x, np.where(valid, x, -np.inf).max(axis=0))
        self.min_y = np.minimum(self.min_y, np.where(valid, y, np.inf).min(axis=0))
        self.max_y = np.maximum(self.max_y, np.where(valid, y, -np.inf).max(axis=0))

    def result(self) -> PearsonResult:
        """The correlations so far (NaN with a reason where undefined)."""
        reasons = []
        for i in range(len(self.n)):
            if self.n[i] < 2:
                reasons.append(f"fewer than 2 finite value pairs ({int(self.n[i])})")
            elif self.min_x[i] == self.max_x[i]:
                reasons.append(f"{self.x_name} is constant ({self.min_x[i]:g}) over the windows")
            elif self.min_y[i] == self.max_y[i]:
                reasons.append(f"{self.y_name} is constant ({self.min_y[i]:g}) over the windows")
            else:
                reasons.append("")
        ok = np.array([r == "" for r in reasons], bool)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = self.cxy / np.sqrt(self.m2x * self.m2y)
        r = np.where(ok, np.clip(r, -1.0, 1.0), np.nan)
        return PearsonResult(r, self.n.astype(np.int64), tuple(reasons))


def sample_channels(candidates: np.ndarray, count: int, seed: int, keep: Callable[[int], bool] | None = None) -> np.ndarray:
    """A deterministic sorted sample of up to ``count`` of ``candidates`` (those ``keep`` accepts), drawn from ``seed``."""
    pool = np.asarray([c for c in np.asarray(candidates) if keep is None or keep(int(c))], np.int64)
    if len(pool) <= count:
        return np.sort(pool)
    return np.sort(np.random.default_rng(seed).choice(pool, size=count, replace=False))
