"""`check`: every problem knowable without asking the teacher, all at once; distill stops on them before any call."""

from __future__ import annotations

import pytest
from conftest import review_rows, write_csv

from understudy.check import RecipeProblems, check_file
from understudy.recipe import load_recipe
from understudy.run import distill

CALLS = "calls.txt"
TEACHER = f"""
from pathlib import Path

def fn(texts):
    with open(Path(__file__).with_name("{CALLS}"), "a") as fh:  # every call is counted, to prove there was none
        fh.write(f"{{len(texts)}}\\n")
    return [[0.9, 0.1] if "great" in t else [0.2, 0.8] for t in texts]
"""


def recipe(folder, *, student_base="teacher", label_column="label", gate="", gold=False):
    (folder / "teach.py").write_text(TEACHER, encoding="utf-8")
    write_csv(folder / "transfer.csv", review_rows(30, seed=1))
    write_csv(folder / "eval.csv", review_rows(12, seed=2))
    path = folder / "recipe.yaml"
    path.write_text(
        "\n".join(
            [
                "name: t",
                "teacher: {kind: callable, target: teach.py:fn, labels: [great, other], licence: MIT}",
                f"student: {{kind: static, base: {student_base}}}",
                "data:",
                "  gold: reviewed.csv" if gold else "",
                "  transfer: {path: transfer.csv}",
                f"  evaluation: {{path: eval.csv, label_column: {label_column}}}",
                gate,
            ]
        ),
        encoding="utf-8",
    )
    return path


def calls(folder) -> int:
    path = folder / CALLS
    return sum(int(n) for n in path.read_text().split()) if path.exists() else 0


def test_every_problem_is_found_not_only_the_first(tmp_path):
    path = recipe(tmp_path, label_column="gold", gate="gates: {refusal_kept_min: 0.9}", gold=True)
    result = check_file(path, out=tmp_path / "run", sample=8)
    kinds = sorted(p.kind for p in result.problems)
    # the missing gold file, a gate classification never measures, the student needing an encoder, the column
    assert kinds == ["data", "gates", "recipe", "student"], result.message()
    said = result.message()
    assert "reviewed.csv" in said and "refusal_kept_min" in said and "no column 'gold'" in said
    assert "builtin:all-MiniLM-L6-v2" in said  # the fix is named
    assert result.estimate is None and calls(tmp_path) == 0  # nothing was asked of the teacher


def test_a_label_the_teacher_does_not_know_is_found(tmp_path):
    path = recipe(tmp_path, student_base="builtin:all-MiniLM-L6-v2")
    write_csv(tmp_path / "eval.csv", review_rows(12, seed=2) + [("a new text", "meh")])
    result = check_file(path, out=tmp_path / "run", sample=0)
    assert [p.kind for p in result.problems] == ["data"] and "'meh'" in result.message()


def test_estimate_counts_what_is_stored_and_the_sample_is_never_asked_twice(tmp_path):
    path = recipe(tmp_path, student_base="builtin:all-MiniLM-L6-v2")
    first = check_file(path, out=tmp_path / "run", sample=8)
    assert first.ok, first.message()
    est = first.estimate
    assert est.texts == 42 and est.sampled == 8 and est.to_label == 42 - 8 and est.seconds_per_text > 0
    assert calls(tmp_path) == 8
    again = check_file(path, out=tmp_path / "run", sample=8)
    assert again.estimate.stored == 16 and calls(tmp_path) == 16  # 8 new ones; the first 8 came from the store
    dry = check_file(path, out=tmp_path / "run", sample=0)
    assert dry.estimate.stored == 16 and dry.estimate.seconds_per_text is None and calls(tmp_path) == 16


def test_api_key_variable_unset_is_a_problem_and_the_key_is_never_shown(tmp_path, monkeypatch):
    path = recipe(tmp_path, student_base="builtin:all-MiniLM-L6-v2")
    text = path.read_text().replace(
        "teacher: {kind: callable, target: teach.py:fn, labels: [great, other], licence: MIT}",
        "teacher:\n  kind: openai-api\n  labels: [great, other]\n  licence: MIT\n"
        "  api: {base_url: 'http://127.0.0.1:9/v1', model: local, api_key_env: UNDERSTUDY_TEST_KEY}",
    )
    path.write_text(text)
    monkeypatch.delenv("UNDERSTUDY_TEST_KEY", raising=False)
    result = check_file(path, out=tmp_path / "run", sample=0)
    assert [p.kind for p in result.problems] == ["api"] and "UNDERSTUDY_TEST_KEY" in result.message()
    monkeypatch.setenv("UNDERSTUDY_TEST_KEY", "sk-secret-value-1234")
    result = check_file(path, out=tmp_path / "run", sample=0)
    assert result.ok and "sk-secret" not in result.message() + " ".join(result.notes)
    assert result.estimate.usd == 0  # a server on this machine costs nothing unless the recipe says so


def test_distill_stops_before_the_teacher_is_asked_and_lists_every_problem(tmp_path):
    path = recipe(tmp_path, label_column="gold")
    with pytest.raises(RecipeProblems) as err:
        distill(load_recipe(path), tmp_path / "run")
    said = str(err.value)
    assert "2 problems" in said and "student.base" in said and "no column 'gold'" in said
    assert calls(tmp_path) == 0 and not (tmp_path / "run" / "teacher.sqlite").exists()


def test_an_unwritable_output_folder_is_a_problem(tmp_path):
    path = recipe(tmp_path, student_base="builtin:all-MiniLM-L6-v2")
    (tmp_path / "afile").write_text("x")
    result = check_file(path, out=tmp_path / "afile" / "run", sample=0)
    assert [p.kind for p in result.problems] == ["output"]


def sklearn_recipe(folder, *, gates: str = "", description: str | None = "Sort reviews", teacher_path="teacher.skops"):
    """A real TF-IDF + logistic-regression teacher (tiny and fast) and a MiniLM-based static student."""
    import skops.io as sio
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = zip(*review_rows(40, seed=7))
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(list(texts), list(labels))
    sio.dump(model, str(folder / "teacher.skops"))
    write_csv(folder / "transfer.csv", review_rows(30, seed=1))
    write_csv(folder / "eval.csv", review_rows(12, seed=2))
    use = "" if description is None else f"intended_use: {{description: {description!r}}}"
    path = folder / "recipe.yaml"
    path.write_text(
        "\n".join(
            [
                "name: t",
                use,
                f"teacher: {{kind: sklearn, path: {teacher_path}, licence: MIT}}",
                "student: {kind: static, base: builtin:all-MiniLM-L6-v2}",
                "data:",
                "  transfer: {path: transfer.csv}",
                "  evaluation: {path: eval.csv, label_column: label}",
                gates,
            ]
        ),
        encoding="utf-8",
    )
    return path


def test_a_teacher_too_small_and_fast_for_the_speed_and_size_gates_is_said_before_the_run(tmp_path):
    # a speed gate no student can meet against a TF-IDF teacher (1000x: robust to a busy test machine)
    path = sklearn_recipe(tmp_path, gates="gates: {min_speedup: 1000}")
    result = check_file(path, out=tmp_path / "run", sample=8)
    assert [p.kind for p in result.problems] == ["gates"], result.message()
    speed = result.problems[0]
    assert "min_speedup (1000x, blocks) cannot be met" in speed.what and "texts/s" in speed.what
    assert "already small and fast" in speed.fix and "min_speedup" in speed.fix and "max_size_ratio" in speed.fix
    # the size gate (a warn by default): a MiniLM static student weighs megabytes, the teacher kilobytes
    size = [n for n in result.notes if "max_size_ratio" in n]
    assert size and "0.25, warns) cannot be met" in size[0] and "already small" in size[0]
    # gates set to fit a small teacher, as the README's sklearn recipe does: ready
    path = sklearn_recipe(tmp_path, gates="gates: {min_speedup: {threshold: 0.3, on_fail: warn}, max_size_ratio: null}")
    result = check_file(path, out=tmp_path / "run", sample=8)
    assert result.ok, result.message()
    assert not [n for n in result.notes if "cannot be met" in n]
    # a blocking size gate that cannot be met stops the run before the teacher is asked (distill runs this check)
    path = sklearn_recipe(tmp_path, gates="gates: {min_speedup: null, max_size_ratio: 0.5}")
    result = check_file(path, out=tmp_path / "run", sample=0)
    assert [p.kind for p in result.problems] == ["gates"] and "max_size_ratio (0.5, blocks)" in result.message()


def test_a_missing_teacher_file_is_one_problem_not_a_second_licence_one(tmp_path):
    path = sklearn_recipe(tmp_path, teacher_path="teacher.skop")
    result = check_file(path, out=tmp_path / "run", sample=0)
    assert len(result.problems) == 1 and "teacher.path: file not found" in result.message(), result.message()
    assert "licence gate: not run, the teacher's file is missing" in result.notes


def test_the_default_is_said_only_when_the_recipe_did_not_set_student_base(tmp_path):
    path = recipe(tmp_path, student_base="teacher")  # set explicitly
    said = check_file(path, out=tmp_path / "run", sample=0).message()
    assert "student.base is 'teacher', but a callable teacher" in said and "(the default)" not in said
    path.write_text(path.read_text().replace("student: {kind: static, base: teacher}", "student: {kind: static}"))
    said = check_file(path, out=tmp_path / "run", sample=0).message()
    assert "student.base is 'teacher' (the default), but" in said


def test_an_empty_intended_use_description_is_a_problem_with_the_fix(tmp_path):
    path = sklearn_recipe(tmp_path, description="", gates="gates: {min_speedup: null}")
    result = check_file(path, out=tmp_path / "run", sample=0)
    assert [p.kind for p in result.problems] == ["recipe"], result.message()
    assert "recipe.yaml:2: intended_use.description is empty" in result.problems[0].what
    assert "what the student is for and who it affects" in result.problems[0].fix
    path = sklearn_recipe(tmp_path, description=None, gates="gates: {min_speedup: null}")  # not written: a note
    result = check_file(path, out=tmp_path / "run", sample=0)
    assert result.ok and any("intended_use.description is not set" in n for n in result.notes)


def test_column_and_label_mistakes_get_did_you_mean_and_the_recipe_line(tmp_path):
    path = recipe(tmp_path, student_base="builtin:all-MiniLM-L6-v2", label_column="lable")
    said = check_file(path, out=tmp_path / "run", sample=0).message()
    assert "recipe.yaml:7: data.evaluation:" in said and "no column 'lable' (did you mean 'label'?" in said
    path = recipe(tmp_path, student_base="builtin:all-MiniLM-L6-v2")
    write_csv(tmp_path / "eval.csv", review_rows(12, seed=2) + [("a new text", "Great")])
    said = check_file(path, out=tmp_path / "run", sample=0).message()
    assert "label 'Great'" in said and "did you mean 'great'?" in said  # the same but for case


def test_the_sampled_answers_say_where_they_are_stored(tmp_path):
    path = recipe(tmp_path, student_base="builtin:all-MiniLM-L6-v2")
    result = check_file(path, out=tmp_path / "run", sample=4)
    assert result.ok and result.out == tmp_path / "run"
    said = "\n".join(result.estimate.lines())
    assert str(tmp_path / "run" / "teacher.sqlite") in said and "same --out" in said
