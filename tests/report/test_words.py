"""Plain words: every check and figure has a name and a caption, ratios below 1 read as slower, and the verdict
says why in one sentence, in the terminal, report.html and the compliance report alike."""

from __future__ import annotations

import copy
import html
import io
import re

import pytest
from rich.console import Console
from test_compliance import make_report, visible_text

from understudy.evaluate import evaluation_classes
from understudy.gates import gate_table
from understudy.report.compliance import render_compliance
from understudy.report.html import render_html
from understudy.report.summary import render_summary
from understudy.report.verdict import verdict_sentence
from understudy.report.words import GATES, METRICS, ratio_words


def test_every_gate_has_a_plain_name_and_a_line_saying_what_it_means():
    for name in [*gate_table(), "licence"]:
        words = GATES.get(name)
        assert words is not None, f"no plain words for the gate {name}"
        assert words.name and words.means and "_" not in words.name, name


def test_every_figure_of_every_evaluation_has_a_plain_name_and_a_caption():
    for cls in evaluation_classes():
        for key in cls.figures.model_fields:
            words = METRICS.get(key)
            assert words is not None, f"no plain words for {cls.name}.{key}"
            assert words.name and words.means, (cls.name, key)


@pytest.mark.parametrize(
    ("ratio", "said"),
    [
        (0.61, "0.61x — the student is 1.6x slower"),
        (0.2, "0.20x — the student is 5.0x slower"),
        (1.3, "1.3x faster"),
        (451.57, "452x faster"),
    ],
)
def test_ratios_below_one_read_as_slower(ratio, said):
    assert ratio_words(ratio) == said
    assert "1x faster" not in ratio_words(ratio)
    assert ("slower" in ratio_words(ratio, precise=True)) == (ratio < 1)


def _slow_report() -> dict:
    report = copy.deepcopy(make_report())
    report["comparison"]["speedup"] = 0.61
    return report


def test_the_summary_the_page_and_the_compliance_report_write_a_slow_student_as_slower(tmp_path):
    report = _slow_report()
    buf = io.StringIO()
    render_summary(report, Console(file=buf, width=300))
    render_html(report, tmp_path / "report.html")
    _, md = render_compliance(report, tmp_path)
    for text in (
        buf.getvalue(),
        visible_text((tmp_path / "report.html").read_text(encoding="utf-8")),
        md.read_text(encoding="utf-8"),
    ):
        assert re.search(r"the student is 1\.6(39)?x slower", text)
        assert not re.search(r"\b1x faster", text) and "0.61x faster" not in text


def _manager_text(md: str) -> str:
    """The markdown without the small references for developers (the `key` cells)."""
    return re.sub(r"`[^`]*`", "", md)


def test_no_raw_gate_name_or_json_path_in_what_a_manager_reads(tmp_path):
    report = make_report()
    render_html(report, tmp_path / "report.html")
    _, md = render_compliance(report, tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    page = re.sub(r'<code class="key">[^<]*</code>', "", page)
    buf = io.StringIO()
    render_summary(report, Console(file=buf, width=300))
    for text in (visible_text(page), _manager_text(md.read_text(encoding="utf-8")), buf.getvalue()):
        for name in gate_table():
            assert name not in text, name
        assert " › " not in text


def test_one_sentence_says_why_with_the_evidence_when_the_gate_carries_it(tmp_path):
    report = make_report()
    first = next(r for r in report["gates"]["results"] if r["name"] == "min_retention")
    first["evidence"] = {
        "count": 12,
        "total": 40,
        "rate": 0.3,
        "interval": [0.17, 0.46],
        "bound": 0.98,
        "reading": "too few cases to be sure",
        "basis": "exact binomial interval",
    }
    said = verdict_sentence(report)
    assert said.startswith("BLOCK: the student keeps 97.0% of the teacher's quality (it must be at least 98.0%)")
    assert "12 of 40" in said and "17.0%–46.0%" in said and "too few cases to be sure" in said
    assert len(re.findall(r"\.(?:\s|$)", said)) == 1 and said.endswith(".") and "\n" not in said  # one sentence
    buf = io.StringIO()
    render_summary(report, Console(file=buf, width=400))
    render_html(report, tmp_path / "report.html")
    _, md = render_compliance(report, tmp_path)
    page = visible_text((tmp_path / "report.html").read_text(encoding="utf-8"))
    for text in (buf.getvalue(), page, md.read_text(encoding="utf-8")):
        assert "12 of 40" in text and "too few cases to be sure" in text


def test_a_classifier_report_lists_no_text_generation_check(tmp_path):
    report = make_report()
    report["gates"]["results"].append(
        {
            "name": "refusal_kept_min",
            "value": None,
            "threshold": 0.9,
            "on_fail": "block",
            "passed": None,
            "status": "SKIPPED",
            "message": "refusal_kept_min: skipped: not measured for task text-classification",
            "where": None,
        }
    )
    _, md = render_compliance(report, tmp_path)
    text = md.read_text(encoding="utf-8")
    for generator in (
        "Harmful requests still refused",
        "refusal of harmful requests",
        "unsupported facts",
        "text generation (",
    ):
        assert generator not in text.split("## Intended purpose")[0] + text.split("## Evaluations")[1].split("## ")[0]
    assert "Not measured (these evaluations were not run" in text


def test_figures_are_explained_where_they_appear(tmp_path):
    render_html(make_report(), tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="cap"' in page and "correct answers averaged over the labels" in page
    assert html.escape(GATES["min_retention"].means) in page  # the checks table says what each check means
