"""Tables on the one engine: a real scikit-learn teacher, the tree student, every stage, a rerun that asks nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tables_builders import table_run_folder

from understudy.recipe import load_recipe
from understudy.run.engine import distill
from understudy.run.folder import RunFolder
from understudy.students import load_student


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    recipe = table_run_folder(folder)
    report = distill(load_recipe(recipe), folder / "run")
    return {"recipe": recipe, "run": folder / "run", "report": report}


def test_a_table_run_reports_the_text_reports_figures_on_rows(classified):
    r = classified["report"]
    assert r["run"]["task"] == "tabular-classification" and r["labels"] == ["No", "Yes"]
    assert 0.6 < r["comparison"]["agreement"]["value"] <= 1.0
    assert r["comparison"]["agreement"]["total"] == r["data"]["evaluation"]["rows_used"]
    assert r["teacher"]["speed"]["batch_64"]["texts_per_s"] > 0 and r["comparison"]["speedup"] > 0
    assert r["data"]["schema"]["target"] == "churn"
    assert [c["name"] for c in r["data"]["schema"]["columns"]] == ["tenure", "contract", "monthly_charges", "senior"]
    assert {"calibration", "fairness"} <= set(r)  # the shared evaluations ran on rows
    assert "senior" in json.dumps(r["fairness"])
    assert r["gates"]["verdict"] in {"PASS", "WARN"}


def test_the_student_learnt_on_real_and_munge_rows_and_reads_as_rules(classified):
    r, run = classified["report"], classified["run"]
    real = r["data"]["transfer"]["rows_used"]
    assert r["data"]["synthetic"]["rows"] == real  # synthetic_rows: 1.0
    training = json.loads((run / "training.json").read_text())
    assert training["real_rows"] == real and training["rows"] == 2 * real
    rules = r["student"]["rules"]
    assert rules["form"] == "decision tree" and len(rules["text"]) == len(rules["rules"]) >= 2
    assert all(line.startswith("IF ") and " THEN " in line for line in rules["text"])
    assert any("tenure" in line or "contract is" in line for line in rules["text"])


def test_the_saved_student_answers_rows_as_the_evaluation_measured(classified):
    run = classified["run"]
    student = load_student(run / "student", calibrated=False)
    row = {"tenure": 2.0, "contract": "Month-to-month", "monthly_charges": 110.0, "senior": 0.0}
    p = student.predict_proba([row, {**row, "tenure": 70.0, "contract": "Two year"}])
    assert p.shape == (2, 2) and np.allclose(p.sum(1), 1.0)
    assert p[0, 1] > p[1, 1]  # new, month-to-month, dear: likelier to churn than a long two-year customer
    assert student.predict([row])[0] in ("No", "Yes")


def test_a_rerun_asks_the_teacher_nothing(classified):
    first = json.loads((classified["run"] / "teaching.json").read_text())
    assert first["asked"] > 0
    distill(load_recipe(classified["recipe"]), classified["run"], start="teach", stop="teach")
    again = json.loads((classified["run"] / "teaching.json").read_text())
    assert again["asked"] == 0 and again["reused"] == first["asked"]
    assert RunFolder(classified["run"]).stages()["teach"]


def test_a_regression_run_measures_r2_and_fidelity(tmp_path):
    recipe = table_run_folder(tmp_path, regression=True, synthetic=0.5)
    r = distill(load_recipe(recipe), tmp_path / "run")
    assert r["run"]["task"] == "tabular-regression" and r["labels"] is None
    t, s = r["teacher"]["quality"]["r2"]["value"], r["student"]["quality"]["r2"]["value"]
    assert t > 0.8 and s > 0.5
    assert r["comparison"]["retention"] == pytest.approx(s / t, rel=1e-6)
    assert 0 < r["comparison"]["fidelity_r2"]["value"] <= 1
    assert r["comparison"]["largest_gaps"][0]["text"].startswith("tenure=")
    assert "calibration" in r["skipped_evaluations"]
    assert r["student"]["rules"]["text"][0].startswith("IF ")
    # fairness and robustness in errors: per-group MAE, and the error on perturbed rows, each with its interval
    senior = r["group_error"]["attributes"]["senior"]
    assert senior["judged_groups"] == ["0", "1"]
    groups = senior["groups"]
    assert all(g["teacher"]["mae"] > 0 and g["student"]["mae"] > 0 for g in groups.values())
    low, high = senior["widened_by_evidence"]["interval"]
    assert low <= senior["widened_by"] <= high
    gap = senior["student"]["mae_gap"] - senior["teacher"]["mae_gap"]
    assert senior["widened_by"] == pytest.approx(gap / r["group_error"]["teacher_mae"])
    perturbed = r["perturbed_error"]["perturbations"]
    assert set(perturbed) == {"noise", "missing", "shifted", "category"}
    for p in perturbed.values():
        for who in ("teacher", "student"):
            found = p[who]
            clean = r["perturbed_error"]["clean_mae"][who]
            assert found["relative_increase"] == pytest.approx((found["mae"] - clean) / clean)
    assert perturbed["shifted"]["student"]["moved"] > 0
    for p in perturbed.values():
        grew = {w: p[w]["mae"] - r["perturbed_error"]["clean_mae"][w] for w in ("teacher", "student")}
        extra = (grew["student"] - grew["teacher"]) / r["perturbed_error"]["clean_mae"]["teacher"]
        assert p["student_extra_increase"] == pytest.approx(extra)
    gates = {g["name"]: g for g in r["gates"]["results"]}
    for name in ("max_group_error_widening", "max_robustness_error_increase"):
        assert gates[name]["status"] in ("PASS", "WARN", "FAIL", "BLOCK"), gates[name]
        assert "95% interval" in gates[name]["evidence"]["basis"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Fairness across groups: error of the numbers" in html and "error of the numbers on perturbed rows" in html


def test_check_reads_both_tables_and_times_the_teacher_before_a_run(tmp_path):
    from understudy.check import check

    recipe = table_run_folder(tmp_path)
    found = check(load_recipe(recipe), out=tmp_path / "run", sample=8)
    assert found.ok, found.message()
    notes = " ".join(found.notes)
    assert "feature columns (3 numeric, 1 categorical)" in notes and "teacher: answered" in notes
    bad = tmp_path / "bad.yaml"
    bad.write_text(recipe.read_text().replace("kind: tree", "kind: static"))
    found = check(load_recipe(bad), out=tmp_path / "run2")
    assert any("not a table student" in str(p) for p in found.problems)
    assert (tmp_path / "run" / "teacher.sqlite").is_file()  # the sampled answers are kept for the run
    check(load_recipe(recipe), out=tmp_path / "quiet", sample=0)
    assert not (tmp_path / "quiet").exists()  # distill's own check (sample 0) asks the teacher nothing
