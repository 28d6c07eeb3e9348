"""The CLI end to end on a tiny encoder teacher and a static student, offline, through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_builders import explain, flat, recipe_lines, write_recipe
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli import exits
from understudy.cli.main import app


@pytest.fixture(scope="module")
def work(tmp_path_factory, tiny_st, tiny_head):
    """A folder with data and a recipe, and the first `understudy distill` run in it."""
    folder = tmp_path_factory.mktemp("cli")
    transfer = review_rows(60, seed=11)
    evaluation = review_rows(30, seed=12, exclude={t for t, _ in transfer})
    write_csv(folder / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(folder / "data" / "eval.csv", evaluation)
    recipe = write_recipe(folder, recipe_lines(tiny_st, tiny_head))
    run = folder / "runs" / "tiny"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run)])
    return {"folder": folder, "recipe": recipe, "run": run, "first": result, "st": tiny_st, "head": tiny_head}


def test_distill_writes_the_run_folder(work):
    result, run = work["first"], work["run"]
    assert result.exit_code == 0, explain(result)
    for name in ("recipe.yaml", "teacher.sqlite", "student/student.json", "report.json", "report.html"):
        assert (run / name).is_file(), name

    resolved = yaml.safe_load((run / "recipe.yaml").read_text())
    assert resolved["training"]["learning_rate"] == pytest.approx(3e-3)  # the static default, filled in
    assert resolved["training"]["epochs"] == 5
    assert resolved["training"]["embedding_loss"] == "cosine"  # auto: the encoder gives embeddings
    assert resolved["student"]["name"] == "tiny-student"

    student = json.loads((run / "student" / "student.json").read_text())
    assert student["kind"] == "static" and student["labels"] == ["great", "other"]

    report = json.loads((run / "report.json").read_text())
    for key in ("teacher", "student", "comparison", "gates", "labelling", "data", "timings"):
        assert key in report, key
    comparison = report["comparison"]
    for key in ("retention", "speedup", "size_ratio", "agreement"):
        assert key in comparison, key
    assert comparison["speedup"] > 0 and comparison["size_ratio"] > 0
    assert report["gates"]["verdict"] in ("PASS", "WARN")
    assert report["labelling"]["texts"] == 90 and report["labelling"]["asked"] == 90
    assert report["data"]["transfer"]["rows_used"] == 60 and report["data"]["evaluation"]["rows_used"] == 30
    assert report["student"]["training"]["epochs_run"] >= 1
    assert report["student"]["peak_memory_mb"] is None  # measure_memory: false
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "tiny" in html
    assert "verdict" in result.output.lower()

    # Safe to ship? measured side by side, and the papers written from the measurements.
    assert report["calibration"]["student"]["temperature"] > 0
    assert set(report["robustness"]["perturbations"]) >= {"typos", "truncated"}
    assert "categories" in report["counterfactual"]
    assert "oversight" not in report  # the general sector does not ask for it
    names = {g["name"] for g in report["gates"]["results"]}
    assert {"licence", "max_robustness_drop", "max_counterfactual_flip_rate"} <= names
    for paper in (
        "compliance.html",
        "compliance.md",
        "licence.json",
        "student/README.md",
        "student/NOTICE",
        "student/LICENSE",
        "student/calibration.json",
    ):
        assert (run / paper).is_file(), paper
    assert "not legal advice" in (run / "compliance.md").read_text().lower()


def test_json_rerun_reuses_the_store(work):
    result = CliRunner().invoke(app, ["distill", str(work["recipe"]), "--out", str(work["run"]), "--json", "--quiet"])
    assert result.exit_code == 0, explain(result)
    report = json.loads(result.stdout)  # stdout holds only the JSON
    assert report["labelling"]["asked"] == 0
    assert report["labelling"]["reused"] == 90
    assert report["gates"]["verdict"] in ("PASS", "WARN")
    on_disk = json.loads((work["run"] / "report.json").read_text())
    assert report["created"] == on_disk["created"] and report["labelling"] == on_disk["labelling"]


def test_report_command_re_renders_html(work):
    run = work["run"]
    (run / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, explain(result)
    assert (run / "report.html").is_file() and (run / "report.html").stat().st_size > 1000
    assert "verdict" in result.output.lower()

    as_json = CliRunner().invoke(app, ["report", str(run), "--json"])
    assert as_json.exit_code == 0, explain(as_json)
    assert json.loads(as_json.stdout)["run"]["name"] == "tiny"

    missing = CliRunner().invoke(app, ["report", str(work["folder"] / "no-such-run")])
    assert missing.exit_code == 2 and "report.json" in missing.output and "Traceback" not in missing.output


def test_impossible_gate_blocks_with_exit_3(work):
    recipe = write_recipe(work["folder"], recipe_lines(work["st"], work["head"], min_retention=5.0), "blocked.yaml")
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(work["run"]), "--quiet"])
    assert result.exit_code == 3, explain(result)
    assert "BLOCK" in result.output
    report = json.loads((work["run"] / "report.json").read_text())
    assert report["gates"]["verdict"] == "BLOCK"
    gate = next(r for r in report["gates"]["results"] if r["name"] == "min_retention")
    assert gate["passed"] is False and gate["threshold"] == 5.0
    # The same BLOCK, given by `report` and by `serve` refusing the student, exits the same
    assert CliRunner().invoke(app, ["report", str(work["run"])]).exit_code == exits.BLOCK
    keys = str(work["folder"] / "keys.sqlite")
    no_keys = CliRunner().invoke(app, ["serve", str(work["run"]), "--keys", keys])
    assert no_keys.exit_code == exits.USER_ERROR and "api-keys create" in no_keys.output, explain(no_keys)
    assert CliRunner().invoke(app, ["api-keys", "create", "ci", "--keys", keys]).exit_code == 0
    refused = CliRunner().invoke(app, ["serve", str(work["run"]), "--keys", keys])
    assert refused.exit_code == exits.BLOCK and "--allow-blocked" in refused.output, explain(refused)


def test_unknown_key_exits_2_with_one_clear_message(work):
    lines = recipe_lines(work["st"], work["head"])
    lines.insert(18, "  epoks: 3")  # inside 'training:', becomes line 19
    recipe = write_recipe(work["folder"], lines, "typo.yaml")
    out = work["folder"] / "runs" / "typo"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(out)])
    assert result.exit_code == 2, explain(result)
    assert "training.epoks" in flat(result.output)
    assert "typo.yaml:19" in flat(result.output)
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1
    assert not out.exists()  # nothing was started


def test_unknown_key_is_reported_against_recipe_yaml(work, tmp_path):
    lines = recipe_lines(work["st"], work["head"]) + ["studnet: {kind: static}"]
    (tmp_path / "data").mkdir()
    for name in ("transfer.csv", "eval.csv"):
        (tmp_path / "data" / name).write_bytes((work["folder"] / "data" / name).read_bytes())
    recipe = write_recipe(tmp_path, lines)
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, explain(result)
    assert "studnet" in flat(result.output)
    assert f"recipe.yaml:{len(lines)}:" in flat(result.output)
    assert "Traceback" not in result.output


def test_unknown_evaluation_label_exits_2_naming_it(work, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "transfer.csv").write_bytes((work["folder"] / "data" / "transfer.csv").read_bytes())
    rows = review_rows(10, seed=12)
    rows[3] = (rows[3][0], "meh-ish")
    write_csv(tmp_path / "data" / "eval.csv", rows)
    recipe = write_recipe(tmp_path, recipe_lines(work["st"], work["head"]))
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2, explain(result)
    assert "label 'meh-ish'" in flat(result.output)
    assert "eval.csv" in flat(result.output)
    assert "Traceback" not in result.output


def test_run_recipe_yaml_can_be_loaded_again(work):
    from understudy.recipe import load_recipe

    again = load_recipe(work["run"] / "recipe.yaml")
    assert again.training.learning_rate == pytest.approx(3e-3)
    assert Path(again.resolve(again.data.transfer.path)) == (work["folder"] / "data" / "transfer.csv").resolve()


def test_the_command_named_in_the_unknown_key_hint_exists():
    result = CliRunner().invoke(app, ["keys"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "min_retention" in result.output
