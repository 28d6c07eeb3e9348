"""A tiny static student built in memory, shared by the student and measurement tests."""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers

from understudy.students.static import StaticStudent

GOOD = ["good", "great", "tasty", "lovely", "fresh"]
BAD = ["bad", "awful", "stale", "bland", "broken"]
FILLER = ["the", "coffee", "was", "really", "very", "box", "tea", "snack"]


def tiny_tokenizer() -> Tokenizer:
    vocab = {w: i for i, w in enumerate(["[UNK]"] + GOOD + BAD + FILLER)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def make_student(dim=8, seed=0):
    tok = tiny_tokenizer()
    emb = np.random.default_rng(seed).normal(size=(tok.get_vocab_size(), dim)).astype(np.float32)
    return StaticStudent(tok, emb, ["great", "other"], normalize=True, hidden=16)
