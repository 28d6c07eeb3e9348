"""The licence gate is the first stage of `distill`: a BLOCK stops before the teacher is loaded or asked anything."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from cli_builders import explain, recipe_lines, write_recipe
from conftest import review_rows, set_card_licence, write_csv
from typer.testing import CliRunner

from understudy.cli import exits
from understudy.cli.main import app


def data(folder: Path) -> None:
    transfer = review_rows(40, seed=21)
    write_csv(folder / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(folder / "data" / "eval.csv", review_rows(20, seed=22, exclude={t for t, _ in transfer}))


def stored_rows(run: Path) -> int:
    db = run / "teacher.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from outputs").fetchone()[0]


def test_blocked_callable_teacher_is_never_imported_or_called(tmp_path, tiny_st):
    marker = tmp_path / "teacher-was-imported"
    (tmp_path / "teacher.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n"
        "def predict(texts):\n    raise AssertionError('called')\n"
    )
    data(tmp_path)
    lines = [
        ln for ln in recipe_lines(tmp_path, tmp_path) if not ln.startswith(("  kind: encoder", "  path: /", "  head:"))
    ]
    i = lines.index("teacher:")
    lines[i + 1 : i + 1] = [
        "  kind: callable",
        "  target: teacher.py:predict",
        "  labels: [great, other]",
        "  licence: cc-by-nc-4.0",
    ]
    lines[lines.index("  base: teacher")] = f"  base: {tiny_st}"  # a callable teacher has no encoder to start from
    recipe = write_recipe(tmp_path, lines)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run)])
    assert result.exit_code == 3, explain(result)
    assert "BLOCK" in result.output and "commercial" in result.output
    assert not marker.exists(), "the teacher module was imported before the licence gate decided"
    assert stored_rows(run) == 0
    verdict = json.loads((run / "licence.json").read_text())
    assert verdict["verdict"] == "BLOCK" and verdict["evidence"][0]["source"] == "recipe"


def test_unknown_stops_then_runs_with_accepted_risk(tmp_path, tiny_st, tiny_head):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_st, teacher)
    set_card_licence(teacher, None, tags=["internal"])  # a card with no licence tag
    data(tmp_path)
    recipe = write_recipe(tmp_path, recipe_lines(teacher, tiny_head))
    run = tmp_path / "run"
    runner = CliRunner()
    stopped = runner.invoke(app, ["distill", str(recipe), "--out", str(run)])
    assert stopped.exit_code == exits.UNKNOWN, explain(stopped)
    assert "UNKNOWN" in stopped.output and "--accept-licence-risk" in stopped.output.replace("\n", "")
    assert stored_rows(run) == 0

    reason = "our own model, trained in-house in 2025"
    went = runner.invoke(
        app, ["distill", str(recipe), "--out", str(run), "--accept-licence-risk", reason, "--json", "-q"]
    )
    assert went.exit_code == 0, explain(went)
    report = json.loads(went.stdout)
    assert report["licence"]["verdict"] == "UNKNOWN" and report["licence"]["accepted_risk"]["reason"] == reason
    gate = report["gates"]["results"][0]
    assert gate["name"] == "licence" and not gate["passed"] and report["gates"]["verdict"] == "WARN"

    # WARN exits 0; --strict makes it exit 1 (the gate stage again, reusing what the run measured)
    strict = runner.invoke(
        app, ["distill", str(recipe), "--out", str(run), "--accept-licence-risk", reason, "--from", "gate", "--strict"]
    )
    assert strict.exit_code == exits.WARN, explain(strict)
    assert reason in (run / "student" / "NOTICE").read_text()
    assert stored_rows(run) > 0


def test_obligations_reach_the_student_folder(tmp_path, tiny_st, tiny_head):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_st, teacher)
    set_card_licence(teacher, "apache-2.0", base_model="meta-llama/Llama-3.1-8B")  # a fine-tune of Llama 3.1
    data(tmp_path)
    recipe = write_recipe(tmp_path, recipe_lines(teacher, tiny_head))
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "--json", "-q"])
    assert result.exit_code == 0, explain(result)
    report = json.loads(result.stdout)
    assert report["student"]["name"].startswith("Llama-"), report["student"]["name"]
    notice = (run / "student" / "NOTICE").read_text()
    assert "Built with Llama" in notice
    licence = (run / "student" / "LICENSE").read_text()
    assert "Llama 3.1" in licence and "Apache" in licence
    card = (run / "student" / "README.md").read_text()
    assert card.startswith("---") and "license:" in card and "base_model: meta-llama/Llama-3.1-8B" in card
    assert "license_name:" in card and "license_link:" in card
