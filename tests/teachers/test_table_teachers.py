"""The boosted-tree table teachers from their own files: LightGBM's text format and XGBoost's JSON and UBJSON.
Each test trains a tiny real model on a tiny table, saves it, loads it through `build_table_teacher` and
compares its answers with the model's own; the errors say what to fix."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from understudy.errors import UserError
from understudy.modalities.table import Column, Rows, TableSchema
from understudy.recipe import TeacherSpec
from understudy.teachers import build_teacher
from understudy.teachers.tabular import build_table_teacher

lgb = pytest.importorskip("lightgbm")
xgb = pytest.importorskip("xgboost")

PLANS = ["basic", "plus", "pro"]
FEATURES = ["monthly fee", "tenure", "plan"]  # the order the models are trained in


def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Fee, tenure and plan drive the answer; the plan matters a lot, so a model must split on it."""
    rng = np.random.default_rng(seed)
    fee = rng.uniform(20, 120, n)
    fee[rng.random(n) < 0.05] = np.nan
    tenure = rng.integers(0, 72, n).astype(float)
    plan = rng.choice(PLANS, n)
    score = 0.03 * np.nan_to_num(fee - 70) - 0.04 * tenure + np.select([plan == "basic", plan == "pro"], [2.0, -2.0])
    score = score + rng.normal(0, 0.3, n)
    return pd.DataFrame(
        {
            "monthly fee": fee,
            "tenure": tenure,
            "plan": pd.Categorical(plan, categories=PLANS),
            "region": rng.choice(["north", "south"], n),  # a feature of the table the models do not read
            "binary": np.where(score > 0, "leave", "stay"),
            "multi": np.select([score < -1, score > 1], ["low", "high"], "mid"),
            "value": score,
        }
    )


# The table's own order differs from the models' on purpose: the teacher puts the columns in the model's order.
SCHEMA = TableSchema(
    [
        Column("plan", "categorical", PLANS),
        Column("region", "categorical", ["north", "south"]),
        Column("tenure", "numeric"),
        Column("monthly fee", "numeric"),
    ]
)


def rows_of(df: pd.DataFrame) -> Rows:
    return Rows(SCHEMA.frame(df))


def x_of(df: pd.DataFrame) -> pd.DataFrame:
    return df[FEATURES]


def spec(kind: str, path, labels=None, **options) -> TeacherSpec:
    return TeacherSpec(kind=kind, path=str(path), labels=labels, options=options)


def with_unseen_plan(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows whose plan the model never saw ('enterprise'), and the same rows with the plan missing."""
    rows = df.head(20).copy()
    rows["plan"] = rows["plan"].astype(object)
    unseen = rows.assign(plan="enterprise")
    blank = rows.assign(plan=pd.Categorical([None] * len(rows), categories=PLANS))
    return unseen, blank


def lgb_params(**kw):
    return dict(n_estimators=25, min_child_samples=5, min_data_per_group=5, cat_smooth=1, verbose=-1, n_jobs=1, **kw)


# ------------------------------------------------------------------------------------------------ LightGBM


def test_lightgbm_binary_with_a_categorical_column_matches_the_model(tmp_path):
    df = table()
    model = lgb.LGBMClassifier(**lgb_params()).fit(x_of(df), df["binary"])
    model.booster_.save_model(tmp_path / "m.txt")
    labels = list(model.classes_)
    teacher = build_table_teacher(spec("lightgbm", tmp_path / "m.txt", labels), lambda p: p, SCHEMA)
    assert teacher.labels == labels and teacher.provides == frozenset({"probs"})
    assert teacher.description == "LightGBM model m.txt, 25 trees (binary)" and teacher.files == [tmp_path / "m.txt"]
    probs = teacher.predict(rows_of(df))["probs"]
    assert probs.shape == (len(df), 2) and probs.dtype == np.float32
    assert np.allclose(probs, model.predict_proba(x_of(df)), atol=1e-6)
    # Row dicts (as the store hands them over) give the same answers as a Rows batch.
    assert np.allclose(teacher.predict(list(rows_of(df.head(7))))["probs"], probs[:7], atol=1e-7)
    # A plan the model never saw is read as missing.
    unseen, blank = with_unseen_plan(df)
    assert np.allclose(teacher.predict(rows_of(unseen))["probs"], model.predict_proba(x_of(blank)), atol=1e-6)
    # The plan matters to this model, so the coding of categories is really tested.
    basic, pro = df.head(20).assign(plan="basic"), df.head(20).assign(plan="pro")
    assert np.abs(teacher.predict(rows_of(basic))["probs"] - teacher.predict(rows_of(pro))["probs"]).max() > 0.2


def test_lightgbm_multiclass_and_regression_match_the_model(tmp_path):
    df = table(seed=1)
    clf = lgb.LGBMClassifier(**lgb_params()).fit(x_of(df), df["multi"])
    clf.booster_.save_model(tmp_path / "multi.txt")
    teacher = build_table_teacher(spec("lightgbm", tmp_path / "multi.txt", list(clf.classes_)), lambda p: p, SCHEMA)
    assert teacher.description.endswith("(3 classes)")
    assert np.allclose(teacher.predict(rows_of(df))["probs"], clf.predict_proba(x_of(df)), atol=1e-6)

    reg = lgb.LGBMRegressor(**lgb_params()).fit(x_of(df), df["value"])
    reg.booster_.save_model(tmp_path / "reg.txt")
    teacher = build_table_teacher(spec("lightgbm", tmp_path / "reg.txt"), lambda p: p, SCHEMA, regression=True)
    assert teacher.labels is None and teacher.provides == frozenset({"value"})
    values = teacher.predict(rows_of(df))["value"]
    assert values.shape == (len(df),) and np.allclose(values, reg.predict(x_of(df)), atol=1e-5)


def test_lightgbm_booster_trained_on_an_array_reads_teacher_options_columns(tmp_path):
    df = table(seed=2)
    x = x_of(df).assign(plan=df["plan"].cat.codes.astype(float))  # the plan as its integer codes
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5, "num_threads": 1},
        lgb.Dataset(x.to_numpy(), (df["binary"] == "stay").astype(int), categorical_feature=[2]),
        num_boost_round=15,
    )
    booster.save_model(tmp_path / "arr.txt")
    with pytest.raises(UserError, match="'Column_0'.*teacher.options.columns"):
        build_table_teacher(spec("lightgbm", tmp_path / "arr.txt", ["leave", "stay"]), lambda p: p, SCHEMA)
    # Without stored categories, the table's categorical plan needs its codes named ...
    s = spec("lightgbm", tmp_path / "arr.txt", ["leave", "stay"], columns=FEATURES)
    with pytest.raises(UserError, match="teacher.options.categories.plan"):
        build_table_teacher(s, lambda p: p, SCHEMA)
    s = spec("lightgbm", tmp_path / "arr.txt", ["leave", "stay"], columns=FEATURES, categories={"plan": PLANS})
    teacher = build_table_teacher(s, lambda p: p, SCHEMA)
    p = booster.predict(x.to_numpy())
    assert np.allclose(teacher.predict(rows_of(df))["probs"], np.column_stack([1 - p, p]), atol=1e-6)


def test_lightgbm_errors_name_the_key_the_column_and_the_file(tmp_path):
    df = table(seed=3)
    model = lgb.LGBMClassifier(**lgb_params()).fit(x_of(df), df["multi"])
    model.booster_.save_model(tmp_path / "m.txt")
    build = build_table_teacher
    with pytest.raises(UserError, match="does not store its class names; list them in teacher.labels"):
        build(spec("lightgbm", tmp_path / "m.txt"), lambda p: p, SCHEMA)
    with pytest.raises(UserError, match="teacher.labels lists 2 classes .* has 3"):
        build(spec("lightgbm", tmp_path / "m.txt", ["a", "b"]), lambda p: p, SCHEMA)
    no_tenure = TableSchema([c for c in SCHEMA.columns if c.name != "tenure"])
    with pytest.raises(UserError, match="column 'tenure'.*data.numeric or data.categorical.*data.drop"):
        build(spec("lightgbm", tmp_path / "m.txt", list(model.classes_)), lambda p: p, no_tenure)
    with pytest.raises(UserError, match="is a classifier .*tabular-classification"):
        build(spec("lightgbm", tmp_path / "m.txt"), lambda p: p, SCHEMA, regression=True)
    tenure_as_text = TableSchema(
        [Column("plan", "categorical", PLANS), Column("tenure", "categorical", ["1"]), Column("monthly fee", "numeric")]
    )
    with pytest.raises(UserError, match="reads column 'tenure' as numbers.*list it in data.numeric"):
        build(spec("lightgbm", tmp_path / "m.txt", list(model.classes_)), lambda p: p, tenure_as_text)
    (tmp_path / "bad.txt").write_bytes(b"\x80\x04\x95 this is a pickle, not a model")
    with pytest.raises(UserError, match="bad.txt: not a LightGBM model file.*save_model"):
        build(spec("lightgbm", tmp_path / "bad.txt", ["a", "b", "c"]), lambda p: p, SCHEMA)
    with pytest.raises(UserError, match="no such file"):
        build(spec("lightgbm", tmp_path / "none.txt", ["a", "b", "c"]), lambda p: p, SCHEMA)
    with pytest.raises(UserError, match="needs teacher.path"):
        build(TeacherSpec(kind="lightgbm", labels=["a", "b", "c"]), lambda p: p, SCHEMA)
    with pytest.raises(UserError, match="does not read colums"):
        build(spec("lightgbm", tmp_path / "m.txt", list(model.classes_), colums=FEATURES), lambda p: p, SCHEMA)
    with pytest.raises(UserError, match="teacher kind lightgbm answers table rows: use it with task tabular-"):
        build_teacher(spec("lightgbm", tmp_path / "m.txt", list(model.classes_)))


def test_lightgbm_fingerprint_follows_the_file_and_the_column_mapping(tmp_path):
    df = table(seed=4)
    for name, n in (("a.txt", 10), ("b.txt", 11)):
        lgb.LGBMRegressor(**{**lgb_params(), "n_estimators": n}).fit(x_of(df), df["value"]).booster_.save_model(
            tmp_path / name
        )
    a = build_table_teacher(spec("lightgbm", tmp_path / "a.txt"), lambda p: p, SCHEMA, regression=True)
    again = build_table_teacher(spec("lightgbm", tmp_path / "a.txt"), lambda p: p, SCHEMA, regression=True)
    b = build_table_teacher(spec("lightgbm", tmp_path / "b.txt"), lambda p: p, SCHEMA, regression=True)
    assert a.fingerprint == again.fingerprint != b.fingerprint


# ------------------------------------------------------------------------------------------------ XGBoost


def xgb_params(**kw):
    return dict(
        n_estimators=20, max_depth=3, enable_categorical=True, tree_method="hist", max_cat_to_onehot=1, n_jobs=1, **kw
    )


@pytest.mark.parametrize("fmt", ["json", "ubj"])
def test_xgboost_binary_with_a_categorical_column_matches_the_model(tmp_path, fmt):
    df = table(seed=5)
    y = (df["binary"] == "stay").astype(int)
    model = xgb.XGBClassifier(**xgb_params()).fit(x_of(df), y)
    path = tmp_path / f"m.{fmt}"
    model.save_model(path)
    teacher = build_table_teacher(spec("xgboost", path, ["leave", "stay"]), lambda p: p, SCHEMA)
    assert teacher.description == f"XGBoost model m.{fmt}, 20 rounds (binary)"
    probs = teacher.predict(rows_of(df))["probs"]
    assert np.allclose(probs, model.predict_proba(x_of(df)), atol=1e-6)
    unseen, blank = with_unseen_plan(df)
    assert np.allclose(teacher.predict(rows_of(unseen))["probs"], model.predict_proba(x_of(blank)), atol=1e-6)
    basic, pro = df.head(20).assign(plan="basic"), df.head(20).assign(plan="pro")
    assert np.abs(teacher.predict(rows_of(basic))["probs"] - teacher.predict(rows_of(pro))["probs"]).max() > 0.2


def test_xgboost_categories_in_their_own_order_are_coded_as_the_model_stores_them(tmp_path):
    df = table(seed=6)
    x = x_of(df).assign(plan=pd.Categorical(df["plan"].astype(str), categories=["pro", "basic", "plus"]))
    model = xgb.XGBRegressor(**xgb_params()).fit(x, df["value"])
    model.save_model(tmp_path / "r.json")
    teacher = build_table_teacher(spec("xgboost", tmp_path / "r.json"), lambda p: p, SCHEMA, regression=True)
    assert teacher.features.categories[2] == ["pro", "basic", "plus"]
    assert np.allclose(teacher.predict(rows_of(df))["value"], model.predict(x), atol=1e-5)


def test_xgboost_multiclass_softprob_and_softmax_give_the_same_probabilities(tmp_path):
    df = table(seed=7)
    y = df["multi"].map({"high": 0, "low": 1, "mid": 2})
    labels = ["high", "low", "mid"]
    model = xgb.XGBClassifier(**xgb_params()).fit(x_of(df), y)
    model.save_model(tmp_path / "prob.json")
    teacher = build_table_teacher(spec("xgboost", tmp_path / "prob.json", labels), lambda p: p, SCHEMA)
    assert teacher.description.endswith("(3 classes)")
    assert np.allclose(teacher.predict(rows_of(df))["probs"], model.predict_proba(x_of(df)), atol=1e-6)
    # multi:softmax keeps only the class in its answer; the teacher reads its margins, which softmax makes the same
    # probabilities as multi:softprob's (the same trees: the same loss).
    data = xgb.DMatrix(x_of(df), y, enable_categorical=True)
    params = {"num_class": 3, "max_depth": 3, "tree_method": "hist", "max_cat_to_onehot": 1, "nthread": 1}
    hard = xgb.train({**params, "objective": "multi:softmax"}, data, 10)
    soft = xgb.train({**params, "objective": "multi:softprob"}, data, 10)
    hard.save_model(tmp_path / "hard.json")
    teacher = build_table_teacher(spec("xgboost", tmp_path / "hard.json", labels), lambda p: p, SCHEMA)
    assert np.allclose(teacher.predict(rows_of(df))["probs"], soft.predict(data), atol=1e-5)


def test_xgboost_without_stored_categories_or_names_reads_the_options(tmp_path):
    df = table(seed=8)
    codes = x_of(df).assign(plan=df["plan"].cat.codes.astype(float)).to_numpy()
    data = xgb.DMatrix(codes, df["value"], feature_types=["float", "float", "c"], enable_categorical=True)
    booster = xgb.train({"max_depth": 3, "tree_method": "hist", "max_cat_to_onehot": 1, "nthread": 1}, data, 10)
    booster.save_model(tmp_path / "codes.json")
    s = spec("xgboost", tmp_path / "codes.json")
    with pytest.raises(UserError, match="stores no feature names.*teacher.options.columns"):
        build_table_teacher(s, lambda p: p, SCHEMA, regression=True)
    s = spec("xgboost", tmp_path / "codes.json", columns=FEATURES)
    with pytest.raises(UserError, match="does not store which category each code is.*teacher.options.categories.plan"):
        build_table_teacher(s, lambda p: p, SCHEMA, regression=True)
    s = spec("xgboost", tmp_path / "codes.json", columns=FEATURES, categories={"plan": PLANS})
    teacher = build_table_teacher(s, lambda p: p, SCHEMA, regression=True)
    assert np.allclose(teacher.predict(rows_of(df))["value"], booster.predict(data), atol=1e-5)


def test_xgboost_errors_name_the_key_the_column_and_the_file(tmp_path):
    df = table(seed=9)
    model = xgb.XGBClassifier(**xgb_params()).fit(x_of(df), (df["binary"] == "stay").astype(int))
    model.save_model(tmp_path / "m.json")
    build = build_table_teacher
    with pytest.raises(UserError, match="XGBoost model does not store its class names; list them in teacher.labels"):
        build(spec("xgboost", tmp_path / "m.json"), lambda p: p, SCHEMA)
    with pytest.raises(UserError, match="teacher.labels lists 3 classes .* has 2"):
        build(spec("xgboost", tmp_path / "m.json", ["a", "b", "c"]), lambda p: p, SCHEMA)
    no_fee = TableSchema([c for c in SCHEMA.columns if c.name != "monthly fee"])
    with pytest.raises(UserError, match="column 'monthly fee'.*data.drop"):
        build(spec("xgboost", tmp_path / "m.json", ["leave", "stay"]), lambda p: p, no_fee)
    with pytest.raises(UserError, match="binary:logistic.*tabular-classification"):
        build(spec("xgboost", tmp_path / "m.json"), lambda p: p, SCHEMA, regression=True)
    (tmp_path / "bad.json").write_text('{"learner": "cut sh')
    with pytest.raises(UserError, match="bad.json: not an XGBoost model in JSON or UBJSON.*save_model"):
        build(spec("xgboost", tmp_path / "bad.json", ["a", "b"]), lambda p: p, SCHEMA)
    with pytest.raises(UserError, match="teacher kind xgboost answers table rows"):
        build_teacher(spec("xgboost", tmp_path / "m.json", ["leave", "stay"]))


def test_a_builtin_path_names_the_builtin_and_is_guarded_where_none_are_installed(monkeypatch):
    s = TeacherSpec(kind="lightgbm", path="builtin:no-such-model", labels=["No", "Yes"])
    with pytest.raises(UserError, match="builtin:no-such-model"):
        build_table_teacher(s, lambda p: p, SCHEMA)
    monkeypatch.setitem(sys.modules, "understudy.data.builtin_tables", None)  # an understudy without them
    with pytest.raises(UserError, match="no built-in table models; give the path of the LightGBM model file"):
        build_table_teacher(s, lambda p: p, SCHEMA)
