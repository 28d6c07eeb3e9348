"""The table data kind: typed rows, store keys over values, seeded perturbations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from understudy.modalities.table import Column, Rows, TableModality, TableSchema, describe_row

SCHEMA = TableSchema(
    columns=[
        Column("tenure", "numeric", mean=30.0, std=10.0, low=0.0, high=72.0),
        Column("contract", "categorical", categories=["Month-to-month", "One year", "Two year"]),
    ],
    target="churn",
)


def test_the_key_reads_the_feature_values_only():
    m = TableModality(SCHEMA)
    a = {"tenure": 3.0, "contract": "One year"}
    assert m.key(a) == m.key({"contract": "One year", "tenure": 3, "churn": "Yes"})  # order, int, the target
    assert m.key(a) != m.key({"tenure": 3.0, "contract": "Two year"})
    assert m.key({"tenure": None, "contract": "One year"}) == m.key({"tenure": float("nan"), "contract": "One year"})
    assert m.key({"tenure": 1.0, "contract": "x"}) != m.key({"tenure": "1", "contract": "x"})


def test_frame_types_the_columns_and_rows_index_like_a_list():
    frame = SCHEMA.frame([{"tenure": 1, "contract": "One year"}, {"tenure": None, "contract": None}])
    assert frame["tenure"].dtype == np.float64 and np.isnan(frame["tenure"][1])
    assert frame["contract"].tolist() == ["One year", None]
    rows = Rows(frame)
    assert rows[0] == {"tenure": 1.0, "contract": "One year"}
    assert rows[1] == {"tenure": None, "contract": None}
    both = rows + rows[:1]
    assert len(both) == 3 and both[2] == rows[0]
    assert list(rows.take([1, 0]))[0] == rows[1]
    typed = SCHEMA.typed(pd.DataFrame({"tenure": ["4", ""], "contract": ["Two year", "One year"], "other": [1, 2]}))
    assert list(typed.columns) == ["tenure", "contract"] and typed["tenure"][0] == 4.0


def test_perturbations_are_seeded_and_change_what_they_say():
    m = TableModality(SCHEMA)
    fns = m.perturbations()
    assert set(fns) == {"noise", "missing", "shifted", "category"}
    row = {"tenure": 30.0, "contract": "One year"}
    assert fns["shifted"](row, np.random.default_rng(0))["tenure"] == 35.0  # half of the spread of 10
    noisy = [fns["noise"](row, np.random.default_rng(s))["tenure"] for s in range(50)]
    assert 0.5 < np.std(noisy) < 2.0 and noisy[0] == fns["noise"](row, np.random.default_rng(0))["tenure"]
    swapped = [fns["category"](row, np.random.default_rng(s))["contract"] for s in range(200)]
    assert 5 < sum(v != "One year" for v in swapped) < 40
    blanked = [fns["missing"](row, np.random.default_rng(s)) for s in range(200)]
    assert 10 < sum(r["tenure"] is None for r in blanked) < 70
    assert row == {"tenure": 30.0, "contract": "One year"}  # the original is left alone


def test_a_row_is_described_in_one_plain_line():
    line = describe_row({"tenure": 3.0, "contract": "Month-to-month\n<b>", "x": None})
    assert line == "tenure=3, contract=Month-to-month <b>, x=(missing)"
    assert len(describe_row({f"c{i}": "v" * 20 for i in range(20)}, width=50)) == 50
