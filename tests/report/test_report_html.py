"""The HTML report renders offline, escapes report text, and copes with missing figures."""

from __future__ import annotations

import copy
import re

from understudy.report.html import render_html

EVIL = "Loved it <script>alert(1)</script> & would book again " + "x" * 400


def _iv(v, half=0.02):
    return {"value": v, "low": round(v - half, 4), "high": round(min(1.0, v + half), 4)}


def _bins(points):
    return [
        {"low": i / 15, "high": (i + 1) / 15, "count": n, "confidence": c, "accuracy": a}
        for i, (n, c, a) in enumerate(points)
    ]


def _model(desc, f1, acc, tps1, tps64, size, mem, cost, confusion, bins):
    return {
        "description": desc,
        "fingerprint": "sha256:" + desc[:6].encode().hex(),
        "size_bytes": size,
        "quality": {
            "accuracy": _iv(acc),
            "macro_f1": _iv(f1),
            "per_class_f1": {"great": _iv(f1 + 0.01, 0.03), "other": _iv(f1 - 0.01, 0.03)},
            "ece": 0.031,
            "brier": 0.082,
            "reliability": bins,
            "confusion": confusion,
        },
        "speed": {
            "threads": 4,
            "batch_1": {"texts_per_s": tps1, "p50_ms": 1000 / tps1, "p95_ms": 1500 / tps1},
            "batch_64": {"texts_per_s": tps64, "p50_ms": 64000 / tps64, "p95_ms": 80000 / tps64},
        },
        "peak_memory_mb": mem,
        "cost_per_million_usd": cost,
    }


def make_report() -> dict:
    empty = [(0, None, None)] * 9
    teacher = _model(
        "distilroberta-base fine-tuned on reviews",
        0.912,
        0.915,
        41.0,
        180.0,
        328_000_000,
        1210.5,
        0.296,
        [[452, 38], [46, 464]],
        _bins(
            empty
            + [(20, 0.63, 0.6), (35, 0.7, 0.66), (60, 0.77, 0.75), (80, 0.83, 0.81), (150, 0.9, 0.9), (655, 0.98, 0.96)]
        ),
    )
    student = _model(
        "static embeddings + logistic regression",
        0.884,
        0.886,
        2900.0,
        41000.0,
        8_400_000,
        96.0,
        0.0013,
        [[437, 53], [61, 449]],
        _bins(
            empty
            + [
                (40, 0.62, 0.55),
                (60, 0.7, 0.64),
                (90, 0.77, 0.74),
                (120, 0.84, 0.83),
                (200, 0.91, 0.9),
                (490, 0.97, 0.95),
            ]
        ),
    )
    student["kind"] = "static"
    student["training"] = {
        "seconds": 42.7,
        "epochs_run": 6,
        "best_epoch": 5,
        "history": [{"epoch": e, "loss": 0.7 / e, "val_agreement": 0.8 + 0.02 * e} for e in range(1, 7)],
        "settings": {
            "learning_rate": 0.003,
            "batch_size": 256,
            "temperature": 2.0,
            "embedding": "minishlab/potion-base-8M",
        },
    }
    return {
        "schema_version": 1,
        "understudy_version": "0.1.0",
        "created": "2026-11-28T22:30:00Z",
        "run": {
            "name": "hotel-reviews <v2>",
            "task": "text-classification",
            "out": "runs/hotel",
            "intended_use": {
                "description": "Flag glowing reviews for the website",
                "sector": "hospitality",
                "commercial": True,
            },
        },
        "labels": ["great", "other"],
        "data": {
            "transfer": {
                "source": "data/unlabelled.csv",
                "sha256": "ab" * 32,
                "rows_read": 20000,
                "rows_used": 19412,
                "skipped": {"empty": 88, "duplicate": 500},
                "gold_labels": False,
            },
            "evaluation": {
                "source": "data/eval.csv",
                "sha256": None,
                "rows_read": 1000,
                "rows_used": 1000,
                "skipped": {"empty": 0, "duplicate": 0},
                "gold_labels": True,
                "label_counts": {"great": 490, "other": 510},
            },
        },
        "labelling": {
            "teacher_fingerprint": teacher["fingerprint"],
            "texts": 19412,
            "reused": 12000,
            "asked": 7412,
            "seconds": 301.2,
        },
        "teacher": teacher,
        "student": student,
        "comparison": {
            "retention": 0.969,
            "retention_ci": {"low": 0.948, "high": 0.99},
            "agreement": _iv(0.93, 0.015),
            "speedup": 227.8,
            "speedup_batch_1": 70.7,
            "size_ratio": 0.0256,
            "memory_ratio": 0.079,
            "cost_ratio": 0.0044,
            "negative_flips": {
                "count": 41,
                "share": 0.041,
                "examples": [
                    {
                        "text": EVIL,
                        "gold": "great",
                        "teacher": "great",
                        "student": "other",
                        "teacher_confidence": 0.94,
                        "student_confidence": 0.58,
                    }
                ],
            },
            "positive_flips": {"count": 13, "share": 0.013},
        },
        "gates": {
            "verdict": "WARN",
            "results": [
                {
                    "name": "retention",
                    "value": 0.969,
                    "threshold": 0.95,
                    "on_fail": "block",
                    "passed": True,
                    "message": "Student keeps 96.9% of the teacher's macro-F1.",
                },
                {
                    "name": "negative_flip_share",
                    "value": 0.041,
                    "threshold": 0.03,
                    "on_fail": "warn",
                    "passed": False,
                    "message": "4.1% of texts the teacher got right are now wrong.",
                },
            ],
        },
        "timings": {"read data": 1.2, "label": 301.2, "train": 42.7, "evaluate": 19.8},
    }


def _assert_offline(page: str) -> None:
    assert "<link" not in page
    assert 'src="http' not in page and 'href="http' not in page and "href='http" not in page
    assert "<script" not in page.lower()
    # The only URLs allowed are the SVG namespace declarations.
    assert not re.findall(r"https?://", re.sub(r'xmlns(:\w+)?="[^"]*"', "", page))


def test_render_html_full_report(tmp_path):
    out = tmp_path / "report.html"
    render_html(make_report(), out)
    assert out.exists()
    page = out.read_text(encoding="utf-8")
    assert "WARN" in page
    assert page.count("<svg") >= 4
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "hotel-reviews &lt;v2&gt;" in page
    assert "x" * 350 not in page  # long texts are truncated
    _assert_offline(page)
    for figure in ("96.9%", "228x faster", "2.6%", "93.0%"):
        assert figure in page
    # Each inline SVG has its own ids, so glyph and clip-path references cannot collide.
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_render_html_with_missing_figures(tmp_path):
    report = copy.deepcopy(make_report())
    report["teacher"]["peak_memory_mb"] = None
    report["student"]["peak_memory_mb"] = None
    report["comparison"]["memory_ratio"] = None
    report["comparison"]["negative_flips"] = {"count": 0, "share": 0.0, "examples": []}
    del report["student"]["training"]
    report["gates"] = {"verdict": "PASS", "results": []}
    del report["timings"]
    out = tmp_path / "nested" / "report.html"
    render_html(report, out)
    page = out.read_text(encoding="utf-8")
    assert "PASS" in page and "n/a" in page
    assert page.count("<svg") >= 4
    _assert_offline(page)


def test_render_html_with_a_bare_report(tmp_path):
    out = tmp_path / "bare.html"
    render_html({"gates": {"verdict": "BLOCK"}}, str(out))
    page = out.read_text(encoding="utf-8")
    assert "BLOCK" in page and "n/a" in page


def test_safe_to_ship_section_shows_safety_figures_side_by_side():
    from understudy.report.safety_html import safety_section

    report = {
        "counterfactual": {
            "categories": {
                "nationalities": {"tested": 56, "teacher": {"flip_rate": 0.018}, "student": {"flip_rate": 0.054}}
            }
        },
        "fairness": {
            "attributes": {
                "region": {
                    "teacher": {"demographic_parity_difference": 0.02},
                    "student": {"demographic_parity_difference": 0.11},
                    "widened_by": {"demographic_parity_difference": 0.09},
                    "too_small_groups": ["islands"],
                }
            }
        },
        "oversight": {
            "policy": {
                "feasible": False,
                "message": "no threshold meets the target: send everything to a human; do not deploy",
            }
        },
    }
    html = safety_section(report)
    assert "5.4%" in html and "1.8%" in html and "0.09" in html and "islands" in html
    assert "do not deploy" in html and "compliance.html" in html
    assert safety_section({}) == ""  # nothing measured: no section, rather than an empty one


def test_evaluation_texts_in_the_transfer_set_are_warned_of_beside_the_agreement(tmp_path):
    report = copy.deepcopy(make_report())
    report.setdefault("data", {})["overlap"] = {"texts": 12, "of": 250, "note": "12 of 250 <b>also taught</b>"}
    render_html(report, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    card = page.split("<h3>Agreement</h3>", 1)[1].split("</div></div>", 1)[0]
    assert "Warning: 12 of the 250 evaluation texts are also in the transfer set" in card
    assert "read better than they will on new texts" in card
    report["data"]["overlap"] = {"texts": 0, "of": 250, "note": "None of the 250 evaluation texts is in it."}
    render_html(report, tmp_path / "clean.html")
    assert "also in the transfer set" not in (tmp_path / "clean.html").read_text(encoding="utf-8")


def test_a_counterfactual_check_with_nothing_to_swap_reads_not_judged_everywhere(tmp_path):
    from understudy.evaluate.counterfactual import counterfactual_report

    def predict(texts):
        return [[0.5, 0.5]] * len(texts)

    report = copy.deepcopy(make_report())
    report["counterfactual"] = counterfactual_report(["no person <here>"], predict, predict, ["great", "other"])
    why = report["counterfactual"]["unjudged"]
    result = {
        "name": "max_counterfactual_flip_rate",
        "value": None,
        "threshold": 0.05,
        "on_fail": "warn",
        "passed": None,
        "status": "SKIPPED",
        "message": f"max_counterfactual_flip_rate: skipped: not judged (too few to judge): {why}",
        "where": None,
    }
    report["gates"]["results"].append(result)
    render_html(report, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert f"Not judged: {why}" in page and "0 of 0" not in page
    assert page.count(why) >= 2  # the check's row and the evaluation's section say the same
