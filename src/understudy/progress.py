"""Progress bars with ETA (rich), plain log lines, or silence. Stages report through this, never print.

On a terminal a task is a rich bar. When the console is not a terminal (a log file, CI), a bar would show nothing
until the end, so a task prints a plain line when it starts, at most every REPORT_EVERY_S seconds while it runs
and when it ends: 'teacher labelling: 1,200 / 5,000 texts (24%), 6.1/s, about 10 min left'.

Notes and task descriptions quote the user's files (paths, labels, model names): they are shown as plain text,
never read as rich markup, so a '[/x]' in them is printed as it is."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

REPORT_EVERY_S = 30.0  # a log line this often while a task runs (tests lower it)


class Progress:
    """A thin wrapper so stages need not know whether a terminal is watching."""

    def __init__(self, console=None, enabled: bool = True):
        self.console = console
        self.enabled = enabled

    def note(self, message: str) -> None:
        if self.enabled and self.console is not None:
            self.console.print(message, markup=False)

    @contextmanager
    def task(self, description: str, total: int | None, unit: str = "") -> Iterator[Callable[[int], None]]:
        """Yields `advance(n=1)`. `unit` names what is counted ('texts', 'tokens') in the log lines."""
        if not self.enabled or self.console is None:
            yield lambda n=1: None
            return
        if not getattr(self.console, "is_terminal", False):
            with _log_lines(self.console, description, total, unit) as advance:
                yield advance
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        bar = RichProgress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        with bar:
            task_id = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task_id, n)


@contextmanager
def _log_lines(console, description: str, total: int | None, unit: str) -> Iterator[Callable[[int], None]]:
    start = time.monotonic()
    state = {"done": 0, "last": start}

    def line(ending: str | None = None) -> None:
        done, elapsed = state["done"], time.monotonic() - start
        parts = [f"{description}: {_count(done, total, unit)}"]
        rate = done / elapsed if done and elapsed > 0 else None
        if rate is not None:
            parts.append(f"{_number(rate)}/s")
        if ending is not None:
            parts.append(f"{ending} in {_duration(elapsed)}")
        elif rate is not None and total:
            parts.append(f"about {_duration(max(total - done, 0) / rate)} left")
        console.print(", ".join(parts), markup=False, highlight=False, soft_wrap=True)

    def advance(n: int = 1) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["last"] >= REPORT_EVERY_S:
            state["last"] = now
            line()

    line()
    try:
        yield advance
    except BaseException:
        line("stopped")
        raise
    line("done")


def _count(done: int, total: int | None, unit: str) -> str:
    unit = f" {unit}" if unit else ""
    if not total:
        return f"{done:,}{unit}"
    return f"{done:,} / {total:,}{unit} ({100 * done // total}%)"


def _number(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" if seconds >= 600 or not rest else f"{minutes} min {rest} s"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min"


QUIET = Progress(enabled=False)
