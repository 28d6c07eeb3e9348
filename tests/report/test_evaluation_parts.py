"""The writers are built from the evaluations' declared sections: each evaluation contributes its own part to
report.html, the terminal summary, the compliance report and the model card, and one defined here, outside
understudy, does the same without any edit to understudy."""

from __future__ import annotations

import io

import pytest
from pydantic import Field

import understudy.evaluate
from understudy.evaluate import evaluation_classes
from understudy.gates import GateDef, at
from understudy.report.compliance import build_sections, render_markdown
from understudy.report.html import render_html
from understudy.report.model_card import render_model_card
from understudy.report.safety_html import safety_section
from understudy.report.schema import Figures, schema_markdown
from understudy.report.summary import render_summary

EVIL = "[bold red]dialect[/] <script>alert(1)</script>"


class DialectFigures(Figures):
    rates: dict = Field(description="{dialect: the student's error rate}")
    worst: str = Field(description="the dialect with the student's highest error rate")


class Dialect:
    """A third-party evaluation: its own section, figures, gate and parts."""

    name = "dialect"
    title = "Dialects"
    about = "error rates per dialect"
    tasks = frozenset({"text-classification"})
    order = 60
    figures = DialectFigures
    gates = (GateDef("max_dialect_error", "max", at("dialect", "worst_rate"), "the worst dialect's error rate"),)

    def enabled(self, recipe):
        return None

    def run(self, ctx):
        return {"rates": {}, "worst": ""}

    def html(self, section, report):
        from understudy.report.sections import esc, pct, table

        rows = [[esc(k), pct(v)] for k, v in section["rates"].items()]
        return "<h3>Dialects: the student's error rate</h3>" + table(["Dialect", "Error"], rows, "cmp")

    def summary(self, section):
        return [f"dialects: worst is {section['worst']}"]

    def compliance(self, section, report):
        return [("kv", [(k, str(v)) for k, v in section["rates"].items()])]


class Silent:
    """One with no parts at all: it contributes nothing, and breaks nothing."""

    name = "silent"
    tasks = frozenset({"text-classification"})
    order = 70
    gates = ()

    def enabled(self, recipe):
        return None

    def run(self, ctx):
        return {}


def report():
    from test_compliance import make_report  # (tests/report is on the path while its tests run)

    r = make_report()
    r["robustness"] = {
        "n_texts": 60,
        "seed": 0,
        "typo_rate": 0.05,
        "clean_accuracy": {"teacher": 0.91, "student": 0.88},
        "perturbations": {
            "typos": {
                "teacher": {"accuracy": 0.9, "drop": 0.01},
                "student": {"accuracy": 0.84, "drop": 0.04},
                "student_extra_drop": 0.03,
            }
        },
        "worst_for_student": "typos",
    }
    r["dialect"] = {"rates": {EVIL: 0.125, "scots": 0.031}, "worst": EVIL}
    r["silent"] = {"anything": 1}
    return r


def mine():
    return [*evaluation_classes(), Dialect, Silent]


def test_its_part_appears_in_report_html_escaped_after_the_builtins(tmp_path):
    out = tmp_path / "report.html"
    render_html(report(), out, evaluations=mine())
    page = out.read_text(encoding="utf-8")
    safe = page.split("<h2>Safe to ship?</h2>")[1].split("</section>")[0]
    assert "<h3>Dialects: the student's error rate</h3>" in safe
    assert "12.5%" in safe and "scots" in safe
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in safe
    # in run order: the built-ins first (calibration ... oversight), then the new one
    heads = [h.split("</h3>")[0] for h in safe.split("<h3>")[1:]]
    assert heads[0] == "Calibration" and heads[-1].startswith("Dialects") and "Human oversight" in heads
    # without it, the same page has no such part
    assert "Dialects" not in safety_section(report())


def test_its_lines_appear_in_the_summary_as_plain_text():
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    r = report()
    r["comparison"]["negative_flips"] = {"count": 37, "share": 0.0386}
    render_summary(r, console, evaluations=mine())
    text = buffer.getvalue()
    assert f"dialects: worst is {EVIL}" in text  # the markup in a user's name is printed, not obeyed
    for line in (
        "calibration: student ECE",
        "counterfactual swaps: swapping",
        "robustness: worst for the student: typos, accuracy drop 4.0% (teacher 1.0%)",
        "oversight: below confidence",
    ):
        assert line in text
    assert text.index("dialects: worst") < text.index("verdict:")


def test_its_blocks_appear_in_the_compliance_report_and_a_part_less_one_gets_its_figures():
    r = report()
    md = render_markdown(r, build_sections(r, mine()))
    evaluations = md.split("## Evaluations")[1].split("\n## ")[0]
    assert "### Dialects" in evaluations and "| scots | 0.031 |" in evaluations
    # no compliance part: its figures, with its key in report.json as a reference
    assert "### silent" in evaluations and "| Anything | 1 | `silent.anything` |" in evaluations
    assert "dialects" in evaluations.split("Evaluations run:")[1].split("\n")[0]
    del r["dialect"]
    md = render_markdown(r, build_sections(r, mine()))
    not_run = md.split("Not measured (these evaluations were not run")[1].split("\n")[0]
    assert "dialects (error rates per dialect)" in not_run
    assert "Not measured, and not to be claimed:" in md and "dialects" in md.split("## Limitations")[1]


def test_the_model_card_and_the_schema_doc_take_it_too():
    r = report()
    del r["dialect"]
    card = render_model_card(r, None, evaluations=mine())
    assert "dialects" in card.split("## Limitations")[1].split("## ")[0]
    assert "## Human oversight" in card  # the oversight evaluation's chapter
    assert "### `dialect`: Dialects" in schema_markdown(mine())


def test_monkeypatched_registry_is_what_the_writers_read(monkeypatch, tmp_path):
    real = understudy.evaluate.evaluation_classes

    def patched(task=None):
        return [c for c in [*real(), Dialect] if task is None or task in c.tasks]

    monkeypatch.setattr(understudy.evaluate, "evaluation_classes", patched)
    assert "Dialects" in safety_section(report())
    out = tmp_path / "report.html"
    render_html(report(), out)
    assert "<h3>Dialects" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["calibration", "fairness", "counterfactual", "robustness", "oversight"])
def test_each_builtin_classification_evaluation_has_its_parts(name):
    [cls] = [c for c in evaluation_classes("text-classification") if c.name == name]
    r = report()
    evaluation = cls()
    assert evaluation.html(r[name], r).startswith("<h3>")
    assert evaluation.summary(r[name]) and all(isinstance(x, str) for x in evaluation.summary(r[name]))
