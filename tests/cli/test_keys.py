"""`understudy keys`: every key name in full at any terminal width, and 'did you mean' for a misspelt task."""

from __future__ import annotations

import pytest
from cli_builders import explain
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.recipe import describe_keys, recipe_model


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_no_key_name_is_cut_at_any_width(columns):
    result = CliRunner().invoke(app, ["keys", "--task", "text-classification"], env={"COLUMNS": columns})
    assert result.exit_code == 0, explain(result)
    starts = [ln.split("  ")[0] for ln in result.output.splitlines()]
    keys = [k for k, _, _ in describe_keys(recipe_model("text-classification"))]
    assert keys and all(k in starts for k in keys), [k for k in keys if k not in starts]
    longest = max(keys, key=len)
    assert any(ln.startswith(longest) for ln in result.output.splitlines())
    words = {w for _, _, meaning in describe_keys(recipe_model("text-classification")) for w in meaning.split()}
    printed = set(result.output.split())
    assert words <= printed, sorted(words - printed)[:5]  # meanings wrap between words, never inside one


def test_a_misspelt_task_gets_did_you_mean():
    result = CliRunner().invoke(app, ["keys", "--task", "text-clasification"], env={"COLUMNS": "400"})
    assert result.exit_code == 2, explain(result)
    assert "did you mean 'text-classification'" in result.output and "Traceback" not in result.output
