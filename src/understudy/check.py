"""`understudy check`: every problem that can be known without asking the teacher anything, then what the
labelling will take (time, and money for an API teacher), so nothing fails after the expensive step.

`check(recipe)` collects every problem, not only the first: the recipe's files, the gates the task cannot
measure, the output folder, the API settings, the licence gate (it reads files only), then the task's own checks
(data columns and labels, the student against the teacher kind: src/understudy/tasks/classification_check.py).
The teacher is built (files, not weights) only once the licence gate allows it. With `sample`, a handful of texts
are labelled and timed; their outputs are stored in the run folder's store, so the run never asks them again.
`distill` runs the same check first (sample=0) and stops on any problem before the teacher is asked anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError


@dataclass
class Problem:
    what: str  # what is wrong, and where (file:line: key where the recipe gives it)
    fix: str = ""
    kind: str = "recipe"  # recipe, data, licence, gates, teacher, student, api, output
    verdict: str = ""  # kind licence: the licence gate's BLOCK or UNKNOWN (the exit code follows it)

    def __str__(self) -> str:
        return self.what + (f"\n    fix: {self.fix}" if self.fix else "")


@dataclass
class Estimate:
    texts: int  # distinct texts the teacher answers while teaching (transfer + evaluation)
    stored: int  # of those, already in the run folder's store
    safety_texts: int = 0  # at most this many more, asked by the counterfactual and robustness checks
    sampled: int = 0  # texts labelled and timed just now (stored)
    load_s: float | None = None  # the first call: loading the model (or the first round trip)
    seconds_per_text: float | None = None
    usd: float | None = None  # API teachers: the labelling's cost
    usd_basis: str = ""
    price_source: str = ""
    store: str = ""  # where the sampled answers were stored (the run folder's teacher.sqlite)

    @property
    def to_label(self) -> int:
        return max(self.texts - self.stored, 0)

    @property
    def seconds(self) -> float | None:
        if self.seconds_per_text is None:
            return None
        return self.seconds_per_text * (self.to_label + self.safety_texts)

    def lines(self) -> list[str]:
        out = [
            f"texts to label: {self.to_label} of {self.texts} (transfer + evaluation; {self.stored} already stored)",
        ]
        if self.safety_texts:
            out.append(f"  plus at most {self.safety_texts} perturbed or swapped texts for the safety checks")
        if self.seconds_per_text is not None:
            out.append(
                f"time: about {_duration(self.seconds)} at {self.seconds_per_text:.3g} s a text "
                f"(from {self.sampled} timed calls; loading took {self.load_s:.1f} s)"
            )
            if self.store:
                out.append(
                    f"the {self.sampled} sampled answers are stored in {self.store}: a distill with the same --out "
                    "reuses them and does not ask the teacher again"
                )
        else:
            out.append("time: not sampled (run `understudy check RECIPE` without --no-sample to time the teacher)")
        if self.usd is not None:
            out.append(f"cost: about ${self.usd:.4f} for the labelling ({self.usd_basis}; prices: {self.price_source})")
        return out


@dataclass
class CheckResult:
    recipe: Any
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    estimate: Estimate | None = None
    out: Path | None = None  # the run folder the check looked in (and stored its sampled answers in)
    lines: dict = field(default_factory=dict)  # the recipe's key -> line index, to name a line in a problem
    source: Path | None = None  # the recipe file

    def where(self, loc: tuple) -> str:
        """'recipe.yaml:LINE: ' for a key of the recipe, where its line is known; else ''."""
        from .recipe import _nearest_line

        line = _nearest_line(self.lines, loc) if self.lines and self.source else None
        return f"{self.source}:{line}: " if line else ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, what: str, fix: str = "", kind: str = "recipe", verdict: str = "") -> None:
        self.problems.append(Problem(what, fix, kind, verdict))

    def message(self) -> str:
        n = len(self.problems)
        head = f"the recipe has {n} problem{'s' if n != 1 else ''}; nothing was asked of the teacher:"
        return head + "".join(f"\n  - {str(p)}" for p in self.problems)


class RecipeProblems(UserError):
    """What `check` found, all of it: raised by `distill` before the teacher is asked anything."""

    def __init__(self, result: CheckResult):
        self.result = result
        super().__init__(result.message())


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _lines_of(exc: UserError) -> list[str]:
    """A UserError that lists several problems, one per line (the recipe parser's), as separate problems."""
    text = str(exc)
    if text.startswith("recipe is not valid:"):
        text = text.split("\n", 1)[1] if "\n" in text else text
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_file(
    path: str | Path, *, out: str | Path | None = None, sample: int = 8, accept_licence_risk: str | None = None
) -> CheckResult:
    """Check a recipe file: an invalid recipe gives its schema problems (every one); a valid one goes on to `check`."""
    from .recipe import parse_recipe

    try:
        recipe, lines = parse_recipe(path)
    except UserError as exc:
        result = CheckResult(recipe=None)
        for line in _lines_of(exc):
            result.add(line)
        result.notes.append("the other checks run once the recipe itself is valid")
        return result
    return check(
        recipe, lines=lines, source=Path(path), out=out, sample=sample, accept_licence_risk=accept_licence_risk
    )


def check(
    recipe,
    *,
    lines: dict | None = None,
    source: Path | None = None,
    out: str | Path | None = None,
    sample: int = 0,
    accept_licence_risk: str | None = None,
) -> CheckResult:
    """Every problem knowable without asking the teacher; with `sample` > 0 and none found, a timed estimate."""
    result = CheckResult(recipe=recipe)
    source = source or Path(getattr(recipe, "_base_dir", Path("."))) / "recipe.yaml"
    out = Path(out) if out is not None else Path("runs") / recipe.name
    result.out, result.lines, result.source = out, lines or {}, source
    missing = _files(recipe, lines or {}, source, result)
    _intended_use(recipe, result)
    _gates(recipe, result)
    _output(out, result)
    _api(recipe, result)
    if _teacher_missing(recipe, missing):
        # the missing file is already a problem; the licence gate would only say the same thing less clearly
        result.notes.append("licence gate: not run, the teacher's file is missing")
        licence_ok = False
    else:
        licence_ok = _licence(recipe, accept_licence_risk, result)
    task_check = _task_check(recipe.task)
    if task_check is not None:
        task_check(recipe, result, missing=missing, licence_ok=licence_ok, out=out, sample=sample)
    return result


def _task_check(task: str):
    """The task's own checks: `check(recipe, result, *, missing, licence_ok, out, sample)` on its task class, or
    understudy's own for the built-in tasks (kept out of their task modules)."""
    from . import registry

    if task == "text-classification":
        from .tasks.classification_check import check as classification

        return classification
    try:
        cls = registry.load(registry.TASKS, task)
    except UserError:
        return None
    return getattr(cls, "check", None)


def _files(recipe, lines: dict, source: Path, result: CheckResult) -> set[str]:
    """The files the recipe names that do not exist (every one), as resolved paths."""
    check_files = getattr(recipe, "check_files", None)
    if check_files is None:
        return set()
    try:
        check_files(lines, source)
    except UserError as exc:
        missing = set()
        for line in _lines_of(exc):
            result.add(line, "put the file there, or correct the path (relative paths start at the recipe's folder)")
            if "file not found: " in line:
                missing.add(line.rsplit("file not found: ", 1)[1])
        return missing
    return set()


def _teacher_missing(recipe, missing: set[str]) -> bool:
    """Whether a file the teacher is read from (teacher.path or teacher.head) is among the missing ones."""
    teacher = getattr(recipe, "teacher", None)
    resolve = getattr(recipe, "resolve", None)
    if teacher is None or resolve is None or not missing:
        return False
    named = [getattr(teacher, key, None) for key in ("path", "head")]
    return any(value and str(Path(resolve(value))) in missing for value in named)


INTENDED_USE_FIX = (
    "write one sentence on what the student is for and who it affects, e.g. intended_use: {description: "
    '"Route support tickets to the right team; customers never see its answer"}'
)


def _intended_use(recipe, result: CheckResult) -> None:
    """An empty intended_use.description: the EU AI Act screen and the model card read only this text."""
    use = getattr(recipe, "intended_use", None)
    if use is None or (getattr(use, "description", "") or "").strip():
        return
    if "description" not in use.model_fields_set:  # not written at all (older recipes, tests): said, not stopped
        result.notes.append(f"intended_use.description is not set; {INTENDED_USE_FIX}")
        return
    result.add(
        f"{result.where(('intended_use', 'description'))}intended_use.description is empty: the EU AI Act screen and the model card read only this text",
        INTENDED_USE_FIX,
    )


def _gates(recipe, result: CheckResult) -> None:
    from .gates import plan

    try:
        skipped = plan(recipe)
    except UserError as exc:
        result.add(str(exc), kind="gates")
        return
    for row in skipped:
        result.notes.append(f"gate {row['message']}")


def _output(out: Path, result: CheckResult) -> None:
    """The run folder (or the nearest folder above it that exists) must be writable."""
    probe = out.resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        result.add(f"output folder {out}: {probe} is a file", "choose another --out", kind="output")
    elif not os.access(probe, os.W_OK):
        result.add(f"output folder {out}: {probe} is not writable", "choose a --out where you may write", kind="output")


def _api(recipe, result: CheckResult) -> None:
    """An API teacher's key variable and prices, read here without sending anything (the key is never shown)."""
    api = getattr(getattr(recipe, "teacher", None), "api", None)
    if api is None:
        return
    from .api.client import ApiClient, prices_for

    try:
        ApiClient._read_key(api.api_key_env)
    except UserError as exc:
        result.add(str(exc), kind="api")
    try:
        prices = prices_for(api)
    except UserError as exc:
        result.add(str(exc), kind="api")
        return
    if prices is None:
        if api.budget_usd is not None:
            result.add(
                f"teacher.api.budget_usd is set, but no price is known for model '{api.model}'",
                "set teacher.api.price_per_million_input and price_per_million_output",
                kind="api",
            )
        else:
            result.notes.append(
                f"no price is known for model '{api.model}': the cost cannot be estimated; set "
                "teacher.api.price_per_million_input and price_per_million_output"
            )


def _licence(recipe, accept_risk: str | None, result: CheckResult) -> bool:
    """The licence gate's verdict (it reads files and the catalogue, never the model): False when it stops the run."""
    from .licences import LicenceBlocked, gate_recipe, summary_line

    try:
        verdict = gate_recipe(recipe, accept_risk=accept_risk)
    except UserError as exc:  # a licence value or teacher file the gate cannot read: the recipe is wrong
        result.add(f"licence gate: {exc}")
        return False
    if verdict["proceed"]:
        result.notes.append(summary_line(verdict))  # which model's terms gave the verdict
        return True
    fix = (
        "the terms do not allow this use: choose another teacher, or change intended_use if it is wrong"
        if verdict["verdict"] == "BLOCK"
        else 'read the terms; if you accept the risk, pass --accept-licence-risk "your reason", or declare '
        "teacher.licence"
    )
    result.add(str(LicenceBlocked(verdict)), fix, kind="licence", verdict=verdict["verdict"])
    return False
