"""Reviewed labels as gold for the next distillation: they replace the teacher's soft labels, new texts join the
transfer set, a label the teacher does not know is refused, and the run records how many were used."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from cli_builders import explain, recipe_lines, write_recipe
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.data.readers import TextSet
from understudy.errors import UserError
from understudy.oversight.queue import ReviewQueue
from understudy.tasks import classification
from understudy.tasks.classification import apply_gold, load_gold

LABELS = ["great", "other"]


def gold_set(pairs):
    return TextSet(
        texts=[t for t, _ in pairs], labels=[g for _, g in pairs], source="gold.csv", sha256="x", rows_read=len(pairs)
    )


def settings(kd_weight=1.0, gold_weight=0.5):
    return SimpleNamespace(kd_weight=kd_weight, gold_weight=gold_weight)


def test_gold_replaces_the_teachers_soft_label_and_adds_new_texts():
    targets = {"probs": np.array([[0.7, 0.3], [0.4, 0.6]]), "embedding": np.array([[1.0, 0.0], [0.0, 1.0]])}
    asked = []

    def teacher(texts):
        asked.append(list(texts))
        return {"probs": np.array([[0.9, 0.1]]), "embedding": np.array([[0.5, 0.5]])}

    gold = gold_set([("b", "great"), ("new", "other"), ("in eval", "great")])
    texts, out, hard, reviewed = apply_gold(["a", "b"], targets, None, gold, LABELS, {"in eval"}, settings(), teacher)
    assert texts == ["a", "b", "new"]
    assert out["probs"].tolist() == [[0.7, 0.3], [1.0, 0.0], [0.0, 1.0]]  # a untouched; b and new one-hot
    assert out["embedding"].tolist() == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]  # the new text's, from the teacher
    assert asked == [["new"]] and hard is None
    assert targets["probs"][1].tolist() == [0.4, 0.6]  # the stored teacher outputs are not changed
    assert reviewed["rows"].tolist() == [1, 2]
    facts = reviewed["facts"]
    assert (facts["used"], facts["replaced_teacher"], facts["added"], facts["in_evaluation_set"]) == (2, 1, 1, 1)


def test_gold_sets_the_hard_targets_too_and_is_the_only_target_without_soft_labels():
    targets = {"probs": np.array([[0.7, 0.3], [0.4, 0.6]])}
    gold = gold_set([("a", "other")])
    _, _, hard, _ = apply_gold(["a", "b"], targets, np.array([-1, 0]), gold, LABELS, set(), settings(), None)
    assert hard.tolist() == [1, 0]
    _, _, hard, _ = apply_gold(["a", "b"], targets, None, gold, LABELS, set(), settings(kd_weight=0), None)
    assert hard.tolist() == [1, -1]  # kd_weight 0: only cross-entropy learns, so the gold labels go in there
    with pytest.raises(UserError, match="kd_weight and training.gold_weight are both 0"):
        apply_gold(["a"], targets, None, gold, LABELS, set(), settings(0, 0), None)


def test_an_unknown_gold_label_names_the_file_the_row_and_the_known_labels(tmp_path):
    path = write_csv(tmp_path / "gold.csv", [("fine", "great"), ("odd", "maybe")])
    with pytest.raises(
        UserError, match=r"gold set .*gold\.csv: label 'maybe' \(1 row, e\.g\. row 2.*\['great', 'other'\]"
    ):
        load_gold(str(path), LABELS)


def test_a_gold_file_needs_text_and_label_columns(tmp_path):
    path = write_csv(tmp_path / "gold.csv", [("fine", "great")], header=("text", "answer"))
    with pytest.raises(
        UserError, match=r"data.gold .*gold\.csv: no column 'label'; the columns are \['text', 'answer'\]"
    ):
        load_gold(str(path), LABELS)


def test_an_empty_export_means_no_gold_labels(tmp_path):
    with ReviewQueue(tmp_path / "q.sqlite") as q:
        q.export_csv(tmp_path / "gold.csv")
    gold = load_gold(str(tmp_path / "gold.csv"), LABELS)
    assert gold.texts == [] and gold.rows_read == 0


def test_a_run_learns_the_review_desks_corrections(tmp_path, tiny_st, tiny_head, monkeypatch):
    transfer = review_rows(40, seed=41)
    evaluation = review_rows(20, seed=42, exclude={t for t, _ in transfer})
    extra = review_rows(6, seed=43, exclude={t for t, _ in transfer + evaluation})
    write_csv(tmp_path / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(tmp_path / "data" / "eval.csv", evaluation)
    # The desk's export: corrections of transfer texts (flipped on purpose), new texts, and one evaluation text.
    flipped = {"great": "other", "other": "great"}
    reviewed = [(t, flipped[g]) for t, g in transfer[:4]] + extra + [evaluation[0]]
    with ReviewQueue(tmp_path / "review_queue.sqlite") as q:
        for text, label in reviewed:
            q.decide(q.add(text, "great", 0.55, [0.55, 0.45]), label, LABELS, "ann")
        q.export_csv(tmp_path / "data" / "gold.csv")
    lines = recipe_lines(tiny_st, tiny_head)
    lines.insert(lines.index("  evaluation:"), "  gold: data/gold.csv")  # relative to the recipe's folder
    recipe = write_recipe(tmp_path, lines)

    seen = {}
    real = classification.train_student

    def spy(recipe, teacher, texts, outputs, gold, folder, progress, train_only=None):
        seen.update(texts=list(texts), probs=outputs["probs"].copy(), train_only=train_only)
        return real(recipe, teacher, texts, outputs, gold, folder, progress, train_only=train_only)

    monkeypatch.setattr(classification, "train_student", spy)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "--to", "train", "-q"])
    assert result.exit_code == 0, explain(result)

    training = json.loads((run / "training.json").read_text())
    facts = training["gold_labels"]
    assert (facts["used"], facts["replaced_teacher"], facts["added"], facts["in_evaluation_set"]) == (10, 4, 6, 1)
    assert facts["source"] == str(tmp_path / "data" / "gold.csv")
    assert json.loads((run / "stages.json").read_text())["train"]["gold_labels"] == 10

    assert seen["texts"][:40] == [t for t, _ in transfer] and sorted(seen["texts"][40:]) == sorted(t for t, _ in extra)
    row = {t: i for i, t in enumerate(seen["texts"])}
    for text, label in reviewed[:-1]:
        assert seen["probs"][row[text]].tolist() == [float(label == "great"), float(label == "other")], text
    assert evaluation[0][0] not in row  # an evaluation text is never trained on
    assert sorted(seen["train_only"].tolist()) == sorted(row[t] for t, _ in reviewed[:-1])
    untouched = [row[t] for t, _ in transfer[4:]]
    assert not np.isin(seen["probs"][untouched], [0.0, 1.0]).all(axis=1).any()  # the teacher's soft labels stay


def test_a_missing_gold_file_is_named_at_load(tmp_path, tiny_st, tiny_head):
    lines = recipe_lines(tiny_st, tiny_head)
    lines.insert(lines.index("  evaluation:"), "  gold: data/nowhere.csv")
    write_csv(tmp_path / "data" / "transfer.csv", [("a text", "")], header=("text", "note"))
    write_csv(tmp_path / "data" / "eval.csv", [("a text", "great")])
    recipe = write_recipe(tmp_path, lines)
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code != 0
    assert "data.gold: file not found" in result.output.replace("\n", "") and "nowhere.csv" in result.output
