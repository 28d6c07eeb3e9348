"""Robustness on a table: the table's own perturbations (feature noise, missing values, shifted ranges, swapped
categories), each with its counts, examples as rows in words; text keeps its own perturbations exactly."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import LABELS, review_rows

from understudy.errors import UserError
from understudy.evaluate.fairness import Fairness
from understudy.evaluate.robustness import Robustness, robustness_report
from understudy.modalities.table import PERTURBATIONS, Column, TableModality, TableSchema
from understudy.modalities.text import TextModality

RNG = np.random.default_rng(7)
N = 200
X = RNG.normal(0.0, 1.0, N)
SCHEMA = TableSchema(
    [
        Column("x", "numeric", mean=float(X.mean()), std=float(X.std())),
        Column("colour", "categorical", categories=["red", "blue", "green"]),
    ]
)
ROWS = [{"x": float(x), "colour": ["red", "blue", "green"][i % 3]} for i, x in enumerate(X)]
Y = (X > 0).astype(int)  # gold: "yes" when x is above 0
TABLE_LABELS = ["no", "yes"]


def by_x(rows, missing_says: int = 0):
    """Reads x alone: 'yes' above 0; a missing x reads as `missing_says`."""
    out = []
    for r in rows:
        x = r.get("x")
        yes = missing_says if x is None else int(x > 0)
        out.append([0.1, 0.9] if yes else [0.9, 0.1])
    return np.array(out)


def refuses_missing(rows):
    if any(r.get("x") is None for r in rows):
        raise UserError("the teacher (a test model) failed on a batch: Input X contains NaN.")
    return by_x(rows)


def ctx_for(inputs, y, labels, teacher, student, modality, n: int):
    recipe = SimpleNamespace(
        safety=SimpleNamespace(robustness_texts=n, fairness_positive=None, min_group_size=5),
        training=SimpleNamespace(seed=0),
        evaluation=SimpleNamespace(bootstrap=50),
    )
    return SimpleNamespace(
        recipe=recipe,
        inputs=inputs,
        y=y,
        labels=labels,
        teacher_predict=teacher,
        student_predict=student,
        student=None,
        teacher_probs=None,
        student_probs=None,
        modality=modality,
        progress=SimpleNamespace(note=lambda *a, **k: None),
        groups={},
    )


def test_a_table_gets_its_four_perturbations_each_with_its_counts():
    ctx = ctx_for(ROWS, Y, TABLE_LABELS, by_x, lambda rows: by_x(rows, missing_says=1), TableModality(SCHEMA), N)
    r = Robustness().run(ctx)
    json.dumps(r)
    assert r["n_texts"] == N and r["typo_rate"] is None  # a table has no typos
    p = r["perturbations"]
    assert list(p) == list(PERTURBATIONS) == ["noise", "missing", "shifted", "category"]
    for kind, entry in p.items():
        assert entry["description"] == PERTURBATIONS[kind]
        assert entry["changed_count"] == round(entry["changed_share"] * N)
        for who in ("teacher", "student"):
            assert entry[who]["accuracy_evidence"]["total"] == N
            assert entry[who]["accuracy_evidence"]["counted"] == "perturbed rows"
    assert p["noise"]["changed_count"] == N and p["shifted"]["changed_count"] == N  # every row has a number
    assert 0 < p["missing"]["changed_count"] < N and 0 < p["category"]["changed_count"] < N
    # shifted: every x up by half a spread, so the gold-"no" rows within half a spread below 0 now read "yes"
    crossed = int(np.sum((Y == 0) & (X + 0.5 * SCHEMA.column("x").std > 0)))
    assert p["shifted"]["teacher"]["drop_evidence"]["count"] == crossed
    assert p["shifted"]["student"]["drop"] == pytest.approx(crossed / N)
    # the colour is read by neither model
    assert p["category"]["teacher"]["drop"] == 0.0 and p["category"]["student"]["unchanged"] == 1.0
    # a blank x: the teacher says "no" and breaks the gold-yes rows, the student says "yes" and breaks the gold-no
    # ones; between them every row whose x was blanked, which is at most the rows changed
    broke = [p["missing"][who]["drop_evidence"]["count"] for who in ("teacher", "student")]
    assert all(b > 0 for b in broke) and sum(broke) <= p["missing"]["changed_count"]
    examples = p["missing"]["examples"]
    assert examples and all(e["text"].startswith("x=") and e["gold"] == "no" for e in examples)
    assert all("x=(missing)" in e["perturbed"] and "colour" not in e["perturbed"] for e in examples)  # what changed


def test_a_teacher_that_refuses_the_perturbed_rows_is_said_and_the_student_still_measured():
    ctx = ctx_for(ROWS, Y, TABLE_LABELS, refuses_missing, by_x, TableModality(SCHEMA), N)
    r = Robustness().run(ctx)
    missing = r["perturbations"]["missing"]
    assert missing["teacher"] is None and "Input X contains NaN" in missing["errors"]["teacher"]
    assert missing["student"]["accuracy_evidence"]["total"] == N and missing["student_extra_drop"] is None
    assert all(e["teacher"]["perturbed"] is None for e in missing["examples"])
    report = {"run": {"task": "tabular-classification"}, "robustness": r}
    page = Robustness().html(r, report)
    assert "Input X contains NaN" in page and "not answered" in page and "Cells changed" in page
    assert "perturbed rows" in page and "texts" not in page
    assert any("not measured on missing" in line for line in Robustness().summary(r))
    assert r["worst_for_student"] in r["perturbations"]


def test_text_keeps_its_own_perturbations_exactly():
    rows = review_rows(60, seed=2)
    texts, y = [t for t, _ in rows], np.array([LABELS.index(label) for _, label in rows])

    def keyword(batch):
        return np.array([[0.9, 0.1] if "great" in t else [0.1, 0.9] for t in batch])

    ctx = ctx_for(texts, y, LABELS, keyword, keyword, TextModality(), 60)
    assert Robustness().run(ctx) == robustness_report(texts, y, keyword, keyword, LABELS, max_texts=60, seed=0)
    ctx.modality = None  # an evaluation context without a data kind: text's, as before
    assert Robustness().run(ctx) == robustness_report(texts, y, keyword, keyword, LABELS, max_texts=60, seed=0)


def test_fairness_examples_on_rows_are_the_rows_in_words():
    groups = {"colour": [r["colour"] for r in ROWS]}
    wrong = by_x(ROWS)
    wrong[:40] = wrong[:40, ::-1]  # the student gets the first 40 rows wrong
    ctx = ctx_for(ROWS, Y, TABLE_LABELS, None, None, TableModality(SCHEMA), N)
    ctx.teacher_probs, ctx.student_probs, ctx.groups = by_x(ROWS), wrong, groups
    section = Fairness().run(ctx)
    json.dumps(section)
    examples = section["attributes"]["colour"]["examples"]
    assert examples and all(isinstance(e["text"], str) and e["text"].startswith("x=") for e in examples)
    page = Fairness().html(section, {"run": {"task": "tabular-classification"}})
    assert "<th>Row</th>" in page and "<th>Text</th>" not in page
