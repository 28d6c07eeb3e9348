"""Teachers over table rows: each gets a batch of rows (a `Rows` or a list of row dicts), typed by the schema.

A classifier provides {"probs"}: (n, classes) in the order of its `labels`. A regressor provides {"value"}: (n,).
The kinds: sklearn (a skops file: an estimator or a pipeline taking a DataFrame), callable ('module:function'
taking a DataFrame), and the kinds registered for tables (lightgbm, xgboost, onnx, openai-api over rows as
text). A plug-in kind is built through the registry like any teacher and given rows as they come.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..modalities.table import TableSchema
from .base import check_probs, fingerprint_files


class TableTeacher:
    """The shared part: the schema, classes or none, and the checks on what the model returns."""

    def __init__(self, schema: TableSchema, labels: list[str] | None, regression: bool):
        self.schema, self.regression = schema, regression
        self.labels = None if regression else list(labels or [])
        if not regression and not self.labels:
            raise UserError(f"{self.description}: the model names no classes; list them in teacher.labels")
        self.provides = frozenset({"value"} if regression else {"probs"})

    def frame(self, rows):
        return self.schema.frame(rows)

    def answer(self, raw, n: int) -> dict[str, np.ndarray]:
        """The model's output checked: probabilities for a classifier, finite numbers for a regressor."""
        if self.regression:
            values = np.asarray(raw, dtype=np.float64).reshape(-1)
            if values.shape != (n,):
                raise UserError(f"{self.description} returned {values.shape[0]} numbers for {n} rows")
            if not np.all(np.isfinite(values)):
                raise UserError(f"{self.description} returned NaN or infinite numbers")
            return {"value": values.astype(np.float32)}
        return {"probs": check_probs(raw, n, self.labels, self.description)}


class SklearnTableTeacher(TableTeacher):
    """A scikit-learn estimator or pipeline saved with skops, asked with a DataFrame of the feature columns."""

    def __init__(self, path: str | Path, schema: TableSchema, labels: list[str] | None, regression: bool, trusted=()):
        from .python import load_skops

        self.path = Path(path)
        self.description = f"scikit-learn model {self.path.name}"
        self.model = load_skops(self.path, trusted)
        method = "predict" if regression else "predict_proba"
        if not hasattr(self.model, method):
            raise UserError(
                f"{self.path}: the model has no {method}; a {'regressor' if regression else 'classifier'} is needed"
            )
        classes = [_name(c) for c in getattr(self.model, "classes_", [])]
        super().__init__(schema, labels or classes, regression)
        self.fingerprint = fingerprint_files(self.path, extra="sklearn-table")
        self.files = [self.path]

    def predict(self, rows) -> dict[str, np.ndarray]:
        x = self.frame(rows)
        raw = self.model.predict(x) if self.regression else self.model.predict_proba(x)
        return self.answer(raw, len(x))


class CallableTableTeacher(TableTeacher):
    """Any Python function from a DataFrame of rows to probabilities (n, classes) or numbers (n,)."""

    def __init__(self, target: str | Callable, schema: TableSchema, labels: list[str] | None, regression: bool):
        from .python import CallableTeacher

        inner = CallableTeacher(target, list(labels or ["value"]))  # its import, fingerprint and source file
        self.fn, self.target = inner.fn, inner.target
        self.description = f"python callable {inner.target}"
        super().__init__(schema, labels, regression)
        self.fingerprint = inner.fingerprint
        self.files = inner.files

    def predict(self, rows) -> dict[str, np.ndarray]:
        x = self.frame(rows)
        return self.answer(self.fn(x), len(x))


def _name(c) -> str:
    if isinstance(c, (float, np.floating)) and float(c).is_integer():
        return str(int(c))
    return str(c)


# kind -> builder(spec, resolve, schema, regression); the table kinds the registry names point here too
def build_sklearn(spec, resolve, schema, regression):
    if spec.path.startswith("builtin:"):  # a demo model fitted once on its table and cached
        from ..data.builtin_tables import builtin_table_model

        path = builtin_table_model(spec.path)
    else:
        path = resolve(spec.path)
    return SklearnTableTeacher(path, schema, spec.labels, regression, spec.trusted_types)


def build_callable(spec, resolve, schema, regression):
    target = spec.target
    if ".py:" in target:
        file, name = target.rsplit(":", 1)
        target = f"{resolve(file)}:{name}"
    return CallableTableTeacher(target, schema, spec.labels, regression)


BUILDERS: dict[str, str] = {
    "sklearn": "understudy.teachers.tabular:build_sklearn",
    "callable": "understudy.teachers.tabular:build_callable",
    "openai-api": "understudy.teachers.api_table:build_table",
}


def build_table_teacher(spec, resolve, schema: TableSchema, regression: bool = False):
    """The teacher of a table recipe. A kind with a table builder (TABLE_BUILDER on its registered factory, or
    one of BUILDERS) gets the schema; any other registered kind is built as it is and given rows."""
    import importlib

    from .. import registry

    where = BUILDERS.get(spec.kind)
    if where is None:
        factory = registry.load(registry.TEACHERS, spec.kind)
        table = getattr(factory, "table_builder", None)
        if table is None:
            return factory(spec, resolve)
        return table(spec, resolve, schema, regression)
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)(spec, resolve, schema, regression)
