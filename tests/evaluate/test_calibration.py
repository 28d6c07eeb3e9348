"""Temperature scaling on synthetic probabilities with a planted temperature."""

from __future__ import annotations

import json

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.evaluate.calibration import apply_temperature, calibration_report, fit_temperature
from understudy.evaluate.metrics import N_BINS, quality

LABELS = ["a", "b", "c"]


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def planted(n=4000, temperature=2.5, seed=0):
    """Gold labels drawn from softmax(z) (calibrated), and an overconfident model softmax(T z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, 3))
    honest = softmax(z)
    y = (rng.random(n)[:, None] > np.cumsum(honest, axis=1)).sum(axis=1)
    return y, honest, softmax(temperature * z)


def test_recovers_a_planted_temperature():
    y, honest, over = planted()
    assert fit_temperature(over, y) == pytest.approx(2.5, rel=0.1)
    assert fit_temperature(honest, y) == pytest.approx(1.0, rel=0.1)
    under = softmax(np.log(honest) * 0.5)  # too timid: needs T < 1
    assert fit_temperature(under, y) == pytest.approx(0.5, rel=0.1)


def test_fitted_temperature_is_the_nll_minimum():
    y, _, over = planted(n=1000, seed=2)
    rows = np.arange(len(y))

    def nll(t):
        return -np.mean(np.log(apply_temperature(over, t)[rows, y]))

    t_hat = fit_temperature(over, y)
    grid = np.exp(np.linspace(np.log(0.5), np.log(10), 400))
    best = grid[np.argmin([nll(t) for t in grid])]
    assert t_hat == pytest.approx(best, rel=0.02)
    assert nll(t_hat) <= min(nll(t) for t in grid) + 1e-9


def test_apply_temperature_keeps_the_class_and_rescales_confidence():
    _, honest, _ = planted(n=200)
    for t in (0.3, 1.0, 4.0):
        q = apply_temperature(honest, t)
        assert np.allclose(q.sum(axis=1), 1.0)
        assert np.array_equal(q.argmax(axis=1), honest.argmax(axis=1))
    assert np.allclose(apply_temperature(honest, 1.0), honest)
    assert np.all(apply_temperature(honest, 3.0).max(axis=1) < honest.max(axis=1) + 1e-12)
    with pytest.raises(UserError, match="temperature must be a positive number"):
        apply_temperature(honest, 0.0)


def test_report_shows_lower_ece_after_scaling_an_overconfident_student():
    y, honest, over = planted()
    r = calibration_report(y, honest, over, LABELS, seed=1)
    json.dumps(r)
    assert r["n_calibration"] == 2000 and r["n_test"] == 2000
    s, t = r["student"], r["teacher"]
    assert s["temperature"] == pytest.approx(2.5, rel=0.1)
    assert s["before"]["ece"] > 0.1
    assert s["after"]["ece"] < s["before"]["ece"] / 3
    assert s["after"]["brier"] < s["before"]["brier"] and s["after"]["nll"] < s["before"]["nll"]
    assert s["after"]["accuracy"] == s["before"]["accuracy"]  # the predicted class never changes
    assert s["after"]["mean_confidence"] < s["before"]["mean_confidence"]
    # the calibrated teacher barely moves
    assert t["temperature"] == pytest.approx(1.0, rel=0.1)
    assert abs(t["after"]["ece"] - t["before"]["ece"]) < 0.02
    assert len(s["before"]["reliability"]) == N_BINS
    assert sum(b["count"] for b in s["after"]["reliability"]) == 2000


def test_ece_and_brier_are_the_ones_of_the_quality_report():
    y, honest, over = planted(n=400)
    r = calibration_report(y, None, over, LABELS, calibration_fraction=0.5, seed=0)
    assert r["teacher"] is None
    test = np.sort(np.random.default_rng(0).permutation(400)[200:])  # the documented split
    q = quality(y[test], over[test], LABELS, n_boot=0)
    assert r["student"]["before"]["ece"] == pytest.approx(q["ece"])
    assert r["student"]["before"]["brier"] == pytest.approx(q["brier"])
    assert r["student"]["before"]["reliability"] == q["reliability"]


def test_bad_input_is_a_user_error():
    y, honest, over = planted(n=50)
    with pytest.raises(UserError, match="calibration_fraction"):
        calibration_report(y, honest, over, LABELS, calibration_fraction=1.0)
    with pytest.raises(UserError, match="at least 2 rows"):
        calibration_report(y[:3], honest[:3], over[:3], LABELS)
    with pytest.raises(UserError, match="t_probs"):
        calibration_report(y, honest[:, :2], over, LABELS)
    with pytest.raises(UserError, match="probs"):
        fit_temperature(over, y[:10])


def test_a_temperature_ships_only_where_it_makes_the_held_out_scores_better():
    from understudy.evaluate.calibration import shipped_temperature

    y, honest, over = planted(n=600, seed=3)
    r = calibration_report(y, over, honest, LABELS, seed=1)  # student calibrated already, teacher overconfident
    fitted, shipped = r["student"]["temperature"], shipped_temperature(r["student"])
    assert fitted != 1.0  # the fit always moves a little: the calibration split's noise
    if r["student"]["after"]["nll"] >= r["student"]["before"]["nll"]:
        assert shipped["temperature"] == 1.0 and "raw scores ship" in shipped["why"]
    else:
        assert shipped["temperature"] == fitted
    over_r = calibration_report(y, honest, over, LABELS, seed=1)
    assert shipped_temperature(over_r["student"])["temperature"] == pytest.approx(2.5, rel=0.15)
    # a student whose fitted temperature made the held-out log-loss worse serves its raw scores
    worse = {"temperature": 0.7, "before": {"nll": 0.504}, "after": {"nll": 0.509}}
    assert shipped_temperature(worse) == {
        "temperature": 1.0,
        "why": "the fitted temperature 0.700 did not lower the held-out log-loss (0.5040 -> 0.5090): the raw scores ship",
    }


def test_the_summary_and_html_say_which_texts_the_figures_are_on_and_when_they_are_rough():
    from understudy.evaluate.calibration import ROUGH_BELOW, Calibration, shipped_temperature

    y, honest, over = planted(n=148, seed=4)
    small = calibration_report(y, honest, over, LABELS, seed=0)
    small["shipped"] = shipped_temperature(small["student"])
    (line,) = Calibration().summary(small)
    assert line.startswith("calibration: student ECE")
    assert "both on the 74-text test half, the temperature fitted on the other 74" in line
    assert "over all 148 evaluation texts, so it differs" in line and "rough: only 74 test texts" in line
    page = Calibration().html(small, {})
    assert "Measured on the 74-text test half" in page and "Rough: only 74 test texts." in page

    y, honest, over = planted(n=2 * ROUGH_BELOW, seed=4)
    big = calibration_report(y, honest, over, LABELS, seed=0)
    (line,) = Calibration().summary(big)
    assert f"on the {ROUGH_BELOW}-text test half" in line and "rough" not in line
    assert "rough" not in Calibration().html(big, {}).lower()

    uneven = calibration_report(y, honest, over, LABELS, calibration_fraction=0.3, seed=0)
    assert "on the 280-text test part, the temperature fitted on the other 120" in Calibration().summary(uneven)[0]
