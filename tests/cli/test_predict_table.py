"""`understudy predict` for a table student: a file of rows (or rows as JSON objects) in, the file's own columns and
the student's answers out; cells parsed as the run's table reader parses them; bad input named by column and row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_builders import explain
from tables_builders import STAYS, SURE, UNSURE, table_run, table_student_folder
from typer.testing import CliRunner

import understudy
from understudy.cli.main import app

ROWS = [SURE, UNSURE, STAYS]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return table_student_folder(tmp_path_factory.mktemp("predict-table") / "student", threshold=0.8)


def said(result) -> str:
    return " ".join(result.output.split())


def invoke(*args, width: int = 80):
    return CliRunner().invoke(app, ["predict", *map(str, args)], env={"COLUMNS": str(width)})


def write(table: pd.DataFrame, path):
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True)
    else:
        table.to_parquet(path, index=False)


def read(path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_parquet(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_file_of_rows_comes_back_with_its_columns_and_the_answers(folder, tmp_path, suffix):
    model = understudy.load(folder)
    table = pd.DataFrame([{"id": f"c{i}", **row} for i, row in enumerate(ROWS)])
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    write(table, source)
    result = invoke(folder, "--input", source, "--output", out)
    assert result.exit_code == 0, explain(result)
    got = read(out)
    expected = ["id", "tenure", "contract", "charges", "label", "confidence", "p_No", "p_Yes", "defer_to_human"]
    assert list(got.columns) == expected and list(got["id"]) == ["c0", "c1", "c2"]
    assert list(got["label"]) == model.predict(ROWS)
    np.testing.assert_allclose(got[["p_No", "p_Yes"]].to_numpy(float), model.predict_proba(ROWS), atol=1e-6)
    assert [str(v).lower() == "true" for v in got["defer_to_human"]] == model.defer(ROWS) == [False, True, False]


def test_cells_are_read_as_the_runs_reader_reads_them(tmp_path_factory, tmp_path):
    run = table_run(tmp_path_factory)
    model = understudy.load(run)
    source = tmp_path / "in.csv"
    source.write_text(
        "customer,tenure,contract,monthly_charges,senior\n"
        "a,2,Month-to-month,99.5,0\n"
        "b,NA,Month-to-month,99.5,0\n"  # NA: one of the recipe's missing-value cells
        "c,,Month-to-month,99.5,0\n",
        encoding="utf-8",
    )
    result = invoke(run, "--input", source, "--json")
    assert result.exit_code == 0, explain(result)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["customer"] for r in rows] == ["a", "b", "c"]
    gap = {"tenure": None, "contract": "Month-to-month", "monthly_charges": 99.5, "senior": 0.0}
    assert rows[0]["label"] == model.predict({**gap, "tenure": 2.0})
    assert rows[1]["p_Yes"] == pytest.approx(float(model.predict_proba(gap)[1]), abs=1e-6)
    assert rows[1]["p_Yes"] == rows[2]["p_Yes"]  # 'NA' and an empty cell are both a missing value


def test_rows_as_json_arguments_and_a_plain_table(folder):
    rows = [json.dumps(SURE), json.dumps({**STAYS, "contract": "[bold]Three[/bold] year"})]
    result = invoke(folder, *rows, width=160)  # wide enough for each row's line whole
    assert result.exit_code == 0, explain(result)
    out = said(result)
    assert "student: 2 rows" in out
    assert "tenure=3, contract=Month-to-month, charges=90" in out
    assert "[bold]Three[/bold] year" in out  # the user's category as written, never markup
    assert "is a category the student never saw" in out  # said, and answered as none of the known ones
    for header in ("label", "confidence", "p_No", "p_Yes", "defer_to_human"):
        assert header in result.output.replace("┃", " ").replace("│", " ").split()


def test_a_regression_writes_its_value(tmp_path):
    folder = table_student_folder(tmp_path / "spend", regression=True)
    result = invoke(folder, json.dumps(SURE), "--json")
    assert result.exit_code == 0, explain(result)
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["value"] == pytest.approx(understudy.load(folder).predict(SURE)) and "label" not in row


def test_bad_input_names_the_file_the_column_and_the_row(folder, tmp_path):
    missing = tmp_path / "missing.csv"
    pd.DataFrame([{"Tenure": 1, "contract": "One year"}]).to_csv(missing, index=False)
    result = invoke(folder, "--input", missing)
    assert result.exit_code == 2, explain(result)
    assert f"--input {missing}: no columns 'tenure', 'charges' (did you mean 'Tenure' for 'tenure'?)" in said(result)

    bad = tmp_path / "bad.csv"
    bad.write_text("tenure,contract,charges\n3,One year,20\n4,One year,lots\n", encoding="utf-8")
    result = invoke(folder, "--input", bad)
    assert result.exit_code == 2
    assert f"{bad} row 2 (line 3): column 'charges': 'lots' is not a number, but the column is numeric" in said(result)

    result = invoke(folder, "my order never arrived")
    assert result.exit_code == 2 and "is a table student and reads rows, not texts" in said(result)
    assert "--input FILE" in said(result) and '"contract": "Month-to-month"' in said(result)  # an example that works
    result = invoke(folder, json.dumps({**SURE, "tenure": "3"}))
    assert result.exit_code == 2 and "argument 1: column 'tenure': the text '3' is not a number" in said(result)
    result = invoke(folder, "--input", bad, "--text-column", "contract")
    assert result.exit_code == 2 and "--text-column is for text students" in said(result)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    result = invoke(folder, "--input", empty)
    assert result.exit_code == 2 and "holds no JSON lines" in said(result)
    assert "Traceback" not in result.output
