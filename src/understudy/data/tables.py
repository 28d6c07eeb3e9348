"""Read the transfer and evaluation tables: the target, the feature columns, missing values, a train/test split.

Every problem is a UserError naming the file, the column, the row (and its line in a CSV) and the fix.
Nothing is dropped silently: rows left out are counted by reason for the report.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UserError
from ..modalities.table import Column, Rows, TableSchema
from .readers import EXAMPLES, _read, _s, did_you_mean, file_sha256

BUILTIN_TABLES = {"builtin:breast-cancer": "scikit-learn's breast cancer data (569 rows, 30 numeric features)"}


@dataclass
class TableSet:
    inputs: Rows  # the feature columns, typed by the schema
    labels: list[str | None] | None  # classification: the target as text per row (None where a row has none)
    values: np.ndarray | None  # regression: the target as a number per row (NaN where a row has none)
    source: str
    sha256: str | None
    rows_read: int
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_examples: dict[str, list[int]] = field(default_factory=dict)
    groups: dict[str, list] = field(default_factory=dict)
    split: str | None = None

    @property
    def texts(self) -> Rows:  # the name the text task's shared code reads
        return self.inputs

    def to_report(self) -> dict:
        out = {
            "source": self.source,
            "sha256": self.sha256,
            "rows_read": self.rows_read,
            "rows_used": len(self.inputs),
            "split": self.split,
            "features": list(self.inputs.frame.columns),
            "group_columns": list(self.groups),
            "skipped": dict(self.skipped),
            "skipped_examples": {k: list(v) for k, v in self.skipped_examples.items()},
            "gold_labels": self.labels is not None or self.values is not None,
        }
        if self.labels is not None:
            out["label_counts"] = dict(Counter(x for x in self.labels if x is not None).most_common())
        return out


def read_raw(spec, path: str, data, role: str) -> tuple[pd.DataFrame, list[int] | None]:
    """The file's rows (this role's split of them) as strings or numbers, and each row's line for messages."""
    if path == "builtin:breast-cancer":
        df, lines = breast_cancer(), None
    elif path.startswith("builtin:"):
        known = ", ".join(BUILTIN_TABLES)
        raise UserError(f"data.{role}.path {path}: no such built-in table; the built-in tables: {known}")
    else:
        try:
            df, lines = _read(path, spec.format)
        except UserError as exc:
            raise UserError(f"{role} set: {exc}") from None
    df = df.reset_index(drop=True)
    df.columns = [str(c) for c in df.columns]
    if spec.split is not None:
        test = np.random.default_rng(data.split_seed).random(len(df)) < data.test_fraction
        keep = np.flatnonzero(test if spec.split == "test" else ~test)
        df = df.iloc[keep].reset_index(drop=True)
        lines = [lines[i] for i in keep] if lines else None
    if spec.limit is not None:
        df, lines = df.iloc[: spec.limit], (lines[: spec.limit] if lines else None)
    return df, lines


def breast_cancer() -> pd.DataFrame:
    """scikit-learn's Wisconsin breast cancer data (it ships in the package), the target as 'malignant'/'benign'."""
    from sklearn.datasets import load_breast_cancer

    found = load_breast_cancer(as_frame=True)
    df = found.frame.copy()
    names = list(found.target_names)
    df["diagnosis"] = [names[int(t)] for t in df.pop("target")]
    return df


def _missing_cell(v, missing: set[str]) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and v.strip() in missing:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def infer_schema(df: pd.DataFrame, data, where: str) -> TableSchema:
    """The feature columns of the transfer table: numeric where every present value parses as a number."""
    missing = set(data.missing_values) | {""}
    columns = [str(c) for c in df.columns]
    listed = (data.numeric or []) + (data.categorical or [])
    for name in listed + list(data.drop):
        if name not in columns:
            _no_column(where, name, columns, "numeric/categorical/drop")
    excluded = {data.target, *data.drop}
    if data.numeric is not None and data.categorical is not None:
        names = [c for c in columns if c in set(listed)]  # the file's order
    else:
        names = [c for c in columns if c not in excluded]
    out = []
    for name in names:
        values = [v for v in df[name].tolist() if not _missing_cell(v, missing)]
        if data.categorical is not None and name in data.categorical:
            kind = "categorical"
        elif data.numeric is not None and name in data.numeric:
            kind = "numeric"
        else:
            kind = "numeric" if values and all(_number(v) is not None for v in values) else "categorical"
        column = Column(name=name, kind=kind)
        if kind == "categorical":
            column.categories = [k for k, _ in Counter(str(v).strip() for v in values).most_common()]
        elif values:
            x = np.array([_number(v) for v in values if _number(v) is not None], dtype=float)
            if len(x):
                column.mean, column.std = float(x.mean()), float(x.std())
                column.low, column.high = float(x.min()), float(x.max())
                column.whole = bool(np.all(x == np.round(x)))
        out.append(column)
    if not out:
        raise UserError(
            f"{where}: no feature columns left besides the target '{data.target}'; name them in data.numeric"
        )
    return TableSchema(columns=out, target=data.target)


def _number(v) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    try:
        x = float(str(v).strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _no_column(where: str, name: str, columns: list[str], key: str):
    guess = did_you_mean(name, columns)
    hint = f" (did you mean '{guess}'?)" if guess else ""
    raise UserError(f"{where}: no column '{name}'{hint} named in data.{key}; the columns are {columns}")


def load_table(
    spec,
    path: str,
    data,
    *,
    role: str,
    schema: TableSchema | None = None,
    regression: bool = False,
    known_labels: list[str] | None = None,
    require_target: bool = False,
) -> tuple[TableSet, TableSchema]:
    """Read one table for the transfer or evaluation role. The transfer table defines the schema (schema=None);
    the evaluation table is read against it. Returns (the rows, the schema)."""
    where = f"{role} set {path}"
    df, lines = read_raw(spec, path, data, role)
    columns = list(df.columns)
    if schema is None:
        schema = infer_schema(df, data, where)
    for name in schema.features + list(spec.group_columns):
        if name not in columns:
            _no_column(
                where, name, columns, "numeric/categorical" if name in schema.features else f"{role}.group_columns"
            )
    has_target = data.target in columns
    if require_target and not has_target:
        _no_column(where, data.target, columns, "target")

    def at(r: int) -> str:  # r: 0-based row of df
        return f"row {r + 1}" + (f" (line {lines[r]})" if lines else "")

    missing = set(data.missing_values) | {""}
    skipped: dict[str, list[int]] = {}
    cells: dict[str, list] = {}
    bad_rows: set[int] = set()
    for c in schema.columns:
        out = []
        for r, v in enumerate(df[c.name].tolist()):
            if _missing_cell(v, missing):
                if data.on_missing == "error":
                    raise UserError(
                        f"{where}: column '{c.name}', {at(r)} is missing and data.on_missing is 'error'; fill it, "
                        "or set data.on_missing to keep (the models see it as missing) or skip (the row is left out)"
                    )
                if data.on_missing == "skip":
                    bad_rows.add(r)
                out.append(None)
            elif c.kind == "numeric":
                x = _number(v)
                if x is None:
                    raise UserError(
                        f"{where}: column '{c.name}', {at(r)}: {str(v)[:40]!r} is not a number, but the column is "
                        f"numeric. Fix the cell, add {str(v).strip()[:40]!r} to data.missing_values if it means "
                        f"missing, or list '{c.name}' in data.categorical"
                    )
                out.append(x)
            else:
                out.append(str(v).strip())
        cells[c.name] = out
    for r in sorted(bad_rows):
        skipped.setdefault("missing_value", []).append(r + 1)

    labels = values = None
    target_raw = df[data.target].tolist() if has_target else None
    if target_raw is not None:
        if regression:
            values = np.full(len(df), np.nan)
            for r, v in enumerate(target_raw):
                if _missing_cell(v, missing):
                    continue
                x = _number(v)
                if x is None:
                    raise UserError(
                        f"{where}: target column '{data.target}', {at(r)}: {str(v)[:40]!r} is not a number; "
                        "tabular-regression needs a number (or an empty cell) in every row"
                    )
                values[r] = x
        else:
            labels = [None if _missing_cell(v, missing) else _label(v) for v in target_raw]
        if require_target:
            for r in range(len(df)):
                if (labels[r] is None) if labels is not None else math.isnan(values[r]):
                    skipped.setdefault("missing_target", []).append(r + 1)
                    bad_rows.add(r)
    if known_labels is not None and labels is not None:
        known = set(known_labels)
        unknown: dict[str, list[int]] = {}
        for r, lab in enumerate(labels):
            if lab is not None and lab not in known and r not in bad_rows:
                unknown.setdefault(lab, []).append(r)
        if unknown:
            parts = []
            for lab, rs in sorted(unknown.items(), key=lambda kv: -len(kv[1])):
                near = did_you_mean(lab, list(known_labels))
                parts.append(
                    f"'{lab}' ({len(rs)} row{_s(rs)}, e.g. {', '.join(at(r) for r in rs[:3])}"
                    + (f"; did you mean '{near}'?" if near else "")
                    + ")"
                )
            raise UserError(
                f"{where}: target column '{data.target}': {'; '.join(parts)} "
                f"{'is' if len(parts) == 1 else 'are'} not one of the teacher's labels {list(known_labels)}; "
                "map or remove these rows"
            )
    keep = [r for r in range(len(df)) if r not in bad_rows]
    if not keep:
        said = ", ".join(f"{k}: {len(v)}" for k, v in skipped.items())
        raise UserError(f"{where}: no usable rows left ({len(df)} read; left out {said or 'none'})")
    frame = schema.frame([{c: cells[c][r] for c in schema.features} for r in keep])
    groups = {g: [_group(df[g].iloc[r], missing) for r in keep] for g in spec.group_columns}
    return (
        TableSet(
            inputs=Rows(frame),
            labels=[labels[r] for r in keep] if labels is not None else None,
            values=values[keep] if values is not None else None,
            source=path,
            sha256=file_sha256(path) if not path.startswith("builtin:") else None,
            rows_read=len(df),
            skipped={k: len(v) for k, v in skipped.items()},
            skipped_examples={k: sorted(v)[:EXAMPLES] for k, v in skipped.items()},
            groups=groups,
            split=spec.split,
        ),
        schema,
    )


def _label(v) -> str:
    """A class as text; a number written 1.0 and 1 is the same class '1'."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _group(value, missing: set[str]):
    if _missing_cell(value, missing):
        return "(missing)"
    return _label(value)
