"""Why the verdict is what it is, in one sentence, and each check as a row a manager can read.

Shared by report.html, the terminal summary and the compliance report, so all three say the same thing. A gate
result may carry `evidence` ({"count", "total", "rate", "interval": [lo, hi], "bound", "reading", "basis"}):
then its count, its range and its reading are shown; without it, what the result has.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .sections import task_of
from .words import gate_means, gate_name, no_paths, nouns, ratio_words

VERDICT_WORDS = {"PASS": "Good to ship", "WARN": "Ship with care", "BLOCK": "Do not ship"}


class GateRow(NamedTuple):
    name: str  # the gate's key: kept only as a small aside for developers
    check: str  # its plain name
    status: str  # PASS, WARN, BLOCK or SKIPPED
    measured: str
    bound: str
    evidence: str  # "12 of 250; 95% range 3.1%–7.9%", or ""
    means: str  # what the figure is
    reason: str  # why it failed or was skipped, without JSON paths; "" when it passed


def _gate_def(name: str):
    try:
        from ..gates import gate_table

        return gate_table().get(name)
    except Exception:  # a report read without its plug-ins: the words still say what there is
        return None


def status_of(r: dict) -> str:
    return str(
        r.get("status")
        or (
            "PASS"
            if r.get("passed")
            else "SKIPPED"
            if r.get("passed") is None
            else "BLOCK"
            if r.get("on_fail") == "block"
            else "WARN"
        )
    )


def _share(spec: str) -> bool:
    return spec.endswith("%")


def value_words(name: str, value: Any) -> str:
    """A gate's figure as written for reading: a share as a percentage, a speed-up as faster or slower."""
    if value is None:
        return "not measured"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "min_speedup":
        return ratio_words(value)
    if not isinstance(value, (int, float)):
        return str(value)
    g = _gate_def(name)
    spec = g.fmt if g is not None else ".3g"
    if _share(spec):
        return format(value, ".1%")
    if name == "max_latency_ms":
        return f"{value:,.2f} ms"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return f"{value:.3g}"


def bound_words(name: str, threshold: Any, kind: str | None = None) -> str:
    if threshold is None or isinstance(threshold, bool):
        return "present" if threshold is True else ""
    g = _gate_def(name)
    kind = kind or (g.kind if g is not None else None)
    side = {"min": "at least ", "max": "at most "}.get(kind or "", "")
    if name == "min_speedup" and isinstance(threshold, (int, float)):
        return f"{side}{threshold:g}x"
    return side + value_words(name, threshold)


def evidence_words(ev: Any, name: str | None = None) -> str:
    """'12 of 250; 95% range 3.1%–7.9%; too few cases to be sure' from a result's evidence, or ''. The range is
    in percent where gate `name` writes its figure so, or where it lies within ±100%."""
    if not isinstance(ev, dict):
        return ""
    parts = []
    if ev.get("count") is not None and ev.get("total") is not None:
        parts.append(f"{ev['count']:,} of {ev['total']:,}" if isinstance(ev["count"], int) else f"{ev['count']}")
    iv = ev.get("interval")
    if isinstance(iv, (list, tuple)) and len(iv) == 2 and all(isinstance(x, (int, float)) for x in iv):
        g = _gate_def(name) if name else None
        share = (g is not None and _share(g.fmt)) or all(-1 <= x <= 1 for x in iv)  # a share, or a difference of them
        lo, hi = (f"{x:.1%}" for x in iv) if share else (f"{x:.3g}" for x in iv)
        parts.append(f"95% range {lo}–{hi}")
    if ev.get("reading"):
        parts.append(no_paths(str(ev["reading"])))
    return "; ".join(parts)


def _reading_words(ev: dict) -> str:
    reading = str(ev["reading"])
    if reading == "past the bound":
        return "the whole 95% range is past the bound: the evidence says it fails"
    if reading == "within the bound":
        return "the whole 95% range is within the bound"
    more = ev.get("more")
    return "the 95% range reaches both sides of the bound, so these cases cannot settle it" + (
        f"; about {int(more):,} more at the same rate would settle it" if more else ""
    )


def gate_row(r: dict, task: str | None = None) -> GateRow:
    """One gate result as a row a manager reads, in the words of the run's `task` (rows for a table)."""
    name = str(r.get("name") or "")
    status = status_of(r)
    if name == "licence":  # the summary names the model whose terms gave the verdict (names keep their case)
        measured = str(r.get("summary") or str(r.get("value") or "not checked").replace("_", " ").lower())
        bound = "allow, or allow with obligations"
    else:
        measured, bound = value_words(name, r.get("value")), bound_words(name, r.get("threshold"))
    reason = "" if status == "PASS" else no_paths(r.get("message"))
    unjudged = re.match(r"skipped: not judged(?: \([^)]*\))?: ", reason) if status == "SKIPPED" else None
    if unjudged:  # the evaluation ran and said why it could not judge (gates.py): that why, said once
        measured, reason = "not judged", reason[unjudged.end() :]
    ev = r.get("evidence") or {}
    if status != "PASS" and ev.get("reading"):  # the figure and its range are shown beside it: say what they mean
        reason = _reading_words(ev)
    return GateRow(
        name,
        gate_name(name, task),
        status,
        measured,
        bound,
        evidence_words(r.get("evidence"), name),
        gate_means(name, task),
        reason,
    )


def shown_results(report: dict) -> list[dict]:
    """The gate results a reader of this run is shown: not the checks of another task (a generator's refusal
    check is no news for a classifier), which the engine lists as skipped."""
    task = task_of(report)
    out = []
    for r in (report.get("gates") or {}).get("results") or []:
        g = _gate_def(str(r.get("name")))
        if g is not None and g.tasks and task not in g.tasks and r.get("passed") is None:
            continue
        out.append(r)
    return out


def _look_at(r: dict) -> str:
    g = _gate_def(str(r.get("name")))
    if r.get("name") == "licence":
        return "the licence and its obligations"
    if g is None or g.evaluation is None:
        return "the teacher and student side by side"
    from .sections import evaluations_for, title_of

    for ev in evaluations_for({}, every=True):
        if ev.name == g.evaluation:
            return f"the {title_of(ev).lower()} section"
    return f"the {g.evaluation} section"


def _reading(r: dict, task: str | None = None) -> str:
    """One check's failure in words: its figure against its bound, or why it has none."""
    row = gate_row(r, task)
    name = row.name
    if name == "min_retention" and isinstance(r.get("value"), (int, float)):
        said = f"the student keeps {row.measured} of the teacher's quality (it must be {row.bound})"
    elif name == "min_speedup" and isinstance(r.get("value"), (int, float)):
        said = f"the speed compared with the teacher is {row.measured} (it must be {row.bound})"
    elif r.get("value") is not None and row.bound:
        said = f"{row.check[0].lower() + row.check[1:]} is {row.measured} (it must be {row.bound})"
    else:
        said = f"{row.check[0].lower() + row.check[1:]}: {row.reason or 'not measured'}"
    ev: dict = r["evidence"] if isinstance(r.get("evidence"), dict) else {}
    extra = [x for x in (evidence_words({k: v for k, v in ev.items() if k != "reading"}, name),) if x]
    if ev.get("reading"):
        extra.append(no_paths(str(ev["reading"])))
    elif "only a warning:" in str(r.get("message") or ""):
        extra.append(no_paths(str(r["message"]).split("only a warning:", 1)[1]))
    return said + (" — " + "; ".join(extra) if extra else "")


def verdict_sentence(report: dict) -> str:
    """One sentence saying why the verdict is what it is, naming the check that decided it and where to look."""
    gates = report.get("gates") or {}
    verdict = str(gates.get("verdict") or "").upper()
    results = shown_results(report)
    if not verdict or not results:
        return "No verdict: no release checks were run, so nothing here says the student may ship."
    failed = [r for r in results if status_of(r) in ("WARN", "BLOCK")]
    deciding = [r for r in failed if (status_of(r) == "BLOCK") == (verdict == "BLOCK")] or failed
    if verdict == "PASS" or not deciding:
        ran = [r for r in results if r.get("passed") is not None]
        kept = next((r for r in ran if r.get("name") == "min_retention"), None)
        tail = (
            f"; the student keeps {value_words('min_retention', kept['value'])} of the teacher's quality"
            if (kept and isinstance(kept.get("value"), (int, float)))
            else ""
        )
        return f"{verdict}: all {len(ran)} checks that were run passed{tail}."
    first = deciding[0]
    others = len(failed) - 1
    more = f" (and {others} other check{'s' if others != 1 else ''} not passed)" if others > 0 else ""
    return f"{verdict}: {_reading(first, task_of(report))}{more}; look at {_look_at(first)}."


def overlap_warning(report: dict) -> str | None:
    """A plain warning when evaluation inputs are also in the transfer set (report["data"]["overlap"]), else None:
    the student learnt the teacher's answers on them, so agreement and quality kept read better than on new ones."""
    noun = nouns(task_of(report))[0]
    found = (report.get("data") or {}).get("overlap")
    texts = found.get("texts") if isinstance(found, dict) else None
    if not isinstance(texts, int) or isinstance(texts, bool) or texts <= 0:
        return None
    of = found.get("of")
    among = f"{texts:,} of the {of:,}" if isinstance(of, int) and not isinstance(of, bool) else f"{texts:,}"
    return (
        f"Warning: {among} evaluation {noun} are also in the transfer set, so the student learnt the teacher's "
        f"answers on them: the agreement and quality kept shown here read better than they will on new {noun}. "
        f"Keep the evaluation {noun} out of the transfer file."
    )
