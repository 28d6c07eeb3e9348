"""Using a student from Python: `understudy.load(folder)` and `understudy.distill(recipe)`.

    import understudy
    model = understudy.load("runs/reviews")       # a run folder, its student/ folder, or an exported folder
    model.predict(["the tea arrived stale"])      # labels
    model.predict_proba(["..."])                  # calibrated probabilities, one column per label
    model.defer(["..."])                          # True where the oversight policy sends the text to a person

A table student (task tabular-classification or tabular-regression) takes rows instead of texts: a dict
{feature column: value} (one answer back), a list of them or a pandas DataFrame with the feature columns:

    model = understudy.load("runs/churn")
    model.predict({"tenure": 3, "contract": "Month-to-month", "monthly_charges": 80.5})   # its label
    model.predict(df)                             # labels (numbers, for a regression), one per row

The folder loads as `understudy serve` loads it (understudy.students.load_student): its calibration.json rescales
the confidence, and its oversight.json (fitted on those rescaled scores) decides what goes to a person. As `serve`
does, `load` refuses the student of a run whose gates said BLOCK (understudy.errors.StudentBlocked) unless given
allow_blocked=True, and then warns (BlockedStudentWarning); `repr` shows the run's verdict.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import StudentBlocked, UserError

__all__ = ["load", "distill", "Student", "Distilled", "locate", "BlockedStudentWarning", "RowWarning"]


class BlockedStudentWarning(UserWarning):
    """A student loaded with allow_blocked=True although its run's gates said BLOCK."""


class RowWarning(UserWarning):
    """Rows a table student answered although a value in them was not one it learnt: a category it never saw
    (read as none of the known ones). Keys that are not feature columns are ignored without a warning."""


def locate(path: str | Path) -> tuple[Path | None, Path]:
    """(the run folder or None, the student folder) for a run folder, its student/ folder or a bare student folder
    (an `understudy export` folder is one)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"{path} does not exist: give a run folder made by `understudy distill`, or a student folder")
    if not path.is_dir():
        raise UserError(f"{path} is a file: give a run folder made by `understudy distill`, or a student folder")
    if (path / "student" / "student.json").is_file():
        return path, path / "student"
    if (path / "student.json").is_file():
        run = path.parent if path.name == "student" and (path.parent / "stages.json").is_file() else None
        return run, path
    raise UserError(
        f"{path} is neither a run folder (no student/student.json) nor a student folder (no student.json): "
        "give the folder `understudy distill --out` wrote, its student/ folder, or an `understudy export` folder"
    )


def _texts(texts) -> tuple[list[str], bool]:
    """(the texts as a list, whether one string was given); anything but strings is refused, naming where."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, dict)) or not isinstance(texts, (Sequence, np.ndarray)):
        raise UserError(f"give a text or a list of texts, not a {type(texts).__name__}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise UserError(f"texts[{i}] is a {type(t).__name__}, not a string: give each text as a string")
    return out, False


class Student:
    """A distilled student as it ships: labels, calibrated probabilities and the oversight decision.

    Give each method a list of texts (or one string: the answer for that one text)."""

    def __init__(self, folder: str | Path, *, allow_blocked: bool = False):
        from .oversight.abstain import POLICY_FILE, load_policy
        from .students import load_student, read_temperature

        run, student_dir = locate(folder)
        self.verdict, self.verdict_why = "not gated", "a student folder without its run: understudy has not gated it"
        if run is not None:
            from .run import RunFolder
            from .serve.app import run_verdict  # serve's reading of the verdict: the two refuse the same students

            RunFolder(run).require_evaluated("understudy.load")  # as `serve`: only the student the run measured
            self.verdict, self.verdict_why = run_verdict(run / "student")
        if self.verdict == "BLOCK":
            if not allow_blocked:
                raise StudentBlocked(
                    f"{run}: the release checks blocked this student ({self.verdict_why}), so it is not loaded: "
                    "its answers are not fit to rely on (report.html says why). To load it anyway, for a test "
                    "or to look into it, pass allow_blocked=True (understudy.load), or --allow-blocked "
                    "(understudy predict)"
                )
            warnings.warn(
                f"{run}: loaded although the release checks blocked this student ({self.verdict_why}); "
                "do not rely on its answers",
                BlockedStudentWarning,
                stacklevel=_callers_level(),
            )
        self.run, self.folder = run, student_dir
        self.model = load_student(student_dir)  # calibration.json applied, as `serve` applies it
        self.temperature = read_temperature(student_dir)
        meta = json.loads((student_dir / "student.json").read_text(encoding="utf-8"))
        self.task: str = str(meta.get("task") or "text-classification")
        self.schema = None  # a table student's TableSchema: its feature columns, each numeric or categorical
        from .serve.app import TABLE_TASKS

        if self.task in TABLE_TASKS:
            from .modalities.table import TableSchema

            self.schema = TableSchema.from_json(meta["schema"])
        regression = self.task == "tabular-regression"
        # a regression's labels are None: it answers numbers
        self.labels: list[str] | None = None if regression else list(self.model.labels)
        # load_policy refuses a threshold fitted on another confidence than the one served (calibration.json);
        # a regression has no policy: deferral is calibrated on class probabilities
        has_policy = (student_dir / POLICY_FILE).is_file() and not regression
        self.policy: dict | None = load_policy(student_dir) if has_policy else None
        self.name = self._name()

    def _name(self) -> str:
        report = self.run / "report.json" if self.run is not None else None
        if report is not None and report.is_file():
            name = (json.loads(report.read_text(encoding="utf-8")).get("student") or {}).get("name")
            if isinstance(name, str) and name:
                return name
        return (self.run or self.folder).name

    @property
    def kind(self) -> str:
        return str(getattr(self.model, "kind", "student"))

    @property
    def features(self) -> list[str] | None:
        """A table student's feature columns, in order (None for a text student)."""
        return self.schema.features if self.schema is not None else None

    def _inputs(self, given):
        """(the batch as the model reads it, its length, whether one item was given): texts, or a table student's
        rows checked against its schema (a RowWarning names the categories it never saw)."""
        if self.schema is None:
            batch, one = _texts(given)
            return batch, len(batch), one
        checked, one = _table_rows(self.schema, given)
        if checked.warnings:
            warnings.warn("; ".join(checked.warnings), RowWarning, stacklevel=_callers_level())
        return checked.rows, len(checked), one

    def predict_proba(self, texts) -> np.ndarray:
        """Calibrated probabilities (softmax(log p / T) with calibration.json's T), one column per label.
        A table student: give rows (a dict, a list of dicts, a DataFrame) in place of texts."""
        if self.labels is None:
            raise UserError(f"{self.name} is a regression student: it answers numbers, not classes; use predict(rows)")
        batch, n, one = self._inputs(texts)
        probs = np.asarray(self.model.predict_proba(batch)) if n else np.zeros((0, len(self.labels)))
        return probs[0] if one else probs

    def predict(self, texts):
        """The label of each text (the highest probability); a table student's of each row (a regression's
        number for each row)."""
        if self.labels is None:
            batch, n, one = self._inputs(texts)
            values = [float(v) for v in self.model.predict(batch)] if n else []
            return values[0] if one else values
        batch, n, one = self._inputs(texts)
        probs = np.asarray(self.model.predict_proba(batch)) if n else np.zeros((0, len(self.labels)))
        best = [self.labels[int(i)] for i in probs.argmax(1)]
        return best[0] if one else best

    def defer(self, texts):
        """True where the oversight policy sends the text (or row) to a person (its confidence is below the
        threshold)."""
        from .oversight.abstain import decide

        if self.policy is None:
            if self.labels is None:
                raise UserError(
                    f"{self.name} is a regression student: it has no oversight policy (deferral is calibrated on "
                    "class probabilities, and a regression has none); decide yourself who checks its numbers"
                )
            raise UserError(
                f"{self.folder} has no oversight policy (oversight.json): nothing says when to defer to a person. "
                "Set safety.oversight.enabled: true in the recipe and rerun `understudy distill`, or decide "
                "yourself who checks the student's answers"
            )
        batch, n, one = self._inputs(texts)
        probs = np.asarray(self.model.predict_proba(batch)) if n else np.zeros((0, len(self.labels)))
        answers = decide(probs, self.policy) if n else []
        return answers[0] if one else answers

    def __repr__(self) -> str:
        policy = "no oversight policy"
        if self.policy is not None:
            policy = f"defers below {self.policy['threshold']:.4g}" if self.policy.get("feasible") else "defers all"
        t = f"temperature {self.temperature:.4g}" if self.temperature is not None else "uncalibrated"
        verdict = "not gated" if self.verdict == "not gated" else f"verdict {self.verdict}"
        if self.verdict == "BLOCK":
            verdict += " (loaded with allow_blocked: do not rely on its answers)"
        answers = f"labels {self.labels}" if self.labels is not None else f"a number ({self.schema.target or 'value'})"
        if self.schema is not None:
            answers = f"{len(self.schema.features)} feature columns, {answers}"
        return f"<understudy.Student {self.name!r}: {verdict}, {self.kind}, {answers}, {t}, {policy}; {self.folder}>"


def _table_rows(schema, given):
    """(the rows checked against `schema`, whether one row was given) for a dict, a pandas Series (one row), a list
    of dicts, a DataFrame or a Rows; texts and the like are refused, saying what a table student takes."""
    import pandas as pd

    from .modalities.table import Rows
    from .serve.predict_rows import check_frame, check_rows, feature_list

    how = (
        f"give a row as a dict {{column: value}} with the student's feature columns ({feature_list(schema)}), "
        "a list of such dicts, or a pandas DataFrame with those columns"
    )
    if isinstance(given, dict):
        return check_rows(schema, [given], mode="python", name="row", note_ignored=False), True
    if isinstance(given, pd.Series):
        return check_rows(schema, [dict(given.items())], mode="python", name="row", note_ignored=False), True
    if isinstance(given, Rows):
        given = given.frame
    if isinstance(given, pd.DataFrame):

        def at(r: int) -> str:
            label = given.index[r]
            return f"row {r}" + (f" (index {label!r})" if label != r else "")

        return check_frame(schema, given, source="the DataFrame", at=at, mode="python"), False
    if isinstance(given, str | bytes):
        raise UserError(f"this student reads table rows, not text: {how}")
    if not isinstance(given, Sequence | np.ndarray) or isinstance(given, np.ndarray) and given.ndim != 1:
        from .serve.predict_rows import kind_of

        raise UserError(f"this student reads table rows, not {kind_of(given)}: {how}")
    rows = [dict(r.items()) if isinstance(r, pd.Series) else r for r in given]
    for i, r in enumerate(rows):
        if isinstance(r, str | bytes):
            raise UserError(f"rows[{i}] is a text, not a row: this student reads table rows, not texts: {how}")
    return check_rows(schema, rows, mode="python", name="rows", note_ignored=False), False


def _callers_level() -> int:
    """warnings.warn's stacklevel for the first frame outside understudy: the warning names the user's line."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 1, sys._getframe(1)  # the frame that calls warnings.warn is level 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def load(path: str | Path, *, allow_blocked: bool = False) -> Student:
    """The student of a run folder, its student/ folder or an exported folder, with its calibration and policy.

    A run whose gates said BLOCK is refused (understudy.errors.StudentBlocked), as `serve` refuses it, unless
    allow_blocked=True: then it loads with a BlockedStudentWarning, and repr says the verdict."""
    return Student(path, allow_blocked=allow_blocked)


class Distilled:
    """What `distill` made: the run folder, its report.json and the gates' verdict."""

    def __init__(self, folder: Path, report: dict):
        self.folder, self.report = folder, report
        self.verdict: str | None = (report.get("gates") or {}).get("verdict")

    def load(self, *, allow_blocked: bool = False) -> Student:
        return load(self.folder, allow_blocked=allow_blocked)

    def __repr__(self) -> str:
        return f"<understudy.Distilled {self.folder}: verdict {self.verdict or 'not gated'}>"


def distill(recipe, out: str | Path | None = None, *, quiet: bool = True, **opts) -> Distilled:
    """Run `understudy distill` from Python. `recipe`: a recipe file (or one loaded with understudy.recipe.load_recipe);
    `out`: the run folder (default runs/<recipe name>); `opts`: start, stop, accept_licence_risk, as the command's
    --from, --to and --accept-licence-risk. quiet=False shows progress on stderr."""
    from .progress import QUIET, Progress
    from .recipe import load_recipe
    from .run import distill as run

    unknown = sorted(set(opts) - {"start", "stop", "accept_licence_risk"})
    if unknown:
        raise UserError(f"distill: unknown option(s) {unknown}; the options are start, stop, accept_licence_risk")
    r = load_recipe(recipe) if isinstance(recipe, (str, Path)) else recipe
    folder = Path(out) if out is not None else Path("runs") / r.name
    progress = QUIET
    if not quiet:
        from rich.console import Console

        progress = Progress(Console(stderr=True))
    return Distilled(folder, run(r, folder, progress=progress, **opts))
