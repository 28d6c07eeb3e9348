"""`understudy check RECIPE`: plain-text problems with where and the fix, exit 2; the estimate; exit 0 when ready."""

from __future__ import annotations

from cli_builders import explain, flat
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.exits import USER_ERROR
from understudy.cli.main import app

TEACHER = "def fn(texts):\n    return [[0.9, 0.1] if 'great' in t else [0.2, 0.8] for t in texts]\n"


def write(folder, teacher_line: str):
    (folder / "teach.py").write_text(TEACHER, encoding="utf-8")
    write_csv(folder / "transfer.csv", review_rows(30, seed=1))
    write_csv(folder / "eval.csv", review_rows(12, seed=2))
    path = folder / "recipe.yaml"
    path.write_text(
        f"name: t\n{teacher_line}\n"
        "studnet: {kind: static}\n"
        "data:\n  transfer: {path: transfer.csv}\n  evaluation: {path: eval.csv, label_column: label}\n",
        encoding="utf-8",
    )
    return path


def test_check_lists_problems_with_the_fix_and_exits_2(tmp_path):
    path = write(tmp_path, "teacher: {kind: callable, target: teach.py:fn, labels: [great, other], licence: MIT}")
    result = CliRunner().invoke(app, ["check", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == USER_ERROR, explain(result)
    out = flat(result.output)
    assert "recipe.yaml:3: studnet" in out and "did you mean 'student'?" in out  # file, line, key, the guess

    path.write_text(path.read_text().replace("studnet: {kind: static}", "student: {kind: static}"))
    result = CliRunner().invoke(app, ["check", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == USER_ERROR, explain(result)
    out = flat(result.output)
    assert "1 problem:" in out and "student.base is 'teacher'" in out and "fix: set student.base" in out


def test_check_passes_with_an_estimate_and_the_values_print_as_plain_text(tmp_path):
    path = write(
        tmp_path, "teacher: {kind: callable, target: teach.py:fn, labels: ['[red]great', other], licence: MIT}"
    )
    write_csv(tmp_path / "eval.csv", [(t, "[red]great" if g == "great" else g) for t, g in review_rows(12, seed=2)])
    text = path.read_text().replace(
        "studnet: {kind: static}", "student: {kind: static, base: builtin:all-MiniLM-L6-v2}"
    )
    path.write_text(text)
    result = CliRunner().invoke(app, ["check", str(path), "--out", str(tmp_path / "run"), "--sample", "3"])
    assert result.exit_code == 0, explain(result)
    out = flat(result.output)
    assert "texts to label: 39 of 42" in out and "from 3 timed calls" in out and "ok:" in out
    assert "no text labelled ['[red]great']" not in out  # every label is present; the brackets were not eaten
    dry = CliRunner().invoke(app, ["check", str(path), "--out", str(tmp_path / "run"), "--no-sample"])
    assert dry.exit_code == 0 and "not sampled" in flat(dry.output) and "3 already stored" in flat(dry.output)


def ready(tmp_path, licence: str = "licence: MIT", label_column: str = "label"):
    path = write(tmp_path, f"teacher: {{kind: callable, target: teach.py:fn, labels: [great, other], {licence}}}")
    text = path.read_text().replace(
        "studnet: {kind: static}", "student: {kind: static, base: builtin:all-MiniLM-L6-v2}"
    )
    path.write_text(text.replace("label_column: label", f"label_column: {label_column}"))
    return path


def test_a_licence_verdict_alone_exits_as_distill_and_licence_check_do(tmp_path):
    from understudy.cli.exits import BLOCK, UNKNOWN

    blocked = ready(tmp_path, "licence: cc-by-nc-4.0")  # non-commercial terms, a commercial use
    result = CliRunner().invoke(app, ["check", str(blocked), "--out", str(tmp_path / "run"), "--no-sample"])
    assert result.exit_code == BLOCK and "licence gate: BLOCK" in flat(result.output), explain(result)
    unknown = ready(tmp_path, "")  # a callable with no licence found anywhere
    result = CliRunner().invoke(app, ["check", str(unknown), "--out", str(tmp_path / "run"), "--no-sample"])
    assert result.exit_code == UNKNOWN and "licence gate: UNKNOWN" in flat(result.output), explain(result)
    both = ready(tmp_path, "", label_column="lable")  # another kind of problem as well: a user error to fix first
    result = CliRunner().invoke(app, ["check", str(both), "--out", str(tmp_path / "run"), "--no-sample"])
    assert result.exit_code == USER_ERROR and "2 problems" in flat(result.output), explain(result)


def test_check_says_where_it_stored_the_sample_and_the_distill_that_reuses_it(tmp_path):
    path = ready(tmp_path)
    cwd = tmp_path / "here"
    cwd.mkdir()
    import os

    here = os.getcwd()
    os.chdir(cwd)  # no --out: the default run folder, runs/<name>, must be the one distill is told to use
    try:
        result = CliRunner().invoke(app, ["check", str(path), "--sample", "2"])
    finally:
        os.chdir(here)
    assert result.exit_code == 0, explain(result)
    out = flat(result.output)
    stored = os.path.join("runs", "t", "teacher.sqlite")
    assert f"stored in {stored}" in out and (cwd / stored).is_file()
    assert f"run: understudy distill {path} --out {os.path.join('runs', 't')}" in out
