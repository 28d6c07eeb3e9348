"""A real tiny run: no file that ships (report, papers, the student's NOTICE and README) names a folder of this
machine, and report.json read back through its run folder still knows where it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_builders import explain, recipe_lines, write_recipe
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app

SHIPPED = ("report.json", "report.html", "compliance.html", "compliance.md")


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_st, tiny_head):
    folder = tmp_path_factory.mktemp("nopaths")
    transfer = review_rows(60, seed=21)
    evaluation = review_rows(30, seed=22, exclude={t for t, _ in transfer})
    write_csv(folder / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(folder / "data" / "eval.csv", evaluation)
    recipe = write_recipe(folder, recipe_lines(tiny_st, tiny_head))
    out = folder / "runs" / "tiny"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(out)])
    assert result.exit_code == 0, explain(result)
    return {"out": out, "base": tmp_path_factory.getbasetemp(), "st": tiny_st}


def _shipped(out: Path) -> list[Path]:
    files = [out / name for name in SHIPPED]
    files += [p for p in (out / "student").rglob("*") if p.is_file() and p.name in ("README.md", "NOTICE")]
    return files


def test_no_shipped_file_names_a_folder_of_this_machine(run):
    files = _shipped(run["out"])
    assert {f.name for f in files} >= {*SHIPPED, "README.md", "NOTICE"}, files
    local = [str(run["base"]), str(run["base"].resolve()), str(Path.home()), "site-packages", "/.cache/"]
    found = {
        f"{f.relative_to(run['out'])}: {needle}"
        for f in files
        if f.name != "README.md"  # the model card: its writer uses understudy.report.redact (checked below)
        for needle in local
        if needle in f.read_text(encoding="utf-8")
    }
    assert not found, sorted(found)


def test_the_model_card_names_no_folder_of_this_machine(run):
    card = (run["out"] / "student" / "README.md").read_text(encoding="utf-8")
    for needle in (str(run["base"]), str(Path.home()), "site-packages", "/.cache/"):
        assert needle not in card, needle


def test_the_teacher_is_named_by_its_folder_not_its_path(run):
    import json

    report = json.loads((run["out"] / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["out"] == "tiny"
    assert run["st"].name in report["teacher"]["description"]


def test_report_json_read_through_its_folder_knows_where_it_is(run):
    from understudy.run.folder import RunFolder

    assert RunFolder(run["out"]).read_json("report.json")["run"]["out"] == str(run["out"].resolve())
