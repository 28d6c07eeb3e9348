"""Progress bars with ETA (rich), or silence. Stages report through this, never print.

Notes and task descriptions quote the user's files (paths, labels, model names): they are shown as plain text,
never read as rich markup, so a '[/x]' in them is printed as it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Progress:
    """A thin wrapper so stages need not know whether a terminal is watching."""

    def __init__(self, console=None, enabled: bool = True):
        self.console = console
        self.enabled = enabled

    def note(self, message: str) -> None:
        if self.enabled and self.console is not None:
            self.console.print(message, markup=False)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if not self.enabled or self.console is None:
            yield lambda n=1: None
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


QUIET = Progress(enabled=False)
