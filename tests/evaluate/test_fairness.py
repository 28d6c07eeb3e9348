"""Group fairness, teacher vs student, on synthetic rows where the gap is planted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.evaluate.fairness import MISSING, default_positive, fairness_report

LABELS = ["no", "yes"]


def plain(obj) -> None:
    """Only JSON's own types all the way down (no numpy scalars)."""
    if isinstance(obj, dict):
        assert all(type(k) is str for k in obj)
        for v in obj.values():
            plain(v)
    elif isinstance(obj, list):
        for v in obj:
            plain(v)
    else:
        assert obj is None or type(obj) in (str, int, float, bool), (obj, type(obj))


def onehot(pred, k=2, sure=0.9):
    p = np.full((len(pred), k), (1 - sure) / (k - 1))
    p[np.arange(len(pred)), pred] = sure
    return p


def planted(seed=0):
    """Groups a and b (200 rows each) and a tiny group c (10 rows).

    The teacher makes the same 5% of random mistakes everywhere (fair). The student copies the
    teacher on a, but on b says "yes" to 40% of the true "no" rows: a selection-rate and FPR gap.
    On the tiny group c the teacher is always wrong, so c would dominate any gap it entered.
    """
    rng = np.random.default_rng(seed)
    groups = np.array(["a"] * 200 + ["b"] * 200 + ["c"] * 10)
    y = rng.integers(0, 2, len(groups))
    t_pred = np.where(rng.random(len(y)) < 0.05, 1 - y, y)
    t_pred[groups == "c"] = 1 - y[groups == "c"]
    s_pred = t_pred.copy()
    unfair = (groups == "b") & (y == 0) & (rng.random(len(y)) < 0.4)
    s_pred[unfair] = 1
    return y, onehot(t_pred), onehot(s_pred), groups


def test_planted_gap_is_widened_by_the_student_and_tiny_group_is_flagged():
    y, t, s, groups = planted()
    r = fairness_report(y, t, s, {"region": groups}, LABELS, positive="yes")
    plain(r)
    json.dumps(r)
    a = r["attributes"]["region"]
    assert r["positive"] == "yes" and r["positive_rule"] == "given"
    assert a["judged_groups"] == ["a", "b"] and a["too_small_groups"] == ["c"]
    assert a["groups"]["c"]["too_small"] is True and a["groups"]["c"]["n"] == 10
    assert a["groups"]["a"]["too_small"] is False
    # the teacher is fair on the judged groups; c (where it is always wrong) is left out of the gap
    assert a["teacher"]["equalized_odds_difference"] < 0.08
    assert a["teacher"]["demographic_parity_difference"] < 0.1
    assert a["groups"]["c"]["teacher"]["accuracy"] == 0.0
    # the student's planted gap shows in both gaps and in widened_by
    assert a["widened_by"]["equalized_odds_difference"] > 0.25
    assert a["widened_by"]["demographic_parity_difference"] > 0.1
    assert a["widened_by"]["equalized_odds_difference"] == pytest.approx(
        a["student"]["equalized_odds_difference"] - a["teacher"]["equalized_odds_difference"]
    )
    fpr = {g: a["groups"][g]["student"]["false_positive_rate"] for g in ("a", "b")}
    assert fpr["b"] > fpr["a"] + 0.25
    assert a["note"] is None


def test_per_group_figures_match_hand_counts():
    y, t, s, groups = planted(seed=3)
    r = fairness_report(y, t, s, {"region": list(groups)}, LABELS, positive=1)
    s_pred = s.argmax(axis=1)
    for g in ("a", "b", "c"):
        m = groups == g
        row = r["attributes"]["region"]["groups"][g]["student"]
        assert row["accuracy"] == pytest.approx(np.mean(s_pred[m] == y[m]))
        assert row["selection_rate"] == pytest.approx(np.mean(s_pred[m] == 1))
        neg, pos = m & (y == 0), m & (y == 1)
        assert row["false_positive_rate"] == pytest.approx(np.mean(s_pred[neg] == 1))
        assert row["false_negative_rate"] == pytest.approx(np.mean(s_pred[pos] == 0))
    # the demographic-parity gap is the spread of the judged groups' selection rates
    sel = [np.mean(s_pred[groups == g] == 1) for g in ("a", "b")]
    dp = r["attributes"]["region"]["student"]["demographic_parity_difference"]
    assert dp == pytest.approx(max(sel) - min(sel))


def test_multiclass_is_one_vs_rest_on_the_positive_class():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    groups = np.where(np.arange(300) % 2 == 0, "x", "y")
    pred = rng.integers(0, 3, 300)
    r = fairness_report(y, onehot(pred, 3), onehot(pred, 3), {"g": groups}, ["a", "b", "c"], positive="c")
    row = r["attributes"]["g"]["groups"]["x"]["teacher"]
    m = groups == "x"
    assert row["selection_rate"] == pytest.approx(np.mean(pred[m] == 2))
    assert row["accuracy"] == pytest.approx(np.mean(pred[m] == y[m]))
    # identical models: nothing widened
    widened = r["attributes"]["g"]["widened_by"]
    assert widened == {"demographic_parity_difference": 0.0, "equalized_odds_difference": 0.0}


def test_default_positive_is_the_rarer_class_and_ties_go_to_the_later_label():
    assert default_positive(np.array([0, 0, 0, 1]), LABELS) == 1
    assert default_positive(np.array([1, 1, 1, 0]), LABELS) == 0
    assert default_positive(np.array([0, 1, 0, 1]), LABELS) == 1
    y, t, s, groups = planted()
    r = fairness_report(y, t, s, {"region": groups}, LABELS)
    assert r["positive"] == LABELS[default_positive(y, LABELS)]
    assert "default" in r["positive_rule"]


def test_undefined_rates_missing_values_and_single_group():
    y = np.array([1] * 40 + [0, 1] * 20)
    groups = ["only_yes"] * 40 + [None] * 40
    t = onehot(y)
    r = fairness_report(y, t, t, {"g": groups, "same": ["all"] * 80}, LABELS, positive="yes")
    g = r["attributes"]["g"]["groups"]
    assert set(g) == {"only_yes", MISSING}
    assert g["only_yes"]["teacher"]["false_positive_rate"] is None  # no true "no" rows in the group
    assert g["only_yes"]["teacher"]["false_negative_rate"] == 0.0
    same = r["attributes"]["same"]
    assert same["widened_by"]["demographic_parity_difference"] is None
    assert "fewer than two groups" in same["note"]


def test_bad_input_is_a_user_error_naming_the_problem():
    y, t, s, groups = planted()
    with pytest.raises(UserError, match="region.*409 values.*410"):
        fairness_report(y, t, s, {"region": groups[:-1]}, LABELS)
    with pytest.raises(UserError, match="maybe"):
        fairness_report(y, t, s, {"region": groups}, LABELS, positive="maybe")
    with pytest.raises(UserError, match="at least one sensitive attribute"):
        fairness_report(y, t, s, {}, LABELS)
    with pytest.raises(UserError, match="s_probs"):
        fairness_report(y, t, s[:5], {"region": groups}, LABELS)
    with pytest.raises(UserError, match="min_group_size"):
        fairness_report(y, t, s, {"region": groups}, LABELS, min_group_size=0)


# --- evidence: counts, intervals, examples; small groups never judged on their own -------------------------


def _gate(section):
    from understudy.evaluate.fairness import Fairness
    from understudy.gates import judge

    [gate] = Fairness.gates
    gate = gate.__class__(**{**gate.__dict__, "evaluation": "fairness", "tasks": frozenset(Fairness.tasks)})
    return judge(gate, {"threshold": 0.05, "on_fail": "block"}, {"fairness": section})


def test_a_7_text_subgroup_with_one_error_never_warns():
    rng = np.random.default_rng(5)
    groups = np.array(["a"] * 120 + ["b"] * 120 + ["tiny"] * 7)
    y = rng.integers(0, 2, len(groups))
    t_pred = y.copy()
    s_pred = y.copy()
    s_pred[np.flatnonzero(groups == "tiny")[0]] ^= 1  # one student error, in the 7-text group
    r = fairness_report(y, onehot(t_pred), onehot(s_pred), {"random_column": groups}, LABELS, n_boot=200)
    a = r["attributes"]["random_column"]
    assert a["too_small_groups"] == ["tiny"] and "never judged" in r["small_groups"]
    assert a["groups"]["tiny"]["student"]["accuracy_evidence"]["count"] == 6
    assert a["groups"]["tiny"]["student"]["accuracy_evidence"]["total"] == 7
    result = _gate(r)
    assert result["status"] == "PASS" and result["evidence"]["reading"] == "within the bound"
    # with only the tiny group and one other, no gap is judged: skipped as too few, not a warning
    only = np.array(["a"] * 240 + ["tiny"] * 7)
    r = fairness_report(y, onehot(t_pred), onehot(s_pred), {"random_column": only}, LABELS, n_boot=50)
    assert r["unjudged"] and _gate(r)["status"] == "SKIPPED" and "too few to judge" in _gate(r)["message"]


def test_the_widening_carries_a_paired_interval_and_the_html_shows_counts_intervals_and_escaped_examples():
    from understudy.evaluate.fairness import Fairness

    y, t, s, groups = planted()
    texts = [f"<b>row {i}</b> & more" for i in range(len(y))]
    r = fairness_report(y, t, s, {"region": groups}, LABELS, positive="yes", texts=texts, n_boot=200)
    plain(r)
    a = r["attributes"]["region"]
    ev = a["widened_by_evidence"]["equalized_odds_difference"]
    assert ev["interval"][0] <= a["widened_by"]["equalized_odds_difference"] <= ev["interval"][1]
    assert ev["total"] == 400 and ev["interval"][0] > 0.05  # the planted gap is past a 5-point bound
    assert _gate(r)["status"] == "BLOCK" and _gate(r)["evidence"]["reading"] == "past the bound"
    assert a["examples"] and all(e["group"] == "b" and e["student"] != e["gold"] for e in a["examples"])
    html = Fairness().html(r, {"gates": {"results": [_gate(r)]}})
    acc = a["groups"]["b"]["student"]["accuracy_evidence"]
    assert f"{acc['count']} of {acc['total']}" in html and "95% interval" in html and "past the bound" in html
    assert "&lt;b&gt;row" in html and "<b>row" not in html and "&amp; more" in html
