"""Progress lines of long jobs (done/total, rate, ETA at a steady interval) and the shard summary."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from genotile.runtime.progress import Progress, format_duration, interval_seconds, say
from genotile.variants.steps import shard_summary


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_at_a_steady_interval_with_rate_and_eta():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(100, "variants", "shard 3", verb="scored", interval=30, clock=clock, streams=[out])
    for _ in range(10):  # 10 variants every 10 s: the first step, then a line every 30 s, and one at the end
        clock.now += 10
        progress.advance(10)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines == progress.lines
    assert re.fullmatch(r"\[genotile \d\d:\d\d:\d\d\] shard 3: 10/100 variants scored \(10%\), 1\.00 variants/s, "
                        r"elapsed 10 s, ETA 1 min 30 s", lines[0]), lines[0]
    assert "40/100" in lines[1] and "70/100" in lines[2] and "ETA 30 s" in lines[2]
    assert lines[3].endswith("100/100 variants scored (100%), 1.00 variants/s, elapsed 1 min 40 s, ETA 0 s")


def test_progress_interval_zero_reports_every_step_and_slow_steps_are_not_hidden():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(3, "windows", "batch 0", interval=0, clock=clock, streams=[out])
    for _ in range(3):
        clock.now += 2
        progress.advance()
    assert [line.split("] ")[1].split(",")[0] for line in progress.lines] == [
        "batch 0: 1/3 windows done (33%)", "batch 0: 2/3 windows done (67%)", "batch 0: 3/3 windows done (100%)"]
    slow = Progress(2, "windows", "b", interval=30, clock=clock, streams=[out])
    clock.now += 3600  # one step longer than the interval: reported as soon as it ends
    slow.advance()
    assert "1/2 windows done (50%), 0.00 windows/s, elapsed 1 h 00 min, ETA 1 h 00 min" in slow.lines[-1]


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.delenv("GENOTILE_PROGRESS_SECONDS", raising=False)
    assert interval_seconds() == 30
    monkeypatch.setenv("GENOTILE_PROGRESS_SECONDS", "0")
    assert interval_seconds() == 0 and Progress(1, "x", "y").interval == 0
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("GENOTILE_PROGRESS_SECONDS", bad)
        assert interval_seconds() == 30
    assert format_duration(float("inf")) == "?" and format_duration(59.6) == "1 min 00 s"


def test_say_writes_to_the_log_and_the_terminal_once_each(monkeypatch):
    log, terminal = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    monkeypatch.setattr("sys.__stderr__", terminal)
    say("hello")
    assert log.getvalue().endswith("] hello\n") and log.getvalue() == terminal.getvalue()
    monkeypatch.setattr("sys.stderr", terminal)  # no rule log: the terminal gets the line once
    say("again")
    assert terminal.getvalue().count("again") == 1


def test_shard_summary_says_shards_are_cut_between_tiles():
    table = pd.DataFrame({"shard": [0, 1], "first_row": [0, 398], "end_row": [398, 803], "span": ["a", "b"]})
    assert shard_summary(table, 803, 300) == (
        "803 variants in 2 shards (398-405 variants each; shards are cut only between tiles, so they may exceed "
        "variants_per_shard=300)")
    one = pd.DataFrame({"shard": [0], "first_row": [0], "end_row": [34], "span": ["a"]})
    assert shard_summary(one, 34, 300) == "34 variants in 1 shard (34 variants; shards are cut only between tiles)"


# ------------------------------------------------------------------------ the steps report progress (tiny model)


@pytest.mark.slow  # loads and compiles the tiny model (about 30 s)
def test_score_shard_reports_progress_on_numeric_contigs(tmp_path, capsys, monkeypatch):
    """shard -> score_shard on contigs named '1' and '20' (shards.tsv read back as text), with progress lines."""
    from genotile.model.loading import load_predictor
    from genotile.sequence.fasta import Genome
    from genotile.settings import ScoreSettings, ShardSettings
    from genotile.variants.steps import score_shard, shard_variants

    monkeypatch.setenv("GENOTILE_PROGRESS_SECONDS", "0")
    rng = np.random.default_rng(1)
    fasta = tmp_path / "ensembl.fa"
    fasta.write_text("".join(f">{name}\n{''.join(rng.choice(list('ACGT'), 9_000))}\n" for name in ("1", "20")))
    genome = Genome(fasta)
    rows = []
    for chrom, pos in (("20", 100), ("20", 4_000), ("20", 8_000)):
        ref = genome.sequence(chrom, pos - 1, pos)
        alt = "A" if ref != "A" else "C"
        rows.append({"variant_id": f"{chrom}:{pos}:{ref}>{alt}", "chrom": chrom, "pos": pos, "ref": ref, "alt": alt})
    pd.DataFrame(rows).to_parquet(tmp_path / "variants.parquet", index=False)
    model = {"size": "tiny", "seed": 0, "metadata": None, "checkpoint": None, "precision": "float32"}
    cfg = {"organism": "human", "model": model,
           "variants": {"mode": "centered", "window_bp": 16_384, "tile_owned_bp": None, "variants_per_shard": 2,
                        "include_values": False, "local_encoder": True,
                        "scorers": [{"scorer": "CenterMask", "output": "DNASE", "width": 501, "aggregation": "DIFF_MEAN"}]}}
    table = shard_variants(ShardSettings.from_config(cfg), str(tmp_path / "variants.parquet"), str(fasta), str(tmp_path / "shards.tsv"))
    assert len(table) == 1  # the three variants share the contig's one tile
    assert "3 variants in 1 shard (3 variants; shards are cut only between tiles, so they may exceed" in capsys.readouterr().err
    score_shard(ScoreSettings.from_config(cfg), load_predictor(model), str(tmp_path / "variants.parquet"), str(tmp_path / "shards.tsv"), 0,
                str(fasta), None, None, str(tmp_path / "shard_0"), batch_size=2, done=str(tmp_path / "shard_0.done"))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if re.search(r"shard 0: \d/3 variants scored", line)]
    assert len(lines) >= 2 and "3/3 variants scored (100%)" in lines[-1] and "variants/s" in lines[-1] and "ETA" in lines[-1]
    assert "shard 0: 3 variants (20:100-20:8000)" in err and (tmp_path / "shard_0.done").exists()
