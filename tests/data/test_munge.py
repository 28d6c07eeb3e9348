"""MUNGE: synthetic rows that look like the real ones, drawn the same way every time."""

from __future__ import annotations

import numpy as np
from tables_builders import churn_like, write_table

from understudy.data.munge import munge
from understudy.data.tables import load_table
from understudy.tasks.tabular_recipe import TableData


def real_rows(tmp_path, n=120):
    path = write_table(churn_like(n, missing=0.1), tmp_path / "t.csv")
    d = TableData.model_validate(
        {"transfer": {"path": str(path)}, "evaluation": {"path": str(path)}, "target": "churn", "drop": ["customer"]}
    )
    return load_table(d.transfer, str(path), d, role="transfer")


def test_munge_rows_stay_in_the_shape_and_range_of_the_real_ones(tmp_path):
    rows, schema = real_rows(tmp_path)
    made = munge(rows.inputs, schema, 300, seed=0)
    assert len(made) == 300 and list(made.frame.columns) == schema.features
    real = rows.inputs.frame
    assert set(made.frame["contract"].dropna()) <= set(real["contract"].dropna())
    t = made.frame["tenure"].dropna()
    assert t.min() >= real["tenure"].min() and t.max() <= real["tenure"].max()
    assert np.all(t == np.round(t)) and set(made.frame["senior"].dropna()) <= {0.0, 1.0}  # whole numbers stay whole
    keys = {tuple(r.items()) for r in rows.inputs}
    assert sum(tuple(r.items()) not in keys for r in made) > 150  # mostly new rows, not copies


def test_munge_is_seeded(tmp_path):
    rows, schema = real_rows(tmp_path)
    a, b = munge(rows.inputs, schema, 50, seed=1), munge(rows.inputs, schema, 50, seed=1)
    assert list(a) == list(b) and list(a) != list(munge(rows.inputs, schema, 50, seed=2))
    assert len(munge(rows.inputs, schema, 0)) == 0
