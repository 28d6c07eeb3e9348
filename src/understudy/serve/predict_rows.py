"""Table rows checked against a student's schema, and POST /v1/predict: a table student's answer for each row.

One set of rules for every way in (the server's JSON, `understudy.load`'s dicts and DataFrames, `understudy
predict`'s files), so a row the server refuses is refused everywhere with the same words:
- every feature column must be there (null/None for a missing value); other columns are ignored, and said so;
- a numeric column takes a finite number (a file's text is parsed as the run's reader parses it);
- a categorical column takes text; a category the student never saw is read as none of the known ones (each
  category is an indicator, so such a row looks as if the value were missing), and said so.
A deferred row goes into the review queue as one line of `col=value` text, in the same request, as /v1/classify
does with texts.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ..errors import UserError
from ..modalities.table import Column, TableSchema, describe_row
from .text import check_unicode

MAX_WARNINGS = 20  # distinct warnings per answer; the rest are counted
SHOWN = 40  # characters of a client's value quoted back in a message


class RowError(UserError):
    """A row the schema refuses: the message names the row and the column; `param` is where, for the server."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass
class Checked:
    """The rows as the student reads them (row dicts of the feature columns, or a typed DataFrame of them), and
    what was said about them."""

    rows: Any
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


class _Bad(Exception):
    """One cell refused: what is wrong with it and how to fix it."""

    def __init__(self, what: str, fix: str):
        self.what, self.fix = what, fix


def _shown(v) -> str:
    text = str(v)
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "...")


def kind_of(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the text {_shown(v)}"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list | tuple):
        return "a list"
    if isinstance(v, numbers.Number):
        text = _infinite(v) if isinstance(v, float) and not math.isfinite(v) else str(v)
        return f"the number {text if len(text) <= SHOWN else text[:SHOWN] + '...'}"
    return f"a {type(v).__name__}"


def _infinite(x: float) -> str:
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")  # as JSON (and Python's json) spell it


def _nan(v) -> bool:
    """pandas' and numpy's missing markers (NaN, None, pd.NA, NaT), which a DataFrame holds for an empty cell."""
    if v is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _cell(col: Column, v, mode: str, missing: frozenset[str]):
    """The value as the student reads it (float or None; str or None), or _Bad. `mode`: 'json' (a request: JSON
    types only, NaN refused), 'python' (also numpy's numbers; NaN is missing, as in pandas) or 'file' (text parsed
    as the run's table reader does: the missing-value cells, numbers written as text)."""
    if mode == "file":
        from ..data.tables import _missing_cell, _number

        if _missing_cell(v, missing):
            return None
        if col.kind == "categorical":
            return str(v).strip()
        x = _number(v)
        if x is None:
            raise _Bad(
                f"{_shown(v)} is not a number, but the column is numeric",
                "fix the cell, or leave it empty if the value is missing",
            )
        return x
    if v is None or (mode == "python" and not isinstance(v, str | list | tuple | dict) and _nan(v)):
        return None
    if col.kind == "numeric":
        if (
            isinstance(v, bool)
            or not isinstance(v, numbers.Real)
            or (mode == "json" and not isinstance(v, int | float))
        ):
            example = f"{col.mean:.4g}" if col.mean is not None else "1.5"
            none = "null" if mode == "json" else "None"
            raise _Bad(
                f"{kind_of(v)} is not a number, but the column is numeric",
                f"send a number (e.g. {example}), or {none} for a missing value",
            )
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            none = "null" if mode == "json" else "None"
            raise _Bad(f"{_infinite(x)} is not a finite number", f"send a finite number, or {none} for a missing value")
        return x
    if not isinstance(v, str):
        example = repr(col.categories[0]) if col.categories else "'a category'"
        none = "null" if mode == "json" else "None"
        raise _Bad(
            f"{kind_of(v)} is not text, but the column is categorical",
            f"send its category as a string (e.g. {example}), or {none} for a missing value",
        )
    v = v.strip()
    return v or None  # an empty cell is a missing value, as the table reader reads it


class _Notes:
    """Warnings gathered over a batch: each column's unseen categories (with the rows), the ignored columns."""

    def __init__(self, schema: TableSchema):
        self.schema = schema
        self.known = {c.name: frozenset(c.categories) for c in schema.columns if c.kind == "categorical"}
        self.unseen: dict[tuple[str, str], list[str]] = {}
        self.extra: dict[str, None] = {}

    def category(self, col: Column, value: str | None, where: str) -> None:
        if value is not None and value not in self.known[col.name]:
            self.unseen.setdefault((col.name, value), []).append(where)

    def render(self) -> list[str]:
        out = []
        for (name, value), where in self.unseen.items():
            known = self.schema.column(name).categories
            listed = ", ".join(repr(k) for k in known[:8]) + (f" and {len(known) - 8} more" if len(known) > 8 else "")
            rows = ", ".join(where[:5]) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
            out.append(
                f"{rows}: column '{name}': {_shown(value)} is a category the student never saw; it is read as none "
                f"of the known ones ({listed or 'none'})"
            )
        if self.extra:
            names = [_shown(k) for k in self.extra]
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            what = "is not a feature column" if len(names) == 1 else "are not feature columns"
            out.append(f"ignored: {', '.join(names[:10])}{more} {what} of this student")
        if len(out) > MAX_WARNINGS:
            out = out[:MAX_WARNINGS] + [f"and {len(out) - MAX_WARNINGS} more warnings"]
        return out


def _missing_columns(where: str, absent: list[str], given: list[str], schema: TableSchema, none: str) -> RowError:
    shown = ", ".join(f"'{a}'" for a in absent[:10]) + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
    hint = _did_you_mean(absent, given)
    return RowError(
        f"{where}: no value for the feature column{'s' if len(absent) > 1 else ''} {shown}{hint}. Every row needs "
        f"the student's {len(schema.features)} feature columns ({feature_list(schema)}); give {none} for a missing "
        "value",
        f"{where}.{absent[0]}",
    )


def _did_you_mean(absent: list[str], others: list[str]) -> str:
    """' (did you mean 'Tenure' for 'tenure'?)' for the given names that look like missing ones, each used once."""
    from ..data.readers import did_you_mean

    hints, used = [], set()
    for a in absent:
        g = did_you_mean(a, [o for o in others if o not in used])
        if g is not None:
            used.add(g)
            hints.append(f"'{g}' for '{a}'?")
    return f" (did you mean {'; '.join(hints[:3])})" if hints else ""


def feature_list(schema: TableSchema, limit: int = 40) -> str:
    names = schema.features
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_rows(
    schema: TableSchema,
    rows: list,
    *,
    mode: str = "json",
    name: str | Callable[[int], str] = "rows",
    note_ignored: bool = True,
) -> Checked:
    """Row dicts (a request's, a Python caller's) checked, as new dicts of the feature columns only (what the
    students' fast path reads); rows[i] is named `name[i]` in messages (name='row': one row, `row`; a function:
    what it says for i). Raises RowError at the first problem. note_ignored=False: keys that are not features
    pass without a warning (a Python caller's whole record, id and target and all)."""
    notes = _Notes(schema)
    features = schema.features
    wanted = set(features)
    none = "null" if mode == "json" else "None"
    columns = [(c, c.name, c.kind == "numeric") for c in schema.columns]
    out = []
    for i, row in enumerate(rows):
        where = name(i) if callable(name) else name if name == "row" else f"{name}[{i}]"
        if not isinstance(row, dict):
            shape = "JSON object" if mode == "json" else "dict"
            raise RowError(
                f"{where} is {kind_of(row)}, not a {shape}: give each row as {{column: value}} with the student's "
                f"feature columns ({feature_list(schema)})",
                where,
            )
        if len(row) != len(wanted) or not wanted.issubset(row):
            absent = [c for c in features if c not in row]
            if absent:
                raise _missing_columns(where, absent, [str(k) for k in row if k not in wanted], schema, none)
            if note_ignored:
                notes.extra.update((str(k), None) for k in row if k not in wanted)
        clean = {}
        for col, key, numeric in columns:
            v = row[key]
            t = type(v)
            # The common cases inline (a batch checks every cell); anything else goes through _cell.
            if numeric and t is float and v - v == 0.0:  # finite: inf - inf and NaN - NaN are NaN
                clean[key] = v
                continue
            if not numeric and t is str:
                v = v.strip() or None
                if v is not None and v not in notes.known[key]:
                    notes.category(col, v, where)
                clean[key] = v
                continue
            try:
                clean[key] = v = _cell(col, v, mode, frozenset())
            except _Bad as bad:
                raise RowError(f"{where}: column '{key}': {bad.what}; {bad.fix}", f"{where}.{key}") from None
            if not numeric:
                notes.category(col, v, where)
        out.append(clean)
    return Checked(out, notes.render())


def check_frame(
    schema: TableSchema,
    df,
    *,
    source: str,
    at: Callable[[int], str],
    mode: str = "python",
    missing: frozenset[str] = frozenset(),
    fix_columns: str = "add them",
) -> Checked:
    """A DataFrame (a caller's, or a file read as it is written) checked column by column; `at(r)` names its
    r-th row (0-based) in messages, `source` the whole (a file's path). Columns not in the schema are left alone."""
    import numpy as np
    import pandas as pd

    notes = _Notes(schema)
    given = [str(c) for c in df.columns]
    absent = [c for c in schema.features if c not in given]
    if absent:
        hint = _did_you_mean(absent, [g for g in given if g not in set(schema.features)])
        raise RowError(
            f"{source}: no column{'s' if len(absent) > 1 else ''} {', '.join(repr(a) for a in absent[:10])}"
            f"{f' and {len(absent) - 10} more' if len(absent) > 10 else ''}{hint}; the student reads the feature "
            f"columns {feature_list(schema)}: {fix_columns}"
        )
    df = df.set_axis(given, axis=1)
    cells: dict[str, Any] = {}
    for col in schema.columns:
        values = df[col.name]
        if col.kind == "numeric" and mode == "python" and values.dtype.kind in "iuf":
            x = values.to_numpy(dtype=np.float64)  # a numeric dtype: checked whole (NaN is missing, inf is not)
            bad = np.flatnonzero(np.isinf(x))
            if len(bad):
                r = int(bad[0])
                raise RowError(
                    f"{at(r)}: column '{col.name}': {_infinite(float(x[r]))} is not a finite number; give a finite "
                    "number, or None (NaN) for a missing value"
                )
            cells[col.name] = x
            continue
        out = []
        for r, v in enumerate(values.tolist()):
            try:
                value = _cell(col, v, mode, missing)
            except _Bad as bad:
                raise RowError(f"{at(r)}: column '{col.name}': {bad.what}; {bad.fix}") from None
            if col.kind == "categorical" and value is not None and value not in notes.known[col.name]:
                notes.category(col, value, at(r))
            out.append(value)
        cells[col.name] = out
    return Checked(schema.typed(pd.DataFrame(cells, columns=schema.features)), notes.render())


def review_text(row: dict) -> str:
    """A deferred row as the review desk shows it: every feature, `col=value`, never cut."""
    return describe_row(row, width=sys.maxsize)


# --- the route -------------------------------------------------------------------------------------------


def _row_object(value):
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{kind_of(value)} is not a JSON object: send one row as {{column: value}}")
    return value


def _row_list(value):
    if value is None:
        return value
    if not isinstance(value, list):
        raise ValueError(f"{kind_of(value)} is not a list: send a list of rows, each {{column: value}}")
    if not value:
        raise ValueError("the list is empty: send at least one row")
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise ValueError(f"rows[{i}] is {kind_of(row)}, not a JSON object: send each row as {{column: value}}")
    return value


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    row: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None

    _shape_row = field_validator("row", mode="before")(_row_object)
    _shape_rows = field_validator("rows", mode="before")(_row_list)
    _unicode = field_validator("row", "rows")(check_unicode)

    @model_validator(mode="after")
    def one_of(self):
        if (self.rows is None) == (self.row is None):
            raise ValueError("send either 'row' (one row, {column: value}) or 'rows' (a list of rows)")
        return self

    def all(self) -> tuple[list[dict], str]:
        return ([self.row], "row") if self.row is not None else (list(self.rows or []), "rows")


def request_model(example: dict):
    """PredictRequest with a working example for /docs' "Try it out", built from this student's schema."""

    class TablePredictRequest(PredictRequest):
        model_config = ConfigDict(
            extra="ignore", json_schema_extra={"examples": [{"row": example}, {"rows": [example]}]}
        )

    return TablePredictRequest


def add_predict_route(
    app, student, schema: TableSchema, model_id: str, require, *, policy, queue, metrics, max_batch: int, example: dict
) -> None:
    from fastapi import Depends  # here, not at the top: understudy.load and `predict` check rows without the server

    from .classify import answers
    from .security import error

    labels = list(student.labels) if student.labels is not None else None

    def predict(req: PredictRequest):
        rows, name = req.all()
        if len(rows) > max_batch:
            return error(
                413,
                f"{len(rows)} rows in one request; this server takes at most {max_batch} (serve --max-batch)",
                "rows",
            )
        try:
            checked = check_rows(schema, rows, mode="json", name=name)
        except RowError as exc:
            return error(422, str(exc), exc.param)
        if labels is None:
            values = [float(v) for v in student.predict(checked.rows)]
            metrics.count_answers(len(values), 0)
            return {
                "model": model_id,
                "target": schema.target,
                "results": [{"value": v} for v in values],
                "warnings": checked.warnings,
            }
        probs = student.predict_proba(checked.rows)
        results = answers(probs, checked.rows, labels, policy, queue, metrics, show=review_text)
        return {"model": model_id, "classes": labels, "results": results, "warnings": checked.warnings}

    # This student's own request model, so /docs' example is a row of its schema (set here, not as a string
    # annotation: the class is made per app).
    predict.__annotations__["req"] = request_model(example)
    app.post("/v1/predict", dependencies=[Depends(require("client"))])(predict)
