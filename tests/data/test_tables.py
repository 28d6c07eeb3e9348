"""Reading tables: the schema, numbers and categories, missing values, the split, and errors that name the cell."""

from __future__ import annotations

import numpy as np
import pytest
from tables_builders import churn_like, write_table

from understudy.data.tables import load_table
from understudy.errors import UserError
from understudy.tasks.tabular_recipe import TableData, TableFile


def data(**kw) -> TableData:
    base = {"transfer": {"path": "x"}, "evaluation": {"path": "x"}, "target": "churn", "drop": ["customer"]}
    return TableData.model_validate({**base, **kw})


def read(path, spec=None, d=None, **kw):
    return load_table(spec or TableFile(path=str(path)), str(path), d or data(), role="transfer", **kw)


def test_the_schema_is_inferred_from_the_values(tmp_path):
    path = write_table(churn_like(40), tmp_path / "t.csv")
    rows, schema = read(path)
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {"tenure": "numeric", "contract": "categorical", "monthly_charges": "numeric", "senior": "numeric"}
    assert schema.column("contract").categories[0] == "Month-to-month"  # most common first
    assert rows.labels[:3] == churn_like(40)["churn"].tolist()[:3]
    assert rows.inputs[0]["tenure"] == float(churn_like(40)["tenure"][0])


def test_a_word_in_a_numeric_column_names_the_column_row_line_and_fix(tmp_path):
    df = churn_like(20)
    df["tenure"] = df["tenure"].astype(object)
    df.loc[7, "tenure"] = "twelve"
    path = write_table(df, tmp_path / "t.csv")
    with pytest.raises(UserError) as err:
        read(path, d=data(numeric=["tenure", "monthly_charges"], categorical=["contract"]))
    said = str(err.value)
    assert "column 'tenure'" in said and "row 8 (line 9)" in said and "'twelve'" in said
    assert "data.missing_values" in said and "data.categorical" in said


def test_missing_values_are_kept_skipped_or_refused(tmp_path):
    df = churn_like(50, missing=0.2)
    path = write_table(df, tmp_path / "t.csv")
    n_missing = int(df["monthly_charges"].isna().sum())
    kept, _ = read(path)
    assert len(kept.inputs) == 50 and sum(r["monthly_charges"] is None for r in kept.inputs) == n_missing
    skipped, _ = read(path, d=data(on_missing="skip"))
    assert len(skipped.inputs) == 50 - n_missing and skipped.skipped == {"missing_value": n_missing}
    with pytest.raises(UserError, match="column 'monthly_charges', row .* is missing and data.on_missing is 'error'"):
        read(path, d=data(on_missing="error"))
    marked = churn_like(10)
    marked["contract"] = marked["contract"].astype(object)
    marked.loc[2, "contract"] = "?"
    rows, _ = read(write_table(marked, tmp_path / "m.csv"))
    assert rows.inputs[2]["contract"] is None  # '?' is one of the default missing values


def test_the_split_is_seeded_disjoint_and_complete(tmp_path):
    path = write_table(churn_like(200), tmp_path / "t.csv")
    train, _ = read(path, TableFile(path=str(path), split="train"))
    test, _ = read(path, TableFile(path=str(path), split="test"))
    again, _ = read(path, TableFile(path=str(path), split="test"))
    assert len(train.inputs) + len(test.inputs) == 200
    assert 30 < len(test.inputs) < 70  # test_fraction 0.25
    assert list(test.inputs) == list(again.inputs)
    other, _ = read(path, TableFile(path=str(path), split="test"), d=data(split_seed=1))
    assert list(other.inputs) != list(test.inputs)


def test_the_evaluation_set_is_read_against_the_schema_and_the_teachers_labels(tmp_path):
    path = write_table(churn_like(30), tmp_path / "t.csv")
    _, schema = read(path)
    bad = churn_like(30)
    bad.loc[4, "churn"] = "Maybe"
    bad_path = write_table(bad, tmp_path / "e.csv")
    with pytest.raises(UserError) as err:
        load_table(
            TableFile(path=str(bad_path)),
            str(bad_path),
            data(),
            role="evaluation",
            schema=schema,
            known_labels=["No", "Yes"],
            require_target=True,
        )
    assert "'Maybe' (1 row, e.g. row 5 (line 6))" in str(err.value) and "['No', 'Yes']" in str(err.value)
    lacking = write_table(churn_like(10).drop(columns=["contract"]), tmp_path / "l.csv")
    with pytest.raises(UserError, match="no column 'contract'"):
        load_table(TableFile(path=str(lacking)), str(lacking), data(), role="evaluation", schema=schema)
    no_target = write_table(churn_like(10).drop(columns=["churn"]), tmp_path / "n.csv")
    with pytest.raises(UserError, match="no column 'churn'"):
        load_table(
            TableFile(path=str(no_target)),
            str(no_target),
            data(),
            role="evaluation",
            schema=schema,
            require_target=True,
        )


def test_the_built_in_breast_cancer_table_reads_offline():
    d = TableData.model_validate(
        {
            "transfer": {"path": "builtin:breast-cancer"},
            "evaluation": {"path": "builtin:breast-cancer"},
            "target": "diagnosis",
        }
    )
    rows, schema = load_table(d.transfer, "builtin:breast-cancer", d, role="transfer")
    assert len(rows.inputs) == 569 and len(schema.features) == 30
    assert set(rows.labels) == {"malignant", "benign"}
    assert all(c.kind == "numeric" for c in schema.columns) and np.isfinite(schema.columns[0].std)


def test_a_column_listed_twice_or_the_target_as_a_feature_is_refused():
    with pytest.raises(ValueError, match="both numeric and categorical"):
        data(numeric=["a"], categorical=["a"])
    with pytest.raises(ValueError, match="cannot be a feature"):
        data(numeric=["churn"])
