"""The "Safe to ship?" section of report.html: each evaluation's own part (its `html(section, report)`), in run
order, teacher beside student. The full story is compliance.html."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def safety_section(r: dict, evaluations: Sequence[Any] | None = None) -> str:
    """The section, or "" when no evaluation of the report's task has a part to show.

    `evaluations` (classes) replaces the registered ones; one without an `html` part contributes nothing."""
    from .sections import evaluations_for, section_of

    parts = []
    for evaluation in evaluations_for(r, evaluations):
        node = section_of(r, evaluation.name)
        if node is None or not hasattr(evaluation, "html"):
            continue
        part = evaluation.html(node, r)
        if part:
            parts.append(part)
    if not parts:
        return ""
    return (
        "<section><h2>Safe to ship?</h2>"
        + "".join(parts)
        + '<p>The evidence, the EU AI Act / UK screen and the lineage are in <a href="compliance.html">compliance.html</a>.</p></section>'
    )
