"""The evaluations' sections of report.json and the parts each contributes to the writers.

An evaluation class (understudy.protocols.Evaluation) may offer, besides `figures` (understudy.report.schema):

    title, about                      its heading and, in a few words, what it measures
    html(section, report) -> str      its part of report.html's "Safe to ship?" section (escaped HTML)
    summary(section) -> list[str]     lines for the terminal summary, plain text (printed with markup off)
    compliance(section, report)       blocks for the compliance report ("p", "list", "kv", "table", "note"; plain
                                      text, the renderers escape it): under "Evaluations", or, with
                                      `chapter = True`, a chapter of its own (then called with section None when
                                      the evaluation did not run, so it can say what that means)
    regressions(section) -> list[str] where the student is worse, beyond the teacher/student pairs found anyway
    limitations(section, report)      lines for "Limitations and instructions for use" (a chapter evaluation is
                                      asked with section None too)
    card(section, report)             blocks for its chapter of the model card (default: its compliance blocks)

The writers (html, summary, compliance, model_card) iterate `evaluations_for(report)` and ask each for the parts
it has; one that offers no part contributes nothing there. This module also gives the evaluations the writers'
formatting helpers under public names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .html import NA, _e, _get, _num, _pct, _table

esc, get, num, pct, table = _e, _get, _num, _pct, _table  # for the evaluations' html parts
__all__ = ["NA", "esc", "evaluations_for", "get", "num", "pct", "percent", "plain", "section_of", "table"]

CLASSIFICATION = "text-classification"


def section_of(report: dict, name: str) -> Any:
    """An evaluation's section: report[name], or report["generation"][name] (where text generation keeps its own).
    None when absent or empty."""
    node = report.get(name) if isinstance(report, dict) else None
    if node is None and isinstance(report, dict) and isinstance(report.get("generation"), dict):
        node = report["generation"].get(name)
    return None if node in (None, {}, []) else node


def task_of(report: dict) -> str:
    return str(_get(report, "run", "task") or CLASSIFICATION)


def evaluations_for(report: dict, evaluations: Sequence[Any] | None = None, *, every: bool = False) -> list[Any]:
    """Instances of the evaluations whose parts a writer shows for `report`: those of the report's task, in run
    order, then (every=True, for the papers that say what was not measured) the other tasks' ones.

    `evaluations` (classes) replaces the registered ones."""
    from ..evaluate import evaluation_classes

    classes = evaluation_classes() if evaluations is None else list(evaluations)
    task = task_of(report)

    def key(c):
        return (c.order, c.name)

    own = sorted((c for c in classes if task in c.tasks), key=key)
    rest = sorted((c for c in classes if task not in c.tasks), key=key) if every else []
    return [c() for c in own + rest]


def title_of(evaluation: Any) -> str:
    return getattr(evaluation, "title", None) or str(evaluation.name)


def percent(v, digits: int = 1) -> str:
    """A share as plain text: '5.4%', or 'n/a'."""
    return f"{v:.{digits}%}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "n/a"


def plain(v, digits: int = 3) -> str:
    """A figure as plain text: '0.0412', or 'n/a'."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "n/a" if v is None else str(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:.{digits}g}"
