"""Abstention calibration: a target that can be met (and holds on fresh data) and one that cannot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom

from understudy.errors import UserError
from understudy.oversight.abstain import (
    ALWAYS_DEFER,
    INFEASIBLE,
    POLICY_FILE,
    calibrate_abstention,
    decide,
    evaluate_policy,
    load_policy,
    save_policy,
)


def honest_student(n, rng, low=0.5):
    """Binary probabilities whose confidence is the true chance of being right (error = 1 - confidence)."""
    conf = rng.uniform(low, 1.0, n)
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < conf, y, 1 - y)
    p = np.empty((n, 2))
    p[np.arange(n), pred] = conf
    p[np.arange(n), 1 - pred] = 1 - conf
    return p, y


def test_a_reachable_target_holds_on_fresh_data_most_of_the_time():
    # kept rows with confidence >= t err (1 - t) / 2 on average: alpha 0.1 is met from t = 0.8 (coverage 0.4)
    rng = np.random.default_rng(0)
    alpha, delta, runs = 0.1, 0.1, 60
    misses, coverages = 0, []
    for _ in range(runs):
        policy = calibrate_abstention(*honest_student(1000, rng), alpha=alpha, delta=delta)
        fresh = evaluate_policy(*honest_student(5000, rng), policy)
        if policy["feasible"]:
            coverages.append(fresh["coverage"])
            misses += fresh["error_kept"] > alpha
    assert len(coverages) >= 0.9 * runs
    assert 0.15 < np.mean(coverages) <= 0.4  # answers a fair share, never more than the oracle would
    assert misses / runs <= 2 * delta  # the guarantee is <= delta; 2x leaves room for 60 runs' noise


def test_the_chosen_threshold_passes_an_exact_binomial_test():
    rng = np.random.default_rng(5)
    p, y = honest_student(2000, rng)
    policy = calibrate_abstention(p, y, alpha=0.1, delta=0.1)
    assert policy["feasible"] is True
    assert 0.5 < policy["threshold"] < 1.0
    kept = p.max(axis=1) >= policy["threshold"]
    errors = int(np.sum(p.argmax(axis=1)[kept] != y[kept]))
    assert binom.cdf(errors, kept.sum(), 0.1) <= 0.1
    assert policy["coverage"] == pytest.approx(kept.mean())
    assert policy["calibration_error_kept"] == pytest.approx(errors / kept.sum())
    assert policy["calibration_error_kept"] <= 0.1
    assert "with probability 90%" in policy["message"]
    json.dumps(policy, allow_nan=False)


def test_an_unreachable_target_sends_everything_to_a_human():
    rng = np.random.default_rng(1)
    n = 1000
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, y, (y + 1) % 3)  # 30% wrong whatever the confidence
    p = np.full((n, 3), 0.02)
    p[np.arange(n), pred] = 0.96
    policy = calibrate_abstention(p, y, alpha=0.05, delta=0.1)
    assert policy["feasible"] is False
    assert policy["threshold"] == ALWAYS_DEFER and policy["threshold"] > 1.0
    assert policy["message"] == INFEASIBLE
    assert policy["coverage"] == 0.0 and policy["deferred_share"] == 1.0
    assert policy["calibration_error_kept"] is None
    assert all(decide(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]), policy))
    few = calibrate_abstention(*honest_student(15, rng), alpha=0.05, delta=0.1)
    assert few["feasible"] is False and few["message"].startswith(INFEASIBLE)
    assert "15 calibration rows" in few["message"]


def test_deferral_share_per_group():
    rng = np.random.default_rng(2)
    p_a, y_a = honest_student(800, rng, low=0.85)  # group a: confident and right
    p_b, y_b = honest_student(800, rng, low=0.5)  # group b: often unsure
    p, y = np.vstack([p_a, p_b]), np.concatenate([y_a, y_b])
    groups = {"segment": ["a"] * 800 + ["b"] * 800}
    policy = calibrate_abstention(p, y, alpha=0.1, delta=0.1, groups=groups)
    seg = policy["deferred_by_group"]["segment"]
    assert seg["a"]["n"] == 800 and seg["b"]["n"] == 800
    assert seg["b"]["deferred_share"] > seg["a"]["deferred_share"] + 0.2
    assert (seg["a"]["deferred_share"] + seg["b"]["deferred_share"]) / 2 == pytest.approx(policy["deferred_share"])
    fresh = evaluate_policy(p, y, policy, groups=groups)
    assert fresh["deferred_by_group"] == policy["deferred_by_group"]
    with pytest.raises(UserError, match="segment"):
        calibrate_abstention(p, y, groups={"segment": ["a"] * 10})


def test_decide_follows_the_threshold():
    policy = {"feasible": True, "threshold": 0.8, "alpha": 0.1}
    probs = np.array([[0.9, 0.1], [0.79, 0.21], [0.2, 0.8], [0.5, 0.5]])
    assert decide(probs, policy) == [False, True, False, True]
    assert decide(np.array([0.95, 0.05]), policy) == [False]  # one row
    assert decide(probs, {**policy, "feasible": False}) == [True] * 4


def test_policy_round_trips_through_the_student_folder(tmp_path):
    rng = np.random.default_rng(3)
    policy = calibrate_abstention(*honest_student(1000, rng), alpha=0.1, delta=0.1)
    path = save_policy(policy, tmp_path)
    assert path == tmp_path / POLICY_FILE
    assert load_policy(tmp_path) == policy
    probs, _ = honest_student(50, rng)
    assert decide(probs, load_policy(tmp_path)) == decide(probs, policy)
    infeasible = {**policy, "feasible": False, "threshold": ALWAYS_DEFER}
    save_policy(infeasible, tmp_path)
    assert load_policy(tmp_path)["threshold"] > 1.0


def test_bad_input_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="oversight.json not found"):
        load_policy(tmp_path)
    (tmp_path / POLICY_FILE).write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_policy(tmp_path)
    (tmp_path / POLICY_FILE).write_text('{"threshold": "high"}')
    with pytest.raises(UserError, match="calibrate_abstention"):
        load_policy(tmp_path)
    p, y = honest_student(100, np.random.default_rng(0))
    with pytest.raises(UserError, match="alpha"):
        calibrate_abstention(p, y, alpha=1.5)
    with pytest.raises(UserError, match="delta"):
        calibrate_abstention(p, y, delta=0)
    with pytest.raises(UserError, match="probs"):
        calibrate_abstention(p, y[:5])
    with pytest.raises(UserError, match="not a folder"):
        save_policy({"feasible": True, "threshold": 0.5}, tmp_path / "missing")
