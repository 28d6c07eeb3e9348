"""understudy.load and understudy.distill: the student as it ships, calibrated once, deferring by the policy the run
fitted on that same calibrated confidence; `serve` loads it the same way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from cli_builders import explain
from typer.testing import CliRunner
from use_builders import copy_run, tiny_run

import understudy
from understudy.errors import UserError
from understudy.evaluate import run_evaluations
from understudy.evaluate.calibration import Calibration, apply_temperature
from understudy.evaluate.oversight import Oversight
from understudy.oversight.abstain import calibrate_abstention, decide
from understudy.progress import QUIET
from understudy.protocols import EvalContext
from understudy.recipe import Recipe, parse_recipe
from understudy.students import load_student


@pytest.fixture
def run(tmp_path_factory, tiny_st, tiny_head) -> Path:
    return tiny_run(tmp_path_factory, tiny_st, tiny_head)


def evaluation_rows(run: Path) -> tuple[list[str], np.ndarray, list[str]]:
    table = pd.read_csv(run.parent / "data" / "eval.csv")
    labels = json.loads((run / "student" / "student.json").read_text())["labels"]
    return list(table.text), np.array([labels.index(g) for g in table.label]), labels


def recipe_with_oversight(alpha: float) -> Recipe:
    return Recipe.model_validate(
        {
            "name": "t",
            "teacher": {"kind": "sklearn", "path": "m.skops"},
            "data": {"transfer": {"path": "t.csv"}, "evaluation": {"path": "e.csv", "label_column": "label"}},
            "safety": {"oversight": {"enabled": True, "alpha": alpha}},
        }
    )


def test_import_is_cheap_and_load_and_distill_come_on_use():
    code = "import sys, understudy; print(sorted(m for m in sys.modules if m.startswith('understudy')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['understudy']"
    assert understudy.load.__module__ == "understudy.use" and callable(understudy.distill)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        understudy.nothing  # noqa: B018


def test_distill_returns_the_run_and_its_verdict(run):
    report = json.loads((run / "report.json").read_text())
    done = understudy.use.Distilled(run, report)
    assert done.verdict == report["gates"]["verdict"] and repr(done).startswith("<understudy.Distilled")
    assert done.load().labels == report["labels"]
    with pytest.raises(UserError, match="unknown option"):
        understudy.distill(run.parent / "recipe.yaml", run, form="evaluate")


def test_loaded_and_served_confidence_is_the_raw_student_at_the_shipped_temperature(run, tmp_path):
    from fastapi.testclient import TestClient
    from serve_builders import bearer, keys

    from understudy.serve.app import create_app

    texts, _, labels = evaluation_rows(run)
    texts = texts[:12]
    temperature = json.loads((run / "student" / "calibration.json").read_text())["temperature"]
    raw = load_student(run / "student", calibrated=False).predict_proba(texts)
    expected = apply_temperature(raw, temperature)
    assert not np.allclose(raw, expected, atol=1e-3)  # the temperature changes the confidence: the check bites

    model = understudy.load(run)
    assert model.temperature == temperature and model.labels == labels
    np.testing.assert_allclose(model.predict_proba(texts), expected, atol=1e-6)
    np.testing.assert_allclose(understudy.load(run / "student").predict_proba(texts), expected, atol=1e-6)
    np.testing.assert_allclose(load_student(run / "student").predict_proba(texts), expected, atol=1e-6)

    store, client_key, _ = keys(tmp_path)
    client = TestClient(create_app(str(run), keys=store, allow_blocked=True), headers=bearer(client_key))
    served = client.post("/v1/classify", json={"texts": texts}).json()["results"]
    got = np.array([[r["probabilities"][label] for label in labels] for r in served])
    np.testing.assert_allclose(got, expected, atol=1e-5)  # the server rounds to 6 places
    assert [r["defer_to_human"] for r in served] == model.defer(texts)


def test_the_policy_threshold_on_loaded_probabilities_gives_the_report_coverage(run):
    texts, y, _ = evaluation_rows(run)
    recipe, _ = parse_recipe(run / "recipe.yaml")
    report = json.loads((run / "report.json").read_text())
    policy, held = report["oversight"]["policy"], report["oversight"]["held_out"]
    model = understudy.load(run)
    assert policy["temperature"] == model.temperature  # fitted on the confidence that is served

    n = len(y)
    order = np.random.default_rng(recipe.training.seed).permutation(n)  # the evaluation's split
    n_cal = round(n * recipe.safety.calibration_fraction)
    cal, test = np.sort(order[:n_cal]), np.sort(order[n_cal:])
    probs = model.predict_proba(texts)
    defer = np.array(model.defer(texts))
    assert policy["n_calibration"] == len(cal)
    assert 1 - defer[cal].mean() == pytest.approx(policy["coverage"])
    assert 1 - defer[test].mean() == pytest.approx(held["coverage"])
    refit = calibrate_abstention(probs[cal], y[cal], alpha=policy["alpha"], delta=policy["delta"])
    assert refit["threshold"] == policy["threshold"] and refit["coverage"] == policy["coverage"]


def test_a_rerun_from_evaluate_fits_the_temperature_on_raw_scores_again(run, tmp_path):
    from understudy.cli.main import app

    again = copy_run(run, tmp_path)
    before = json.loads((again / "student" / "calibration.json").read_text())["temperature"]
    recipe = run.parent / "recipe.yaml"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(again), "--from", "evaluate", "-q"])
    assert result.exit_code == 0, explain(result)
    after = json.loads((again / "student" / "calibration.json").read_text())["temperature"]
    assert after == pytest.approx(before, rel=1e-6)  # a student already rescaled would need T near 1
    assert json.loads((again / "student" / "oversight.json").read_text())["temperature"] == after


def test_oversight_is_fitted_on_the_calibrated_probabilities(tmp_path):
    """A timid model: right far more often than its confidence says, so the temperature sharpens it and the
    threshold on the served (sharpened) confidence is not the one on the raw scores."""
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    margin = rng.uniform(0.0, 0.2, n)
    right = rng.random(n) < 0.7 + 1.5 * margin  # surer rows are right more often, up to always
    top = 0.5 + margin
    probs = np.where((right == (y == 1))[:, None], np.c_[1 - top, top], np.c_[top, 1 - top])
    (tmp_path / "student").mkdir()
    ctx = EvalContext(
        task="text-classification",
        recipe=recipe_with_oversight(alpha=0.1),
        teacher=None,
        student=SimpleNamespace(predict_proba=None),
        inputs=[f"text {i}" for i in range(n)],
        student_dir=tmp_path / "student",
        progress=QUIET,
        labels=["neg", "pos"],
        y=y,
        teacher_probs=None,
        student_probs=probs,
    )
    sections, _ = run_evaluations(ctx, [Oversight, Calibration])  # run in their order: calibration first
    t = sections["calibration"]["student"]["temperature"]
    policy = json.loads((tmp_path / "student" / "oversight.json").read_text())
    assert policy["temperature"] == t < 1
    order = np.random.default_rng(ctx.recipe.training.seed).permutation(n)
    cal = np.sort(order[: round(n * ctx.recipe.safety.calibration_fraction)])
    on_served = calibrate_abstention(apply_temperature(probs, t)[cal], y[cal], alpha=0.1, delta=policy["delta"])
    on_raw = calibrate_abstention(probs[cal], y[cal], alpha=0.1, delta=policy["delta"])
    assert policy["threshold"] == on_served["threshold"] != on_raw["threshold"]
    assert decide(apply_temperature(probs, t), policy) != decide(probs, policy)


def test_one_text_gives_one_answer_and_repr_says_what_is_loaded(run):
    model = understudy.load(run)
    label = model.predict("great coffee, lovely")
    assert isinstance(label, str) and label in model.labels
    probs = model.predict_proba("great coffee, lovely")
    assert probs.shape == (len(model.labels),) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert isinstance(model.defer("great coffee, lovely"), bool)
    assert model.predict([]) == [] and model.predict_proba([]).shape == (0, len(model.labels))
    text = repr(model)
    assert model.name in text and "static" in text and "temperature" in text and str(model.labels) in text


def test_a_bare_student_folder_loads_the_same_anywhere_and_says_when_it_has_no_policy(run, tmp_path):
    texts, _, _ = evaluation_rows(run)
    moved = tmp_path / "elsewhere"
    shutil.copytree(run / "student", moved)
    here, there = understudy.load(run), understudy.load(moved)
    np.testing.assert_allclose(there.predict_proba(texts), here.predict_proba(texts), atol=1e-6)
    assert there.defer(texts) == here.defer(texts) and there.name == "elsewhere"
    (moved / "oversight.json").unlink()
    with pytest.raises(UserError, match="no oversight policy"):
        understudy.load(moved).defer(texts)


def test_an_exported_folder_loads_with_its_calibration_and_policy(run, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from understudy.export import export_student

    texts, _, _ = evaluation_rows(run)
    export_student(run, tmp_path / "onnx", "onnx")
    exported, original = understudy.load(tmp_path / "onnx"), understudy.load(run)
    assert exported.kind == "onnx" and exported.temperature == original.temperature
    assert exported.policy == original.policy
    assert exported.predict(texts) == original.predict(texts)


def test_bad_folders_and_texts_are_user_errors(run, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        understudy.load(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        understudy.load(tmp_path / "file.txt")
    with pytest.raises(UserError, match="neither a run folder"):
        understudy.load(tmp_path)
    model = understudy.load(run)
    with pytest.raises(UserError, match=r"texts\[1\] is a int"):
        model.predict(["fine", 3])
    with pytest.raises(UserError, match="not a int"):
        model.predict(3)
    broken = tmp_path / "broken"
    shutil.copytree(run / "student", broken)
    (broken / "calibration.json").write_text('{"temperature": -1}')
    with pytest.raises(UserError, match="calibration.json: no positive 'temperature'"):
        understudy.load(broken)
    (broken / "calibration.json").write_text('{"temperature": 2.0}')
    with pytest.raises(UserError, match="the threshold was fitted at temperature .* served at temperature 2.0"):
        understudy.load(broken)
    policy = json.loads((broken / "oversight.json").read_text())
    del policy["temperature"]  # a policy from before calibration was applied: fitted on the raw scores
    (broken / "oversight.json").write_text(json.dumps(policy))
    with pytest.raises(UserError, match="fitted on the raw scores, but the student is served at temperature"):
        understudy.load(broken)
    (broken / "calibration.json").unlink()
    assert understudy.load(broken).predict("fine") in understudy.load(run).labels  # raw scores both: agreed


def with_verdict(run: Path, where: Path, verdict: str) -> Path:
    """A copy of the run whose gates said `verdict`, the retention check deciding it."""
    again = copy_run(run, where)
    report = json.loads((again / "report.json").read_text())
    report["gates"]["verdict"] = verdict
    for result in report["gates"]["results"]:
        if result["name"] == "min_retention":
            result.update(
                threshold=1.5, passed=False, status=verdict, on_fail="block" if verdict == "BLOCK" else "warn"
            )
            result.pop("evidence", None)
    (again / "report.json").write_text(json.dumps(report))
    return again


def test_a_blocked_run_is_refused_as_serve_refuses_it_unless_allowed_and_then_said(run, tmp_path):
    import warnings

    from understudy.errors import StudentBlocked
    from understudy.use import BlockedStudentWarning

    blocked = with_verdict(run, tmp_path, "BLOCK")
    for where in (blocked, blocked / "student"):
        with pytest.raises(StudentBlocked) as refused:
            understudy.load(where)
        said = str(refused.value)
        assert refused.value.exit_code == 3
        assert "blocked" in said and "allow_blocked=True" in said and "--allow-blocked" in said
        assert "keeps" in said and "›" not in said and "read at" not in said  # why, in plain words
    with pytest.raises(StudentBlocked):
        understudy.use.Distilled(blocked, json.loads((blocked / "report.json").read_text())).load()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = understudy.load(blocked, allow_blocked=True)
    said = [w for w in caught if issubclass(w.category, BlockedStudentWarning)]
    assert len(said) == 1 and "do not rely on its answers" in str(said[0].message)
    assert said[0].filename == __file__  # the warning names the caller's line, not understudy's
    assert model.verdict == "BLOCK" and "verdict BLOCK" in repr(model) and "allow_blocked" in repr(model)
    assert model.predict(["great coffee"]) == understudy.load(run).predict(["great coffee"])


def test_a_warn_run_loads_and_says_its_verdict(run, tmp_path):
    import warnings

    warned = with_verdict(run, tmp_path, "WARN")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a WARN run: it ships with care, as serve serves it
        model = understudy.load(warned)
    assert model.verdict == "WARN" and "verdict WARN" in repr(model)
    assert f"verdict {json.loads((run / 'report.json').read_text())['gates']['verdict']}" in repr(understudy.load(run))
    assert "not gated" in repr(understudy.load(copy_run(run / "student", tmp_path / "bare")))
