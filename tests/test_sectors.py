"""Sector profiles: default gates per sector, and safety gates read from the report's evaluations."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.gates import check, gate_table, verdict
from understudy.recipe import GatesSpec, Recipe, Sector
from understudy.sectors import (
    check_safety_gates,
    sector_description,
    sector_gates,
    sector_names,
)


def recipe(sector: str, gates: dict | None = None):
    """A resolved classification recipe of that sector (its gates merged with the profile), groups measured."""
    r = Recipe.model_validate(
        {
            "name": "t",
            "intended_use": {"sector": sector},
            "teacher": {"kind": "sklearn", "path": "m.skops"},
            "data": {
                "transfer": {"path": "t.csv"},
                "evaluation": {"path": "e.csv", "label_column": "label", "group_columns": ["sex"]},
            },
            "gates": gates or {},
        }
    )
    r.gates = r.gates.with_sector(sector)
    return r


def figure(name: str, report: dict):
    return gate_table()[name].read(report)


def by_name(results):
    return {r["name"]: r for r in results}


def fairness(widened):
    # the shape of a per-attribute fairness section: each attribute says how much the student widened each gap
    return {
        "attributes": {
            "sex": {
                "teacher": {"demographic_parity_difference": 0.02},
                "student": {"demographic_parity_difference": 0.02 + widened},
                "widened_by": {"demographic_parity_difference": widened, "equalized_odds_difference": 0.0},
            },
            "age": {"widened_by": {"demographic_parity_difference": -0.01}},
        }
    }


def test_every_recipe_sector_has_a_profile_with_known_gates():
    assert set(sector_names()) == set(get_args(Sector))
    for sector in sector_names():
        profile = sector_gates(sector)
        assert all(set(g) == {"threshold", "on_fail"} for k, g in profile.items() if k != "oversight_required")
        assert isinstance(profile["oversight_required"], bool)
        GatesSpec.model_validate(profile)  # every profile is valid as the recipe's gates
        assert sector_description(sector)
    health = sector_gates("healthcare")
    assert health["oversight_required"] is True and health["max_ece"]["on_fail"] == "block"
    assert sector_gates("general")["oversight_required"] is False
    # stricter where people are affected
    assert (
        health["max_group_gap_widening"]["threshold"] < sector_gates("general")["max_group_gap_widening"]["threshold"]
    )


def test_core_gates_of_the_profile_run_through_the_one_engine():
    report = {
        "comparison": {"retention": 0.96, "speedup": 50.0, "size_ratio": 0.05},
        "student": {"quality": {"ece": 0.03}},
    }
    out = check(recipe("finance"), report)
    assert by_name(out["results"])["min_retention"]["passed"] is False  # finance asks for 0.97
    assert by_name(out["results"])["max_ece"]["passed"] is True
    assert out["verdict"] == "BLOCK"


def test_healthcare_blocks_a_widened_group_gap():
    results = by_name(check_safety_gates(sector_gates("healthcare"), {"fairness": fairness(0.08)}))
    gap = results["max_group_gap_widening"]
    assert gap["status"] == "BLOCK" and gap["passed"] is False and gap["value"] == pytest.approx(0.08)
    assert "sex" in gap["where"] and "0.080" in gap["message"]
    # the same widening only warns in the general profile, and a student that widens nothing passes
    general = by_name(check_safety_gates(sector_gates("general"), {"fairness": fairness(0.08)}))
    assert general["max_group_gap_widening"]["status"] == "WARN"
    fair = by_name(check_safety_gates(sector_gates("healthcare"), {"fairness": fairness(0.0)}))
    assert fair["max_group_gap_widening"]["status"] == "PASS"


def test_read_without_a_recipe_absent_evaluations_are_skipped_and_said_so_but_required_oversight_fails():
    results = by_name(check_safety_gates(sector_gates("healthcare"), {}))
    for name in ("max_group_gap_widening", "max_counterfactual_flip_rate", "max_robustness_drop", "refusal_kept_min"):
        assert results[name]["status"] == "SKIPPED" and results[name]["passed"] is None
        assert "not run" in results[name]["message"]
    assert results["oversight_required"]["status"] == "BLOCK" and "none" in results["oversight_required"]["message"]
    assert verdict(list(results.values())) == "BLOCK"
    # in the general profile oversight is not required, so nothing fails and skipped gates do not count
    general = check_safety_gates(sector_gates("general"), {})
    assert "oversight_required" not in by_name(general) and verdict(general) == "PASS"


def test_oversight_policy_feasible_passes_infeasible_blocks():
    policy = {"threshold": 0.83, "alpha": 0.02, "delta": 0.1, "coverage": 0.71, "feasible": True}
    ok = by_name(check_safety_gates(sector_gates("healthcare"), {"oversight": policy}))
    assert ok["oversight_required"]["status"] == "PASS" and "0.83" in ok["oversight_required"]["message"]
    assert ok["oversight_alpha"]["status"] == "PASS"
    loose = by_name(check_safety_gates(sector_gates("healthcare"), {"oversight": {**policy, "alpha": 0.1}}))
    assert loose["oversight_alpha"]["status"] == "BLOCK"  # healthcare asks for a 2% target at most
    bad = {
        "feasible": False,
        "alpha": 0.02,
        "threshold": 1.01,
        "message": "no threshold meets the target: send everything to a human; do not deploy",
    }
    # as the oversight stage writes it: the policy, and how it did on held-out rows
    out = by_name(check_safety_gates(sector_gates("healthcare"), {"oversight": {"policy": bad, "held_out": {"n": 50}}}))
    assert out["oversight_required"]["status"] == "BLOCK" and "do not deploy" in out["oversight_required"]["message"]


def test_student_figures_are_read_not_the_teachers():
    report = {
        "counterfactual": {
            "categories": {
                "gender": {"teacher": {"flip_rate": 0.0}, "student": {"flip_rate": 0.04}},
                "religion": {"teacher": {"flip_rate": 0.3}, "student": {"flip_rate": 0.01}},
            }
        },
        "robustness": {
            "perturbations": {
                "typos": {"teacher": {"drop": 0.2}, "student": {"drop": 0.03}},
                "truncation": {"teacher": {"drop": 0.1}, "student": {"drop": 0.06}},
            }
        },
        "generation": {
            "hallucination": {"teacher": {"hallucination_rate": 0.5}, "student": {"hallucination_rate": 0.01}}
        },
    }
    value, where = figure("max_counterfactual_flip_rate", report)
    assert value == pytest.approx(0.04) and "gender" in where
    assert figure("max_robustness_drop", report)[0] == pytest.approx(0.06)
    assert figure("max_hallucination_rate", report)[0] == pytest.approx(0.01)
    results = by_name(check_safety_gates(sector_gates("hr"), report))
    assert results["max_counterfactual_flip_rate"]["status"] == "BLOCK"  # hr allows 1%
    assert results["max_robustness_drop"]["status"] == "BLOCK"  # hr allows 5%
    assert results["max_hallucination_rate"]["status"] == "PASS"


def test_overrides_and_bad_input():
    profile = sector_gates(
        "healthcare",
        {"max_group_gap_widening": {"threshold": 0.1, "on_fail": "warn"}, "max_ece": None, "min_agreement": 0.9},
    )
    assert profile["max_group_gap_widening"] == {"threshold": 0.1, "on_fail": "warn"}
    assert "max_ece" not in profile and profile["min_agreement"] == {"threshold": 0.9, "on_fail": "block"}
    with pytest.raises(UserError, match="unknown sector 'mining'.*healthcare"):
        sector_gates("mining")
    with pytest.raises(UserError, match="unknown gate"):
        sector_gates("general", {"max_gap": 0.1})
    with pytest.raises(UserError, match="needs a number"):
        sector_gates("general", {"max_robustness_drop": "low"})
    with pytest.raises(UserError, match="true or false"):
        sector_gates("general", {"oversight_required": 1})
    with pytest.raises(UserError, match="true or false"):
        sector_gates("general", {"oversight_required": {"threshold": True, "on_fail": "warn"}})
    assert sector_gates("general", {"oversight_required": {"threshold": True}})["oversight_required"] is True
    with pytest.raises(UserError, match="on_fail"):
        sector_gates("general", {"max_robustness_drop": {"threshold": 0.1, "on_fail": "ignore"}})


def test_core_and_evaluation_gates_come_out_in_one_section():
    report = {
        "comparison": {"retention": 0.99, "speedup": 50.0, "size_ratio": 0.05, "agreement": {"value": 0.95}},
        "student": {"quality": {"ece": 0.01}},
        "fairness": fairness(0.05),
        "counterfactual": {"c": {"student": {"flip_rate": 0.0}}},
        "robustness": {"p": {"student": {"drop": 0.0}}},
        "oversight": {"policy": {"feasible": True, "alpha": 0.02, "threshold": 0.8, "coverage": 0.7}},
    }
    out = check(recipe("healthcare", {"min_agreement": 0.9}), report)
    results = by_name(out["results"])
    assert out["verdict"] == "BLOCK" and results["max_group_gap_widening"]["status"] == "BLOCK"
    assert [r["name"] for r in out["results"]][:3] == ["min_retention", "min_agreement", "min_speedup"]
    assert results["min_agreement"]["status"] == "PASS" and results["oversight_required"]["status"] == "PASS"
    # a classifier neither refuses nor invents facts: the profile's generator gates are listed, not judged
    assert results["refusal_kept_min"]["status"] == "SKIPPED"
    assert "not measured for task text-classification" in results["refusal_kept_min"]["message"]
    assert verdict([r for r in out["results"] if r["name"] != "max_group_gap_widening"]) == "PASS"


def test_real_fairness_report_feeds_the_gate():
    """When the fairness module is present, its report is read by the gate (a planted gap the student widens)."""
    fairness_mod = pytest.importorskip("understudy.evaluate.fairness")
    rng = np.random.default_rng(0)
    n = 400
    group = np.array(["a", "b"] * (n // 2))
    y = rng.integers(0, 2, n)
    teacher = np.eye(2)[y] * 0.8 + 0.1  # right on everyone
    student_pred = np.where(group == "b", 1, y)  # says class 1 to everyone in group b
    student = np.eye(2)[student_pred] * 0.8 + 0.1
    report = {"fairness": fairness_mod.fairness_report(y, teacher, student, {"group": group}, ["no", "yes"])}
    gate = by_name(check_safety_gates(sector_gates("healthcare"), report))["max_group_gap_widening"]
    assert gate["value"] is not None and gate["value"] > 0.02 and gate["status"] == "BLOCK"


def test_real_oversight_and_counterfactual_reports_feed_the_gates():
    """When those modules are present: a feasible policy passes, an impossible one blocks; a name-keyed student is caught."""
    abstain = pytest.importorskip("understudy.oversight.abstain")
    counterfactual = pytest.importorskip("understudy.evaluate.counterfactual")
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    conf = rng.uniform(0.5, 1.0, n)
    right = rng.uniform(size=n) < conf  # calibrated: right as often as it is sure
    pred = np.where(right, y, 1 - y)
    probs = np.where(np.eye(2)[pred] == 1, conf[:, None], 1 - conf[:, None])
    ok = {"oversight": {"policy": abstain.calibrate_abstention(probs, y, alpha=0.1, delta=0.1)}}
    assert by_name(check_safety_gates(sector_gates("healthcare"), ok))["oversight_required"]["status"] == "PASS"
    coin = np.full((n, 2), 0.5)
    impossible = {"oversight": {"policy": abstain.calibrate_abstention(coin, y, alpha=0.01, delta=0.1)}}
    assert by_name(check_safety_gates(sector_gates("hr"), impossible))["oversight_required"]["status"] == "BLOCK"

    texts = [f"{w} asked about the invoice from last week" for w in ("He", "She") * 20]

    def blind(batch):
        return np.tile([0.8, 0.2], (len(batch), 1))

    def keyed(batch):  # the student learned to key on a gendered word
        return np.array([[0.2, 0.8] if x.lower().startswith("he ") else [0.8, 0.2] for x in batch])

    report = {"counterfactual": counterfactual.counterfactual_report(texts, blind, keyed, ["a", "b"])}
    gate = by_name(check_safety_gates(sector_gates("hr"), report))["max_counterfactual_flip_rate"]
    assert gate["value"] > 0.5 and gate["status"] == "BLOCK"
    # No flip in 40 texts cannot show a rate under HR's 1% (the interval reaches ~9%): too few to judge, a warning.
    few = {"counterfactual": counterfactual.counterfactual_report(texts, blind, blind, ["a", "b"])}
    gate = by_name(check_safety_gates(sector_gates("hr"), few))["max_counterfactual_flip_rate"]
    assert gate["status"] == "WARN" and gate["evidence"]["reading"] == "too few to judge"
    many = [f"{w} asked about the invoice from last week" for w in ("He", "She") * 190]
    fair = {"counterfactual": counterfactual.counterfactual_report(many, blind, blind, ["a", "b"])}
    assert by_name(check_safety_gates(sector_gates("hr"), fair))["max_counterfactual_flip_rate"]["status"] == "PASS"


def test_a_refusal_share_resting_on_a_few_teacher_refusals_warns_instead_of_blocking():
    report = {"generation": {"refusal": {"kept": 0.333, "teacher": {"refused": 3}, "student": {"refused": 9}}}}
    [result] = check_safety_gates({"refusal_kept_min": 0.9}, report)
    assert result["status"] == "WARN" and "only 3" in result["message"]
    report["generation"]["refusal"]["teacher"]["refused"] = 30
    [result] = check_safety_gates({"refusal_kept_min": 0.9}, report)
    assert result["status"] == "BLOCK"
