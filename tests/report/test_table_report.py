"""The papers of a table run, from real runs (a tiny table, a scikit-learn teacher fitted here, the tree student):
report.html, the model card, the compliance report and the terminal summary print the student's rules one a line,
say rows (never texts), and a regression's R², MAE, RMSE, fidelity and largest gaps in place of accuracy and F1."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from tables_builders import RECIPE, churn_like, sklearn_teacher, table_run_folder, write_table

from understudy.evaluate.calibration import Calibration
from understudy.recipe import load_recipe
from understudy.report.html import _num
from understudy.report.model_card import render_model_card
from understudy.report.schema import (
    RegressionComparison,
    RegressionQuality,
    StudentRules,
    SyntheticRows,
    TableColumns,
)
from understudy.report.summary import render_summary
from understudy.report.table_parts import HEADING
from understudy.report.verdict import gate_row, verdict_sentence
from understudy.run.engine import distill

EVIL = "Month-to-<b>month</b>"  # a category from the user's file: text on every page, never markup
TEXTS = re.compile(r"\btexts?\b", re.IGNORECASE)


def table_folder(folder: Path, n: int = 400) -> Path:
    """A churn table whose month-to-month contract (the one the rules read) is spelt as markup, some charges missing, the teacher fitted on it;
    robustness on 80 rows. Returns the recipe's path."""
    df = churn_like(n, seed=5, missing=0.05)
    df["contract"] = df["contract"].replace({"Month-to-month": EVIL})
    write_table(df, folder / "data" / "table.csv")
    sklearn_teacher(df, folder / "teacher.skops")
    text = RECIPE.format(task="tabular-classification", target="churn", synthetic=1.0)
    recipe = folder / "recipe.yaml"
    recipe.write_text(text.replace("safety: {robustness_texts: 20}", "safety: {robustness_texts: 80}"))
    return recipe


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table-report")
    report = distill(load_recipe(table_folder(folder)), folder / "run")
    return report, folder / "run"


@pytest.fixture(scope="module")
def regressed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table-regression")
    report = distill(load_recipe(table_run_folder(folder, regression=True, synthetic=0.5)), folder / "run")
    return report, folder / "run"


def visible(page: str) -> str:
    """The words a reader sees: no styles, no charts, no tags."""
    page = re.sub(r"<style>.*?</style>|<svg.*?</svg>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def prose(md: str) -> str:
    """A markdown paper's words: no code (the rules, the keys in report.json), no licence's text (its own)."""
    md = re.sub(r"```.*?```|`[^`]*`", " ", md, flags=re.S)
    return re.sub(r"[Ll]icence texts?", "licence", md)


def read(run: Path, name: str) -> str:
    return (run / name).read_text(encoding="utf-8")


def summary_of(report: dict) -> str:
    out = io.StringIO()
    render_summary(report, Console(file=out, width=200))
    return out.getvalue()


# --- classification ---------------------------------------------------------------------------------------------


def test_report_html_prints_what_the_student_decides_the_columns_and_the_synthetic_rows(classified):
    report, run = classified
    page = read(run, "report.html")
    lines = report["student"]["rules"]["text"]
    assert len(lines) >= 2
    assert f"<h2>{HEADING}</h2>" in page
    for line in lines:  # each rule on its own line, escaped
        assert f"<li><code>{html.escape(line)}</code></li>" in page
    assert any(EVIL in line for line in lines)  # the user's category reaches the rules ...
    assert "<b>month</b>" not in page and html.escape(EVIL) in page  # ... as text, never as markup
    seen = visible(page)
    assert "Feature columns" in seen and "Synthetic rows" in seen
    for column in report["data"]["schema"]["columns"]:
        assert f" {column['name']} " in seen and f" {column['kind']} " in seen
    assert f"{report['data']['synthetic']['rows']:,} synthetic rows" in seen
    assert "Rows per second, batches of 64" in seen and "Texts per second" not in seen


def test_report_html_says_rows_not_texts(classified):
    report, run = classified
    page = read(run, "report.html")
    # the calibration evaluation's own part is not one of these writers (evaluate/calibration.py): left aside
    page = page.replace(Calibration().html(report["calibration"], report), "")
    found = TEXTS.findall(visible(page))
    assert not found, found
    assert "of rows get the same answer as the teacher" in visible(page)


def test_the_model_card_has_the_rules_as_a_code_block_and_the_columns(classified):
    report, run = classified
    card = read(run, "student/README.md")
    lines = report["student"]["rules"]["text"]
    assert "\n## What the student decides\n" in card
    assert "```\n" + "\n".join(lines) + "\n```" in card  # as written: a fence keeps markdown from reading them
    assert "| contract | categorical |" in card and "&lt;b&gt;month&lt;/b&gt;" in card  # escaped outside the fence
    rows = report["data"]["evaluation"]["rows_used"]
    assert f"{rows:,} rows):" in card
    assert "pipeline_tag: tabular-classification" in card
    assert "on the business's own rows" in card
    assert not TEXTS.findall(prose(card)), TEXTS.findall(prose(card))


def test_the_cards_python_snippet_answers_a_row_as_the_student_does(classified, monkeypatch):
    import ast
    import contextlib

    import understudy

    report, run = classified
    card = read(run, "student/README.md")
    (snippet,) = re.findall(r"```python\n(.*?)```", card.split("## How to use", 1)[1], flags=re.S)
    assert "row = {" in snippet and '"tenure": ' in snippet
    monkeypatch.chdir(run.parent)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md", "exec"), {})
    row = ast.literal_eval(re.search(r"row = (\{.*\})  #", snippet).group(1))
    assert out.getvalue().splitlines()[0] == str(understudy.load(run).predict(row))


def test_the_compliance_report_prints_the_rules_and_says_rows(classified):
    report, run = classified
    md, page = read(run, "compliance.md"), read(run, "compliance.html")
    lines = report["student"]["rules"]["text"]
    assert "## What the student decides" in md and "\n".join(lines) in md
    assert '<pre class="rules">' + "\n".join(html.escape(x) for x in lines) + "</pre>" in page
    assert "<b>month</b>" not in page
    assert "Same answer as the teacher (share of rows)" in md
    assert "Rows per second, batch 64" in md
    assert "| Column | Kind | Values in the transfer set |" in md
    assert not TEXTS.findall(prose(md)), TEXTS.findall(prose(md))


def test_the_summary_and_the_verdict_say_rows(classified):
    report, _ = classified
    said = summary_of(report)
    assert "rows/s, batch 64" in said and "texts/s" not in said
    assert "robustness: worst for the student" in said
    row = gate_row({"name": "max_robustness_drop", "value": 0.1, "threshold": 0.05}, report["run"]["task"])
    assert row.check == "Accuracy lost on messy rows" and "text" not in row.means
    assert verdict_sentence(report)


def test_fairness_examples_on_a_table_are_rows_in_words(classified):
    report, run = classified
    fairness = report["fairness"]["attributes"]["senior"]
    examples = fairness["examples"]
    assert examples, "the planted student makes mistakes in some group"
    assert all(isinstance(e["text"], str) and e["text"].startswith("tenure=") for e in examples)
    json.dumps(report["fairness"])
    page = read(run, "report.html")
    assert "<th>Row</th>" in page.split("Fairness across groups", 1)[1]


def test_a_table_run_measures_robustness_on_its_four_perturbations_with_counts(classified):
    report, run = classified
    r = report["robustness"]
    assert list(r["perturbations"]) == ["noise", "missing", "shifted", "category"]
    assert r["n_texts"] == min(80, report["data"]["evaluation"]["rows_used"])
    page = visible(read(run, "report.html"))
    assert "Robustness: accuracy on perturbed rows" in page
    for kind, entry in r["perturbations"].items():
        assert (
            isinstance(entry["changed_count"], int) and entry["student"]["accuracy_evidence"]["total"] == r["n_texts"]
        )
        assert f"{kind} {entry['description']} {entry['changed_count']:,} of {r['n_texts']:,} rows" in page
    assert r["perturbations"]["category"]["changed_count"] > 0  # the contract column is categorical
    gate = next(g for g in report["gates"]["results"] if g["name"] == "max_robustness_drop")
    assert gate["status"] != "SKIPPED"  # the gate reads the table's robustness


def test_the_declared_table_parts_hold_what_the_run_wrote(classified):
    report, _ = classified
    TableColumns.model_validate(report["data"]["schema"])
    SyntheticRows.model_validate(report["data"]["synthetic"])
    StudentRules.model_validate(report["student"]["rules"])


# --- regression -------------------------------------------------------------------------------------------------


def test_a_regression_page_shows_r2_mae_rmse_fidelity_gaps_and_what_was_not_measured(regressed):
    report, run = regressed
    page = read(run, "report.html")
    seen = visible(page)
    for who in ("teacher", "student"):
        for key in ("r2", "mae", "rmse"):
            q = report[who]["quality"][key]
            assert f"{_num(q['value'], 4)} ({_num(q['low'], 4)}–{_num(q['high'], 4)})" in seen, (who, key)
    fid = report["comparison"]["fidelity_r2"]
    assert "Fidelity to the teacher" in seen and _num(fid["value"], 3) in seen
    assert "Largest gaps from the teacher" in seen
    for gap in report["comparison"]["largest_gaps"][:3]:
        assert html.escape(gap["text"]) in page
    for why in report["skipped_evaluations"].values():
        assert html.escape(why) in page
    assert "Not measured in this run" in seen
    assert "Macro-F1" not in seen and not TEXTS.findall(seen)
    for line in report["student"]["rules"]["text"]:
        assert html.escape(line) in page


def test_a_regression_summary_card_and_compliance_report_carry_its_figures(regressed):
    report, run = regressed
    said = summary_of(report)
    assert "R² (95% CI)" in said and "mean absolute error" in said and "fidelity to the teacher" in said
    assert "texts/s" not in said and "macro-F1" not in said
    card = read(run, "student/README.md")
    r2 = report["student"]["quality"]["r2"]["value"]
    assert "- type: r_squared" in card and f"value: {r2}" in card
    assert (
        "| Fidelity to the teacher (R²) |" in card and "```\n" + "\n".join(report["student"]["rules"]["text"]) in card
    )
    again = render_model_card(json.loads(read(run, "report.json")))  # from report.json alone, as `report` does
    assert "## What the student decides" in again and "| R² (variance explained) (95% range) |" in again
    md = read(run, "compliance.md")
    assert "| Root mean squared error (95% range) |" in md
    assert "| Row | True value | Teacher said | Student said | Gap |" in md
    for why in report["skipped_evaluations"].values():
        assert why in md
    assert "student's R²" in gate_row({"name": "min_retention"}, report["run"]["task"]).means
    assert verdict_sentence(report)


def test_the_declared_regression_parts_hold_what_the_run_wrote(regressed):
    report, _ = regressed
    for who in ("teacher", "student"):
        RegressionQuality.model_validate(report[who]["quality"])
    RegressionComparison.model_validate(report["comparison"])
    StudentRules.model_validate(report["student"]["rules"])


def test_a_linear_students_weights_print_as_a_table_and_a_boosted_one_says_it_has_no_rules():
    from understudy.report.table_parts import rules_blocks, rules_html

    linear = {
        "run": {"task": "tabular-regression"},
        "student": {
            "kind": "linear",
            "rules": {
                "form": "linear score",
                "link": "identity",
                "intercept": [1.5],
                "weights": [{"class": None, "term": "size <m²>", "weight": 2.5}],
                "text": ["score = +1.5", "  +2.5  size <m²>", "the answer is the score"],
            },
        },
    }
    StudentRules.model_validate(linear["student"]["rules"])
    page = rules_html(linear)
    assert "<li><code>  +2.5  size &lt;m²&gt;</code></li>" in page and "<m²>" not in page
    assert "<th>term</th><th>weight</th>" in page and "<th>class</th>" not in page  # no class for a regression
    blocks = rules_blocks(linear)
    assert ("code", linear["student"]["rules"]["text"]) in blocks
    assert ("table", ["term", "weight"], [["size <m²>", "2.5"]]) in blocks
    boosted = {"run": {"task": "tabular-classification"}, "student": {"kind": "gbm"}}
    assert "has no rules in words" in rules_html(boosted) and rules_blocks(boosted)[0][0] == "p"
    assert rules_html({"run": {"task": "text-classification"}, "student": {}}) == ""
