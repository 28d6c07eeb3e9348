"""`understudy init --from data.csv`: a starting recipe from the file's columns; check then names the teacher."""

from __future__ import annotations

import skops.io as sio
from cli_builders import explain, flat
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.check import check_file
from understudy.cli.main import app


def data(folder):
    import csv

    rows = review_rows(40, seed=1)
    path = folder / "data" / "tickets.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "gender", "body", "label"])
        for i, (text, label) in enumerate(rows):
            w.writerow([i, "f" if i % 2 else "m", text, label])
    return path


def test_init_guesses_the_columns_and_check_names_the_one_thing_to_set(tmp_path):
    source = data(tmp_path)
    out = tmp_path / "recipe.yaml"
    result = CliRunner().invoke(app, ["init", "--from", str(source), "--out", str(out)])
    assert result.exit_code == 0, explain(result)
    text = out.read_text()
    assert "text_column: body" in text and "label_column: label" in text and "group_columns: [gender]" in text
    assert "path: data/tickets.csv" in text  # relative to the recipe, so the folder can move

    found = check_file(out, out=tmp_path / "run", sample=0)
    assert len(found.problems) == 1 and "teacher.kind" in found.message() and "sklearn" in found.message()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = zip(*review_rows(30, seed=7))
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(list(texts), list(labels))
    sio.dump(model, str(tmp_path / "teacher.skops"))
    text = text.replace("  kind: CHOOSE", "  kind: sklearn\n  path: teacher.skops\n  licence: MIT", 1)
    out.write_text(text)
    found = check_file(out, out=tmp_path / "run", sample=0)
    # the empty description init leaves is the next thing to set: the EU AI Act screen reads only it
    assert [p.kind for p in found.problems] == ["recipe"], found.message()
    assert "recipe.yaml:5: intended_use.description is empty" in found.message()
    assert "who it affects" in found.problems[0].fix
    text = text.replace('description: ""', 'description: "Route support tickets to the right team"', 1)
    # a TF-IDF teacher is faster and smaller than any MiniLM student: gates that fit it (README, sklearn recipe)
    text = text.replace("gates: {}", "gates: {min_speedup: {threshold: 0.3, on_fail: warn}, max_size_ratio: null}")
    out.write_text(text)
    found = check_file(out, out=tmp_path / "run", sample=2)
    assert found.ok, found.message()
    assert found.estimate.sampled == 2


def test_init_never_overwrites_without_force(tmp_path):
    source = data(tmp_path)
    out = tmp_path / "recipe.yaml"
    out.write_text("mine\n")
    result = CliRunner().invoke(app, ["init", "--from", str(source), "--out", str(out)])
    assert result.exit_code == 2 and "--force" in flat(result.output) and out.read_text() == "mine\n"
    result = CliRunner().invoke(app, ["init", "--from", str(source), "--out", str(out), "--force"])
    assert result.exit_code == 0, explain(result)
    assert "kind: CHOOSE" in out.read_text()


def test_init_with_a_separate_evaluation_file_and_no_labels_in_the_source(tmp_path):
    write_csv(tmp_path / "unlabelled.csv", [(t, "") for t, _ in review_rows(20, seed=3)], header=("text", "note"))
    write_csv(tmp_path / "test.csv", review_rows(20, seed=4))
    out = tmp_path / "r.yaml"
    args = ["init", "--from", str(tmp_path / "unlabelled.csv"), "--eval", str(tmp_path / "test.csv"), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, explain(result)
    text = out.read_text()
    assert "path: unlabelled.csv" in text and "path: test.csv" in text and "label_column: label" in text
