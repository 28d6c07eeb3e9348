"""Measuring teacher and student side by side.

Evaluations plug in: each is a class (understudy.protocols.Evaluation) with its report.json section `name`,
the `tasks` it applies to, its run `order`, `enabled(recipe)` (None, or why the recipe switched it off),
`run(ctx)` returning its section, `figures` (the section's type: understudy.report.schema.Figures, from which
docs/report-schema.md is generated) and the `gates` (understudy.gates.GateDef) that read that section. It may add
its parts to the writers: `title`, `about`, `html(section, report)`, `summary(section)`,
`compliance(section, report)`, `regressions(section)`, `limitations(section, report)` (understudy.report.sections).
They are registered under the entry-point group `understudy.evaluations`; `run_evaluations` runs the ones of
a task. Adding an evaluation: its own module, and one entry-point line in pyproject.toml (then
`python -m understudy.report.schema docs/report-schema.md`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

GROUP = "understudy.evaluations"


def evaluation_classes(task: str | None = None) -> list[Any]:
    """The registered evaluation classes (for `task` only, if given), in run order."""
    from .. import registry

    # understudy's own are entry points in its pyproject.toml, like a plug-in's
    classes = [registry.load(GROUP, n) for n in registry.names(GROUP)]
    if task is not None:
        classes = [c for c in classes if task in c.tasks]
    return sorted(classes, key=lambda c: (c.order, c.name))


def run_evaluations(
    ctx, evaluations: Sequence[Any] | None = None, timed: Callable[[str], Any] | None = None
) -> tuple[dict, dict]:
    """Run the evaluations of ctx.task that the recipe leaves on, in order.

    Returns (sections by name, skipped {name: why it is off}). `evaluations` replaces the registered classes;
    `timed(title)` is a context manager that records how long each took (the engine's Run.timed).
    """
    classes = (
        evaluation_classes(ctx.task)
        if evaluations is None
        else sorted((c for c in evaluations if ctx.task in c.tasks), key=lambda c: (c.order, c.name))
    )
    sections: dict = {}
    skipped: dict = {}
    for cls in classes:
        evaluation = cls()
        reason = evaluation.enabled(ctx.recipe)
        if reason:
            skipped[cls.name] = reason
            continue
        with timed(f"evaluate {cls.name}") if timed else nullcontext():
            sections[cls.name] = evaluation.run(ctx)
    return sections, skipped
