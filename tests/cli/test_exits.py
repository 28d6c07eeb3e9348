"""One exit code per verdict, whichever command gives it (the table is understudy.cli.exits and docs/cli.md)."""

from __future__ import annotations

import re
from pathlib import Path

from cli_builders import explain
from licence_builders import callable_recipe
from typer.testing import CliRunner

from understudy.cli import exits
from understudy.cli.main import app

DOCS = Path(__file__).parents[2] / "docs" / "cli.md"


def test_unknown_and_block_exit_the_same_from_distill_and_licence_check(tmp_path, tiny_st):
    runner = CliRunner()
    for licence, verdict in ((None, "UNKNOWN"), ("cc-by-nc-4.0", "BLOCK")):  # None: no licence anywhere
        folder = tmp_path / verdict
        folder.mkdir()
        recipe = callable_recipe(folder, licence or "", base=tiny_st)
        if licence is None:  # no teacher.licence: nothing says what the terms are
            recipe.write_text(recipe.read_text().replace('  licence: ""\n', ""))
        distill = runner.invoke(app, ["distill", str(recipe), "--out", str(folder / "run")])
        declared = ["--declared", licence] if licence else []
        checked = runner.invoke(app, ["licence", "check", str(folder / "teacher.py"), *declared])
        assert verdict in distill.output and verdict in checked.output, explain(distill) + explain(checked)
        assert distill.exit_code == checked.exit_code == exits.for_verdict(verdict), explain(distill) + explain(checked)
    assert exits.UNKNOWN != exits.BLOCK != exits.USER_ERROR != exits.OK


def test_a_bad_argument_is_user_error_everywhere(tmp_path):
    runner = CliRunner()
    missing = str(tmp_path / "nothing-here")
    for args in (
        ["distill", missing + ".yaml"],
        ["report", missing],
        ["licence", "check", missing],
        ["licence", "check", "openai:gpt-4o-mini", "--use", "personal"],
        ["licence", "check", "openai:gpt-4o-mini", "--declared", "Apche-2.0"],  # a typo, not a licence risk
        ["keys", "--task", "text-clasification"],
        ["serve", missing],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == exits.USER_ERROR, explain(result)
        assert "Traceback" not in result.output


def test_the_documented_table_is_the_code_table():
    documented = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", DOCS.read_text(encoding="utf-8"), re.M))
    defined = {str(v): k for k, v in vars(exits).items() if k.isupper() and isinstance(v, int)}
    assert documented == defined
