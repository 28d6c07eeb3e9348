"""Gates: figures against thresholds, and the verdict that follows."""

from understudy.gates import check_gates
from understudy.recipe import GatesSpec


def report(retention=0.98, speedup=500.0, size_ratio=0.05, ece=0.04):
    return {"comparison": {"retention": retention, "speedup": speedup, "size_ratio": size_ratio,
                           "agreement": {"value": 0.9}},
            "student": {"quality": {"ece": ece}, "speed": {"batch_1": {"p95_ms": 0.4}}}}


def test_all_met_is_pass():
    out = check_gates(GatesSpec(min_retention=0.97, min_speedup=300, max_size_ratio=0.1), report())
    assert out["verdict"] == "PASS"
    assert all(r["passed"] for r in out["results"])


def test_a_missed_warn_gate_is_warn_and_a_missed_block_gate_is_block():
    gates = GatesSpec(min_retention=0.97, max_size_ratio={"threshold": 0.01, "on_fail": "warn"})
    assert check_gates(gates, report())["verdict"] == "WARN"
    assert check_gates(gates, report(retention=0.9))["verdict"] == "BLOCK"


def test_thresholds_are_inclusive_and_messages_name_the_figure():
    out = check_gates(GatesSpec(min_retention=0.97, min_speedup=None, max_size_ratio=None, max_ece=0.04), report(retention=0.97))
    assert out["verdict"] == "PASS"
    messages = {r["name"]: r["message"] for r in out["results"]}
    assert "97.0%" in messages["min_retention"] and "0.040" in messages["max_ece"]


def test_an_unmeasured_figure_fails_its_gate():
    out = check_gates(GatesSpec(min_retention=None, min_speedup=None, max_size_ratio=None, max_latency_ms=1.0),
                      {"comparison": {}, "student": {}})
    assert out["verdict"] == "BLOCK" and "not measured" in out["results"][0]["message"]
