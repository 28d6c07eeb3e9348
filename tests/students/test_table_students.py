"""The table students (tree, rules, linear, gbm) on a tiny table whose teacher is a known function of its columns."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from understudy.errors import UserError
from understudy.modalities.table import Column, Rows, TableSchema
from understudy.students import load_student
from understudy.students.table_base import MAX_CATEGORIES, TableFeatures

pytest.importorskip("sklearn")

KINDS = ["tree", "rules", "linear", "gbm"]
CONTRACTS = ["Month-to-month", "One year", "Two year"]
SPEC = SimpleNamespace(
    max_depth=4, min_samples_leaf=10, max_rules=8, max_features=4, n_estimators=40, num_leaves=8, name=None
)
SOFT = SimpleNamespace(soft_labels=True, seed=0, gold_weight=0.0)
HARD = SimpleNamespace(soft_labels=False, seed=0, gold_weight=0.0)


def _schema() -> TableSchema:
    return TableSchema(
        [
            Column("tenure", "numeric"),
            Column("contract", "categorical", categories=CONTRACTS),
            Column("charges", "numeric"),
            Column("region", "categorical", categories=["north", "south"]),
        ],
        target="churn",
    )


def _table(n: int = 400, seed: int = 0):
    """Rows, and the teacher's answers from a known function: churn is likelier on short tenure (a missing tenure
    counts as short) and on month-to-month contracts; charges and region do not matter."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 72, n)
    tenure_missing = rng.random(n) < 0.15
    contract = rng.choice(CONTRACTS, n)
    charges = rng.normal(70, 20, n)
    region = rng.choice(["north", "south"], n).astype(object)
    region[rng.random(n) < 0.1] = None
    short = np.where(tenure_missing, 1.0, (tenure < 18).astype(float))
    score = 3.0 * short + 2.5 * (contract == "Month-to-month") - 2.0
    p = 1 / (1 + np.exp(-score))
    rows = [
        {
            "tenure": None if tenure_missing[i] else float(tenure[i]),
            "contract": str(contract[i]),
            "charges": float(charges[i]),
            "region": region[i],
        }
        for i in range(n)
    ]
    value = 100 - 40 * short + 30 * (contract == "Two year")
    return rows, np.column_stack([1 - p, p]), value


def _fit(kind: str, labels, targets, settings=SOFT, rows=None):
    from understudy.students import student_class

    if kind == "gbm":
        pytest.importorskip("lightgbm")  # the tables extra
    schema = _schema()
    rows = rows if rows is not None else _table()[0]
    return student_class(kind).for_table(schema, labels, SPEC).fit(Rows(schema.frame(rows)), targets, settings=settings)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("settings", [SOFT, HARD], ids=["soft", "hard"])
def test_a_classifier_agrees_with_its_teacher_and_reloads_the_same(kind, settings, tmp_path):
    rows, probs, _ = _table()
    student = _fit(kind, ["stays", "churns"], {"probs": probs}, settings)
    test_rows = _table(200, seed=1)[0]
    test_probs = _table(200, seed=1)[1]
    agreement = float((student.predict_proba(test_rows).argmax(1) == test_probs.argmax(1)).mean())
    assert agreement >= 0.85, f"{kind}: agrees with the teacher on {agreement:.2f} of new rows"
    student.save(tmp_path / "student")
    again = load_student(tmp_path / "student")
    assert again.kind == kind
    np.testing.assert_array_equal(again.predict_proba(test_rows), student.predict_proba(test_rows))
    assert again.predict(test_rows[:5]) == student.predict(test_rows[:5])


@pytest.mark.parametrize("kind", ["tree", "rules", "linear"])
def test_the_readable_kinds_name_the_columns_that_matter(kind):
    rows, probs, _ = _table()
    rules = _fit(kind, ["stays", "churns"], {"probs": probs}).rules()
    text = "\n".join(rules["text"])
    assert "tenure" in text and "contract is" in text, text
    if kind == "linear":  # sparse: the unrelated columns get no weight at max_features 4
        assert "charges" not in text and "region" not in text, text


def test_the_rule_list_is_ordered_with_its_default_last():
    rows, probs, _ = _table()
    student = _fit("rules", ["stays", "churns"], {"probs": probs})
    out = student.rules()
    assert out["form"] == "rule list"
    assert 1 <= len(out["rules"]) - 1 <= SPEC.max_rules
    assert out["text"][0].startswith("IF ") and out["text"][-1].startswith("ELSE ")
    assert all(line.startswith("ELSE IF ") for line in out["text"][1:-1])
    assert out["rules"][-1]["if"] == ["(every other row)"]
    # a row takes the first rule it matches: the rows each rule covered in training add up to all of them
    assert sum(r["rows"] for r in out["rules"]) == len(rows)


def test_or_missing_is_said_only_for_columns_that_had_missing_values():
    rows, probs, _ = _table()
    for kind in ("tree", "rules"):
        student = _fit(kind, ["stays", "churns"], {"probs": probs})
        phrases = [p for r in student.rules()["rules"] for p in r["if"]]
        assert any("tenure" in p and "(or missing)" in p for p in phrases), (kind, phrases)  # tenure had missing
        assert not any("contract" in p and "(or missing)" in p for p in phrases), (kind, phrases)  # contract never
        names = student.features.names
        assert student.missing_seen[names.index("tenure")] and not student.missing_seen[names.index("charges")]


def test_linear_keeps_at_most_max_features_columns():
    rows, probs, _ = _table()
    student = _fit("linear", ["stays", "churns"], {"probs": probs})
    assert 1 <= student.training_["nonzero"] <= SPEC.max_features
    out = student.rules()
    assert out["form"] == "linear score" and out["link"] == "logistic"
    assert any("p(churns)" in line for line in out["text"])


@pytest.mark.parametrize("kind", KINDS)
def test_three_classes(kind):
    rows, probs, _ = _table(300)
    tenure = np.array([r["tenure"] if r["tenure"] is not None else 0.0 for r in rows])
    third = (tenure > 50).astype(float) * 0.8
    p3 = np.column_stack([probs[:, 0] * (1 - third), probs[:, 1] * (1 - third), third])
    student = _fit(kind, ["stays", "churns", "upgrades"], {"probs": p3}, rows=rows)
    out = student.predict_proba(rows)
    assert out.shape == (len(rows), 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    assert float((out.argmax(1) == p3.argmax(1)).mean()) >= 0.8


@pytest.mark.parametrize("kind", KINDS)
def test_regression_learns_the_teachers_numbers(kind, tmp_path):
    rows, _, value = _table()
    student = _fit(kind, None, {"value": value})
    test_rows, _, test_value = _table(200, seed=1)
    got = np.asarray(student.predict(test_rows), dtype=float)
    r2 = 1 - float(((got - test_value) ** 2).mean()) / float(test_value.var())
    assert r2 >= 0.8, f"{kind}: R^2 against the teacher {r2:.2f}"
    student.save(tmp_path / "s")
    np.testing.assert_array_equal(load_student(tmp_path / "s").predict(test_rows), got)
    with pytest.raises(UserError, match="regression"):
        student.predict_proba(test_rows)


def test_gbm_records_the_columns_it_leans_on():
    rows, probs, _ = _table()
    student = _fit("gbm", ["stays", "churns"], {"probs": probs})
    top = [f["feature"] for f in student.training_["importance"]]
    assert top and top[0] in ("tenure", "contract=Month-to-month")
    assert not hasattr(student, "rules")


# --- the encoding: dicts fast, frames vectorised, the same matrix ------------------------------------


def _odd_rows():
    rows = _table(50)[0]
    rows[3] = {**rows[3], "contract": "Three year"}  # a category never seen: no indicator
    rows[4] = {**rows[4], "tenure": 12, "charges": "55.5"}  # an int, a numeric string
    rows[5] = {**rows[5], "contract": None, "region": None, "tenure": float("nan")}
    return rows


def test_the_dict_path_and_the_frame_path_give_the_same_matrix():
    schema = _schema()
    features = TableFeatures(schema)
    rows = _odd_rows()
    fast = features.encode(rows)
    framed = features.encode(Rows(schema.frame(rows)))
    np.testing.assert_array_equal(fast, framed)
    np.testing.assert_array_equal(features.encode(pd.DataFrame(rows)), framed)
    for i in range(6):  # one row goes its own way; it must agree too
        np.testing.assert_array_equal(features.encode(rows[i : i + 1]), framed[i : i + 1])
    assert fast[3, features.names.index("contract=Month-to-month")] == 0
    assert fast[4, features.names.index("charges")] == 55.5 and np.isnan(fast[5, 0])


def test_categories_past_the_limit_are_no_column_on_either_path():
    many = [f"c{i}" for i in range(MAX_CATEGORIES + 5)]
    schema = TableSchema([Column("x", "numeric"), Column("kind", "categorical", categories=many)])
    features = TableFeatures(schema)
    rows = [{"x": 1.0, "kind": k} for k in (many[0], many[-1], 7)]
    np.testing.assert_array_equal(features.encode(rows), features.encode(Rows(schema.frame(rows))))
    assert features.encode(rows)[1].sum() == 1.0  # only x: the 35th category has no indicator


@pytest.mark.parametrize("size", [1, 3])
def test_bad_rows_are_a_user_error_naming_the_column(size):
    # the rules student reads every column through the matrix; the tree's compiled walk: tests/students/test_tree_walk.py
    rows, probs, _ = _table(20)
    student = _fit("rules", ["stays", "churns"], {"probs": probs}, rows=rows)
    missing = [dict(r) for r in rows[:size]]
    del missing[-1]["charges"]
    with pytest.raises(UserError, match="'charges'"):
        student.predict_proba(missing)
    text = [dict(r) for r in rows[:size]]
    text[-1]["tenure"] = "long"
    with pytest.raises(UserError, match="'tenure' is numeric but holds 'long'"):
        student.predict_proba(text)
    with pytest.raises(UserError, match="'tenure' is numeric"):
        student.predict_proba(pd.DataFrame(text))
    with pytest.raises(UserError, match="no column 'charges'"):
        student.predict_proba(pd.DataFrame(rows[:size]).drop(columns=["charges"]))
    with pytest.raises(UserError, match="not a row"):
        student.predict_proba(["tenure=3"] * size)


def test_a_damaged_folder_is_a_user_error(tmp_path):
    import json

    rows, probs, _ = _table(40)
    student = _fit("rules", ["stays", "churns"], {"probs": probs}, rows=rows)
    student.save(tmp_path / "s")
    (tmp_path / "s" / "rules.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="rules.json"):
        load_student(tmp_path / "s")
    (tmp_path / "s" / "student.json").write_text(json.dumps({"kind": "rules"}), encoding="utf-8")
    with pytest.raises(UserError, match="student.json.*refit"):
        load_student(tmp_path / "s")
