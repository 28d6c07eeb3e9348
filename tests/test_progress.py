"""Progress: a rich bar on a terminal, plain lines with done/total/rate/ETA when output is a log."""

import io
import re
import time

from rich.console import Console

from understudy import progress as progress_module
from understudy.progress import Progress


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=200), out


def test_a_log_gets_lines_with_done_total_rate_and_eta(monkeypatch):
    monkeypatch.setattr(progress_module, "REPORT_EVERY_S", 0.0)  # a line at every step
    con, out = console(terminal=False)
    with Progress(con).task("teacher labelling", 4, unit="texts") as advance:
        for _ in range(4):
            time.sleep(0.01)
            advance(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "teacher labelling: 0 / 4 texts (0%)"
    assert re.fullmatch(r"teacher labelling: 1 / 4 texts \(25%\), [\d.]+/s, about \d+ s left", lines[1])
    assert re.fullmatch(r"teacher labelling: 4 / 4 texts \(100%\), [\d.]+/s, done in \d+ s", lines[-1])
    assert len(lines) == 6  # start, four steps, end


def test_lines_are_spaced_by_the_interval(monkeypatch):
    monkeypatch.setattr(progress_module, "REPORT_EVERY_S", 0.05)
    con, out = console(terminal=False)
    with Progress(con).task("teach", 1000) as advance:
        for _ in range(1000):
            advance(1)  # far quicker than the interval: no line between start and end
    assert out.getvalue().splitlines()[0] == "teach: 0 / 1,000 (0%)"
    assert len(out.getvalue().splitlines()) == 2
    out.truncate(0)
    out.seek(0)
    with Progress(con).task("teach", 3) as advance:
        for _ in range(3):
            time.sleep(0.06)
            advance(1)
    assert len(out.getvalue().splitlines()) == 5


def test_unknown_total_and_a_failed_task(monkeypatch):
    con, out = console(terminal=False)
    try:
        with Progress(con).task("reading", None) as advance:
            advance(7)
            raise ValueError("broken file")
    except ValueError:
        pass
    assert re.fullmatch(r"reading: 7, [\d.,]+/s, stopped in \d+ s", out.getvalue().splitlines()[-1])


def test_durations_read_as_minutes_and_hours():
    assert progress_module._duration(42) == "42 s"
    assert progress_module._duration(150) == "2 min 30 s"
    assert progress_module._duration(610) == "10 min"
    assert progress_module._duration(4000) == "1 h 6 min"


def test_a_terminal_still_gets_the_rich_bar():
    con, out = console(terminal=True)
    with Progress(con).task("teach", 2, unit="texts") as advance:
        advance(2)
    assert "2/2" in out.getvalue()  # rich's MofNCompleteColumn
    assert "texts (100%)" not in out.getvalue()


def test_quiet_prints_nothing():
    con, out = console(terminal=False)
    with Progress(con, enabled=False).task("teach", 2) as advance:
        advance(2)
    assert out.getvalue() == ""
