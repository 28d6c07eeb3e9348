"""The tree student's compiled walk (row dicts) answers exactly as its matrix path (a DataFrame), on awkward rows too."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from understudy.errors import UserError
from understudy.modalities.table import Column, Rows, TableSchema
from understudy.students import load_student, student_class

pytest.importorskip("sklearn")

SOFT = SimpleNamespace(soft_labels=True, seed=0, gold_weight=0.0)
PLANS = ["Basic", "Plus", "Pro"]


def _rows(n: int, seed: int, names=("tenure", "plan", "charges")):
    """Rows whose answer depends on every column, with missing numbers (None and NaN) and missing plans."""
    rng = np.random.default_rng(seed)
    t, p, c = names
    rows = []
    for _ in range(n):
        tenure = float(rng.uniform(0, 72))
        rows.append(
            {
                t: None if rng.random() < 0.1 else (float("nan") if rng.random() < 0.05 else tenure),
                p: None if rng.random() < 0.1 else str(rng.choice(PLANS)),
                c: float(rng.normal(70, 20)),
            }
        )
    score = np.array(
        [
            (2.0 if r[t] is None or r[t] != r[t] or r[t] < 20 else -1.0)
            + (1.5 if r[p] == "Basic" else 0.0)
            + (r[c] - 70) / 20
            for r in rows
        ]
    )
    prob = 1 / (1 + np.exp(-score))
    return rows, {"probs": np.column_stack([1 - prob, prob])}


def _tree(names=("tenure", "plan", "charges"), depth=5, regression=False):
    t, p, c = names
    schema = TableSchema(
        [Column(t, "numeric"), Column(p, "categorical", categories=PLANS), Column(c, "numeric")], target="y"
    )
    rows, targets = _rows(600, 0, names)
    spec = SimpleNamespace(max_depth=depth, min_samples_leaf=5)
    labels = None if regression else ["stays", "leaves"]
    if regression:
        targets = {"value": targets["probs"][:, 1] * 100}
    student = student_class("tree").for_table(schema, labels, spec)
    return student.fit(Rows(schema.frame(rows)), targets, settings=SOFT), schema


def _matrix_answers(student, schema, rows):
    """The same rows through the matrix path (a DataFrame never takes the compiled walk)."""
    frame = pd.DataFrame(rows, columns=schema.features)
    return student.predict(frame) if student.regression else student.predict_proba(frame)


@pytest.mark.parametrize("regression", [False, True], ids=["classes", "numbers"])
def test_the_walk_and_the_matrix_give_the_same_answers(regression, tmp_path):
    student, schema = _tree(regression=regression)
    assert student._walk is not None
    rows, _ = _rows(400, 1)
    rows += [
        {"tenure": True, "plan": "Unheard", "charges": np.float32(55.5)},  # bool, unseen category, numpy number
        {"tenure": np.int64(3), "plan": None, "charges": 0},
        {"tenure": float("nan"), "plan": float("nan"), "charges": -1e9},  # NaN as a missing category too
    ]
    walked = student.predict(rows) if regression else student.predict_proba(rows)
    np.testing.assert_allclose(walked, _matrix_answers(student, schema, rows), rtol=0, atol=1e-6)
    one = student.predict(rows[:1]) if regression else student.predict_proba(rows[0])
    np.testing.assert_allclose(one, walked[:1], atol=1e-6)
    student.save(tmp_path / "s")
    again = load_student(tmp_path / "s", calibrated=False)
    np.testing.assert_allclose(again.predict(rows) if regression else again.predict_proba(rows), walked, atol=1e-6)


def test_values_the_walk_cannot_compare_go_the_matrix_way_or_are_named():
    student, schema = _tree()
    rows, _ = _rows(30, 2)
    as_text = [dict(r, tenure=None if r["tenure"] is None else str(r["tenure"])) for r in rows]  # numbers as text
    as_text = [dict(r, tenure=None) if r["tenure"] == "nan" else r for r in as_text]
    np.testing.assert_allclose(student.predict_proba(as_text), _matrix_answers(student, schema, rows), atol=1e-6)
    bad = [dict(r) for r in rows]
    bad[4]["tenure"] = "long"  # tenure is the first split: every row reads it
    with pytest.raises(UserError, match="row 4: column 'tenure' is numeric but holds 'long'"):
        student.predict_proba(bad)
    absent = [dict(r) for r in rows]
    del absent[7]["charges"]
    with pytest.raises(UserError, match="row 7 has no column 'charges'"):
        student.predict_proba(absent)
    unhashable = [dict(r) for r in rows]
    unhashable[2]["plan"] = ["Basic"]
    split_on = {student.features.names[f] for f in student.tree["feature"] if f >= 0}
    assert "plan=Basic" in split_on
    with pytest.raises(UserError, match="row 2: column 'plan' is categorical but holds \\['Basic'\\]"):
        student.predict_proba(unhashable)


def test_names_from_the_folder_are_data_never_code():
    hostile = ("'); import os; os._exit(3); ('", "plan\n\tx = 1", "__class__")
    student, schema = _tree(names=hostile)
    rows, _ = _rows(100, 3, names=hostile)
    np.testing.assert_allclose(student.predict_proba(rows), _matrix_answers(student, schema, rows), atol=1e-6)


def test_a_tree_too_deep_to_compile_keeps_the_matrix_path():
    from understudy.students import tree_code

    student, schema = _tree(depth=None)
    assert student._depth > 5
    rows, _ = _rows(200, 4)
    walked = student.predict_proba(rows)
    limit = tree_code.MAX_DEPTH
    try:
        tree_code.MAX_DEPTH = 2
        student._arrays()
        assert student._walk is None
        np.testing.assert_allclose(student.predict_proba(rows), walked, atol=1e-6)
    finally:
        tree_code.MAX_DEPTH = limit
