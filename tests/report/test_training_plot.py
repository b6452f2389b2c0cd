"""The fine-tune's report entries (genotile.report.training_plot): learning curve, held-out region, evaluation page."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genotile.report.training_plot import evaluation_page, plot_training
from genotile.train.evaluate_model import EVALUATION_COLUMNS, LOSS_COLUMNS, REGION_COLUMNS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _inputs(folder):
    curve = pd.DataFrame({"step": [0, 2, 2, 4, 4], "split": ["validation", "train", "validation", "train", "validation"],
                          "loss": [3.0, 2.5, 2.0, 2.2, 2.4]})
    curve.to_csv(folder / "curve.tsv", sep="\t", index=False)
    starts = np.arange(0, 1024, 128)
    region = pd.DataFrame({"contig": "c2", "start": starts, "end": starts + 128, "head": "dnase", "track": "motif",
                           "observed": np.arange(8.0), "untrained": 1.0, "fine-tuned": np.arange(8.0) / 2,
                           "masked": [False] * 7 + [True]})
    assert tuple(region.columns) == REGION_COLUMNS
    region.to_csv(folder / "region.tsv", sep="\t", index=False)
    rows = []
    for kind, model, compared, channel, track in (("new", "untrained", "observed", 2, "motif"),
                                                   ("new", "fine-tuned", "observed", 2, "motif"),
                                                   ("original", "fine-tuned", "base model", 0, "dnase_track_0")):
        for res in (1, 128):
            for scale in ("linear", "log1p"):
                rows.append(("validation", "dnase", channel, track, kind, model, compared, res, scale,
                             0.1 if model == "untrained" else 0.8, 100, ""))
    pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS)).to_parquet(folder / "evaluation.parquet", index=False)
    pd.DataFrame([("validation", "dnase", "fine-tuned", 2.0, 3), ("validation", "dnase", "untrained", 3.0, 3)],
                 columns=list(LOSS_COLUMNS)).to_csv(folder / "losses.tsv", sep="\t", index=False)


def test_plot_training_writes_two_figures_and_a_page_deterministically(tmp_path):
    _inputs(tmp_path)
    names = ("curve.png", "region.png", "page.html")
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        plot_training(tmp_path / "curve.tsv", tmp_path / "region.tsv", tmp_path / "evaluation.parquet",
                      tmp_path / "losses.tsv", *(tmp_path / run / n for n in names))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "curve.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "a" / "region.png").read_bytes().startswith(PNG_MAGIC)


def test_the_page_puts_before_and_after_side_by_side(tmp_path):
    _inputs(tmp_path)
    page = evaluation_page(pd.read_parquet(tmp_path / "evaluation.parquet"), pd.read_csv(tmp_path / "losses.tsv", sep="\t"))
    assert "New tracks: Pearson against the observed data" in page and "Original tracks" in page
    header = page[page.index("New tracks"):page.index("Original tracks")]
    assert header.index("<th>untrained</th>") < header.index("<th>fine-tuned</th>")  # before, then after
    assert header.count("<td>0.8</td>") == 4 and header.count("<td>0.1</td>") == 4
