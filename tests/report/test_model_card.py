"""The model card as a manager reads it: the release checks as report.html shows them (plain names, the status,
one unit, no JSON paths, no generator checks on a classifier), the verdict's one-sentence why under it, the
calibration error of what ships, a speed ratio that says 'slower', and obligations spelt out in the card."""

from __future__ import annotations

import copy

import yaml

from understudy.report.model_card import render_model_card, shipped_ece
from understudy.report.verdict import verdict_sentence


def gate(name, value, threshold, status, message, on_fail="warn", where=None):
    passed = {"PASS": True, "SKIPPED": None}.get(status, False)
    return {
        "name": name,
        "value": value,
        "threshold": threshold,
        "on_fail": "block" if status == "BLOCK" else on_fail,
        "passed": passed,
        "status": status,
        "message": message,
        "where": where,
    }


def quality(acc, ece):
    iv = {"value": acc, "low": acc - 0.02, "high": acc + 0.02}
    return {"accuracy": iv, "macro_f1": iv, "ece": ece, "brier": 0.2}


def report() -> dict:
    return {
        "schema_version": 1,
        "understudy_version": "0.1.0",
        "run": {"name": "tickets", "task": "text-classification", "out": "/srv/runs/mine"},
        "labels": ["billing", "delivery"],
        "data": {"evaluation": {"source": "data/eval.csv", "rows_used": 148}},
        "teacher": {"description": "encoder tickets-teacher", "quality": quality(0.9, 0.151), "size_bytes": 1000},
        "student": {"name": "tickets-student", "kind": "static", "quality": quality(0.86, 0.115), "size_bytes": 10},
        "comparison": {"retention": 0.8624, "speedup": 0.48, "size_ratio": 86.236},
        "calibration": {
            "method": "temperature scaling",
            "n_calibration": 74,
            "n_test": 74,
            "seed": 0,
            "teacher": {"temperature": 1.2, "before": {"ece": 0.146}, "after": {"ece": 0.09}},
            "student": {"temperature": 1.6, "before": {"ece": 0.108}, "after": {"ece": 0.0332}},
            "shipped": {"temperature": 1.6, "why": "the fitted temperature lowers the held-out log-loss"},
        },
        "licence": {
            "verdict": "ALLOW_WITH_OBLIGATIONS",
            "licences": [{"id": "apache-2.0", "name": "Apache License 2.0", "role": "teacher"}],
            "obligations": {
                "licence_copies": [{"id": "apache-2.0", "name": "Apache License 2.0", "source": "https://x"}],
                "use_restrictions": [{"licence": "Some Licence", "id": "r1", "clause": "no weapons", "where": "s.3"}],
                "user_limits": [{"licence": "Some Licence", "monthly_active_users": 700000000}],
            },
        },
        "gates": {
            "verdict": "BLOCK",
            "results": [
                gate("licence", "ALLOW_WITH_OBLIGATIONS", None, "PASS", "licence gate: ALLOW_WITH_OBLIGATIONS"),
                gate(
                    "min_retention",
                    0.8624,
                    0.95,
                    "BLOCK",
                    "the share of the teacher's macro-F1 the student keeps is 86.2% (at least 0.95 required; "
                    "read at comparison › retention)",
                    where="comparison › retention",
                ),
                gate(
                    "min_speedup",
                    0.48,
                    1.0,
                    "WARN",
                    "speed-up is 0.48 (at least 1 required; read at comparison › speedup)",
                    where="comparison › speedup",
                ),
                gate(
                    "max_size_ratio",
                    86.236,
                    0.25,
                    "WARN",
                    "the student's size on disk over the teacher's is 8623.6% (at most 0.25 required; "
                    "read at comparison › size_ratio)",
                    where="comparison › size_ratio",
                ),
                gate(
                    "max_robustness_drop",
                    None,
                    0.1,
                    "SKIPPED",
                    "max_robustness_drop: skipped: safety.robustness: false",
                ),
                gate(
                    "refusal_kept_min",
                    None,
                    0.9,
                    "SKIPPED",
                    "refusal_kept_min: skipped: not measured for task text-classification (a sector-profile default)",
                ),
                gate(
                    "max_hallucination_rate",
                    None,
                    0.2,
                    "SKIPPED",
                    "max_hallucination_rate: skipped: not measured for task text-classification",
                ),
            ],
        },
    }


def section(card: str, title: str) -> str:
    return card.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def rows_of(text: str) -> dict[str, list[str]]:
    """The markdown table rows of `text` by their first cell."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0]] = cells[1:]
    return out


def test_release_checks_read_as_report_html_shows_them():
    r = report()
    card = render_model_card(r, r["licence"])
    checks = section(card, "Release checks")
    rows = rows_of(checks)
    head = rows["Check"]
    assert head == ["Result", "Measured", "Must be", "Evidence (count, 95% range)", "What it means"]
    assert rows["Share of the teacher's quality kept"][:3] == ["BLOCK", "86.2%", "at least 95.0%"]
    assert rows["Speed compared with the teacher"][0] == "WARN"
    assert "slower" in rows["Speed compared with the teacher"][1]
    assert rows["Size compared with the teacher"][:3] == ["WARN", "8623.6%", "at most 25.0%"]  # one unit
    assert rows["Accuracy lost on messy text"][0] == "skipped"
    licence = next(v for k, v in rows.items() if k.startswith("Licence") or k.startswith("Teacher's licence"))
    assert licence[0] == "pass" and licence[2] != "not measured"
    for raw in ("min_retention", "max_size_ratio", "min_speedup", "read at", "›", "refusal_kept_min"):
        assert raw not in checks, raw
    assert "Harmful requests still refused" not in card and "made-up facts" not in card  # a generator's checks
    assert "| no |" not in checks and "| yes |" not in checks


def test_the_verdict_says_why_in_one_sentence_under_it():
    r = report()
    card = render_model_card(r, r["licence"])
    body = card.split("---", 2)[2]
    verdict_at = body.index("Release verdict of the run: **BLOCK** (Do not ship).")
    why_at = body.index("Why: " + verdict_sentence(r))
    assert verdict_at < why_at < body.index("## How to use")
    assert "keeps 86.2% of the teacher's quality (it must be at least 95.0%)" in body[why_at:]


def test_the_card_gives_the_calibration_error_of_what_ships_and_says_which():
    r = report()
    card = render_model_card(r, r["licence"])
    meta = yaml.safe_load(card.split("---")[1])
    ece = {m["type"]: m for m in meta["model-index"][0]["results"][0]["metrics"]}["ece"]
    assert ece["value"] == 0.0332 and "calibrated" in ece["name"]  # the "after" figure: what loads
    metrics = rows_of(section(card, "Metrics"))
    shipped = next(k for k in metrics if k.startswith("Calibration error (ECE"))
    assert "calibrated confidence that ships" in shipped and "74-text test half" in shipped and "rough" in shipped
    assert metrics[shipped] == ["0.146", "0.0332"]  # the teacher as it answers, on the same half
    before = next(k for k in metrics if k.startswith("Calibration error before calibration"))
    assert metrics[before] == ["0.151", "0.115"]

    raw = copy.deepcopy(r)
    raw["calibration"]["shipped"] = {"temperature": 1.0, "why": "the raw scores ship"}
    assert shipped_ece(raw)["student"] == 0.115
    card = render_model_card(raw, raw["licence"])
    metrics = rows_of(section(card, "Metrics"))
    shipped = next(k for k in metrics if k.startswith("Calibration error (ECE"))
    assert "raw scores, which ship as they are" in shipped and metrics[shipped] == ["0.151", "0.115"]
    assert not any(k.startswith("Calibration error before calibration") for k in metrics)
    assert "calibration.json holds T = 1" in section(card, "How to use")


def test_a_slower_student_reads_slower_and_obligations_are_spelt_out_in_the_card():
    r = report()
    card = render_model_card(r, r["licence"])
    metrics = rows_of(section(card, "Metrics"))
    assert metrics["Speed compared with the teacher, batches of 64"] == ["0.48x — the student is 2.083x slower"]
    assert "listed in report.json" not in card  # report.json stays with the run; the card travels without it
    lineage = section(card, "Lineage")
    assert "licence copies: ship the text of Apache License 2.0 with the model (LICENSE in this folder" in lineage
    assert 'use restriction (Some Licence): "no weapons"' in lineage
    assert "above 700,000,000 monthly active users" in lineage


def test_small_dollar_figures_read_the_same_in_the_terminal_as_in_the_report(tmp_path_factory, tiny_st, tiny_head):
    """The terminal's cost row writes dollars as report.html and the card do: a teacher at $0.0011 per million
    predictions never reads '$0.00' (understudy.report.words.usd)."""
    import json

    from rich.console import Console
    from use_builders import tiny_run

    from understudy.report.html import _usd
    from understudy.report.summary import render_summary
    from understudy.report.words import usd

    for x in (0.0011, 0.00234, 0.0099, 0.01, 34.987, 0.0):
        assert usd(x) == _usd(x)  # report.html's writing, where it has significant digits
    assert usd(0.0000123) == "$0.000012" and usd(None) == "n/a"

    run = tiny_run(tmp_path_factory, tiny_st, tiny_head)
    report = json.loads((run / "report.json").read_text())
    report["teacher"]["cost_per_million_usd"], report["student"]["cost_per_million_usd"] = 0.0011, 0.0023
    console = Console(record=True, width=120)
    render_summary(report, console)
    (row,) = [line for line in console.export_text().splitlines() if "cost / million predictions" in line]
    assert "$0.0011" in row and "$0.0023" in row and "$0.00 " not in row


def test_a_blocked_students_card_says_its_snippet_is_refused_and_how_to_look_into_it():
    r = report()
    usage = section(render_model_card(r, r["licence"]), "How to use")
    assert 'understudy.load("mine")' in usage  # the run folder by its real name, run from the folder holding it
    assert "refuse it" in usage and "allow_blocked=True" in usage and "--allow-blocked" in usage
    r["gates"]["verdict"] = "WARN"
    assert "allow_blocked" not in section(render_model_card(r, r["licence"]), "How to use")
