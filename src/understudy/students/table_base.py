"""What every table student shares: the rows turned into numbers, soft targets, and the student folder.

A table student is fitted on rows (a `Rows` or row dicts) and the teacher's outputs on them, and answers
rows: `predict_proba` (classes) or `predict` (a number, for regression). Its folder holds student.json (kind,
task, classes, the schema and the feature names) and the model in a plain format of its own (JSON for the
readable students, LightGBM's text format for the boosted one): nothing is ever pickled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from operator import itemgetter
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..modalities.table import Rows, TableSchema

MAX_CATEGORIES = 30  # one-hot columns per categorical feature: the rest share "other"


class TableFeatures:
    """Rows to a float matrix: numeric columns as they are (NaN where missing), each categorical column one
    indicator per category ("contract=Month-to-month"); a category never seen, or a missing one, is all zeros.

    Two paths give the same matrix: a `Rows` or a DataFrame goes column by column through numpy; a list of row
    dicts (what a server gets) goes straight from the dicts into one preallocated array, without pandas, with
    the categories looked up in a dict, because building a DataFrame costs more than the student itself."""

    def __init__(self, schema: TableSchema):
        self.schema = schema
        self.names: list[str] = []
        self.source: list[tuple[str, str | None]] = []  # (column, category or None)
        numeric, categorical, past = [], [], []
        for c in schema.columns:
            if c.kind == "numeric":
                numeric.append((c.name, len(self.names)))
                self.names.append(c.name)
                self.source.append((c.name, None))
            else:
                lookup: dict = {}
                for k in c.categories[:MAX_CATEGORIES]:
                    lookup[k] = len(self.names)
                    self.names.append(f"{c.name}={k}")
                    self.source.append((c.name, k))
                categorical.append((c.name, lookup))
                past.append(c.categories[MAX_CATEGORIES:])
        self._numeric_names = [n for n, _ in numeric]
        self._numeric_at = np.array([j for _, j in numeric], dtype=np.intp)
        self._numeric_at_list = [j for _, j in numeric]
        sink = len(self.names)  # a missing value, and a category past MAX_CATEGORIES, is no column: on the dict
        for (_, lookup), extra in zip(categorical, past):  # path it marks a last column, dropped at the end
            lookup.update({None: sink, **{k: sink for k in extra}})
        self._categorical = categorical
        self.value_names = self._numeric_names + [n for n, _ in categorical]
        # row dict -> its feature values in that order (one C call); a KeyError where a feature column is absent
        self.values_of = _getter(self.value_names)
        self._get_numeric = _getter(self._numeric_names)
        self._get_categorical = _getter([n for n, _ in categorical])
        self._cells_of: dict[int, np.ndarray] = {}

    def encode(self, rows) -> np.ndarray:
        """The matrix of `rows`: a `Rows`, a DataFrame, or a sequence of row dicts."""
        if isinstance(rows, Rows):
            return self._encode_frame(rows.frame)
        if _is_frame(rows):
            return self._encode_frame(self._checked_frame(rows))
        return self.encode_dicts(rows)

    def encode_dicts(self, rows) -> np.ndarray:
        n, d = len(rows), len(self.names)
        if n == 1:
            return self._encode_one(rows)
        out = np.zeros((n, d + 1), dtype=np.float64)  # the last column takes the indicators that are no column
        if n == 0:
            return out[:, :d]
        try:
            numeric = [self._get_numeric(r) for r in rows] if self._numeric_names else None  # one C call per row
            categorical = list(zip(*[self._get_categorical(r) for r in rows])) if self._categorical else None
        except (KeyError, TypeError, IndexError):
            self._check_dicts(rows)
            raise
        if numeric is not None:
            try:
                out[:, self._numeric_at] = np.array(numeric, dtype=np.float64)  # None reads as NaN
            except (ValueError, TypeError):
                self._check_numbers(rows)
                raise
        if categorical is not None:
            flat: list[int] = []
            try:
                for (_, lookup), values in zip(self._categorical, categorical):
                    flat.extend(map(lookup.__getitem__, values))
            except (KeyError, TypeError):  # a category never seen, a number, or an unhashable value (a list)
                flat = self._slow_codes(rows, categorical)
            out.reshape(-1)[self._cells(n) + np.array(flat, dtype=np.intp)] = 1.0
        return out[:, :d]

    def _slow_codes(self, rows, categorical) -> list[int]:
        try:
            return [
                _category_code(lk, v, len(self.names))
                for (_, lk), vs in zip(self._categorical, categorical)
                for v in vs
            ]
        except TypeError:
            self._check_categories(rows)
            raise

    def _cells(self, n: int) -> np.ndarray:
        """Where row i of each categorical column starts in the flat (n, features + 1) matrix, column by column;
        kept for the batch sizes a server sees again and again."""
        cells = self._cells_of.get(n)
        if cells is None:
            cells = np.tile(np.arange(n, dtype=np.intp) * (len(self.names) + 1), len(self._categorical))
            if len(self._cells_of) < 64:
                self._cells_of[n] = cells
        return cells

    def _encode_one(self, rows) -> np.ndarray:
        """One row (a server's single request) in plain Python: a dozen numpy calls cost more than the row."""
        try:
            values = self.values_of(rows[0])
        except (KeyError, TypeError, IndexError):
            self._check_dicts(rows)
            raise
        out = [0.0] * (len(self.names) + 1)  # the last place takes the indicators that are no column
        k = len(self._numeric_names)
        for name, j, v in zip(self._numeric_names, self._numeric_at_list, values):
            if v is None:
                out[j] = math.nan
            elif v.__class__ is float:
                out[j] = v
            else:
                try:
                    if isinstance(v, (list, tuple, dict, set)):
                        raise TypeError
                    out[j] = float(np.float64(v))  # as numpy reads it on the batch path ('12.5', True, numpy ints)
                except (ValueError, TypeError):
                    raise UserError(_not_number(0, name, v)) from None
        for (_, lookup), v in zip(self._categorical, values[k:]):
            try:
                j = lookup.get(v, -1)
                if j < 0:
                    j = _category_code(lookup, v, len(self.names))
            except TypeError:
                self._check_categories(rows)
                raise
            out[j] = 1.0
        return np.array([out[:-1]], dtype=np.float64)

    def _encode_frame(self, frame) -> np.ndarray:
        out = np.empty((len(frame), len(self.names)), dtype=np.float64)
        cache: dict[str, np.ndarray] = {}
        for j, (col, cat) in enumerate(self.source):
            if col not in cache:
                kind = self.schema.column(col).kind
                cache[col] = frame[col].to_numpy(dtype=float if kind == "numeric" else object)
            v = cache[col]
            out[:, j] = v if cat is None else (v == cat)
        return out

    def missing_seen(self, rows) -> list[bool]:
        """Per feature: whether any of `rows` has no value in its column (an indicator: its column missing)."""
        frame = self.schema.frame(rows)
        missing = {c.name: bool(frame[c.name].isna().any()) for c in self.schema.columns}
        return [missing[col] for col, _ in self.source]

    def is_indicator(self, j: int) -> bool:
        return self.source[j][1] is not None

    # --- bad input, found on the slow path only once the fast one failed ---------------------------------

    def _check_dicts(self, rows) -> None:
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping):
                raise UserError(f"row {i} is {type(r).__name__} {_short(r)}, not a row {{column: value}}")
            for name in self.schema.features:
                if name not in r:
                    raise UserError(
                        f"row {i} has no column '{name}'; every row needs each feature column "
                        f"({_listed(self.schema.features)}), with null for a missing value"
                    )

    def _check_numbers(self, rows) -> None:
        for i, r in enumerate(rows):
            for name in self._numeric_names:
                v = r[name]
                try:
                    if isinstance(v, (list, tuple, dict, set)):
                        raise TypeError
                    np.float64(np.nan if v is None else v)
                except (ValueError, TypeError):
                    raise UserError(_not_number(i, name, v)) from None

    def _check_categories(self, rows) -> None:
        for i, r in enumerate(rows):
            for name, _ in self._categorical:
                v = r[name]
                try:
                    hash(v)
                except TypeError:
                    raise UserError(
                        f"row {i}: column '{name}' is categorical but holds {_short(v)}; send one category "
                        "as a string, or null for a missing value"
                    ) from None

    def _checked_frame(self, df):
        """A DataFrame the caller built: every feature column present, numeric columns numbers (or missing)."""
        import pandas as pd

        absent = [c for c in self.schema.features if c not in df.columns]
        if absent:
            raise UserError(
                f"the rows have no column {_listed(absent)}; every row needs each feature column "
                f"({_listed(self.schema.features)}), with a missing value where there is none"
            )
        for c in self.schema.columns:
            col = df[c.name]
            if c.kind == "numeric" and not pd.api.types.is_numeric_dtype(col):
                parsed = pd.to_numeric(col, errors="coerce")
                bad = parsed.isna() & col.notna()
                if bad.any():
                    i = int(np.flatnonzero(bad.to_numpy())[0])
                    raise UserError(_not_number(i, c.name, col.iloc[i]))
        return self.schema.typed(df)


def _getter(names: list[str]):
    """row -> tuple of its values in `names` (one C call per row; a single name still gives a tuple)."""
    if len(names) == 1:
        name = names[0]
        return lambda r: (r[name],)
    return itemgetter(*names) if names else None


def _category_code(lookup: dict, v, sink: int) -> int:
    """The indicator column of a value the plain lookup missed: an unseen category or a missing one is none
    (`sink`); a number in a categorical column reads as its text, as the DataFrame path reads it."""
    if v in lookup:
        return lookup[v]
    if v is None or isinstance(v, str) or (isinstance(v, float) and math.isnan(v)):
        return sink
    return lookup.get(str(v), sink)


def _is_frame(rows) -> bool:
    return type(rows).__name__ == "DataFrame" and hasattr(rows, "columns")


def _not_number(i: int, name: str, v) -> str:
    return f"row {i}: column '{name}' is numeric but holds {_short(v)}; send a number, or null for a missing value"


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _listed(names: list[str], most: int = 6) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def soft_targets(targets: dict, labels: list[str] | None, gold, settings) -> np.ndarray:
    """What the student fits: the teacher's probabilities (one-hot of its label when training.soft_labels is
    false), blended with a row's true answer at training.gold_weight where it has one; regression: the
    teacher's numbers, blended the same way."""
    w = float(getattr(settings, "gold_weight", 0.0) or 0.0)
    if labels is None:
        y = np.asarray(targets["value"], dtype=float).reshape(-1)
        if gold is not None and w > 0:
            g = np.asarray(gold, dtype=float)
            has = np.isfinite(g)
            y = np.where(has, (y + w * np.nan_to_num(g)) / (1 + w), y)
        return y
    p = np.asarray(targets["probs"], dtype=float)
    if not getattr(settings, "soft_labels", True):
        p = np.eye(p.shape[1])[p.argmax(1)]
    if gold is not None and w > 0:
        g = np.asarray(gold)
        has = g >= 0
        onehot = np.zeros_like(p)
        onehot[np.flatnonzero(has), g[has]] = 1.0
        p = np.where(has[:, None], (p + w * onehot) / (1 + w), p)
    return p


class TableStudent:
    """The shared part; a kind sets `kind` and writes `_fit`, `_raw` (X -> probabilities or numbers), `_save_model`,
    `_load_model`, and `rules()` where it is readable."""

    kind = "table"
    temperature: float | None = None  # calibration.json's, applied by students.load_student

    def __init__(self, schema: TableSchema, labels: list[str] | None, spec=None):
        self.schema, self.labels = schema, (list(labels) if labels is not None else None)
        self.spec = spec
        self.features = TableFeatures(schema)
        self.training_: dict = {}
        self.missing_seen: list[bool] = [True] * len(self.features.names)  # per feature: missing in the fit rows

    @classmethod
    def for_table(cls, schema: TableSchema, labels: list[str] | None, spec):
        return cls(schema, labels, spec)

    @property
    def regression(self) -> bool:
        return self.labels is None

    # --- fitting ---------------------------------------------------------------------------------------

    def fit(self, rows, targets: dict, *, gold=None, settings=None, progress=None):
        x = self.features.encode(rows)
        y = soft_targets(targets, self.labels, gold, settings)
        if len(x) == 0:
            raise UserError("no rows to fit the student on")
        if len(y) != len(x):
            raise UserError(f"{len(x)} rows but {len(y)} teacher answers: the student needs one answer per row")
        self.missing_seen = self.features.missing_seen(rows)  # its words say "(or missing)" only where it was
        self._fit(x, y, settings)
        self.training_ = {"rows": int(len(x)), "features": len(self.features.names), **self.training_}
        return self

    # --- answering -------------------------------------------------------------------------------------

    def predict_proba(self, rows) -> np.ndarray:
        if self.regression:
            raise UserError(f"this {self.kind} student is a regression: use predict(rows) for its numbers")
        p = self._probs(_rows(rows, self.schema))
        if self.temperature is not None:
            from . import calibrate

            p = calibrate(p, self.temperature)
        return p.astype(np.float32, copy=False)

    def predict(self, rows):
        """Regression: the number for each row. Classification: the label of each row."""
        if self.regression:
            return self._numbers(_rows(rows, self.schema))
        return [self.labels[i] for i in self.predict_proba(rows).argmax(1)]

    def _probs(self, rows) -> np.ndarray:
        """Each row's probabilities (clipped at 0, rows summing to 1); a kind with a faster way to them overrides."""
        return normalised(self._raw(self.features.encode(rows)))

    def _numbers(self, rows) -> np.ndarray:
        return self._raw(self.features.encode(rows)).reshape(-1)

    # --- the folder ------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.kind,
            "task": "tabular-regression" if self.regression else "tabular-classification",
            "labels": self.labels,
            "schema": self.schema.to_json(),
            "features": self.features.names,
            "training": self.training_,
        }
        (path / "student.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        self._save_model(path)

    @classmethod
    def load(cls, path: str | Path):
        path = Path(path)
        file = path / "student.json"
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
            schema = TableSchema.from_json(meta["schema"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(
                f"{file}: not a table student's description ({type(exc).__name__}: {exc}); the folder is damaged "
                "or from another kind: refit the student"
            ) from None
        student = cls(schema, meta.get("labels"))
        if student.features.names != meta.get("features"):
            raise UserError(
                f"{path / 'student.json'}: its feature names do not match its schema; the folder is damaged"
            )
        student.training_ = meta.get("training") or {}
        student._load_model(path)
        return student

    # --- for a kind to write ---------------------------------------------------------------------------

    def _fit(self, x: np.ndarray, y: np.ndarray, settings) -> None:
        raise NotImplementedError

    def _raw(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _save_model(self, path: Path) -> None:
        raise NotImplementedError

    def _load_model(self, path: Path) -> None:
        raise NotImplementedError


def normalised(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 0.0, None)
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)


def _rows(rows, schema: TableSchema):
    """A single row dict is a batch of one; a Rows, a DataFrame or a list of dicts goes as it is."""
    if isinstance(rows, dict):
        return [rows]
    if isinstance(rows, Rows):
        return rows
    return rows
