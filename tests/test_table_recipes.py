"""The table demos as shipped: recipes/churn.yaml and recipes/breast-cancer.yaml load, are the packaged copies, and
pass `understudy check` (the licence gate, both tables, the built-in teacher built and asked a sample)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_builders import explain
from typer.testing import CliRunner

from understudy.check import check_file
from understudy.cli.main import app
from understudy.recipe import load_recipe

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["churn.yaml", "breast-cancer.yaml"]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """One cache for the module: each built-in teacher is fitted once here, not in the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNDERSTUDY_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.parametrize("name", NAMES)
def test_the_recipe_loads_and_is_the_packaged_copy(name):
    shown, packaged = ROOT / "recipes" / name, ROOT / "src" / "understudy" / "recipes" / name
    assert shown.read_text(encoding="utf-8") == packaged.read_text(encoding="utf-8")
    recipe = load_recipe(packaged)
    assert recipe.task == "tabular-classification" and recipe.teacher.licence.startswith("proprietary: ")
    assert recipe.student.kind == "tree" and recipe.student.max_depth <= 6


def test_churn_compares_groups_and_breast_cancer_has_oversight():
    churn = load_recipe(ROOT / "recipes" / "churn.yaml")
    assert churn.data.evaluation.group_columns == ["senior_citizen", "female"] and churn.data.drop == ["rownames"]
    cancer = load_recipe(ROOT / "recipes" / "breast-cancer.yaml")
    assert cancer.intended_use.sector == "healthcare"
    assert cancer.gates.with_sector(cancer.intended_use.sector).oversight_required is True


@pytest.mark.parametrize("name", NAMES)
def test_the_recipe_passes_check(name, tmp_path):
    result = check_file(ROOT / "recipes" / name, out=tmp_path / "run", sample=4)
    assert result.ok, "\n".join(map(str, result.problems))
    assert any(n.startswith("teacher: answered") for n in result.notes), result.notes  # built and asked a sample
    assert any(n.startswith("licence gate: ALLOW") for n in result.notes), result.notes


def test_understudy_check_says_ready(tmp_path):
    recipe = ROOT / "recipes" / "churn.yaml"
    result = CliRunner().invoke(app, ["check", str(recipe), "--out", str(tmp_path / "run"), "--no-sample"])
    assert result.exit_code == 0, explain(result)
    assert "licence gate: ALLOW" in result.output and "is ready" in result.output
