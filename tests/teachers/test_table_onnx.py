"""The ONNX table teacher: scikit-learn models exported with skl2onnx in both shapes (one float matrix, one input
per column), run by ONNX Runtime, answering as the scikit-learn model does; the errors say what to fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from understudy.errors import UserError
from understudy.modalities.table import Column, Rows, TableSchema
from understudy.recipe import TeacherSpec
from understudy.teachers import build_teacher
from understudy.teachers.tabular import build_table_teacher

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
from skl2onnx import convert_sklearn, to_onnx  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType, StringTensorType  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402

PLANS = ["basic", "plus", "pro"]


def table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fee = rng.uniform(20, 120, n)
    tenure = rng.integers(0, 72, n).astype(float)
    plan = rng.choice(PLANS, n)
    score = 0.03 * (fee - 70) - 0.04 * tenure + np.select([plan == "basic", plan == "pro"], [2.0, -2.0])
    score = score + rng.normal(0, 0.3, n)
    return pd.DataFrame(
        {
            "fee": fee,
            "tenure": tenure,
            "plan": plan,
            "binary": np.where(score > 0, "leave", "stay"),
            "multi": np.select([score < -1, score > 1], ["low", "high"], "mid"),
            "value": score,
        }
    )


NUMERIC = TableSchema([Column("tenure", "numeric"), Column("fee", "numeric")])  # the table's order: tenure first
MIXED = TableSchema([Column("plan", "categorical", PLANS), Column("tenure", "numeric"), Column("fee", "numeric")])


def save(model, path):
    path.write_bytes(model.SerializeToString())
    return path


def spec(path, labels=None, **options) -> TeacherSpec:
    return TeacherSpec(kind="onnx", path=str(path), labels=labels, options=options)


def per_column(pipe, frame: pd.DataFrame):
    types = [
        ("plan", StringTensorType([None, 1])),
        ("tenure", FloatTensorType([None, 1])),
        ("fee", FloatTensorType([None, 1])),
    ]
    return convert_sklearn(pipe, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3})


def mixed_pipeline(model):
    prep = ColumnTransformer(
        [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]), ("num", SimpleImputer(), ["tenure", "fee"])]
    )
    return make_pipeline(prep, model)


def test_one_float_matrix_with_zipmap_names_its_classes_and_takes_the_columns_in_order(tmp_path):
    df = table()
    x = df[["fee", "tenure"]].to_numpy(np.float32)  # the model's order: fee, tenure
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, df["multi"])
    path = save(to_onnx(model, x[:1]), tmp_path / "g.onnx")
    rows = Rows(NUMERIC.frame(df))
    # The table lists tenure first; without teacher.options.columns the model would read its columns swapped.
    teacher = build_table_teacher(spec(path, columns=["fee", "tenure"]), lambda p: p, NUMERIC)
    assert teacher.labels == list(model.classes_) and teacher.description == "ONNX model g.onnx (3 classes)"
    probs = teacher.predict(rows)["probs"]
    assert probs.shape == (len(df), 3) and np.allclose(probs, model.predict_proba(x), atol=1e-5)
    as_listed = build_table_teacher(spec(path), lambda p: p, NUMERIC)
    swapped = as_listed.predict(rows)["probs"]
    assert not np.allclose(swapped, probs, atol=1e-3) and swapped.shape == probs.shape
    # teacher.labels in another order: the columns follow it.
    order = ["mid", "high", "low"]
    again = build_table_teacher(spec(path, order, columns=["fee", "tenure"]), lambda p: p, NUMERIC)
    expected = pd.DataFrame(model.predict_proba(x), columns=model.classes_)[order].to_numpy()
    assert again.labels == order and np.allclose(again.predict(rows)["probs"], expected, atol=1e-5)
    assert again.fingerprint == teacher.fingerprint != as_listed.fingerprint and teacher.files == [path]


def test_a_probability_tensor_reads_its_classes_from_the_graph(tmp_path):
    df = table(seed=1)
    x = df[["tenure", "fee"]].to_numpy(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, df["binary"])
    path = save(to_onnx(model, x[:1], options={"zipmap": False}), tmp_path / "t.onnx")
    teacher = build_table_teacher(spec(path), lambda p: p, NUMERIC)
    assert teacher.labels == ["leave", "stay"]
    assert np.allclose(teacher.predict(list(Rows(NUMERIC.frame(df))))["probs"], model.predict_proba(x), atol=1e-5)
    flipped = build_table_teacher(spec(path, ["stay", "leave"]), lambda p: p, NUMERIC)
    assert np.allclose(flipped.predict(Rows(NUMERIC.frame(df)))["probs"], model.predict_proba(x)[:, ::-1], atol=1e-5)
    with pytest.raises(UserError, match="teacher.labels .* are not the classes"):
        build_table_teacher(spec(path, ["yes", "no"]), lambda p: p, NUMERIC)


def test_one_input_per_column_with_strings_for_categories(tmp_path):
    df = table(seed=2)
    df.loc[::17, "fee"] = np.nan  # missing numbers reach the exported imputer as NaN
    x = df[["plan", "tenure", "fee"]]
    pipe = mixed_pipeline(LogisticRegression(max_iter=500)).fit(x, df["binary"])
    path = save(per_column(pipe, x), tmp_path / "p.onnx")
    teacher = build_table_teacher(spec(path), lambda p: p, MIXED)
    rows = Rows(MIXED.frame(df))
    assert np.allclose(teacher.predict(rows)["probs"], pipe.predict_proba(x), atol=1e-5)
    unseen = df.head(10).assign(plan="enterprise")  # the one-hot encoder ignores a plan it never saw, as in sklearn
    got = teacher.predict(Rows(MIXED.frame(unseen)))["probs"]
    assert np.allclose(got, pipe.predict_proba(unseen[["plan", "tenure", "fee"]]), atol=1e-5)


def test_regression_in_both_shapes(tmp_path):
    df = table(seed=3)
    x = df[["tenure", "fee"]].to_numpy(np.float32)
    forest = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(x, df["value"])
    path = save(to_onnx(forest, x[:1]), tmp_path / "rf.onnx")
    teacher = build_table_teacher(spec(path), lambda p: p, NUMERIC, regression=True)
    assert teacher.provides == frozenset({"value"}) and teacher.description == "ONNX model rf.onnx (regression)"
    values = teacher.predict(Rows(NUMERIC.frame(df)))["value"]
    assert values.shape == (len(df),) and np.allclose(values, forest.predict(x), atol=1e-4)

    cols = df[["plan", "tenure", "fee"]]
    pipe = mixed_pipeline(Ridge()).fit(cols, df["value"])
    path = save(per_column(pipe, cols), tmp_path / "ridge.onnx")
    teacher = build_table_teacher(spec(path), lambda p: p, MIXED, regression=True)
    assert np.allclose(teacher.predict(Rows(MIXED.frame(df)))["value"], pipe.predict(cols), atol=1e-3)


def test_onnx_errors_say_what_to_fix(tmp_path):
    df = table(seed=4)
    x = df[["tenure", "fee"]].to_numpy(np.float32)
    clf = save(to_onnx(GradientBoostingClassifier(n_estimators=5).fit(x, df["binary"]), x[:1]), tmp_path / "c.onnx")
    with pytest.raises(UserError, match="categorical columns \\(plan\\).*one input per column"):
        build_table_teacher(spec(clf), lambda p: p, MIXED)
    with pytest.raises(UserError, match="names categorical columns \\(plan\\)"):
        build_table_teacher(spec(clf, columns=["plan", "fee"]), lambda p: p, MIXED)
    with pytest.raises(UserError, match="takes 2 columns.*3 are given"):
        build_table_teacher(spec(clf, columns=["tenure", "fee", "tenure"]), lambda p: p, NUMERIC)
    with pytest.raises(UserError, match="is a classifier .*tabular-classification"):
        build_table_teacher(spec(clf), lambda p: p, NUMERIC, regression=True)
    cols = df[["plan", "tenure", "fee"]]
    pipe = save(per_column(mixed_pipeline(Ridge()).fit(cols, df["value"]), cols), tmp_path / "r.onnx")
    no_plan = TableSchema([Column("tenure", "numeric"), Column("fee", "numeric"), Column("zone", "categorical")])
    with pytest.raises(UserError, match="input 'plan'.* names column 'plan'.*data.drop"):
        build_table_teacher(spec(pipe), lambda p: p, no_plan, regression=True)
    tenure_text = TableSchema(
        [Column("plan", "categorical"), Column("tenure", "categorical"), Column("fee", "numeric")]
    )
    with pytest.raises(UserError, match="input 'tenure' takes numbers.*data.numeric"):
        build_table_teacher(spec(pipe), lambda p: p, tenure_text, regression=True)
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage that is no protobuf")
    with pytest.raises(UserError, match="bad.onnx: ONNX Runtime cannot load it"):
        build_table_teacher(spec(tmp_path / "bad.onnx"), lambda p: p, NUMERIC)
    with pytest.raises(UserError, match="does not read threds"):
        build_table_teacher(spec(clf, threds=1), lambda p: p, NUMERIC)
    with pytest.raises(UserError, match="teacher kind onnx answers table rows"):
        build_teacher(spec(clf))
