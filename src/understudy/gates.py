"""Gates turn measured figures into PASS / WARN / BLOCK."""

from __future__ import annotations

# gate name -> (where its figure lives in report.json, 'min' or 'max', how to say it)
FIGURES = {
    "min_retention": (("comparison", "retention"), "min", "student keeps {v:.1%} of the teacher's macro-F1"),
    "min_agreement": (("comparison", "agreement", "value"), "min", "student agrees with the teacher on {v:.1%} of texts"),
    "min_speedup": (("comparison", "speedup"), "min", "student is {v:,.0f}x faster than the teacher"),
    "max_size_ratio": (("comparison", "size_ratio"), "max", "student is {v:.1%} of the teacher's size on disk"),
    "max_ece": (("student", "quality", "ece"), "max", "student's expected calibration error is {v:.3f}"),
    "max_latency_ms": (("student", "speed", "batch_1", "p95_ms"), "max", "student's p95 latency at batch 1 is {v:.2f} ms"),
}


def _figure(report: dict, path: tuple):
    node = report
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def licence_result(lic: dict) -> dict:
    """The licence gate as a gate result. A BLOCK never gets here (it stops the run first); an accepted UNKNOWN
    is a warning to read."""
    ok = lic["verdict"] in ("ALLOW", "ALLOW_WITH_OBLIGATIONS")
    message = f"licence gate: {lic['verdict']}" + ("" if ok else f", risk accepted: \"{(lic.get('accepted_risk') or {}).get('reason')}\"")
    return {"name": "licence", "value": lic["verdict"], "threshold": None, "on_fail": "warn", "passed": ok,
            "message": message}


def check_gates(gates, report: dict) -> dict:
    results = []
    for name, (path, kind, words) in FIGURES.items():
        gate = getattr(gates, name)
        if gate is None:
            continue
        value = _figure(report, path)
        if value is None:
            passed, message = False, f"{name}: the figure was not measured"
        else:
            passed = value >= gate.threshold if kind == "min" else value <= gate.threshold
            bound = "at least" if kind == "min" else "at most"
            message = words.format(v=value) + f" ({bound} {gate.threshold} required)"
        results.append({"name": name, "value": value, "threshold": gate.threshold, "on_fail": gate.on_fail,
                        "passed": bool(passed), "message": message})
    if report.get("licence"):
        results.insert(0, licence_result(report["licence"]))
    failed = {r["on_fail"] for r in results if not r["passed"]}
    verdict = "BLOCK" if "block" in failed else "WARN" if "warn" in failed else "PASS"
    return {"verdict": verdict, "results": results}
