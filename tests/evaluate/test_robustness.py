"""Robustness on keyword predictors, where the effect of each perturbation is known in advance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import GREAT_WORDS, LABELS, OTHER_WORDS, review_rows

from understudy.errors import UserError
from understudy.evaluate.robustness import PERTURBATIONS, perturb, robustness_report

ROWS = review_rows(200, seed=4)
TEXTS = [t for t, _ in ROWS]
Y = np.array([LABELS.index(label) for _, label in ROWS])


def _keyword(texts, fold_case: bool):
    out = []
    for t in texts:
        words = set((t.lower() if fold_case else t).split())
        great, other = len(words & set(GREAT_WORDS)), len(words & set(OTHER_WORDS))
        out.append([0.9, 0.1] if great > other else [0.1, 0.9] if other > great else [0.5, 0.5])
    return np.array(out)


def teacher(texts):
    """Counts cue words, ignoring case."""
    return _keyword(texts, fold_case=True)


def student(texts):
    """The same, but only in lower case: capitals blind it."""
    return _keyword(texts, fold_case=False)


def test_each_perturbation_moves_accuracy_as_planted():
    r = robustness_report(TEXTS, Y, teacher, student, LABELS, seed=0)
    json.dumps(r)
    assert r["n_texts"] == 200
    assert r["clean_accuracy"] == {"teacher": 1.0, "student": 1.0}
    p = r["perturbations"]
    assert set(p) == set(PERTURBATIONS)
    # typos break cue words for both models, the more so the higher the rate
    assert p["typos"]["changed_share"] > 0.5
    assert p["typos"]["teacher"]["drop"] > 0.0 and p["typos"]["student"]["drop"] > 0.0
    assert p["typos"]["teacher"]["accuracy"] == pytest.approx(1.0 - p["typos"]["teacher"]["drop"])
    heavy = robustness_report(TEXTS, Y, teacher, student, LABELS, seed=0, typo_rate=0.2, perturbations=["typos"])
    assert heavy["perturbations"]["typos"]["teacher"]["drop"] > max(0.15, p["typos"]["teacher"]["drop"])
    # capitals blind only the case-sensitive student
    assert p["upper"]["teacher"]["drop"] == 0.0
    assert p["upper"]["student"]["accuracy"] == 0.5  # every row becomes a tie -> first class; half are gold "great"
    assert p["upper"]["student_extra_drop"] == 0.5
    assert p["upper"]["student"]["agreement_with_teacher_clean"] == 0.5
    assert r["worst_for_student"] == "upper"
    # the texts are already lower case, without punctuation: nothing changes
    for kind in ("lower", "no_punctuation"):
        assert p[kind]["changed_share"] == 0.0
        assert p[kind]["teacher"]["drop"] == 0.0 and p[kind]["student"]["unchanged"] == 1.0
    # noise adds no cue words
    assert p["noise"]["changed_share"] == 1.0 and p["noise"]["student"]["drop"] == 0.0
    # dropping half the words loses one or both cue words in some rows
    assert p["truncated"]["teacher"]["drop"] > 0.0


def test_seeded_and_clean_probabilities_can_be_passed_in():
    calls = []

    def counted(texts):
        calls.append(len(texts))
        return teacher(texts)

    a = robustness_report(TEXTS, Y, counted, student, LABELS, seed=3, max_texts=50, t_probs=teacher(TEXTS))
    assert len(calls) == len(PERTURBATIONS) and all(c == 50 for c in calls)  # no clean call for the teacher
    b = robustness_report(TEXTS, Y, teacher, student, LABELS, seed=3, max_texts=50)
    assert a == b
    c = robustness_report(TEXTS, Y, teacher, student, LABELS, seed=4, max_texts=50, perturbations=["typos"])
    assert list(c["perturbations"]) == ["typos"]
    assert c["perturbations"]["typos"] != a["perturbations"]["typos"]


def test_perturb_functions():
    rng = np.random.default_rng(0)
    text = "Great coffee, I LOVE it! Would buy again."
    assert perturb(text, "upper", rng) == text.upper()
    assert perturb(text, "lower", rng) == text.lower()
    assert perturb(text, "no_punctuation", rng) == "Great coffee I LOVE it Would buy again"
    assert perturb(text, "truncated", rng) == "Great coffee, I LOVE"
    assert perturb("one", "truncated", rng) == "one"
    assert perturb("!!!", "no_punctuation", rng) == "!!!"  # never an empty text
    noisy = perturb(text, "noise", rng)
    assert len(noisy.split()) == len(text.split()) + 3 and ("http" in noisy or "www." in noisy)
    typo = perturb("abcdefghij" * 5, "typos", np.random.default_rng(1), typo_rate=1.0)
    assert typo != "abcdefghij" * 5
    assert perturb("abcdefghij" * 5, "typos", np.random.default_rng(1), typo_rate=1.0) == typo  # seeded
    assert perturb("12345 ...", "typos", rng, typo_rate=1.0) == "12345 ..."  # only letters get typos


def test_bad_input_is_a_user_error():
    with pytest.raises(UserError, match="unknown perturbation 'shout'"):
        robustness_report(TEXTS, Y, teacher, student, LABELS, perturbations=["shout"])
    with pytest.raises(UserError, match="one gold label per text"):
        robustness_report(TEXTS, Y[:-1], teacher, student, LABELS)
    with pytest.raises(UserError, match="class indices"):
        robustness_report(TEXTS, Y + 5, teacher, student, LABELS)
    with pytest.raises(UserError, match="teacher clean probabilities"):
        robustness_report(TEXTS, Y, teacher, student, LABELS, t_probs=np.zeros((3, 2)))
    with pytest.raises(UserError, match="student prediction function"):
        robustness_report(TEXTS, Y, teacher, lambda b: np.zeros(len(b)), LABELS)


def test_drops_carry_paired_intervals_and_the_html_shows_counts_intervals_and_escaped_examples():
    from understudy.evaluate.robustness import Robustness

    texts = [f"<i>{t}</i> & co" for t in TEXTS]
    r = robustness_report(texts, Y, teacher, student, LABELS, seed=0, perturbations=["upper", "lower"])
    up = r["perturbations"]["upper"]["student"]
    acc, drop = up["accuracy_evidence"], up["drop_evidence"]
    assert acc["total"] == len(TEXTS) and acc["count"] == round(up["accuracy"] * len(TEXTS))
    assert drop["rate"] == pytest.approx(up["drop"]) and drop["interval"][0] <= up["drop"] <= drop["interval"][1]
    assert drop["interval"][0] > 0.1  # capitals blind this student: past a 10-point bound on the evidence
    examples = r["perturbations"]["upper"]["examples"]
    assert 0 < len(examples) <= 5 and all(
        e["student"]["clean"] == e["gold"] != e["student"]["perturbed"] for e in examples
    )
    report = {"gates": {"results": [{"name": "max_robustness_drop", "threshold": 0.1}]}}
    html = Robustness().html(r, report)
    assert f"{drop['count']} of {drop['total']}" in html and "95% interval" in html and "past the bound" in html
    assert "&lt;i&gt;" in html and "<i>" not in html and "&amp; co" in html
