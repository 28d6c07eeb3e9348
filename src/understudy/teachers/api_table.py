"""Teacher kind openai-api for tables: the API teacher (teachers/api.py) asked about each row as text, one line
per feature "column: value" in the table's order ("(missing)" for a missing value).

Everything the API teacher does holds as it is: every answer is stored as it arrives, nothing is asked twice,
unparseable and refused rows are reported. Only classification: an LLM's answer is a label, so tabular-regression
needs a local teacher.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..errors import UserError
from .tabular import TableTeacher

RENDERING = "rows as text: one 'column: value' line per feature, '(missing)' for none (v1)"
TABLE_TASK = "Classify the table row the user sends: one line per column, 'column: value'."


def shown(value) -> str:
    """A value as the model reads it: whole numbers without '.0', others as Python writes them (no rounding)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "(missing)"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(value, np.generic):
        value = value.item()
    return " ".join(str(value).split())


def render_row(row: dict, features: list[str]) -> str:
    return "\n".join(f"{c}: {shown(row.get(c))}" for c in features)


class ApiTableTeacher(TableTeacher):
    """An ApiClassifierTeacher over rows: each row rendered as text, then asked as the text teacher asks."""

    def __init__(self, inner, schema):
        self.inner = inner
        self.description = f"{inner.description}, asked about each row as text"
        super().__init__(schema, inner.labels, regression=False)
        identity = {"api": inner.fingerprint, "rendering": RENDERING, "features": schema.features}
        self.fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        self.files: list = []  # nothing on disk

    def texts(self, rows) -> list[str]:
        features = self.schema.features
        return [render_row(r, features) for r in rows]

    def predict(self, rows) -> dict[str, np.ndarray]:
        texts = self.texts(rows)
        return {"probs": self.answer(self.inner.predict(texts)["probs"], len(texts))["probs"]}

    # --- the API teacher's protocol, with rows in place of texts -------------------------------------

    def attach(self, store) -> ApiTableTeacher:
        self.inner.attach(store)
        return self

    def close(self) -> None:
        self.inner.close()

    def outcomes(self, rows) -> list[dict | None]:
        return self.inner.outcomes(self.texts(rows))

    def labelled_mask(self, rows) -> np.ndarray:
        return self.inner.labelled_mask(self.texts(rows))

    def unparseable(self, rows) -> list[dict]:
        return self.inner.unparseable(self.texts(rows))

    def report(self, rows, examples: int = 20) -> dict:
        return {**self.inner.report(self.texts(rows), examples), "inputs": RENDERING}

    def spend_report(self) -> dict:
        return self.inner.spend_report()


def build_table(spec, resolve, schema, regression: bool):
    """The table builder of kind openai-api (teachers/tabular.py BUILDERS)."""
    from .api import ApiClassifierTeacher

    if regression:
        raise UserError(
            "teacher kind openai-api answers with a label, not a number: tabular-regression needs a local teacher "
            "(lightgbm, xgboost, onnx, sklearn or callable)"
        )
    if spec.api is None:
        raise UserError("teacher kind 'openai-api' needs an 'api' section (base_url, model, ...)")
    settings = spec.api
    if "task" not in settings.model_fields_set:  # the text default says 'text'; a row is what is sent
        settings = settings.model_copy(update={"task": TABLE_TASK})
    return ApiTableTeacher(ApiClassifierTeacher(settings, spec.labels or []), schema)
