"""The classification task's plan: each loss the recipe turns on against what the teacher gives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from understudy.errors import UserError
from understudy.recipe import Recipe
from understudy.tasks.classification import check_losses


def recipe(**training) -> Recipe:
    return Recipe.model_validate(
        {
            "name": "r",
            "teacher": {"kind": "callable", "target": "m:f", "labels": ["a", "b"]},
            "data": {"transfer": {"path": "t.csv"}, "evaluation": {"path": "e.csv", "label_column": "label"}},
            "training": training,
        }
    )


def test_an_embedding_loss_needs_a_teacher_that_gives_embeddings():
    probs_only = SimpleNamespace(provides=frozenset({"probs"}), description="callable m:f")
    check_losses(recipe(embedding_loss="none"), probs_only)  # the soft labels alone: fine
    with pytest.raises(UserError, match=r"embedding_cosine.*'embedding'.*training.embedding_loss: none"):
        check_losses(recipe(embedding_loss="cosine"), probs_only)


def test_soft_labels_need_probabilities():
    embeddings_only = SimpleNamespace(provides=frozenset({"embedding"}), description="an encoder")
    with pytest.raises(UserError, match=r"kd_kl.*'probs'.*training.kd_weight: 0"):
        check_losses(recipe(), embeddings_only)
    check_losses(recipe(kd_weight=0, embedding_loss="cosine"), embeddings_only)
