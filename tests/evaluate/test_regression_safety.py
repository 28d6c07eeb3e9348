"""A regression's fairness (error per group) and robustness (error on perturbed rows), on numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.evaluate.regression_safety import group_error_report, perturbed_error_report
from understudy.modalities.table import describe_row


def _groups(n_a: int = 60, n_b: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.normal(100, 10, n_a + n_b)
    groups = ["a"] * n_a + ["b"] * n_b
    teacher = y + rng.choice([-2.0, 2.0], len(y))  # off by 2 everywhere
    student = teacher.copy()
    student[n_a:] = y[n_a:] + rng.choice([-6.0, 6.0], n_b)  # off by 6 in group b only
    return y, teacher, student, groups


def test_a_student_worse_in_one_group_widens_the_gap_by_its_share_of_the_teachers_error():
    y, t, s, groups = _groups()
    shown = [f"row {i}" for i in range(len(y))]
    r = group_error_report(y, t, s, {"region": groups}, min_group_size=30, n_boot=200, seed=1, shown=shown)
    a = r["attributes"]["region"]
    assert a["groups"]["a"]["teacher"]["mae"] == pytest.approx(2.0)
    assert a["groups"]["b"]["student"]["mae"] == pytest.approx(6.0)
    assert a["teacher"]["mae_gap"] == pytest.approx(0.0) and a["student"]["mae_gap"] == pytest.approx(4.0)
    assert r["teacher_mae"] == pytest.approx(2.0)
    assert a["widened_by"] == pytest.approx(4.0 / 2.0)  # the 4-point gap is twice the teacher's error
    low, high = a["widened_by_evidence"]["interval"]
    assert low <= 2.0 <= high and low > 0.5
    assert a["groups"]["b"]["student_minus_teacher_mae"]["rate"] == pytest.approx(4.0)
    assert [e["group"] for e in a["examples"]] == ["b"] * 5


def test_a_small_group_is_listed_never_judged():
    y, t, s, groups = _groups(n_a=60, n_b=10)
    r = group_error_report(y, t, s, {"region": groups}, min_group_size=30, n_boot=50)
    a = r["attributes"]["region"]
    assert a["too_small_groups"] == ["b"] and a["widened_by"] is None and "fewer than two groups" in a["note"]
    assert a["groups"]["b"]["too_small"] and "no attribute has two groups" in r["unjudged"]
    with pytest.raises(UserError, match="sensitive attribute"):
        group_error_report(y, t, s, {})


def _rows(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = [{"x": float(v), "z": float(w)} for v, w in zip(rng.uniform(0, 10, n), rng.uniform(0, 10, n))]
    return rows, np.array([3 * r["x"] for r in rows])


def _blank_z(row, rng):
    return {**row, "z": None}


def _nudge_x(row, rng):
    return {**row, "x": row["x"] + 1.0}


def test_the_student_that_leans_on_a_blanked_column_loses_more_than_the_teacher():
    rows, y = _rows()

    def teacher(rs):  # y = 3x, exactly, and ignores z
        return np.array([3 * r["x"] + 0.5 for r in rs])

    def student(rs):  # leans on z too: a missing z costs it 5
        return np.array([3 * r["x"] + 1.0 + (5.0 if r["z"] is None else 0.0) for r in rs])

    perturbers = {"blank_z": _blank_z, "nudge_x": _nudge_x}
    r = perturbed_error_report(rows, y, teacher, student, perturbers, n_boot=100, describe=describe_row)
    assert r["clean_mae"] == pytest.approx({"teacher": 0.5, "student": 1.0})
    blank = r["perturbations"]["blank_z"]
    assert blank["changed_count"] == 80
    assert blank["teacher"]["error_increase"] == pytest.approx(0.0) and blank["teacher"]["relative_increase"] == 0.0
    assert blank["student"]["mae"] == pytest.approx(6.0) and blank["student"]["relative_increase"] == pytest.approx(5.0)
    assert blank["student_extra_increase"] == pytest.approx(5.0 / 0.5)  # 5 more error, per 0.5 of teacher's error
    nudge = r["perturbations"]["nudge_x"]  # both move by 3: the same extra error, so no extra for the student
    assert nudge["teacher"]["moved"] == pytest.approx(3.0) and nudge["student_extra_increase"] == pytest.approx(0.0)
    assert r["worst_for_student"] == "blank_z"
    assert blank["examples"][0]["perturbed"] == "z=(missing)" and len(blank["examples"]) == 5


def test_a_teacher_that_refuses_a_missing_value_is_said_and_the_student_still_measured():
    rows, y = _rows(30)

    def teacher(rs):
        if any(r["z"] is None for r in rs):
            raise UserError("the teacher takes no missing value in column 'z'")
        return np.array([3 * r["x"] for r in rs]) + 0.1

    def student(rs):
        return np.array([3 * r["x"] for r in rs]) + 0.2

    r = perturbed_error_report(rows, y, teacher, student, {"blank_z": _blank_z}, n_boot=20)
    blank = r["perturbations"]["blank_z"]
    assert blank["teacher"] is None and "no missing value" in blank["errors"]["teacher"]
    assert blank["student"]["error_increase"] == pytest.approx(0.0) and blank["student_extra_increase"] is None
    assert r["worst_for_student"] is None
