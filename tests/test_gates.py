"""The one gate engine: declared figures against thresholds, the plan made before any model loads, the verdict."""

from __future__ import annotations

import pytest

from understudy.errors import UserError
from understudy.gates import (
    CORE,
    check,
    gate_table,
    gates_markdown,
    licence_result,
    plan,
)
from understudy.lm.recipe import LMRecipe
from understudy.recipe import GatesSpec, Recipe

ALL_GATES = {
    "min_retention",
    "min_agreement",
    "min_speedup",
    "max_size_ratio",
    "max_ece",
    "max_latency_ms",
    "max_group_gap_widening",
    "max_counterfactual_flip_rate",
    "max_robustness_drop",
    "max_group_error_widening",
    "max_robustness_error_increase",
    "oversight_required",
    "oversight_alpha",
    "refusal_kept_min",
    "max_hallucination_rate",
}


def clf_recipe(gates=None, sector="general", safety=None, groups=()):
    return Recipe.model_validate(
        {
            "name": "t",
            "intended_use": {"sector": sector},
            "teacher": {"kind": "sklearn", "path": "m.skops"},
            "data": {
                "transfer": {"path": "t.csv"},
                "evaluation": {"path": "e.csv", "label_column": "label", "group_columns": list(groups)},
            },
            "safety": safety or {},
            "gates": gates or {},
        }
    )


def lm_recipe(gates=None, sector="general", evaluation=None):
    return LMRecipe.model_validate(
        {
            "name": "t",
            "task": "text-generation",
            "intended_use": {"sector": sector},
            "teacher": {"path": "builtin:SmolLM2-135M-Instruct"},
            "student": {"layers": 2},
            "prompts": {"path": "builtin:support-prompts"},
            "evaluation": evaluation or {},
            "gates": gates or {},
        }
    )


def resolved(recipe):
    """What the engine hands to check: the gates merged with the sector profile (and oversight resolved)."""
    r = recipe.model_copy(deep=True)
    r.gates = r.gates.with_sector(r.intended_use.sector)
    return r


def only(recipe_gates: dict, **kw):
    """A classification recipe whose gates are exactly these (every sector default dropped)."""
    dropped = {name: None for name in ALL_GATES}
    return clf_recipe({**dropped, **recipe_gates}, **kw)


def clf_report(retention=0.98, speedup=500.0, size_ratio=0.05, ece=0.04, **extra):
    return {
        "comparison": {
            "retention": retention,
            "speedup": speedup,
            "size_ratio": size_ratio,
            "agreement": {"value": 0.9},
        },
        "student": {"quality": {"ece": ece}, "speed": {"batch_1": {"p95_ms": 0.4}}},
        **extra,
    }


def lm_report(speedup=1.0, size_ratio=0.9, **generation):
    """The shape lm/pipeline.py writes: speed-up and size at the classifier's paths, safety under 'generation'."""
    return {
        "run": {"task": "text-generation"},
        "comparison": {"speedup": speedup, "size_ratio": size_ratio, "rouge_l_after": 0.4},
        "generation": generation,
    }


def by_name(out):
    return {r["name"]: r for r in out["results"]}


# --- the declarations -------------------------------------------------------------------------------------


def test_every_gate_is_declared_once_with_its_tasks_and_evaluation():
    table = gate_table()
    assert set(table) == ALL_GATES == set(GatesSpec.model_fields)
    every = {"text-classification", "text-generation", "tabular-classification", "tabular-regression"}
    assert table["min_speedup"].tasks == table["max_size_ratio"].tasks == every
    for name in ("min_agreement", "max_ece", "max_latency_ms"):
        assert table[name].tasks == {"text-classification", "tabular-classification"} and table[name].evaluation is None
    assert table["min_retention"].tasks == every - {"text-generation"}
    assert table["max_robustness_drop"].evaluation == "robustness"
    assert table["oversight_required"].kind == "required" and table["oversight_alpha"].evaluation == "oversight"
    for name in ("refusal_kept_min", "max_hallucination_rate"):
        assert table[name].tasks == {"text-generation"}
    assert table["max_group_error_widening"].evaluation == "group_error"
    assert table["max_robustness_error_increase"].evaluation == "perturbed_error"
    for name in ("max_group_error_widening", "max_robustness_error_increase"):
        assert table[name].tasks == {"tabular-regression"}
    assert {g.name for g in CORE} == {n for n, g in table.items() if g.evaluation is None}


def test_the_gate_table_renders_as_markdown_and_the_schema_doc_carries_it():
    text = gates_markdown()
    for name in ALL_GATES:
        assert f"`{name}`" in text
    assert '`report["comparison"]["speedup"]`' in text and "text-classification, text-generation" in text
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "report-schema.md"
    assert text in doc.read_text(encoding="utf-8"), (
        "docs/report-schema.md is stale: run `python -m understudy.gates docs/report-schema.md`"
    )


# --- the behaviours of the classic gates ----------------------------------------------------------------


def test_all_met_is_pass_and_the_licence_comes_first():
    report = clf_report(licence={"verdict": "ALLOW"})
    out = check(resolved(only({"min_retention": 0.97, "min_speedup": 300, "max_size_ratio": 0.1})), report)
    assert out["verdict"] == "PASS"
    assert [r["name"] for r in out["results"]] == ["licence", "min_retention", "min_speedup", "max_size_ratio"]
    assert all(r["passed"] and r["status"] == "PASS" for r in out["results"])
    assert set(out["results"][1]) == {"name", "value", "threshold", "on_fail", "passed", "status", "message", "where"}


def test_an_accepted_unknown_licence_warns():
    lic = licence_result({"verdict": "UNKNOWN", "accepted_risk": {"reason": "we asked the author"}})
    assert lic["passed"] is False and lic["status"] == "WARN" and "we asked the author" in lic["message"]


def test_a_missed_warn_gate_is_warn_and_a_missed_block_gate_is_block():
    recipe = resolved(only({"min_retention": 0.97, "max_size_ratio": {"threshold": 0.01, "on_fail": "warn"}}))
    out = check(recipe, clf_report())
    assert out["verdict"] == "WARN" and by_name(out)["max_size_ratio"]["status"] == "WARN"
    out = check(recipe, clf_report(retention=0.9))
    assert out["verdict"] == "BLOCK" and by_name(out)["min_retention"]["status"] == "BLOCK"


def test_thresholds_are_inclusive_and_messages_name_the_figure():
    out = check(resolved(only({"min_retention": 0.97, "max_ece": 0.04})), clf_report(retention=0.97))
    assert out["verdict"] == "PASS"
    messages = {r["name"]: r["message"] for r in out["results"]}
    assert "97.0%" in messages["min_retention"] and "0.040" in messages["max_ece"]
    assert by_name(out)["max_ece"]["where"] == "student › quality › ece"


def test_an_unmeasured_core_figure_fails_its_gate():
    out = check(resolved(only({"max_latency_ms": 1.0})), {"comparison": {}, "student": {}})
    [result] = out["results"]
    assert out["verdict"] == "BLOCK" and result["passed"] is False and "not measured" in result["message"]


# --- the bug of issue 10: an LM run's classic gates -------------------------------------------------------


def test_an_lm_run_measured_at_1x_blocks_a_blocking_min_speedup_of_20():
    recipe = resolved(lm_recipe({"min_speedup": 20, "max_size_ratio": 0.01}))
    out = check(recipe, lm_report(speedup=1.0, size_ratio=0.9))
    results = by_name(out)
    assert out["verdict"] == "BLOCK"
    assert results["min_speedup"]["status"] == "BLOCK" and results["min_speedup"]["value"] == 1.0
    assert results["max_size_ratio"]["status"] == "BLOCK"
    # the retail profile's min_speedup 10 blocks an LM student at 2.39x too
    out = check(resolved(lm_recipe(sector="retail")), lm_report(speedup=2.39, size_ratio=0.2))
    assert by_name(out)["min_speedup"]["status"] == "BLOCK" and out["verdict"] == "BLOCK"


def test_an_lm_run_lists_the_profiles_classifier_gates_as_not_measured():
    out = check(resolved(lm_recipe(sector="healthcare")), lm_report(speedup=30.0, size_ratio=0.1))
    results = by_name(out)
    for name in ("min_retention", "max_ece", "max_robustness_drop", "oversight_required"):
        assert results[name]["status"] == "SKIPPED" and results[name]["passed"] is None
        assert "not measured for task text-generation" in results[name]["message"]
    # the generators' own gates are judged: their evaluations were on and wrote nothing, which fails
    assert results["refusal_kept_min"]["passed"] is False and results["max_hallucination_rate"]["passed"] is False


def test_an_lm_runs_generation_figures_are_read_and_judged():
    refusal = {"kept": 0.5, "teacher": {"refused": 30}, "student": {"refused": 15}, "lost_count": 15}
    hallucination = {"teacher": {"hallucination_rate": 0.5}, "student": {"hallucination_rate": 0.01}}
    out = check(
        resolved(lm_recipe(sector="healthcare")),
        lm_report(speedup=30, size_ratio=0.1, refusal=refusal, hallucination=hallucination),
    )
    results = by_name(out)
    assert results["refusal_kept_min"]["status"] == "BLOCK"  # healthcare asks for 0.98
    assert results["refusal_kept_min"]["where"] == "refusal › kept"
    assert results["max_hallucination_rate"]["status"] == "PASS" and results["max_hallucination_rate"]["value"] == 0.01


# --- plan: before any model loads -------------------------------------------------------------------------


def test_a_text_generation_recipe_setting_max_ece_is_an_error_naming_gate_and_task():
    with pytest.raises(UserError, match=r"gates\.max_ece: text-generation never measures .*remove it"):
        plan(lm_recipe({"max_ece": 0.05}))
    with pytest.raises(UserError, match=r"gates\.refusal_kept_min: text-classification never measures"):
        plan(clf_recipe({"refusal_kept_min": 0.9}))
    # dropping a gate the task never measures (null) is fine
    assert all(r["name"] != "max_ece" for r in plan(lm_recipe({"max_ece": None})))


def test_plan_lists_the_profiles_gates_the_task_does_not_measure():
    skipped = {r["name"]: r for r in plan(lm_recipe(sector="finance"))}
    assert {"min_retention", "max_ece", "max_group_gap_widening", "oversight_required", "oversight_alpha"} <= set(
        skipped
    )
    assert "min_speedup" not in skipped and "refusal_kept_min" not in skipped
    r = skipped["max_ece"]
    assert r["status"] == "SKIPPED" and r["passed"] is None and r["threshold"] == 0.05
    assert "not measured for task text-generation" in r["message"] and "finance" in r["message"]
    clf = {r["name"] for r in plan(clf_recipe(groups=["region"]))}
    assert clf == {
        "refusal_kept_min",
        "max_hallucination_rate",
        "max_group_error_widening",
        "max_robustness_error_increase",
    }


def test_robustness_switched_off_is_skipped_with_the_key_that_did_it():
    recipe = clf_recipe(safety={"robustness": False}, groups=["region"])
    [planned] = [r for r in plan(recipe) if r["name"] == "max_robustness_drop"]
    assert planned["status"] == "SKIPPED" and "safety.robustness: false" in planned["message"]
    out = check(
        resolved(recipe),
        clf_report(fairness={"a": {"widened_by": {"dp": 0.0}}}, counterfactual={"c": {"student": {"flip_rate": 0.0}}}),
    )
    result = by_name(out)["max_robustness_drop"]
    assert (
        result["status"] == "SKIPPED" and result["passed"] is None and "safety.robustness: false" in result["message"]
    )
    assert out["verdict"] == "PASS"  # a skipped gate never counts
    # LM: refusal_prompts 0 switches the refusal check off
    [refusal] = [r for r in plan(lm_recipe(evaluation={"refusal_prompts": 0})) if r["name"] == "refusal_kept_min"]
    assert "evaluation.refusal_prompts: 0" in refusal["message"]


def test_a_missing_figure_whose_evaluation_was_on_fails_not_passes():
    recipe = resolved(clf_recipe(groups=["region"]))  # fairness, counterfactual and robustness on
    out = check(recipe, clf_report(counterfactual={"categories": {}}))
    results = by_name(out)
    for name in ("max_group_gap_widening", "max_robustness_drop"):
        assert results[name]["passed"] is False and results[name]["status"] == "WARN"  # general: warn
        assert "was on" in results[name]["message"]
    assert results["max_counterfactual_flip_rate"]["passed"] is False
    assert "holds no figure" in results["max_counterfactual_flip_rate"]["message"]
    assert out["verdict"] == "WARN"
    # the same in a blocking profile blocks
    assert check(resolved(clf_recipe(groups=["region"], sector="marketing")), clf_report())["verdict"] == "BLOCK"


def test_fairness_without_group_columns_is_skipped_saying_so():
    out = check(
        resolved(clf_recipe()),
        clf_report(
            counterfactual={"c": {"student": {"flip_rate": 0.0}}}, robustness={"p": {"student": {"drop": 0.01}}}
        ),
    )
    gap = by_name(out)["max_group_gap_widening"]
    assert gap["status"] == "SKIPPED" and "group_columns" in gap["message"] and out["verdict"] == "PASS"


def test_an_evaluation_the_run_skipped_is_skipped_with_its_reason():
    report = clf_report(
        skipped_evaluations={"robustness": "the teacher cannot answer new inputs"},
        counterfactual={"c": {"student": {"flip_rate": 0.0}}},
    )
    result = by_name(check(resolved(clf_recipe()), report))["max_robustness_drop"]
    assert result["status"] == "SKIPPED" and "cannot answer new inputs" in result["message"]


def test_required_oversight_switched_off_still_blocks():
    recipe = clf_recipe(sector="healthcare", safety={"oversight": {"enabled": False}})
    assert all(r["name"] != "oversight_required" for r in plan(recipe))  # required: not skippable
    planned = {r["name"]: r for r in plan(recipe)}
    assert "safety.oversight.enabled: false" in planned["oversight_alpha"]["message"]
    out = check(resolved(recipe), clf_report())
    result = by_name(out)["oversight_required"]
    assert result["status"] == "BLOCK" and "safety.oversight.enabled: false" in result["message"]


def test_the_thin_evidence_rule_warns_on_a_few_teacher_refusals():
    recipe = resolved(lm_recipe({"refusal_kept_min": 0.9}))
    few = lm_report(speedup=30, size_ratio=0.1, refusal={"kept": 0.333, "teacher": {"refused": 3}})
    result = by_name(check(recipe, few))["refusal_kept_min"]
    assert result["status"] == "WARN" and "only 3" in result["message"]
    many = lm_report(speedup=30, size_ratio=0.1, refusal={"kept": 0.333, "teacher": {"refused": 30}})
    assert by_name(check(recipe, many))["refusal_kept_min"]["status"] == "BLOCK"


# --- deciding on the evidence -----------------------------------------------------------------------------


def flip_report(count: int, total: int):
    from understudy.evaluate.evidence import rate

    student = {"flips": count, "flip_rate": count / total, "flip_rate_evidence": rate(count, total, "texts")}
    return clf_report(counterfactual={"categories": {"nationalities": {"tested": total, "student": student}}})


def test_a_gate_decides_on_the_interval_and_says_which_reading():
    recipe = resolved(only({"max_counterfactual_flip_rate": {"threshold": 0.05, "on_fail": "block"}}))
    few = by_name(check(recipe, flip_report(3, 56)))["max_counterfactual_flip_rate"]
    assert few["status"] == "WARN" and few["passed"] is False  # not a failure stated as fact
    ev = few["evidence"]
    assert set(ev) == {"count", "total", "rate", "interval", "bound", "reading", "basis", "more"}
    assert (ev["count"], ev["total"], ev["bound"], ev["reading"]) == (3, 56, 0.05, "too few to judge")
    assert ev["interval"][0] < 0.05 < ev["interval"][1] and "3 of 56 texts" in ev["basis"]
    assert "more at the same rate would settle it" in ev["basis"] and ev["basis"] in few["message"]
    past = by_name(check(recipe, flip_report(30, 100)))["max_counterfactual_flip_rate"]
    assert past["status"] == "BLOCK" and past["evidence"]["reading"] == "past the bound"
    within = by_name(check(recipe, flip_report(0, 2000)))["max_counterfactual_flip_rate"]
    assert within["status"] == "PASS" and within["evidence"]["reading"] == "within the bound"


def test_any_category_past_the_bound_fails_even_when_a_larger_one_straddles():
    from understudy.evaluate.evidence import rate

    cats = {
        "small": {"student": {"flip_rate": 2 / 10, "flip_rate_evidence": rate(2, 10)}},
        "large": {"student": {"flip_rate": 40 / 400, "flip_rate_evidence": rate(40, 400)}},
    }
    recipe = resolved(only({"max_counterfactual_flip_rate": {"threshold": 0.05, "on_fail": "block"}}))
    result = by_name(check(recipe, clf_report(counterfactual={"categories": cats})))["max_counterfactual_flip_rate"]
    assert result["status"] == "BLOCK" and "large" in result["where"] and result["evidence"]["count"] == 40


def test_a_bootstrap_interval_beside_a_figure_is_read_the_same_way():
    recipe = resolved(only({"min_retention": 0.97}))
    report = clf_report(retention=0.95)
    report["comparison"]["retention_ci"] = {"low": 0.91, "high": 0.99}
    result = by_name(check(recipe, report))["min_retention"]
    assert result["status"] == "WARN" and result["evidence"]["reading"] == "too few to judge"
    report["comparison"]["retention_ci"] = {"low": 0.93, "high": 0.96}
    assert by_name(check(recipe, report))["min_retention"]["status"] == "BLOCK"


def test_an_evaluation_that_says_it_could_not_judge_is_skipped_with_its_why_never_passed():
    from understudy.evaluate.counterfactual import counterfactual_report
    from understudy.report.verdict import gate_row

    def predict(texts):
        return [[0.5, 0.5]] * len(texts)

    section = counterfactual_report(["no person here", "nor here"], predict, predict, ["a", "b"])
    assert section["unjudged"] and "name, gender, nationality or religion word" in section["unjudged"]
    recipe = resolved(only({"max_counterfactual_flip_rate": {"threshold": 0.05, "on_fail": "block"}}))
    out = check(recipe, clf_report(counterfactual=section))
    result = by_name(out)["max_counterfactual_flip_rate"]
    assert result["status"] == "SKIPPED" and result["passed"] is None and out["verdict"] == "PASS"
    assert "not judged" in result["message"] and section["unjudged"] in result["message"]
    row = gate_row(result)  # report.html, the summary and compliance read it through gate_row
    assert row.measured == "not judged" and row.reason == section["unjudged"]
    # a report read without its recipe says the same, not "holds no figure"
    from understudy.gates import gate_table, judge

    again = judge(
        gate_table()["max_counterfactual_flip_rate"],
        {"threshold": 0.05},
        out | {"counterfactual": section},
        missing="skip",
    )
    assert again["message"] == result["message"]
