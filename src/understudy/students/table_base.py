"""What every table student shares: the rows turned into numbers, soft targets, and the student folder.

A table student is fitted on rows (a `Rows` or row dicts) and the teacher's outputs on them, and answers
rows: `predict_proba` (classes) or `predict` (a number, for regression). Its folder holds student.json (kind,
task, classes, the schema and the feature names) and the model in a plain format of its own (JSON for the
readable students, LightGBM's text format for the boosted one): nothing is ever pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..modalities.table import Rows, TableSchema

MAX_CATEGORIES = 30  # one-hot columns per categorical feature: the rest share "other"


class TableFeatures:
    """Rows to a float matrix: numeric columns as they are (NaN where missing), each categorical column one
    indicator per category ("contract=Month-to-month"); a category never seen, or a missing one, is all zeros."""

    def __init__(self, schema: TableSchema):
        self.schema = schema
        self.names: list[str] = []
        self.source: list[tuple[str, str | None]] = []  # (column, category or None)
        for c in schema.columns:
            if c.kind == "numeric":
                self.names.append(c.name)
                self.source.append((c.name, None))
            else:
                for k in c.categories[:MAX_CATEGORIES]:
                    self.names.append(f"{c.name}={k}")
                    self.source.append((c.name, k))

    def encode(self, rows) -> np.ndarray:
        frame = self.schema.frame(rows)
        out = np.empty((len(frame), len(self.names)), dtype=np.float64)
        cache: dict[str, np.ndarray] = {}
        for j, (col, cat) in enumerate(self.source):
            if col not in cache:
                kind = self.schema.column(col).kind
                cache[col] = frame[col].to_numpy(dtype=float if kind == "numeric" else object)
            v = cache[col]
            out[:, j] = v if cat is None else (v == cat)
        return out

    def is_indicator(self, j: int) -> bool:
        return self.source[j][1] is not None


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
        self._fit(x, y, settings)
        self.training_ = {"rows": int(len(x)), "features": len(self.features.names), **self.training_}
        return self

    # --- answering -------------------------------------------------------------------------------------

    def predict_proba(self, rows) -> np.ndarray:
        if self.regression:
            raise UserError(f"this {self.kind} student is a regression: use predict(rows) for its numbers")
        p = np.clip(self._raw(self.features.encode(_rows(rows, self.schema))), 0.0, None)
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        if self.temperature is not None:
            from . import calibrate

            p = calibrate(p, self.temperature)
        return p.astype(np.float32)

    def predict(self, rows):
        """Regression: the number for each row. Classification: the label of each row."""
        if self.regression:
            return self._raw(self.features.encode(_rows(rows, self.schema))).reshape(-1)
        return [self.labels[i] for i in self.predict_proba(rows).argmax(1)]

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
        meta = json.loads((path / "student.json").read_text(encoding="utf-8"))
        student = cls(TableSchema.from_json(meta["schema"]), meta.get("labels"))
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


def _rows(rows, schema: TableSchema):
    """A single row dict is a batch of one; a Rows, a DataFrame or a list of dicts goes as it is."""
    if isinstance(rows, dict):
        return [rows]
    if isinstance(rows, Rows):
        return rows
    return rows
