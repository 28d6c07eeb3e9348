"""Text from the user's files and from servers reaches the terminal as plain text, never as rich markup: a column,
a label, a path or a server's error holding '[/x]', '[bold]' or '[red]' is printed as it is, and nothing crashes."""

from __future__ import annotations

import json

from api_server import FakeLLM
from cli_builders import explain, flat, recipe_lines, write_recipe
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app

LABEL = "[bold]x[/bold]"


def api_lines(url: str, st, labels: str = f"['{LABEL}', other]") -> list[str]:
    return [
        "name: plain",
        "teacher:",
        "  kind: openai-api",
        f"  labels: {labels}",
        "  licence: apache-2.0",
        "  api:",
        f"    base_url: {url}",
        "    model: 'fake[/]'",
        "    max_in_flight: 3",
        "    timeout_s: 5",
        "    backoff_s: 0.01",
        "    backoff_max_s: 0.05",
        "student:",
        "  kind: static",
        f"  base: {st}",
        "  pca_dims: 16",
        "  vocabulary_size: 50",
        "data:",
        "  transfer: {path: data/transfer.csv}",
        "  evaluation: {path: data/eval.csv, label_column: label}",
        "training: {epochs: 2, gold_weight: 0.0}",
        "evaluation: {bootstrap: 20, speed_texts: 8, measure_memory: false}",
        "safety: {robustness_texts: 8, counterfactual_texts: 8}",
        "gates: {min_retention: 0.0, min_speedup: null, max_size_ratio: null}",
    ]


def api_data(folder, great: str = LABEL) -> None:
    transfer = review_rows(30, seed=51)
    write_csv(folder / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    rows = review_rows(16, seed=52, exclude={t for t, _ in transfer})
    write_csv(folder / "data" / "eval.csv", [(t, great if y == "great" else y) for t, y in rows])


def test_a_run_with_markup_in_its_labels_model_name_and_path_goes_through_and_prints_the_path(tmp_path, tiny_st):
    api_data(tmp_path)
    with FakeLLM() as srv:
        recipe = write_recipe(tmp_path, api_lines(srv.url, tiny_st))
        run = tmp_path / "[red]run"
        result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, explain(result)
    assert f"understudy distill: plain (text-classification) -> {run}\n" in result.output  # the first line
    assert f"   report: {run}/report.html" in result.output  # and the verdict line: '[red]' and all
    student = json.loads((run / "student" / "student.json").read_text())
    assert student["labels"] == [LABEL, "other"]


def test_a_column_named_like_a_closing_tag_is_printed_as_it_is(tmp_path, tiny_st, tiny_head):
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "transfer.csv", review_rows(10, seed=1), header=("text", "[/x]"))
    write_csv(tmp_path / "data" / "eval.csv", review_rows(10, seed=2), header=("text", "[/x]"))
    recipe = write_recipe(tmp_path, recipe_lines(tiny_st, tiny_head))
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2, explain(result)
    squeezed = "".join(result.output.split())  # rich wraps long paths anywhere: compare without whitespace
    assert "nocolumn'label'" in squeezed and "'[/x]'" in squeezed
    assert "Traceback" not in result.output and "MarkupError" not in result.output


def test_an_evaluation_label_with_markup_is_named_as_it_is(tmp_path, tiny_st, tiny_head):
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "transfer.csv", review_rows(10, seed=1))
    rows = review_rows(10, seed=2)
    rows[3] = (rows[3][0], LABEL)
    write_csv(tmp_path / "data" / "eval.csv", rows)
    recipe = write_recipe(tmp_path, recipe_lines(tiny_st, tiny_head))
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2, explain(result)
    assert f"label '{LABEL}'" in flat(result.output)
    assert "Traceback" not in result.output


def test_a_server_error_holding_markup_is_printed_as_it_is(tmp_path, tiny_st):
    api_data(tmp_path, great="great")
    message = "no such model [/] here, see [link=x]docs[/link]"
    with FakeLLM(refuse=(404, message)) as srv:
        recipe = write_recipe(tmp_path, api_lines(srv.url, tiny_st, labels="[great, other]"))
        result = CliRunner().invoke(
            app, ["distill", str(recipe), "--out", str(tmp_path / "run")], env={"COLUMNS": "400"}
        )
    assert result.exit_code == 2, explain(result)
    assert message in result.output and "HTTP 404" in result.output
    assert "Traceback" not in result.output


def test_licence_check_prints_a_target_and_a_bad_argument_as_they_are(tmp_path):
    folder = tmp_path / "[red]model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    result = CliRunner().invoke(app, ["licence", "check", str(folder)], env={"COLUMNS": "400"})
    assert result.exit_code in (0, 3, 4), explain(result)
    assert str(folder) in result.output

    bad = CliRunner().invoke(app, ["licence", "check", str(folder), "--use", "[/]"], env={"COLUMNS": "400"})
    assert bad.exit_code == 2, explain(bad)
    assert "--use must be 'commercial' or 'research', not '[/]'" in bad.output
