"""genotile.runtime.log: one logger, timestamped, to the job's log and the terminal, configured once by the rule entry point."""

from __future__ import annotations

import io
import logging
import re

import pytest

from genotile.runtime import log, progress


@pytest.fixture
def fresh_logger(monkeypatch):
    """The ``genotile`` logger and ``sys.stderr`` as they were, after the test configured them."""
    logger = logging.getLogger(log.LOGGER_NAME)
    state = (list(logger.handlers), logger.level, logger.propagate)
    terminal = io.StringIO()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("sys.__stderr__", terminal)
    yield terminal
    log.configure(None)  # closes the file it opened
    logger.handlers[:], logger.level, logger.propagate = state


def test_configure_sends_lines_and_library_records_to_the_log_file_and_the_terminal(tmp_path, fresh_logger):
    path = tmp_path / "rule.log"
    stream = log.configure(str(path))
    assert stream is not fresh_logger and not stream.closed
    log.say("plain line")
    logging.getLogger("genotile.variants.normalize").warning("3 blank line(s) skipped")
    logging.getLogger("genotile.variants.engine").debug("not at INFO")
    stream.flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(re.match(r"\[genotile \d\d:\d\d:\d\d\] ", line) for line in lines), lines
    assert lines[0].endswith("] plain line") and lines[1].endswith("] warning: 3 blank line(s) skipped")
    assert fresh_logger.getvalue().splitlines() == lines  # the terminal Snakemake shows gets the same lines


def test_configure_twice_adds_no_second_handler_and_progress_uses_the_same_say(tmp_path, fresh_logger):
    log.configure(str(tmp_path / "a.log"))
    stream = log.configure(str(tmp_path / "b.log"))
    handlers = [h for h in logging.getLogger(log.LOGGER_NAME).handlers if isinstance(h, log._SayHandler)]
    assert len(handlers) == 1
    logging.getLogger("genotile.x").info("once")
    stream.flush()
    assert (tmp_path / "b.log").read_text().count("once") == 1 and "once" not in (tmp_path / "a.log").read_text()
    assert progress.say is log.say
