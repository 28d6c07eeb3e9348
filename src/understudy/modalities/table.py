"""Tables: one row per input, a dict {feature column: value}. Keyed by its values, batched in order, perturbed.

A row's value is a float (or None, missing) in a numeric column and a string (or None) in a categorical one;
`TableSchema` says which column is which and, for categorical columns, the categories seen in the transfer set.
Batches of rows travel as `Rows`, a sequence over one typed DataFrame, so a model predicts a whole batch in
vectorised code while the store and the evaluations still see one row at a time.

The perturbations robustness uses (seeded, so teacher and student see the same rows):

  noise       each numeric value plus Gaussian noise of 10% of the column's spread (its standard deviation),
              rounded where the column holds whole numbers only (a count, a 0/1 flag)
  missing     each value blanked with probability 0.1
  shifted     every numeric value moved up by half the column's spread (a population that drifted), rounded as above
  category    each categorical value swapped for another category of its column with probability 0.1
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from ..store import input_key

__all__ = ["Column", "TableSchema", "Rows", "TableModality", "PERTURBATIONS", "describe_row"]

PERTURBATIONS = {
    "noise": "Gaussian noise of 10% of each numeric column's spread",
    "missing": "10% of the values blanked",
    "shifted": "numeric values moved up by half a spread (drift)",
    "category": "10% of the categorical values swapped for another category",
}


@dataclass
class Column:
    name: str
    kind: Literal["numeric", "categorical"]
    categories: list[str] = field(default_factory=list)  # categorical: seen in the transfer set, most common first
    mean: float | None = None  # numeric: over the transfer set (robustness scales its noise by `std`)
    std: float | None = None
    low: float | None = None
    high: float | None = None
    whole: bool = False  # numeric: every transfer value a whole number (a count, a 0/1 flag): perturbed values stay so


@dataclass
class TableSchema:
    """The feature columns in order, each numeric or categorical; the target is not a feature."""

    columns: list[Column]
    target: str | None = None

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def frame(self, rows):
        """A DataFrame of the feature columns in order: numeric float64 (NaN where missing), categorical object
        (None where missing). `rows` is a `Rows` (its frame, as it is) or a sequence of row dicts."""
        import pandas as pd

        if isinstance(rows, Rows):
            return rows.frame
        if isinstance(rows, pd.DataFrame):
            return self.typed(rows)
        data = {}
        for c in self.columns:
            values = [r.get(c.name) for r in rows]
            if c.kind == "numeric":
                data[c.name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            else:  # object, not pandas' string dtype: None stays None
                data[c.name] = pd.Series([None if v is None else str(v) for v in values], dtype=object)
        return pd.DataFrame(data, columns=self.features)

    def typed(self, df):
        """`df`'s feature columns with this schema's types (numeric float64, categorical object strings)."""
        import pandas as pd

        data = {}
        for c in self.columns:
            col = df[c.name]
            if c.kind == "numeric":
                data[c.name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                data[c.name] = pd.Series([None if _missing(v) else str(v) for v in col.tolist()], dtype=object)
        return pd.DataFrame(data, columns=self.features, index=range(len(df)))

    def to_json(self) -> dict:
        return {"target": self.target, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_json(cls, data: dict) -> TableSchema:
        return cls(columns=[Column(**c) for c in data["columns"]], target=data.get("target"))


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


class Rows(Sequence):
    """Rows of one typed DataFrame (TableSchema.frame): `rows[i]` is a dict, `rows[a:b]` and `rows.take(idx)` are
    Rows, `rows.frame` the DataFrame itself. Models read `.frame`; the store and the reports read dicts."""

    def __init__(self, frame):
        self.frame = frame.reset_index(drop=True)
        self._records: list[dict] | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def _all(self) -> list[dict]:
        if self._records is None:
            cols = list(self.frame.columns)
            values = [self.frame[c].tolist() for c in cols]
            self._records = [{c: (None if _missing(v) else v) for c, v in zip(cols, row)} for row in zip(*values)]
        return self._records

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Rows(self.frame.iloc[i])
        return self._all()[i]

    def __iter__(self) -> Iterator[dict]:
        return iter(self._all())

    def take(self, indices) -> Rows:
        return Rows(self.frame.iloc[np.asarray(indices, dtype=int)])

    def __add__(self, other) -> Rows:
        import pandas as pd

        return Rows(pd.concat([self.frame, Rows.of(other, self.frame.columns).frame], ignore_index=True))

    @staticmethod
    def of(rows, columns) -> Rows:
        import pandas as pd

        if isinstance(rows, Rows):
            return rows
        return Rows(pd.DataFrame(list(rows), columns=list(columns)))

    def __repr__(self) -> str:
        return f"Rows({len(self)} rows x {self.frame.shape[1]} columns)"


def describe_row(row: dict, width: int = 120) -> str:
    """One line of plain text: 'tenure=1, contract=Month-to-month, ...', cut to `width` characters."""
    parts = []
    for k, v in row.items():
        if v is None:
            shown = "(missing)"
        elif isinstance(v, float):
            shown = f"{v:g}"
        else:
            shown = " ".join(str(v).split())
        parts.append(f"{k}={shown}")
    flat = ", ".join(parts)
    return flat if len(flat) <= width else flat[: max(1, width - 3)].rstrip() + "..."


def _noise(schema: TableSchema, row: dict, rng: np.random.Generator) -> dict:
    out = dict(row)
    for c in schema.columns:
        v = out.get(c.name)
        if c.kind == "numeric" and v is not None and c.std:
            out[c.name] = _kept_whole(c, float(v + rng.normal(0.0, 0.1 * c.std)))
    return out


def _kept_whole(c: Column, x: float) -> float:
    """A count stays a count and a 0/1 flag a flag under noise or a shift (as MUNGE keeps them)."""
    return float(round(x)) if c.whole else x


def _missing_values(schema: TableSchema, row: dict, rng: np.random.Generator) -> dict:
    out = dict(row)
    for c in schema.columns:
        if rng.random() < 0.1:
            out[c.name] = None
    return out


def _shifted(schema: TableSchema, row: dict, rng: np.random.Generator) -> dict:
    out = dict(row)
    for c in schema.columns:
        v = out.get(c.name)
        if c.kind == "numeric" and v is not None and c.std:
            out[c.name] = _kept_whole(c, float(v + 0.5 * c.std))
    return out


def _category(schema: TableSchema, row: dict, rng: np.random.Generator) -> dict:
    out = dict(row)
    for c in schema.columns:
        v = out.get(c.name)
        if c.kind == "categorical" and len(c.categories) > 1 and rng.random() < 0.1:
            others = [x for x in c.categories if x != v]
            out[c.name] = others[int(rng.integers(len(others)))]
    return out


_PERTURB = {"noise": _noise, "missing": _missing_values, "shifted": _shifted, "category": _category}


class _Perturb:
    """fn(row, rng) -> row for one kind (a class, not a closure: the evaluations may send it to a process)."""

    def __init__(self, schema: TableSchema, kind: str):
        self.schema, self.kind = schema, kind

    def __call__(self, row: dict, rng: np.random.Generator) -> dict:
        return _PERTURB[self.kind](self.schema, row, rng)


class TableModality:
    """Inputs are row dicts over `schema`'s feature columns. The store key hashes the values in column order, so
    the same row is asked once whatever else the file holds (the target and group columns are not features)."""

    name = "table"
    plural = "rows"

    def __init__(self, schema: TableSchema | None = None):
        self.schema = schema

    def key(self, item: dict) -> str:
        features = self.schema.features if self.schema is not None else sorted(item)
        values = [_plain(item.get(c)) for c in features]
        return input_key(json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))

    def batches(self, items: Sequence[Any], batch_size: int) -> Iterator[list[int]]:
        """In order: every row costs a model the same, so there is no padding to save by sorting."""
        from . import in_order

        return in_order(len(items), batch_size)

    def perturbations(self) -> dict[str, Callable[[Any, np.random.Generator], Any]]:
        if self.schema is None:
            return {}
        return {kind: _Perturb(self.schema, kind) for kind in PERTURBATIONS}

    def describe(self, item: dict) -> str:
        return describe_row(item)


def _plain(v):
    """A value as the store key reads it: floats that are whole stay distinct from strings ('1' vs 1.0)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int):
        return float(v)
    return v
