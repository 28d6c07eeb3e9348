"""A class the student loses shows per class, not hidden in the average; a class learnt from few labels is warned of."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.evaluate.metrics import compare
from understudy.report.summary import per_class_lines
from understudy.tasks.classification import RARE_CLASS_LABELS, teacher_label_counts

LABELS = ["billing", "delivery", "fraud"]


def _probs(pred: np.ndarray, k: int = 3) -> np.ndarray:
    p = np.full((len(pred), k), 0.1)
    p[np.arange(len(pred)), pred] = 0.8
    return p


def test_a_class_the_student_never_answers_keeps_nothing_while_the_average_looks_fine():
    rng = np.random.default_rng(0)
    y = np.array([0] * 300 + [1] * 300 + [2] * 20)
    teacher = y.copy()
    student = np.where(y == 2, 0, y)  # the rare class is gone
    flip = rng.random(len(y)) < 0.02
    teacher[flip] = (teacher[flip] + 1) % 3
    c = compare(y, _probs(teacher), _probs(student), [f"t{i}" for i in range(len(y))], LABELS, n_boot=200)
    per = c["per_class_retention"]
    assert per["fraud"]["student_f1"] == 0.0 and per["fraud"]["retention"] == 0.0 and per["fraud"]["gold"] == 20
    assert per["billing"]["retention"] > 0.9 and per["delivery"]["retention"] > 0.9
    assert (
        per["billing"]["retention_ci"]["low"] <= per["billing"]["retention"] <= per["billing"]["retention_ci"]["high"]
    )
    assert c["retention"] > 0.6  # the average alone would not say that fraud is lost
    report = {"run": {"task": "text-classification"}, "comparison": c, "student": {"training": {}}}
    [line] = per_class_lines(report)
    assert (
        line.startswith("class 'fraud': the student keeps 0.0% of the teacher's F1") and "20 evaluation texts" in line
    )


def test_a_class_the_teacher_gave_few_transfer_texts_is_warned_of():
    said = []

    class Notes:
        def note(self, message):
            said.append(message)

    pred = np.array([0] * 500 + [1] * 400 + [2] * 7)
    counts = teacher_label_counts(_probs(pred), LABELS, Notes())
    assert counts["per_class"] == {"billing": 500, "delivery": 400, "fraud": 7}
    assert counts["rare"] == {"fraud": 7} and counts["min_labels"] == RARE_CLASS_LABELS
    assert len(said) == 1 and "'fraud' (7)" in said[0]
    report = {
        "run": {"task": "text-classification"},
        "comparison": {},
        "student": {"training": {"teacher_labels": counts}},
    }
    assert per_class_lines(report) == [
        f"warning: class 'fraud' was learnt from only 7 teacher labels in the transfer set (fewer than "
        f"{RARE_CLASS_LABELS}); add texts of it to the transfer set"
    ]
    assert teacher_label_counts(_probs(np.array([0, 1, 2] * RARE_CLASS_LABELS)), LABELS)["rare"] == {}


@pytest.mark.parametrize("task", ["tabular-classification"])
def test_a_table_run_says_rows(task):
    counts = {"per_class": {"a": 3}, "rare": {"a": 3}, "min_labels": RARE_CLASS_LABELS}
    report = {"run": {"task": task}, "comparison": {}, "student": {"training": {"teacher_labels": counts}}}
    assert per_class_lines(report)[0].endswith("add rows of it to the transfer set")
