"""Shared builders for offline tests: tiny review-like data, a tiny BERT, a tiny sentence-transformers folder
and a skops head on its embeddings. Everything is made in temporary folders; nothing is downloaded."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LABELS = ["great", "other"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
GREAT_WORDS = [
    "great",
    "excellent",
    "love",
    "perfect",
    "amazing",
    "wonderful",
    "fantastic",
    "delicious",
    "best",
    "happy",
]
OTHER_WORDS = ["awful", "broke", "terrible", "bad", "waste", "stale", "poor", "refund", "disappointed", "worst"]
FILLER = [
    "the",
    "product",
    "coffee",
    "tea",
    "snack",
    "arrived",
    "taste",
    "was",
    "it",
    "this",
    "box",
    "really",
    "very",
    "and",
    "price",
    "ok",
    "my",
    "kids",
    "dog",
    "order",
]
# Words the tiny tokenizer does not know: the static student's transfer vocabulary picks the frequent ones up.
OWN_WORDS = ["yummy", "meh", "crunchy", "soggy"]
TOKENIZER_WORDS = GREAT_WORDS + OTHER_WORDS + FILLER


def review_rows(n: int, seed: int = 0, exclude: set[str] | frozenset = frozenset()) -> list[tuple[str, str]]:
    """n distinct (text, label) rows, alternating 'great' and 'other', deterministic for a seed."""
    rng = random.Random(seed)
    rows, seen = [], set(exclude)
    while len(rows) < n:
        label = LABELS[len(rows) % 2]
        cue = GREAT_WORDS if label == "great" else OTHER_WORDS
        own = OWN_WORDS[:2] if label == "great" else OWN_WORDS[2:]
        words = rng.sample(FILLER, 3) + rng.sample(cue, 2) + [rng.choice(own)]
        rng.shuffle(words)
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    return rows


def write_csv(path: str | Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def build_tokenizer(folder: str | Path, words=TOKENIZER_WORDS, max_length: int = 64):
    """A tiny BERT-style WordPiece tokenizer over `words`, saved into `folder`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + list(dict.fromkeys(words)))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    fast.save_pretrained(str(folder))
    return fast, vocab


def build_tiny_bert(folder: str | Path, labels=LABELS, seed: int = 0) -> Path:
    """A 2-layer, 32-wide BertForSequenceClassification with id2label set, plus its tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _, vocab = build_tokenizer(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).eval().save_pretrained(str(folder))
    set_card_licence(folder, "apache-2.0")
    return folder


def build_tiny_sentence_transformer(folder: str | Path, bert_folder: str | Path) -> Path:
    """A sentence-transformers folder: the tiny BERT with mean pooling."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the modules; the old path still works, with a warning
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # pragma: no cover
        from sentence_transformers import models

    transformer = models.Transformer(str(bert_folder), max_seq_length=64)
    pooling = models.Pooling(32, "mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder))
    set_card_licence(folder, "apache-2.0")
    return Path(folder)


def set_card_licence(folder: str | Path, licence: str | None, **extra) -> Path:
    """Give a model folder a README whose YAML front matter says `license: ...` (as a hub model card does)."""
    import yaml

    readme = Path(folder) / "README.md"
    meta = {**({"license": licence} if licence else {}), **extra}
    readme.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n# A test model\n", encoding="utf-8")
    return readme


def encode(st_folder: str | Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(st_folder), device="cpu", local_files_only=True)
    return model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)


def fit_skops_head(st_folder: str | Path, path: str | Path, rows: list[tuple[str, str]]) -> Path:
    """A LogisticRegression on the sentence encoder's embeddings of `rows`, saved with skops."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    texts, labels = zip(*rows)
    head = LogisticRegression(C=100.0, max_iter=5000).fit(encode(st_folder, list(texts)), list(labels))
    sio.dump(head, str(path))
    return Path(path)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_st(tmp_path_factory, tiny_bert) -> Path:
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("models") / "tiny-st", tiny_bert)


@pytest.fixture(scope="session")
def tiny_head(tmp_path_factory, tiny_st) -> Path:
    return fit_skops_head(tiny_st, tmp_path_factory.mktemp("models") / "head.skops", review_rows(80, seed=123))
