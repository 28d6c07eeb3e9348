"""The model card's "How to use": its Python snippet and commands run as written on a real tiny run's student, and
the card names what the student was initialised from, not the teacher, as its base."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil

import pytest
from typer.testing import CliRunner
from use_builders import tiny_run

import understudy
from understudy.cli.main import app
from understudy.report.model_card import render_model_card


@pytest.fixture
def run(tmp_path_factory, tiny_st, tiny_head):
    return tiny_run(tmp_path_factory, tiny_st, tiny_head)


def how_to_use(card: str) -> str:
    section = card.split("## How to use", 1)[1].split("\n## ", 1)[0]
    return section


def blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def run_snippet(snippet: str) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md", "exec"), {})
    return out.getvalue().splitlines()


def test_the_cards_snippet_runs_as_written_from_where_the_card_says(run, tmp_path, monkeypatch):
    """As printed, from the folder that holds the run folder (the card names it by its real name); then the
    student/ folder copied on its own, loaded as the card says, from the folder it was copied into."""
    card = (run / "student" / "README.md").read_text(encoding="utf-8")
    section = how_to_use(card)
    assert f"from the folder that holds the run folder `{run.name}`" in section
    (snippet,) = blocks(section, "python")
    assert f'understudy.load("{run.name}")' in snippet  # the run folder's real name, not the student's
    model = understudy.load(run)
    example = re.search(r'predict\(\["([^"]+)"\]\)', snippet).group(1)

    monkeypatch.chdir(run.parent)
    printed = run_snippet(snippet)  # exactly as printed
    assert printed[0] == str(model.predict([example]))
    assert printed[-1] == str(model.defer([example]))  # the run has a policy, so the snippet shows defer

    (commands,) = blocks(section, "bash")
    first = shlex.split(commands.splitlines()[0])
    assert first[:3] == ["understudy", "predict", run.name]
    result = CliRunner().invoke(app, first[1:] + ["--json"])
    assert result.exit_code == 0, result.output
    assert model.predict([example])[0] in result.stdout
    assert any(line.startswith(f"understudy serve {run.name}") for line in commands.splitlines())

    # Copied on its own: the card says what to load, from the folder it was copied into.
    alone = re.search(
        r"copied anywhere: from the folder you copied it into, `(understudy\.load\(\"[^\"]+\"\))`", section
    )
    assert alone, section
    folder = re.search(r'load\("([^"]+)"\)', alone.group(1)).group(1)
    assert folder == "student"  # the folder this README.md is in, by its own name
    elsewhere = tmp_path / "downloaded"
    shutil.copytree(run / "student", elsewhere / folder)
    monkeypatch.chdir(elsewhere)
    load_line = next(line for line in snippet.splitlines() if line.startswith("model = understudy.load("))
    printed = run_snippet(snippet.replace(load_line, f"model = {alone.group(1)}"))
    assert printed[0] == str(model.predict([example])) and printed[-1] == str(model.defer([example]))
    result = CliRunner().invoke(app, ["predict", folder, example, "--json"])  # "the commands take that path too"
    assert result.exit_code == 0 and model.predict([example])[0] in result.stdout, result.output


def test_the_card_says_how_the_confidence_is_calibrated_and_prints_no_machine_paths(run):
    card = (run / "student" / "README.md").read_text(encoding="utf-8")
    temperature = understudy.load(run).temperature
    section = how_to_use(card)
    assert "calibration.json" in section and "oversight.json" in section
    assert f"T = {temperature:.4g}"[:6] in section
    assert str(run.parent) not in card and "/tmp/" not in card


def test_the_card_names_the_students_base_not_the_teacher():
    """A student initialised from a built-in encoder while an unnamed local teacher taught it: the base_model is
    the built-in's Hub id, and the card does not call it the teacher."""
    report = {
        "run": {"name": "r", "task": "text-classification"},
        "teacher": {"description": "encoder reviews-teacher"},
        "student": {
            "kind": "static",
            "name": "r-student",
            "base": {"from": "builtin:all-MiniLM-L6-v2", "name": "all-MiniLM-L6-v2", "hub_id": "org/minilm"},
        },
    }
    # the licence gate read the teacher and the student's base: its first model id is the base's
    licence = {"targets": ["/models/teacher", "builtin:all-MiniLM-L6-v2"], "base_model": "org/minilm"}
    card = render_model_card(report, licence)
    assert "base_model: org/minilm" in card
    assert "Teacher on the Hugging Face Hub" not in card
    assert "| Student initialised from | builtin:all-MiniLM-L6-v2 (org/minilm on the Hugging Face Hub) |" in card

    report["student"]["base"] = {"from": "teacher", "name": None, "hub_id": None}
    card = render_model_card(report, {"targets": ["/models/teacher"], "base_model": "org/teacher"})
    assert "base_model: org/teacher" in card and "| Teacher on the Hugging Face Hub | org/teacher |" in card
    assert "| Student initialised from | the teacher's own encoder |" in card

    report["student"]["base"] = {"from": "folder", "name": "my-encoder", "hub_id": None}
    card = render_model_card(report, {"targets": ["/models/teacher", "/models/my-encoder"], "base_model": "x/y"})
    assert "base_model" not in card.split("---")[1]  # a local folder: no Hub id is known, none is made up
    assert "| Student initialised from | the model folder 'my-encoder' |" in card
