"""The one gate engine: measured figures in report.json against the recipe's thresholds -> PASS / WARN / BLOCK.

Every gate is declared once, as a `GateDef`: whether its figure must reach a minimum, stay under a maximum, or
be present ('required'), where the figure is read in report.json, what it is in plain words, which evaluation
writes it and for which tasks. The figures every run of a task produces (retention, speed-up, size, ...) are
declared here (`CORE`); an evaluation declares the gates that read its own section on its class
(`gates = (GateDef(...),)`, see understudy.evaluate), and `gate_table()` gathers both into one table.

Two calls for the engine:
  plan(recipe)          before any model loads: a gate the recipe sets that its task can never measure is a
                        UserError naming gate and task; returns the gates that will be SKIPPED, with the reason
                        (the sector profile's gates that do not apply to the task, and the gates whose
                        evaluation the recipe switched off, naming the key that did).
  check(recipe, report) after the evaluations: one result per gate, the licence first, and the verdict.

A gate whose figure is missing although its evaluation was on fails (it is never a silent PASS); SKIPPED is kept
for gates whose evaluation was switched off or that the task never measures, and for an evaluation that ran but
says in its section's "unjudged" why it could not judge (then the result's message gives that why); a SKIPPED
gate never counts in the verdict.

Evidence. A figure that is a rate over cases, or that has an interval, is judged on its 95% interval, not on its
point value (understudy.evaluate.evidence.read): past the bound fails (BLOCK or WARN as set), within passes, and
an interval that straddles the bound is WARN "too few to judge", whatever the gate's on_fail. The interval is
found beside the figure in report.json: `<key>_evidence` ({"count", "total", "rate", "interval", "method",
"counted"}, from evidence.rate), `<key>_ci` ({"low", "high"}), or the figure's own node when it is read at
"value" ({"value", "low", "high"}), `<dict>_evidence` beside a dict of figures ("widened_by_evidence":
{gap: ...} for "widened_by": {gap: figure}), or from the gate's `evidence` hook. The result then carries "evidence":
{"count", "total", "rate", "interval", "bound", "reading", "basis", "more"}. A figure without one is judged on its value.
When a reader finds several figures (one per category), the gate reads every one: any past the bound fails,
else any straddling it is too few to judge, else it passes; the result shows the one that decided.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from .errors import UserError
from .evaluate.evidence import PAST, TOO_FEW, WITHIN, settle
from .evaluate.evidence import read as read_interval

CLASSIFICATION = "text-classification"
GENERATION = "text-generation"

Reader = Callable[[dict], tuple[Any, "str | None"]]  # report -> (value or None, where it was read)
Found = tuple[float, str, "dict | None"]  # (value, where, its evidence or None)


@dataclass(frozen=True)
class GateDef:
    """One gate: how to read its figure and what it means.

    kind       'min' (the figure must be at least the threshold), 'max' (at most) or 'required' (a true/false gate:
               the figure must exist and be true; a missing or false one blocks)
    read       report -> (value, where); `at(...)` for a fixed path, `largest_in(...)` for the key search
    what       the figure in plain words ("the student's accuracy drop on perturbed texts")
    fmt        how its value is written in messages (a format spec)
    evaluation the evaluation whose section holds the figure (None: a core figure every run of the task writes);
               filled in from the class when an evaluation declares the gate
    tasks      the tasks that can ever measure it (an evaluation's gates default to the evaluation's tasks)
    how        how to get it measured, for messages
    evidence   report -> the figure's evidence ({"count", "total", "rate", "interval", "method", "counted"}) when
               report.json does not hold it beside the figure (see the module docstring), or None
    """

    name: str
    kind: Literal["min", "max", "required"]
    read: Reader
    what: str
    fmt: str = ".3f"
    evaluation: str | None = None
    tasks: frozenset[str] = frozenset()
    how: str = ""
    evidence: Callable[[dict], dict | None] | None = field(default=None, compare=False)


# --- reading figures out of report.json ------------------------------------------------------------------


def _node(report: dict, path: Sequence[str]):
    node = report
    for key in path:
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
            continue
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def beside(root, path: Sequence[str], value) -> dict | None:
    """The evidence written beside the figure at `path` under `root`: `<key>_evidence`, `<key>_ci` or, for a
    figure read at "value", its own {"value", "low", "high"} node (see the module docstring); None if none."""
    parent, key = _node(root, path[:-1]) if path else None, path[-1] if path else ""
    if not isinstance(parent, dict):
        return None
    found = parent.get(f"{key}_evidence")
    if not isinstance(found, dict) and len(path) >= 2:  # a dict of figures with its dict of evidence beside it
        group = _node(root, (*path[:-2], f"{path[-2]}_evidence"))
        found = group.get(key) if isinstance(group, dict) else None
    if isinstance(found, dict) and _pair(found.get("interval")):
        return found
    ci = parent.get(f"{key}_ci") if key != "value" else parent
    if isinstance(ci, dict) and _pair([ci.get("low"), ci.get("high")]):
        return {
            "count": ci.get("count"),
            "total": ci.get("total"),
            "rate": value,
            "interval": [float(ci["low"]), float(ci["high"])],
            "method": "percentile bootstrap over rows",
            "counted": ci.get("counted") or "rows",
        }
    return None


def _pair(iv) -> bool:
    return (
        isinstance(iv, (list, tuple))
        and len(iv) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == v for v in iv)
    )


@dataclass(frozen=True)
class _At:
    path: tuple[str, ...]

    def __call__(self, report: dict) -> tuple[Any, str | None]:
        return _node(report, self.path), " › ".join(self.path)

    def found(self, report: dict) -> list[Found]:
        value = _node(report, self.path)
        if not _is_number(value):
            return []
        return [(float(value), " › ".join(self.path), beside(report, self.path, value))]

    @property
    def rule(self) -> str:
        return "`report" + "".join(f'["{p}"]' for p in self.path) + "`"


def at(*path: str) -> Reader:
    """A reader for a figure at a fixed path."""
    return _At(tuple(path))


def section(report: dict, name: str) -> dict | None:
    """An evaluation's section: report[name], or report["generation"][name] (where text generation puts its own).

    The oversight section may hold the policy under "policy" (as the oversight evaluation writes it): the policy
    is returned then.
    """
    node = report.get(name)
    if node is None and isinstance(report.get("generation"), dict):
        node = report["generation"].get(name)
    if name == "oversight" and isinstance(node, dict) and isinstance(node.get("policy"), dict):
        node = node["policy"]
    return node if isinstance(node, dict) else None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers(node, keep: Callable[[tuple], bool], path: tuple = ()) -> list[tuple[float, tuple]]:
    """(value, path) for every number in a nested dict/list whose key path `keep` accepts; the evidence written
    beside a figure (`*_evidence`, `*_ci`) and examples are not figures."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if str(k).endswith(("_evidence", "_ci")) or k == "examples":
                continue
            out += _numbers(v, keep, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _numbers(v, keep, path + (str(i),))
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and keep(path):
        out.append((float(node), path))
    return out


@dataclass(frozen=True)
class _LargestIn:
    name: str
    keep: Callable[[tuple], bool]
    words: str

    def __call__(self, report: dict) -> tuple[Any, str | None]:
        node = section(report, self.name)
        found = _numbers(node, self.keep) if node is not None else []
        if not found:
            return None, None
        value, path = max(found, key=lambda f: f[0])
        return value, " › ".join((self.name, *path))

    def found(self, report: dict) -> list[Found]:
        node = section(report, self.name)
        if node is None:
            return []
        return [(v, " › ".join((self.name, *p)), beside(node, p, v)) for v, p in _numbers(node, self.keep)]

    @property
    def rule(self) -> str:
        return f'{self.words} in report["{self.name}"] (or report["generation"]["{self.name}"])'


def largest_in(name: str, keep: Callable[[tuple], bool], rule: str) -> Reader:
    """A reader for the largest number in section `name` whose key path `keep` accepts; `rule` says it in words."""
    return _LargestIn(name, keep, rule)


@dataclass(frozen=True)
class _FeasiblePolicy:
    name: str

    def __call__(self, report: dict) -> tuple[Any, str | None]:
        node = section(report, self.name)
        return (None if node is None else bool(node.get("feasible"))), self.name

    @property
    def rule(self) -> str:
        return f'report["{self.name}"] exists and its "feasible" is true'


def feasible_policy(name: str) -> Reader:
    """For a 'required' gate: whether section `name` exists and its "feasible" is true (None: no section)."""
    return _FeasiblePolicy(name)


# --- the core figures: written by every run of the task, whatever evaluations are on -----------------------

TABULAR = "tabular-classification"
TABULAR_REGRESSION = "tabular-regression"
BOTH = frozenset({CLASSIFICATION, GENERATION, TABULAR, TABULAR_REGRESSION})  # every task
CLASSIFY = frozenset({CLASSIFICATION, TABULAR})
RETAIN = frozenset({CLASSIFICATION, TABULAR, TABULAR_REGRESSION})  # regression: the teacher's R^2 kept
CORE = (
    GateDef(
        "min_retention",
        "min",
        at("comparison", "retention"),
        "the share of the teacher's macro-F1 (regression: R^2) the student keeps",
        ".1%",
        tasks=RETAIN,
    ),
    GateDef(
        "min_agreement",
        "min",
        at("comparison", "agreement", "value"),
        "the share of evaluation inputs where student and teacher agree",
        ".1%",
        tasks=CLASSIFY,
    ),
    GateDef(
        "min_speedup",
        "min",
        at("comparison", "speedup"),
        "how many times faster the student is than the teacher (batch 64 for classifiers, tokens/s for generators)",
        ",.2f",
        tasks=BOTH,
    ),
    GateDef(
        "max_size_ratio",
        "max",
        at("comparison", "size_ratio"),
        "the student's size on disk over the teacher's",
        ".1%",
        tasks=BOTH,
    ),
    GateDef(
        "max_ece",
        "max",
        at("student", "quality", "ece"),
        "the student's expected calibration error",
        ".3f",
        tasks=CLASSIFY,
    ),
    GateDef(
        "max_latency_ms",
        "max",
        at("student", "speed", "batch_1", "p95_ms"),
        "the student's p95 latency at batch 1, in ms",
        ".2f",
        tasks=CLASSIFY,
    ),
)


def _builtin_evaluations() -> list[Any]:
    from .evaluate import evaluation_classes

    return evaluation_classes()


def gather(evaluations: Sequence[Any] = ()) -> dict[str, GateDef]:
    """The gate table: the core gates, then each evaluation's own (in the evaluations' order)."""
    table = {g.name: g for g in CORE}
    for cls in sorted(evaluations, key=lambda c: (sorted(c.tasks), c.order, c.name)):
        for g in getattr(cls, "gates", ()):
            g = dataclasses.replace(g, evaluation=g.evaluation or cls.name, tasks=g.tasks or frozenset(cls.tasks))
            if g.name in table:
                raise UserError(
                    f"gate '{g.name}' is declared twice: by {table[g.name].evaluation or 'the core figures'} "
                    f"and by the evaluation '{cls.name}'"
                )
            table[g.name] = g
    return table


@lru_cache(maxsize=1)
def _table() -> dict[str, GateDef]:
    return gather(_builtin_evaluations())


def gate_table(evaluations: Sequence[Any] | None = None) -> dict[str, GateDef]:
    """Every gate understudy knows: {name: GateDef}. `evaluations` replaces the registered ones (tests)."""
    return _table() if evaluations is None else gather(evaluations)


def gate_names() -> tuple[str, ...]:
    return tuple(gate_table())


# --- results ---------------------------------------------------------------------------------------------


def licence_result(lic: dict) -> dict:
    """The licence gate as a gate result. A BLOCK never gets here (it stops the run first); an accepted UNKNOWN
    is a warning to read."""
    ok = lic["verdict"] in ("ALLOW", "ALLOW_WITH_OBLIGATIONS")
    message = f"licence gate: {lic['verdict']}" + (
        "" if ok else f', risk accepted: "{(lic.get("accepted_risk") or {}).get("reason")}"'
    )
    return {
        "name": "licence",
        "value": lic["verdict"],
        "threshold": None,
        "on_fail": "warn",
        "passed": ok,
        "status": "PASS" if ok else "WARN",
        "message": message,
        "where": "licence",
        "summary": lic.get("summary"),  # which model's terms gave the verdict (licences.verdict)
    }


def _result(name: str, value, threshold, on_fail: str, passed: bool | None, message: str, where=None) -> dict:
    status = "SKIPPED" if passed is None else "PASS" if passed else on_fail.upper()
    return {
        "name": name,
        "value": value,
        "threshold": threshold,
        "on_fail": on_fail,
        "passed": passed,
        "status": status,
        "message": message,
        "where": where,
    }


def skipped(name: str, setting, reason: str) -> dict:
    threshold, on_fail = _split(setting)
    return _result(name, None, threshold, on_fail, None, f"{name}: skipped: {reason}")


def _split(setting) -> tuple[Any, str]:
    """(threshold, on_fail) from a gate setting: {"threshold", "on_fail"}, a Gate model, or True (required)."""
    if isinstance(setting, bool):
        return setting, "block"
    if hasattr(setting, "model_dump"):
        setting = setting.model_dump()
    return setting["threshold"], setting.get("on_fail", "block")


def _fmt(value, spec: str) -> str:
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def verdict(results: list[dict]) -> str:
    """BLOCK if a block gate failed, WARN if a warn gate failed, else PASS; skipped gates do not count."""
    failed = {r["on_fail"] for r in results if r.get("passed") is False}
    return "BLOCK" if "block" in failed else "WARN" if "warn" in failed else "PASS"


def judge(gate: GateDef, setting, report: dict, *, off: str | None = None, missing: str = "fail") -> dict | None:
    """One gate's result. `off`: why its evaluation did not run (then it is SKIPPED, except a required gate, which
    fails). `missing`: what a missing figure whose evaluation was not said to be off is: "fail" (the engine's rule)
    or "skip" (for reports read without their recipe). None for a required gate set to false (no gate)."""
    name = gate.name
    if gate.kind == "required":
        if setting is not True and not (isinstance(setting, dict) and setting.get("threshold") is True):
            return None
        value, where = gate.read(report)
        if value is None:
            why = f"the {gate.evaluation} evaluation was off ({off})" if off else "report.json has none"
            return _result(
                name,
                None,
                True,
                "block",
                False,
                f"{name}: the gates require {gate.what}, and {why}" + (f" ({gate.how})" if gate.how else ""),
                where,
            )
        node = (section(report, gate.evaluation) if gate.evaluation else None) or {}
        if not value:
            said = node.get("message") or "no threshold meets the target error"
            return _result(name, False, True, "block", False, f"{gate.what}: not feasible: {said}", where)
        said = ", ".join(f"{k} {node[k]}" for k in ("alpha", "threshold", "coverage") if node.get(k) is not None)
        return _result(
            name,
            True,
            True,
            "block",
            True,
            f"{gate.what}: present and meets its target ({said or 'see report'})",
            where,
        )
    threshold, on_fail = _split(setting)
    value, where = gate.read(report)
    if value is None:
        if off:
            return _result(name, None, threshold, on_fail, None, f"{name}: skipped: {off}")
        # A task may say why a core figure cannot exist for this run (an API teacher has no speed of its own).
        why_not = (report.get("not_measured") or {}).get((where or "").replace(" › ", "."))
        if gate.evaluation is None and why_not:
            return _result(name, None, threshold, on_fail, None, f"{name}: skipped: {why_not}")
        if gate.evaluation is None:
            problem = f"{name}: the figure was not measured ({gate.what}, expected at {where or '?'})"
        elif section(report, gate.evaluation) is None:
            if missing == "skip":
                return _result(
                    name,
                    None,
                    threshold,
                    on_fail,
                    None,
                    f"{name}: skipped: the {gate.evaluation} evaluation was not run; to measure it, {gate.how}",
                )
            problem = (
                f"{name}: the {gate.evaluation} evaluation was on, but report.json has no '{gate.evaluation}' "
                f"section, so {gate.what} was not measured"
            )
        else:
            # An evaluation that ran but says why it could not judge (every group under the minimum size, no
            # text with a word to swap): a stated skip with that why, never a silent pass nor a missing figure.
            unjudged = (section(report, gate.evaluation) or {}).get("unjudged")
            if isinstance(unjudged, str) and unjudged:
                return _result(
                    name, None, threshold, on_fail, None, f"{name}: skipped: not judged ({TOO_FEW}): {unjudged}"
                )
            if missing == "skip":
                return _result(
                    name,
                    None,
                    threshold,
                    on_fail,
                    None,
                    f"{name}: skipped: report['{gate.evaluation}'] holds no figure for it",
                )
            problem = (
                f"{name}: the {gate.evaluation} evaluation ran, but its section holds no figure for "
                f"{gate.what}; a gate without its figure fails"
            )
        ev = gate.evidence(report) if gate.evidence else None
        if ev is not None and not ev.get("total"):
            # no cases at all (the teacher refused nothing): not a failure stated as fact, a person must look
            ev = _evidence(gate, ev, None, threshold, TOO_FEW)
            return _result(name, None, threshold, "warn", False, f"{problem}: {ev['basis']}", where) | {"evidence": ev}
        return _result(name, None, threshold, on_fail, False, problem)
    return _judge_figure(gate, report, value, where, threshold, on_fail)


def _found(gate: GateDef, report: dict, value, where) -> list[Found]:
    """Every figure the gate's reader finds, with its evidence; the gate's `evidence` hook fills in the headline's."""
    finder = getattr(gate.read, "found", None)
    found = list(finder(report)) if finder else []
    if not found:
        found = [(float(value), where or "", None)]
    if gate.evidence is not None:
        found = [(v, w, ev if ev is not None or w != where else gate.evidence(report)) for v, w, ev in found]
    return found


def _reading(gate: GateDef, value: float, ev: dict | None, threshold) -> str:
    if ev is not None:
        return read_interval(ev["interval"], threshold, "min" if gate.kind == "min" else "max")
    ok = value >= threshold if gate.kind == "min" else value <= threshold
    return WITHIN if ok else PAST


def _evidence(gate: GateDef, ev: dict, value, threshold, reading: str) -> dict:
    """The result's "evidence": the contract report pages read (see docs/report-schema.md)."""
    low, high = (float(x) for x in ev["interval"])
    count, total = ev.get("count"), ev.get("total")
    rate = ev.get("rate", value) if ev.get("rate") is not None else value
    counted = ev.get("counted") or "cases"
    f = lambda x: _fmt(x, gate.fmt)  # noqa: E731
    if isinstance(count, int) and isinstance(total, int):
        cases = f"{count} of {total} {counted}"
    elif isinstance(total, int):
        cases = f"{total} {counted}"
    else:
        cases = "the evaluation rows"
    side = "at least" if gate.kind == "min" else "at most"
    more = None
    if not total and total is not None:
        basis = f"too few to judge: no {counted} to measure {gate.what} on"
    else:
        figure = f"{f(rate)} on {cases}" if rate is not None else cases
        basis = f"{figure}, 95% interval {f(low)} to {f(high)} ({ev.get('method') or 'interval'}): "
        if reading == PAST:
            basis += f"the whole interval is past the bound ({side} {f(threshold)}), so the gate fails on the evidence"
        elif reading == WITHIN:
            basis += (
                f"the whole interval is within the bound ({side} {f(threshold)}), so the gate passes on the evidence"
            )
        else:
            more = settle(rate, [low, high], threshold, total if isinstance(total, int) else None)
            basis += (
                f"the interval straddles the bound ({side} {f(threshold)}): too few to judge"
                + (f" with only {total:,} cases" if isinstance(total, int) else "")
                + (f"; about {more:,} more at the same rate would settle it" if more else "")
            )
    return {
        "count": count if isinstance(count, int) else None,
        "total": total if isinstance(total, int) else None,
        "rate": rate,
        "interval": [low, high],
        "bound": threshold,
        "reading": reading,
        "basis": basis,
        "more": more if isinstance(more, int) and more > 0 else None,  # cases that would settle a straddle
    }


def _judge_figure(gate: GateDef, report: dict, value, where, threshold, on_fail: str) -> dict:
    """A min/max gate on its figure(s): on the 95% interval where one is given, else on the value."""
    found = [(v, w, ev, _reading(gate, v, ev, threshold)) for v, w, ev in _found(gate, report, value, where)]
    worse = (lambda f: f[0]) if gate.kind == "max" else (lambda f: -f[0])
    for wanted in (PAST, TOO_FEW):
        hits = [f for f in found if f[3] == wanted]
        if hits:
            chosen = max(hits, key=worse)
            break
    else:
        chosen = max(found, key=worse)
    value, where, ev, reading = chosen
    side = "at least" if gate.kind == "min" else "at most"
    message = f"{gate.what} is {_fmt(value, gate.fmt)} ({side} {threshold} required; read at {where})"
    if ev is None:
        return _result(gate.name, value, threshold, on_fail, reading == WITHIN, message, where)
    evidence = _evidence(gate, ev, value, threshold, reading)
    if reading == TOO_FEW:
        on_fail = "warn"  # neither a failure stated as fact nor a pass: a person must look
    out = _result(gate.name, value, threshold, on_fail, reading == WITHIN, f"{message}; {evidence['basis']}", where)
    return out | {"evidence": evidence}


# --- the engine's two calls ------------------------------------------------------------------------------


def _settings(gates) -> dict:
    """{name: setting} of the gates that are set (GatesSpec or a plain dict)."""
    if hasattr(gates, "active"):
        return gates.active()
    return {k: v for k, v in dict(gates).items() if v is not None}


def _off_reasons(recipe, task: str, evaluations: Sequence[Any] | None) -> dict[str, str]:
    """{evaluation name: why it is off} for the task's evaluations that the recipe switches off."""
    from .evaluate import evaluation_classes

    out = {}
    for cls in evaluation_classes(task) if evaluations is None else [c for c in evaluations if task in c.tasks]:
        reason = cls().enabled(recipe)
        if reason:
            out[cls.name] = reason
    return out


def _known(settings: dict, table: dict) -> None:
    unknown = sorted(set(settings) - set(table))
    if unknown:
        raise UserError(f"gates {unknown} are declared by no installed evaluation; known gates: {', '.join(table)}")


def _tasks_words(tasks) -> str:
    return " and ".join(sorted(tasks)) or "no task"


def plan(recipe, evaluations: Sequence[Any] | None = None) -> list[dict]:
    """Before any model loads: the gates against what the recipe's task can measure.

    `recipe` is the recipe as written (its gates not yet merged with the sector profile). A gate the recipe sets
    itself that the task can never measure is a UserError; the results that will be SKIPPED are returned: the
    sector profile's gates that do not apply to the task, and gates whose evaluation the recipe switches off.
    """
    task, table = recipe.task, gate_table(evaluations)
    written = (
        recipe.gates.model_fields_set if hasattr(recipe.gates, "model_fields_set") else set(_settings(recipe.gates))
    )
    for name in sorted(written):
        value = getattr(recipe.gates, name, None)
        gate = table.get(name)
        if value is None or value is False or gate is None or task in gate.tasks:
            continue
        raise UserError(
            f"gates.{name}: {task} never measures {gate.what} (only {_tasks_words(gate.tasks)} "
            f"{'does' if len(gate.tasks) == 1 else 'do'}); remove it from the recipe"
        )
    sector = recipe.intended_use.sector
    merged = recipe.gates.with_sector(sector) if hasattr(recipe.gates, "with_sector") else recipe.gates
    _known(_settings(merged), table)
    off = _off_reasons(recipe, task, evaluations)
    out = []
    for name, setting in _settings(merged).items():
        gate = table.get(name)
        if gate is None or setting is False:
            continue
        if task not in gate.tasks:
            out.append(
                skipped(
                    name,
                    setting,
                    f"not measured for task {task} (a default of the sector profile "
                    f"'{sector}'; only {_tasks_words(gate.tasks)} measures it)",
                )
            )
        elif gate.evaluation in off and gate.kind != "required":
            out.append(skipped(name, setting, off[gate.evaluation]))
    return out


def check(recipe, report: dict, evaluations: Sequence[Any] | None = None) -> dict:
    """report["gates"]: {"verdict", "results"}, the licence first, then every gate in the table's order.

    `recipe` is the resolved recipe: its gates already merged with the sector profile (GatesSpec.with_sector).
    """
    task, table = recipe.task, gate_table(evaluations)
    settings = _settings(recipe.gates)
    _known(settings, table)
    off = _off_reasons(recipe, task, evaluations)
    off.update(
        {
            k: f"the {k} evaluation did not run: {v}"
            for k, v in (report.get("skipped_evaluations") or {}).items()
            if k not in off
        }
    )
    results = [licence_result(report["licence"])] if report.get("licence") else []
    for name, gate in table.items():
        if name not in settings:
            continue
        setting = settings[name]
        if task not in gate.tasks:
            if setting is not False:
                results.append(skipped(name, setting, f"not measured for task {task} (a sector-profile default)"))
            continue
        result = judge(gate, setting, report, off=off.get(gate.evaluation) if gate.evaluation else None)
        if result is not None:
            results.append(result)
    return {"verdict": verdict(results), "results": results}


# --- documentation ---------------------------------------------------------------------------------------


def _read_rule(gate: GateDef) -> str:
    return getattr(gate.read, "rule", "see its evaluation")


def gate_rows(gates: Sequence[GateDef], *, evaluation_column: bool = True) -> list[str]:
    """Markdown table lines for `gates`: name, kind, figure, where it is read (and its evaluation and tasks)."""
    head = "| gate | kind | figure | read at |" + (" evaluation | tasks |" if evaluation_column else "")
    rows = [head, "|---|---|---|---|" + ("---|---|" if evaluation_column else "")]
    for gate in gates:
        kind = {"min": "at least", "max": "at most", "required": "true: must exist and be feasible"}[gate.kind]
        row = f"| `{gate.name}` | {kind} | {gate.what} | {_read_rule(gate)} |"
        if evaluation_column:
            row += f" {gate.evaluation or '(core: every run)'} | {', '.join(sorted(gate.tasks))} |"
        rows.append(row)
    return rows


def gates_markdown(evaluations: Sequence[Any] | None = None) -> str:
    """The gate table as markdown, for docs/report-schema.md (generated from the declarations)."""
    return "\n".join(gate_rows(list(gate_table(evaluations).values()))) + "\n"


DOC_BEGIN, DOC_END = (
    "<!-- gates:begin (generated by `python -m understudy.gates`; do not edit) -->",
    "<!-- gates:end -->",
)


def update_doc(path) -> bool:
    """Regenerate docs/report-schema.md's generated parts: this gate table and each evaluation's section
    (understudy.report.schema); True if it changed."""
    from .report.schema import update_doc as update

    return update(path)


if __name__ == "__main__":  # python -m understudy.gates [docs/report-schema.md]
    import sys

    from understudy.gates import (
        update_doc as _update,  # the package's module, not a second copy as __main__
    )

    target = sys.argv[1] if len(sys.argv) > 1 else "docs/report-schema.md"
    print(f"{target}: {'updated' if _update(target) else 'up to date'}")
