"""The one flow through the CLI: stages that re-run alone, the lock, and a student served only as evaluated."""

from __future__ import annotations

import json
import os
import socket

import pytest
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.run.folder import RunFolder, student_fingerprint

RECIPE = """\
name: tiny
teacher: {{kind: encoder, path: {st}, head: {head}}}
student: {{kind: static, base: teacher, pca_dims: 16, vocabulary_size: 50}}
data:
  transfer: {{path: data/transfer.csv}}
  evaluation: {{path: data/eval.csv, label_column: label}}
training: {{epochs: 3}}
evaluation: {{bootstrap: 20, speed_texts: 16, measure_memory: false}}
safety: {{counterfactual: false, robustness_texts: 10}}
gates:
  min_retention: 0.0
  min_speedup: {{threshold: 0.0, on_fail: warn}}
  max_size_ratio: {{threshold: 1000.0, on_fail: warn}}
"""


def flat(output: str) -> str:
    """The output without rich's line wrapping."""
    return " ".join(output.split())


def explain(result) -> str:
    import traceback

    tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
    return f"exit {result.exit_code}\n--- output\n{result.output}\n--- exception\n{tb}"


@pytest.fixture(scope="module")
def done(tmp_path_factory, tiny_st, tiny_head):
    folder = tmp_path_factory.mktemp("engine")
    transfer = review_rows(40, seed=21)
    write_csv(folder / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(folder / "data" / "eval.csv", review_rows(24, seed=22, exclude={t for t, _ in transfer}))
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE.format(st=tiny_st, head=tiny_head))
    run = folder / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "-q"])
    assert result.exit_code == 0, explain(result)
    return {"recipe": recipe, "run": run}


def test_every_stage_is_booked_and_the_fingerprint_names_what_ships(done):
    books = RunFolder(done["run"]).stages()
    assert [
        s for s in ("licence", "teach", "train", "evaluate", "gate", "package") if books[s]["status"] == "done"
    ] == ["licence", "teach", "train", "evaluate", "gate", "package"]
    report = json.loads((done["run"] / "report.json").read_text())
    # the model card, NOTICE and LICENSE were written after the evaluation: the figure still names the student
    assert (done["run"] / "student" / "README.md").is_file()
    assert report["student"]["fingerprint"] == student_fingerprint(done["run"] / "student")
    # a switched-off evaluation is said so, and its gate is not a silent pass
    assert "counterfactual" in report["skipped_evaluations"]
    gate = next(g for g in report["gates"]["results"] if g["name"] == "max_counterfactual_flip_rate")
    assert gate["status"] == "SKIPPED" and "safety.counterfactual" in gate["message"]


def test_from_evaluate_reuses_the_student_and_asks_the_teacher_nothing(done):
    from understudy.store import TeacherStore

    before = RunFolder(done["run"]).stages()
    with TeacherStore(done["run"] / "teacher.sqlite") as store:
        stored = store.count()
    result = CliRunner().invoke(
        app, ["distill", str(done["recipe"]), "--out", str(done["run"]), "--from", "evaluate", "--json", "-q"]
    )
    assert result.exit_code == 0, explain(result)
    after = RunFolder(done["run"]).stages()
    assert after["train"] == before["train"] and after["teach"] == before["teach"]  # not re-run
    assert after["evaluate"]["finished"] >= before["evaluate"]["finished"]
    report = json.loads(result.stdout)
    with TeacherStore(done["run"] / "teacher.sqlite") as store:
        assert store.count() == stored  # nothing new was asked of the teacher
    assert report["labelling"]["texts"] == 64  # the teach stage's books, as that stage left them


def test_from_gate_rejudges_the_stored_figures(done):
    before = RunFolder(done["run"]).stages()
    result = CliRunner().invoke(
        app, ["distill", str(done["recipe"]), "--out", str(done["run"]), "--from", "gate", "-q"]
    )
    assert result.exit_code == 0, explain(result)
    after = RunFolder(done["run"]).stages()
    assert after["evaluate"] == before["evaluate"]  # the figures were read, not measured again
    assert after["gate"]["finished"] >= before["gate"]["finished"] and after["package"]["status"] == "done"


def test_an_unevaluated_student_is_neither_reported_nor_served(done, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(done["run"], run)
    # as if killed just after a new student was swapped in: the train stage finished, the evaluation did not
    folder = RunFolder(run)
    folder.start("evaluate", "name: tiny")
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2, explain(result)
    assert "evaluate stage" in flat(result.output) and "--from evaluate" in flat(result.output)
    from serve_builders import keys

    from understudy.errors import UserError
    from understudy.serve.app import create_app

    store = keys(tmp_path)[0]
    with pytest.raises(UserError, match="evaluate stage"):
        create_app(str(run), keys=store)
    with pytest.raises(UserError, match="evaluate stage"):
        create_app(str(run / "student"), keys=store)


def test_a_second_run_on_a_locked_folder_stops_at_once(done):
    run = done["run"]
    (run / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
    try:
        before = (run / "report.json").stat().st_mtime_ns
        result = CliRunner().invoke(app, ["distill", str(done["recipe"]), "--out", str(run), "-q"])
        assert result.exit_code == 2, explain(result)
        assert "being written by another understudy run" in flat(result.output)
        assert (run / "report.json").stat().st_mtime_ns == before
    finally:
        (run / ".lock").unlink()


def test_from_a_stage_whose_inputs_never_ran_says_which_to_run(done, tmp_path):
    result = CliRunner().invoke(
        app, ["distill", str(done["recipe"]), "--out", str(tmp_path / "fresh"), "--from", "train", "-q"]
    )
    assert result.exit_code == 2, explain(result)
    assert "needs the teach stage" in flat(result.output)
    bad = CliRunner().invoke(app, ["distill", str(done["recipe"]), "--out", str(tmp_path / "x"), "--from", "bake"])
    assert bad.exit_code == 2 and "not a stage" in bad.output


def test_from_a_stage_after_the_recipe_changed_says_so(done, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(done["run"], run)
    changed = done["recipe"].with_name("changed.yaml")
    changed.write_text(done["recipe"].read_text().replace("bootstrap: 20", "bootstrap: 30"))
    result = CliRunner().invoke(app, ["distill", str(changed), "--out", str(run), "--from", "gate"])
    assert result.exit_code == 0, explain(result)
    assert "the train stage" in flat(result.output) and "another version of this recipe" in flat(result.output)


def test_a_blocked_run_is_served_only_when_asked_and_then_says_so(done, tmp_path):
    import shutil

    from fastapi.testclient import TestClient
    from serve_builders import bearer, keys

    from understudy.errors import UserError
    from understudy.serve.app import create_app

    run = tmp_path / "run"
    shutil.copytree(done["run"], run)
    report = json.loads((run / "report.json").read_text())
    report["gates"]["verdict"] = "BLOCK"
    report["gates"]["results"].append({"name": "min_retention", "status": "BLOCK", "message": "retention 0.90 < 0.97"})
    (run / "report.json").write_text(json.dumps(report))
    store, client_key, _ = keys(tmp_path)
    with pytest.raises(UserError, match="--allow-blocked") as refused:
        create_app(str(run), keys=store)
    assert "retention 0.90 < 0.97" in str(refused.value)
    api = TestClient(create_app(str(run), keys=store, allow_blocked=True))
    health = api.get("/health").json()
    assert health["verdict"] == "BLOCK" and "retention 0.90 < 0.97" in health["warning"]
    metrics = api.get("/metrics", headers=bearer(client_key)).text
    assert 'verdict="BLOCK"' in metrics
