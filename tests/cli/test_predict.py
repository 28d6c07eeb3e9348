"""`understudy predict`: texts or a file in, the student's calibrated answers and the oversight decision out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_builders import explain
from typer.testing import CliRunner
from use_builders import tiny_run

import understudy
from understudy.cli.main import app

TEXTS = ["great coffee, lovely and fresh", "awful tea [bold]stale[/bold]"]


@pytest.fixture
def run(tmp_path_factory, tiny_st, tiny_head):
    return tiny_run(tmp_path_factory, tiny_st, tiny_head)


def said(result) -> str:
    """The output on one line: rich wraps at 80 columns under CliRunner, at a space."""
    return " ".join(result.output.split())


def invoke(*args):
    return CliRunner().invoke(app, ["predict", *map(str, args)])


def test_texts_as_arguments_print_a_plain_table_or_json_lines(run):
    model = understudy.load(run)
    result = invoke(run, *TEXTS)
    assert result.exit_code == 0, explain(result)
    assert "[bold]stale[/bold]" in said(result)  # the user's text as written, never markup
    for label in model.predict(TEXTS):
        assert label in result.output
    assert "defer_to_human" in result.output

    result = invoke(run, *TEXTS, "--json")
    assert result.exit_code == 0, explain(result)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    probs = model.predict_proba(TEXTS)
    assert [r["text"] for r in rows] == TEXTS and [r["label"] for r in rows] == model.predict(TEXTS)
    for row, p in zip(rows, probs):
        np.testing.assert_allclose([row[f"p_{label}"] for label in model.labels], p, atol=1e-6)
        assert row["confidence"] == pytest.approx(p.max(), abs=1e-6)
    assert [r["defer_to_human"] for r in rows] == model.defer(TEXTS)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_file_comes_back_in_its_format_with_its_columns_and_the_answers(run, tmp_path, suffix):
    model = understudy.load(run)
    table = pd.DataFrame({"id": ["a", "b"], "text": TEXTS, "label": ["great", "other"]})
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    write(table, source)
    result = invoke(run, "--input", source, "--output", out)
    assert result.exit_code == 0, explain(result)
    assert "input_label" in said(result)  # the file's own label column is kept, renamed, and said so
    got = read(out)
    expected = ["id", "text", "input_label", "label", "confidence", *(f"p_{x}" for x in model.labels)]
    assert list(got.columns) == [*expected, "defer_to_human"]
    assert list(got["id"]) == ["a", "b"] and list(got["input_label"]) == ["great", "other"]
    assert list(got["label"]) == model.predict(TEXTS)
    np.testing.assert_allclose(
        got[[f"p_{x}" for x in model.labels]].to_numpy(float), model.predict_proba(TEXTS), atol=1e-9
    )
    assert [str(v).lower() == "true" for v in got["defer_to_human"]] == model.defer(TEXTS)


def test_the_text_column_defaults_to_the_recipes_and_can_be_named(run, tmp_path):
    source = tmp_path / "in.csv"
    pd.DataFrame({"body": TEXTS}).to_csv(source, index=False)
    result = invoke(run, "--input", source)
    assert result.exit_code == 2 and "no column 'text'" in said(result) and "--text-column" in result.output
    result = invoke(run, "--input", source, "--text-column", "body", "--json")
    assert result.exit_code == 0, explain(result)
    assert [json.loads(line)["body"] for line in result.stdout.splitlines()] == TEXTS


def test_bad_input_names_the_file_the_row_and_the_fix(run, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text('text\nfine\n"  "\n', encoding="utf-8")
    result = invoke(run, "--input", empty)
    assert result.exit_code == 2 and f"{empty} line 3: the text is empty" in said(result)

    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"text": "fine"}\n{"text": ["a", "list"]}\n', encoding="utf-8")
    result = invoke(run, "--input", jsonl)
    assert result.exit_code == 2 and f"{jsonl} line 2: column 'text'" in said(result)

    result = invoke(run, "--input", tmp_path / "missing.csv")
    assert result.exit_code == 2 and "file not found" in said(result)
    result = invoke(run, "fine", "--output", tmp_path / "out.xlsx")
    assert result.exit_code == 2 and "unknown file type '.xlsx'" in said(result)
    result = invoke(run, "fine", "--output", tmp_path / "no" / "out.csv")
    assert result.exit_code == 2 and "does not exist" in said(result)
    result = invoke(run, "")
    assert result.exit_code == 2 and "text argument 1: the text is empty" in said(result)
    assert "give each argument a text" in said(result) and "row" not in said(result)  # an argument is no row
    result = invoke(run)
    assert result.exit_code == 2 and "nothing to classify" in said(result)
    result = invoke(run, "fine", "--input", empty)
    assert result.exit_code == 2 and "not both" in said(result)
    result = invoke(tmp_path / "nowhere", "fine")
    assert result.exit_code == 2 and "does not exist" in said(result)
    assert "Traceback" not in result.output  # an error is one message, never a traceback


def test_the_table_never_cuts_a_header_and_counts_texts_in_words(run):
    model = understudy.load(run)
    headers = ["label", "confidence", *(f"p_{x}" for x in model.labels), "defer_to_human"]
    for texts in ([TEXTS[0]], TEXTS, [TEXTS[0] + " and the rest of a long complaint about the parcel" * 3]):
        result = invoke(run, *texts)  # CliRunner's terminal is 80 columns wide
        assert result.exit_code == 0, explain(result)
        words = result.output.replace("┃", " ").replace("│", " ").split()
        for header in headers:
            assert header in words, (header, result.output)  # whole, never 'confiden' then 'ce'
        n = len(texts)
        assert f"{model.name}: {n} text{'s' if n > 1 else ''}" in result.output
        assert f"{model.name}: 1 texts" not in result.output


def test_a_blocked_run_is_refused_unless_allowed_and_then_warned_on_stderr(run, tmp_path):
    from use_builders import copy_run

    blocked = copy_run(run, tmp_path)
    report = json.loads((blocked / "report.json").read_text())
    report["gates"]["verdict"] = "BLOCK"
    (blocked / "report.json").write_text(json.dumps(report))

    result = invoke(blocked, "fine")
    assert result.exit_code == 3, explain(result)  # as `serve` refuses it, and as every BLOCK exits
    assert "blocked" in said(result) and "--allow-blocked" in said(result) and "Traceback" not in result.output

    result = invoke(blocked, "fine", "--allow-blocked", "--json")
    assert result.exit_code == 0, explain(result)
    assert "warning:" in result.stderr and "blocked" in result.stderr and "do not rely" in result.stderr
    assert json.loads(result.stdout)["label"] in understudy.load(run).labels  # stdout keeps only the answers
    assert "warning" not in invoke(run, "fine").output  # a run that passed: no warning


def write(table: pd.DataFrame, path) -> None:
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        path.write_text(table.to_json(orient="records", lines=True) + "\n", encoding="utf-8")
    else:
        table.to_parquet(path, index=False)


def read(path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_parquet(path)
