"""Every recipe the README shows runs as written: each passes `understudy check`, and the sklearn and callable
ones distil end to end. The files a recipe names are made here, tiny and real, at the paths it names (a TF-IDF +
logistic regression trained by the README's own snippet, the callable of examples/, a tiny encoder); the only
edits to a recipe's text are the two things a test machine cannot have: the packaged MiniLM (a tiny encoder
stands in) and the API's address (the test server's)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from api_server import FakeLLM
from cli_builders import explain
from conftest import fit_skops_head, review_rows, write_csv
from typer.testing import CliRunner

from understudy.check import check_file
from understudy.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.S)
RECIPES = [body for lang, body in BLOCKS if lang == "yaml" and "teacher:" in body]
SNIPPET = next(body for lang, body in BLOCKS if lang == "python" and "sio.dump" in body)


def kind_of(body: str) -> str:
    return yaml.safe_load(body)["teacher"]["kind"]


def test_the_readme_shows_a_recipe_for_each_teacher_kind_and_they_are_the_examples():
    kinds = {kind_of(body) for body in RECIPES}
    assert {"sklearn", "callable", "openai-api", "encoder"} <= kinds
    for name in ("sklearn", "callable", "api", "encoder"):  # what the README shows is what examples/ holds
        assert (ROOT / "examples" / f"{name}.yaml").read_text(encoding="utf-8") in RECIPES
    assert "make demo" in README.split("\n## ")[0] and "make test" in README.split("\n## ")[0]


def materialise(body: str, folder: Path, tiny_st: Path, url: str | None = None) -> Path:
    """Make every file the recipe names, where it names it, and write the recipe there."""
    raw = yaml.safe_load(body)
    data = raw["data"]
    eval_rows = review_rows(30, seed=2)
    transfer = review_rows(80, seed=1, exclude={t for t, _ in eval_rows})
    write_table(folder / data["transfer"]["path"], [(t, "") for t, _ in transfer], data["transfer"])
    write_table(folder / data["evaluation"]["path"], eval_rows, data["evaluation"])
    teacher = raw["teacher"]
    if teacher["kind"] == "sklearn":  # trained by the README's own snippet
        write_csv(folder / "data" / "labelled.csv", review_rows(60, seed=5))
        (folder / Path(teacher["path"]).parent).mkdir(parents=True, exist_ok=True)
        run_in(folder, SNIPPET)
    elif teacher["kind"] == "callable":
        shutil.copy(ROOT / "examples" / teacher["target"].split(":")[0], folder / teacher["target"].split(":")[0])
    elif teacher["kind"] == "encoder":
        shutil.copytree(tiny_st, folder / teacher["path"])
        fit_skops_head(tiny_st, folder / teacher["head"], review_rows(80, seed=123))
    text = body.replace("builtin:all-MiniLM-L6-v2", str(tiny_st))
    if url is not None:
        text = text.replace(raw["teacher"]["api"]["base_url"], url)
    path = folder / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_table(path: Path, rows, spec: dict) -> None:
    header = (spec.get("text_column", "text"), spec.get("label_column") or "note")
    if path.suffix == ".jsonl":
        import json

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(dict(zip(header, r))) + "\n" for r in rows), encoding="utf-8")
    else:
        write_csv(path, rows, header=header)


def run_in(folder: Path, code: str) -> None:
    import os

    here = os.getcwd()
    os.chdir(folder)
    try:
        exec(compile(code, "README.md (python)", "exec"), {})
    finally:
        os.chdir(here)


@pytest.mark.parametrize("index", range(len(RECIPES)), ids=[kind_of(b) for b in RECIPES])
def test_every_readme_recipe_passes_check(index, tmp_path, tiny_st, monkeypatch):
    body = RECIPES[index]
    if kind_of(body) == "openai-api":
        with FakeLLM() as srv:
            monkeypatch.setenv(yaml.safe_load(body)["teacher"]["api"]["api_key_env"], "sk-test-not-a-real-key")
            recipe = materialise(body, tmp_path, tiny_st, srv.url)
            refused = check_file(recipe, out=tmp_path / "run", sample=4)
            assert [p.kind for p in refused.problems] == ["licence"] and srv.total_answered == 0  # as the README says
            result = check_file(recipe, out=tmp_path / "run", sample=4, accept_licence_risk="read the terms")
            assert srv.total_answered >= 4  # the sample was really asked, and stored
        assert result.estimate.usd > 0 and "prices.yaml" in result.estimate.price_source
    else:
        recipe = materialise(body, tmp_path, tiny_st)
        result = check_file(recipe, out=tmp_path / "run", sample=4)
    assert result.ok, "\n".join(map(str, result.problems))
    assert result.estimate.sampled == 4 and result.estimate.seconds_per_text is not None


@pytest.mark.parametrize("kind", ["sklearn", "callable"])
def test_sklearn_and_callable_recipes_distil_end_to_end(kind, tmp_path, tiny_st):
    body = next(b for b in RECIPES if kind_of(b) == kind)
    recipe = materialise(body, tmp_path, tiny_st)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "-q"])
    assert result.exit_code in (0, 3), explain(result)  # 3: the default gates may BLOCK a student of 80 texts
    stages = yaml.safe_load((run / "stages.json").read_text())
    assert all(stages[s]["status"] == "done" for s in ("teach", "train", "evaluate", "gate", "package"))
    assert (run / "student" / "README.md").is_file()
    verdict = yaml.safe_load((run / "report.json").read_text())["gates"]["verdict"]
    assert verdict in ("PASS", "WARN", "BLOCK") and verdict in result.output
