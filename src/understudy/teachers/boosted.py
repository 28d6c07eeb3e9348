"""Table teachers from boosted trees in their own formats: LightGBM's text file (`Booster.save_model`) and
XGBoost's JSON or UBJSON (`Booster.save_model("m.json")`). Both formats are data, never code: nothing is unpickled.

The model's feature names say which table column feeds which input, in the model's order (LightGBM writes
spaces in names as '_'; `teacher.options.columns` names the columns of a model trained without names).
A categorical column is coded as the model was trained: category k of the list the file stores (LightGBM's
`pandas_categorical`, XGBoost's categories, or `teacher.options.categories`) is code k; a category the model
never saw, or a missing value, is missing. Neither format stores class names, so a classifier needs
`teacher.labels`, in the order of the model's classes 0..k-1.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import fingerprint_files
from .tabular import TableTeacher

TEXT_TASK = "teacher kind {kind} answers table rows: use it with task tabular-classification or tabular-regression"


# ------------------------------------------------------------------------------------ shared with onnx_table


def model_file(spec, resolve, kind: str, what: str) -> Path:
    """The model file of `teacher.path`: a 'builtin:NAME' packaged model or a file next to the recipe."""
    if not spec.path:
        raise UserError(f"teacher kind {kind} needs teacher.path: the {what}")
    if spec.path.startswith("builtin:"):
        try:
            from ..data.builtin_tables import builtin_table_model
        except ImportError:
            raise UserError(
                f"teacher.path '{spec.path}': this understudy has no built-in table models; give the path of the {what}"
            ) from None
        try:
            path = Path(builtin_table_model(spec.path))
        except KeyError:
            raise UserError(f"teacher.path '{spec.path}': no built-in table model of that name") from None
    else:
        path = Path(resolve(spec.path))
    if not path.is_file():
        raise UserError(f"teacher.path {path}: no such file; give the path of the {what}")
    return path


def check_options(spec, kind: str, known: dict[str, str]) -> dict:
    """teacher.options, with a clear error for a key this kind does not read (a typo would be ignored otherwise)."""
    options = dict(spec.options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        listed = "; ".join(f"{k}: {v}" for k, v in known.items())
        raise UserError(f"teacher.options: kind {kind} does not read {', '.join(unknown)}; it reads {listed}")
    return options


def option_columns(options: dict, schema, where: str) -> list[str] | None:
    """teacher.options.columns: table columns in the model's order, each a feature of the table."""
    columns = options.get("columns")
    if columns is None:
        return None
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or not columns:
        raise UserError(f"teacher.options.columns must be a list of column names, e.g. [age, income]; got {columns!r}")
    for c in columns:
        if c not in schema.features:
            raise UserError(missing_column(c, schema, where, "teacher.options.columns"))
    return list(columns)


def missing_column(name: str, schema, where: str, named_by: str) -> str:
    shown = ", ".join(schema.features[:12]) + (", ..." if len(schema.features) > 12 else "")
    return (
        f"{where}: {named_by} names column '{name}', which is not a feature column of the table (features: {shown}). "
        f"If the file has '{name}', make it a feature in the recipe (data.numeric or data.categorical, and not in "
        "data.drop or the target); else use a model trained on this table's columns, or list the table's columns "
        "in the model's order in teacher.options.columns"
    )


def text_of(value) -> str | None:
    """A value as a category is compared: 3.0 and '3' are the same category, a missing value is None."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, (np.integer, np.bool_)):
        value = value.item()
    return str(value)


def category_codes(values, categories: list) -> np.ndarray:
    """Code k for category k of `categories`; NaN for a missing value or a category the model never saw."""
    index = {text_of(c): float(k) for k, c in enumerate(categories)}
    return np.array([index.get(text_of(v), np.nan) for v in values], dtype=np.float64)


def as_numbers(frame, column: str, where: str) -> np.ndarray:
    values = frame[column]
    if values.dtype.kind not in "fiub":  # object or string: the table reads it as categories
        raise UserError(
            f"{where}: the model reads column '{column}' as numbers, but the table reads it as categories; "
            f"list it in data.numeric in the recipe"
        )
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def match_features(names: list[str], schema, where: str) -> list[str]:
    """The table column of each model feature, in the model's order: the same name, or the name with its spaces
    written as '_' (LightGBM's own spelling)."""
    spelled: dict[str, list[str]] = {}
    for c in schema.features:
        spelled.setdefault(re.sub(r"\s", "_", c), []).append(c)
    out = []
    for name in names:
        if name in schema.features:
            out.append(name)
        elif len(spelled.get(name, [])) == 1:
            out.append(spelled[name][0])
        else:
            raise UserError(missing_column(name, schema, where, "the model"))
    return out


def need_labels(labels, classes: int, where: str, objective: str, fmt: str) -> list[str]:
    if not labels:
        raise UserError(
            f"{where}: a {fmt} model does not store its class names; list them in teacher.labels in the order of "
            f"the model's classes 0..{classes - 1} (for a scikit-learn style classifier: the order of classes_)"
        )
    if len(labels) != classes:
        raise UserError(
            f"teacher.labels lists {len(labels)} classes {list(labels)}, but {where} has {classes} "
            f"(objective {objective}); list one name per class, in the order of the model's classes 0..{classes - 1}"
        )
    return [str(x) for x in labels]


def first_line(exc: Exception) -> str:
    """A library's error, cut to its first line (XGBoost's carry a C++ stack trace)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def two_columns(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return np.column_stack([1.0 - p, p])


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def wrong_task(where: str, objective: str, regression: bool) -> UserError:
    if regression:
        return UserError(
            f"{where} is a classifier (objective {objective}): use it with task tabular-classification, "
            "or give a regression model"
        )
    return UserError(
        f"{where} predicts numbers (objective {objective}): use it with task tabular-regression, or give a classifier"
    )


# ------------------------------------------------------------------------------------ the feature matrix


class _Features:
    """How rows become the model's matrix: per model input, its table column and the categories it is coded by
    (None: read as a number)."""

    def __init__(self, columns: list[str], categories: list[list | None], schema, where: str):
        self.columns, self.categories, self.where = columns, categories, where
        for c, cats in zip(columns, categories):
            if cats is None and schema.column(c).kind == "categorical":
                raise UserError(
                    f"{where}: the model reads column '{c}' as numbers, but the table reads it as categories; "
                    "list it in data.numeric in the recipe"
                )

    def matrix(self, frame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        numeric = [j for j, cats in enumerate(self.categories) if cats is None]
        if numeric:  # in one go: a column at a time costs more than the model on a small batch
            names = [self.columns[j] for j in numeric]
            dtypes = dict(zip(frame.columns, frame.dtypes))
            for c in names:
                if dtypes[c].kind not in "fiub":
                    as_numbers(frame, c, self.where)  # raises, naming the column
            out[:, numeric] = frame[names].to_numpy(dtype=np.float64, na_value=np.nan)
        for j, (c, cats) in enumerate(zip(self.columns, self.categories)):
            if cats is not None:
                out[:, j] = category_codes(frame[c].tolist(), cats)
        return out


def _categories_for(column: str, stored, schema, options: dict, where: str) -> list | None:
    """The categories a categorical model input is coded by: those the file stores, else teacher.options.categories;
    a numeric table column holds the codes themselves."""
    if stored is not None:
        return list(stored)
    given = (options.get("categories") or {}).get(column)
    if given is not None:
        if not isinstance(given, list):
            raise UserError(f"teacher.options.categories.{column} must be a list of the categories, in code order")
        return given
    if schema.column(column).kind == "numeric":
        return None  # the table holds the model's integer codes
    raise UserError(
        f"{where}: the model reads column '{column}' as integer category codes and the file does not store which "
        f"category each code is; list them in code order in teacher.options.categories.{column}, list '{column}' "
        "in data.numeric if the table holds the codes, or save the model trained on a pandas DataFrame with "
        "category dtype (the file then stores them)"
    )


# ------------------------------------------------------------------------------------ LightGBM

LGB_OPTIONS = {
    "columns": "the table's columns in the model's feature order (for a model trained without names)",
    "categories": "{column: [categories in code order]} for a categorical feature the file stores none for",
}
SMALL_BATCH = 256  # rows: below this a LightGBM model predicts on one thread
LGB_CLASSIFY = {"binary", "cross_entropy", "multiclass", "multiclassova"}
LGB_RANK = {"lambdarank", "rank_xendcg"}


class LightGBMTeacher(TableTeacher):
    """A LightGBM Booster read from its text file."""

    def __init__(self, path: str | Path, schema, labels, regression: bool, options: dict | None = None):
        try:
            import lightgbm as lgb
        except ImportError:
            raise UserError("teacher kind lightgbm needs LightGBM: pip install 'understudy[tables]'") from None
        self.path = Path(path)
        where = f"LightGBM model {self.path}"
        options = dict(options or {})
        try:
            self.booster = lgb.Booster(model_file=str(self.path))
        except Exception as exc:  # LightGBMError, or a decoding error on a file that is not text
            raise UserError(
                f"{self.path}: not a LightGBM model file ({first_line(exc)}); save the model with "
                "booster.save_model('model.txt') (for LGBMClassifier: model.booster_.save_model)"
            ) from None
        b = self.booster
        names = b.feature_name()
        columns = option_columns(options, schema, where) or match_features(names, schema, where)
        if len(columns) != len(names):
            raise UserError(
                f"teacher.options.columns lists {len(columns)} columns, but {where} reads {len(names)} features"
            )
        self.objective = str(b.params.get("objective") or "custom").split()[0]
        classes = b.num_model_per_iteration()
        if self.objective in LGB_RANK:
            raise UserError(f"{where} is a ranking model (objective {self.objective}); give a classifier or regressor")
        classify = self.objective in LGB_CLASSIFY  # any other objective predicts a number
        if classify == regression:
            raise wrong_task(where, self.objective, regression)
        self.classes = 2 if classes == 1 and classify else classes
        if not regression:
            labels = need_labels(labels, self.classes, where, self.objective, "LightGBM")
        self.features = _Features(columns, self._categories(columns, schema, options, where), schema, where)
        kind = "regression" if regression else ("binary" if self.classes == 2 else f"{self.classes} classes")
        self.description = f"LightGBM model {self.path.name}, {b.num_trees()} trees ({kind})"
        super().__init__(schema, labels, regression)
        extra = json.dumps(["lightgbm-table", columns, options.get("categories")], sort_keys=True)
        self.fingerprint = fingerprint_files(self.path, extra=extra)
        self.files = [self.path]

    def _categories(self, columns, schema, options, where) -> list[list | None]:
        cat = self.booster.params.get("categorical_feature", [])
        if isinstance(cat, str):
            cat = [x for x in cat.split(",") if x.strip()]
        cat = sorted(int(x) for x in (cat if isinstance(cat, list) else [cat]))
        stored = self.booster.pandas_categorical
        if stored is not None and len(stored) != len(cat):
            raise UserError(
                f"{where}: the file stores categories for {len(stored)} columns but marks {len(cat)} features "
                "categorical; save the model trained on a DataFrame whose categorical columns have category dtype"
            )
        found: list[list | None] = [None] * len(columns)
        for k, j in enumerate(cat):
            found[j] = _categories_for(columns[j], None if stored is None else stored[k], schema, options, where)
        return found

    def predict(self, rows) -> dict[str, np.ndarray]:
        x = self.features.matrix(self.frame(rows))
        # On a small batch, starting OpenMP's threads costs more than the trees (1.4 ms against 0.04 for one row).
        raw = self.booster.predict(x, num_threads=1) if len(x) < SMALL_BATCH else self.booster.predict(x)
        if not self.regression:
            if self.objective == "multiclassova":  # one-vs-all: each column on its own, made to sum to 1
                raw = raw / np.clip(raw.sum(axis=1, keepdims=True), 1e-12, None)
            elif self.classes == 2:
                raw = two_columns(raw)
        return self.answer(raw, len(x))


# ------------------------------------------------------------------------------------ XGBoost

XGB_OPTIONS = LGB_OPTIONS
XGB_REGRESS = ("reg:", "count:", "survival:")


class XGBoostTeacher(TableTeacher):
    """An XGBoost Booster read from its JSON or UBJSON file."""

    def __init__(self, path: str | Path, schema, labels, regression: bool, options: dict | None = None):
        try:
            import xgboost as xgb
        except ImportError:
            raise UserError("teacher kind xgboost needs XGBoost: pip install 'understudy[tables]'") from None
        self.path = Path(path)
        where = f"XGBoost model {self.path}"
        options = dict(options or {})
        try:
            self.booster = xgb.Booster(model_file=str(self.path))
            config = json.loads(self.booster.save_config())["learner"]
        except Exception as exc:  # XGBoostError on a file that is not a model
            raise UserError(
                f"{self.path}: not an XGBoost model in JSON or UBJSON ({first_line(exc)}); save the model with "
                "booster.save_model('model.json') (for XGBClassifier: model.save_model('model.json'))"
            ) from None
        b = self.booster
        names = b.feature_names
        columns = option_columns(options, schema, where)
        if columns is None:
            if not names:
                raise UserError(
                    f"{where} stores no feature names (it was trained on an array); list the table's columns in the "
                    "model's feature order in teacher.options.columns"
                )
            columns = match_features(names, schema, where)
        if len(columns) != b.num_features():
            raise UserError(
                f"teacher.options.columns lists {len(columns)} columns, but {where} reads {b.num_features()} features"
            )
        self.objective = config["objective"]["name"]
        param = config["learner_model_param"]
        if int(param.get("num_target", 1) or 1) > 1:
            raise UserError(f"{where} predicts {param['num_target']} targets; give a model with one")
        if self.objective.startswith("rank:"):
            raise UserError(f"{where} is a ranking model (objective {self.objective}); give a classifier or regressor")
        if self.objective == "binary:hinge":
            raise UserError(
                f"{where} answers 0 or 1 only (objective binary:hinge); train it with binary:logistic so that it "
                "gives probabilities"
            )
        classify = self.objective.startswith(("binary:", "multi:"))
        if not (classify or self.objective.startswith(XGB_REGRESS)):
            raise UserError(f"{where} has objective {self.objective}; give a classifier or regressor")
        if classify == regression:
            raise wrong_task(where, self.objective, regression)
        self.classes = max(2, int(param.get("num_class", 0) or 0)) if classify else 0
        if not regression:
            labels = need_labels(labels, self.classes, where, self.objective, "XGBoost")
        types = b.feature_types or ["float"] * len(columns)
        stored = self._stored_categories(len(columns))
        cats = [
            _categories_for(c, stored[j], schema, options, where) if types[j] == "c" else None
            for j, c in enumerate(columns)
        ]
        self.features = _Features(columns, cats, schema, where)
        self._threads = None
        kind = "regression" if regression else ("binary" if self.classes == 2 else f"{self.classes} classes")
        self.description = f"XGBoost model {self.path.name}, {b.num_boosted_rounds()} rounds ({kind})"
        super().__init__(schema, labels, regression)
        extra = json.dumps(["xgboost-table", columns, options.get("categories")], sort_keys=True)
        self.fingerprint = fingerprint_files(self.path, extra=extra)
        self.files = [self.path]

    def _stored_categories(self, n: int) -> list[list | None]:
        """The categories XGBoost (3.1 on) keeps in the model, per feature in code order; None where it keeps none."""
        try:
            enc = json.loads(self.booster.save_raw(raw_format="json"))["learner"]["gradient_booster"]["model"]["cats"]
            enc = enc["enc"]
        except (KeyError, TypeError, ValueError):
            return [None] * n
        out: list[list | None] = []
        for j in range(n):
            e = enc[j] if j < len(enc) else {}
            offsets, values = e.get("offsets") or [], e.get("values") or []
            if offsets:  # strings: utf-8 bytes, cut at the offsets
                raw = bytes(values)
                out.append([raw[a:b].decode("utf-8") for a, b in zip(offsets, offsets[1:])])
            else:
                out.append(list(values) or None)
        return out

    def predict(self, rows) -> dict[str, np.ndarray]:
        x = self.features.matrix(self.frame(rows))
        # One thread on a small batch: starting them costs far more than the trees (40 ms against 1 for a row).
        threads = 1 if len(x) < SMALL_BATCH else 0
        if threads != self._threads:
            self.booster.set_param({"nthread": threads})
            self._threads = threads
        # In place, on the codes: the booster knows which features are categorical (no DMatrix to build).
        if self.objective in ("binary:logitraw", "multi:softmax"):  # margins: made probabilities here
            margin = self.booster.inplace_predict(x, predict_type="margin", missing=np.nan, validate_features=False)
            raw = two_columns(sigmoid(margin)) if self.classes == 2 else softmax(margin.reshape(len(x), -1))
        else:
            raw = self.booster.inplace_predict(x, missing=np.nan, validate_features=False)
            if not self.regression and self.classes == 2:
                raw = two_columns(raw)
        return self.answer(raw, len(x))


# ------------------------------------------------------------------------------------ the registered kinds


def table_lightgbm(spec, resolve, schema, regression):
    options = check_options(spec, "lightgbm", LGB_OPTIONS)
    path = model_file(spec, resolve, "lightgbm", "LightGBM model file (Booster.save_model, text)")
    return LightGBMTeacher(path, schema, spec.labels, regression, options)


def table_xgboost(spec, resolve, schema, regression):
    options = check_options(spec, "xgboost", XGB_OPTIONS)
    path = model_file(spec, resolve, "xgboost", "XGBoost model file (Booster.save_model, .json or .ubj)")
    return XGBoostTeacher(path, schema, spec.labels, regression, options)


def build_lightgbm(spec, resolve=lambda p: p, head_builder=None):
    """Teacher kind 'lightgbm' for a text task: refused; the table tasks call `table_builder`."""
    raise UserError(TEXT_TASK.format(kind="lightgbm"))


def build_xgboost(spec, resolve=lambda p: p, head_builder=None):
    """Teacher kind 'xgboost' for a text task: refused; the table tasks call `table_builder`."""
    raise UserError(TEXT_TASK.format(kind="xgboost"))


build_lightgbm.table_builder = table_lightgbm
build_xgboost.table_builder = table_xgboost
