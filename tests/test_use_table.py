"""understudy.load for a table student: a row dict in, one answer out; lists of dicts and DataFrames in, one answer
per row; wrong inputs refused naming the feature columns. Also the builders the table serve and predict tests share:
a TreeStudent fitted here on a tiny table (with a policy that defers the unsure rows), and one real table run."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tables_builders import LABELS, STAYS, SURE, UNSURE, table_run, table_student_folder

import understudy
from understudy.errors import UserError
from understudy.use import RowWarning


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return table_student_folder(tmp_path_factory.mktemp("table-student") / "student")


def test_one_row_gives_one_answer_and_a_batch_one_per_row(folder):
    model = understudy.load(folder)
    assert model.task == "tabular-classification" and model.features == ["tenure", "contract", "charges"]
    assert model.labels == LABELS and "3 feature columns" in repr(model)
    assert model.predict(SURE) == "Yes" and model.predict(STAYS) == "No"
    one = model.predict_proba(SURE)
    assert one.shape == (2,) and one[1] > 0.9
    assert model.defer(SURE) is False and model.defer(UNSURE) is True  # 0.65 is below the policy's 0.8
    batch = [SURE, UNSURE, STAYS]
    assert model.predict(batch) == ["Yes", "Yes", "No"]
    assert model.defer(batch) == [False, True, False]
    frame = pd.DataFrame(batch)
    np.testing.assert_allclose(model.predict_proba(frame), model.predict_proba(batch))
    assert model.predict(frame.iloc[2]) == "No"  # a Series is one row
    assert model.predict([]) == [] and model.predict_proba([]).shape == (0, 2)


def test_missing_values_and_unseen_categories_are_read_as_the_student_reads_them(folder):
    model = understudy.load(folder)
    gap = {**UNSURE, "tenure": None}
    assert model.predict_proba(gap).tolist() == model.predict_proba({**UNSURE, "tenure": float("nan")}).tolist()
    frame = pd.DataFrame([gap, UNSURE])  # NaN in a DataFrame is a missing value, as pandas means it
    np.testing.assert_allclose(model.predict_proba(frame)[0], model.predict_proba(gap))
    with pytest.warns(RowWarning, match="'Three year' is a category the student never saw"):
        unseen = model.predict_proba({**STAYS, "contract": "Three year"})
    np.testing.assert_allclose(unseen, model.predict_proba({**STAYS, "contract": None}))  # none of the known ones
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole record, id and target too: no warning for the extra keys
        assert model.predict({**SURE, "customer": "c7", "churn": "Yes"}) == "Yes"


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            "a text",
            "reads table rows, not text: give a row as a dict {column: value} with the student's feature "
            "columns ('tenure', 'contract', 'charges')",
        ),
        (["a text", "another"], "rows[0] is a text, not a row: this student reads table rows, not texts"),
        (42, "not the number 42"),
        ({"tenure": 3.0, "charges": 20.0}, "row: no value for the feature column 'contract'"),
        ({"Tenure": 3.0, "contract": "One year", "charges": 20.0}, "did you mean 'Tenure' for 'tenure'?"),
        ({**SURE, "tenure": "3"}, "row: column 'tenure': the text '3' is not a number"),
        ({**SURE, "tenure": float("inf")}, "row: column 'tenure': Infinity is not a finite number"),
        ({**SURE, "contract": 2}, "row: column 'contract': the number 2 is not text"),
        ([SURE, [1, 2, 3]], "rows[1] is a list, not a dict"),
        (pd.DataFrame([{"tenure": 1.0, "charges": 2.0}]), "the DataFrame: no column 'contract'"),
        (pd.DataFrame([SURE, {**SURE, "charges": "lots"}]), "row 1: column 'charges': the text 'lots' is not a number"),
    ],
)
def test_wrong_inputs_say_what_a_table_student_takes(folder, given, said):
    model = understudy.load(folder)
    with pytest.raises(UserError) as err:
        model.predict(given)
    assert said in str(err.value)


def test_a_regression_answers_numbers_and_has_nothing_to_defer(tmp_path):
    model = understudy.load(table_student_folder(tmp_path / "spend", regression=True))
    assert model.task == "tabular-regression" and model.labels is None and model.policy is None
    value = model.predict(SURE)
    assert isinstance(value, float) and 80 < value < 110  # charges 90 at tenure 3: about 94
    assert model.predict([SURE, STAYS]) == [value, model.predict(STAYS)]
    with pytest.raises(UserError, match="regression student: it answers numbers"):
        model.predict_proba(SURE)
    with pytest.raises(UserError, match="regression student: it has no oversight policy"):
        model.defer(SURE)


def test_a_real_table_run_loads_with_its_verdict_and_answers_its_own_evaluation_rows(tmp_path_factory):
    run = table_run(tmp_path_factory)
    model = understudy.load(run)
    assert model.run == run and model.verdict in ("PASS", "WARN")
    table = pd.read_csv(run.parent / "data" / "table.csv")
    answers = model.predict(table)  # the whole file: customer and churn are not features, and are ignored
    assert len(answers) == len(table) and set(answers) <= set(model.labels)
    assert np.mean(np.array(answers) == table["churn"].to_numpy()) > 0.7
