"""Evaluation texts that are also in the transfer set flatter agreement: the run records how many, in
report["data"]["overlap"], and says so while it runs."""

from __future__ import annotations

import json

from cli_builders import explain, flat
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.report.schema import Overlap
from understudy.tasks.classification import overlap

TEACHER = "def fn(texts):\n    return [[0.9, 0.1] if 'great' in t else [0.2, 0.8] for t in texts]\n"


def test_overlap_counts_the_evaluation_texts_the_student_was_taught():
    found = overlap(["a", "b", "c"], ["b", "c", "d", "e"])
    assert found["texts"] == 2 and found["of"] == 4
    assert found["note"].startswith("2 of the 4 evaluation texts are also in the transfer set")
    assert Overlap.model_validate(found)  # the declared contract, nothing more
    assert overlap(["a"], ["b"]) == {
        "texts": 0,
        "of": 1,
        "note": "None of the 1 evaluation texts is in the transfer set.",
    }


def test_distill_says_and_records_the_overlap(tmp_path, tiny_st):
    evaluation = review_rows(20, seed=42)
    transfer = review_rows(40, seed=41, exclude={t for t, _ in evaluation}) + evaluation[:3]  # 3 taught
    (tmp_path / "teach.py").write_text(TEACHER, encoding="utf-8")
    write_csv(tmp_path / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(tmp_path / "eval.csv", evaluation)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "\n".join(
            [
                "name: overlap",
                "intended_use: {description: Sort reviews for the shop's staff}",
                "teacher: {kind: callable, target: teach.py:fn, labels: [great, other], licence: MIT}",
                f"student: {{kind: static, base: {tiny_st}, pca_dims: 16, vocabulary_size: 50}}",
                "data:",
                "  transfer: {path: transfer.csv}",
                "  evaluation: {path: eval.csv, label_column: label}",
                "training: {epochs: 2}",
                "evaluation: {bootstrap: 20, speed_texts: 8, measure_memory: false}",
                "safety: {robustness: false, counterfactual: false}",
                "gates: {min_retention: 0.0, min_speedup: null, max_size_ratio: null}",
            ]
        ),
        encoding="utf-8",
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run)])
    assert result.exit_code in (0, 3), explain(result)
    assert "3 of the 20 evaluation texts are also in the transfer set" in flat(result.output)
    said = json.loads((run / "report.json").read_text())["data"]["overlap"]
    assert said["texts"] == 3 and said["of"] == 20 and "flatters agreement" in said["note"]
