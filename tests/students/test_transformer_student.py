"""The transformer student on a tiny BERT built in the test (no network): fit, save/load, dropped layers, projection."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from understudy.errors import UserError
from understudy.recipe import StudentSpec, TrainingSpec
from understudy.students import load_student
from understudy.students.transformer import TransformerStudent

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

POS = ["good", "tasty", "great", "lovely", "fresh", "superb"]
NEG = ["bad", "awful", "stale", "rude", "cold", "terrible"]
FILLER = ["the", "food", "was", "and", "service", "very", "place", "staff"]
LABELS = ["neg", "pos"]
HIDDEN = 32


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A tiny model trains far faster on one thread (and 2 threads crawl when the CPUs are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A 2-layer BERT (hidden 32) and a WordLevel tokenizer over the test's words, saved like a model folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + POS + NEG + FILLER)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    fast.save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(str(folder))
    return folder


def corpus(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    texts, probs = [], []
    for i in range(n):
        positive = i % 2 == 0
        words = list(rng.choice(POS if positive else NEG, size=2)) + list(rng.choice(FILLER, size=rng.integers(2, 7)))
        rng.shuffle(words)
        texts.append(" ".join(words))
        p = rng.uniform(0.8, 0.97)
        probs.append([1 - p, p] if positive else [p, 1 - p])
    return texts, {"probs": np.array(probs, dtype=np.float32)}


def spec(keep_layers=None):
    return StudentSpec(kind="transformer", base="teacher", max_length=32, keep_layers=keep_layers)


def settings(**kw):
    return TrainingSpec(**{"epochs": 8, "learning_rate": 2e-3, "batch_size": 8, "embedding_loss": "cosine", **kw})


@pytest.fixture(scope="module")
def trained(base):
    texts, teacher = corpus()
    student = TransformerStudent.from_base(base, LABELS, spec())
    student.fit(texts, teacher, settings=settings())
    return student, texts, teacher


def test_fit_follows_teacher_and_loss_falls(trained):
    student, texts, teacher = trained
    agreement = (student.predict_proba(texts).argmax(1) == teacher["probs"].argmax(1)).mean()
    assert agreement > 0.9
    losses = [r["loss"] for r in student.training_["history"]]
    assert student.training_["epochs_run"] == 8 and losses[-1] < losses[0]
    assert student.predict(["good tasty food", "awful cold service"]) == ["pos", "neg"]


def test_save_load_round_trip(trained, tmp_path):
    student, texts, _ = trained
    before = student.predict_proba(texts)
    student.save(tmp_path / "student")
    meta = json.loads((tmp_path / "student" / "student.json").read_text())
    assert meta["kind"] == "transformer" and meta["labels"] == LABELS and meta["max_length"] == 32
    assert (tmp_path / "student" / "head.safetensors").is_file()
    assert (tmp_path / "student" / "model.safetensors").is_file()
    assert not list((tmp_path / "student").glob("*.bin")) and not list((tmp_path / "student").glob("*.pkl"))
    again = load_student(tmp_path / "student")
    assert isinstance(again, TransformerStudent)
    np.testing.assert_allclose(again.predict_proba(texts), before, atol=1e-5)


def test_keep_layers(base):
    from transformers import BertModel

    original = BertModel.from_pretrained(str(base))
    student = TransformerStudent.from_base(base, LABELS, spec(keep_layers=[1]))
    encoder = student.net.encoder
    assert encoder.config.num_hidden_layers == 1 and len(encoder.encoder.layer) == 1
    kept, source = encoder.encoder.layer[0].state_dict(), original.encoder.layer[1].state_dict()
    assert kept.keys() == source.keys()
    for key in kept:
        assert torch.equal(kept[key], source[key]), key
    assert student.predict_proba(["good food"]).shape == (1, 2)

    with pytest.raises(UserError, match=r"0 to 1"):
        TransformerStudent.from_base(base, LABELS, spec(keep_layers=[0, 2]))


def test_projection_starts_as_identity(base):
    student = TransformerStudent.from_base(base, LABELS, spec())
    proj = student.build_projection(HIDDEN)
    assert torch.equal(proj.weight, torch.eye(HIDDEN)) and torch.equal(proj.bias, torch.zeros(HIDDEN))

    texts, teacher = corpus(16)
    teacher["embedding"] = np.random.default_rng(1).normal(size=(16, HIDDEN)).astype(np.float32)
    student.fit(texts, teacher, settings=settings(epochs=1, learning_rate=1e-9))
    proj = student.net.project
    assert proj is not None and proj.weight.shape == (HIDDEN, HIDDEN)
    assert torch.allclose(proj.weight, torch.eye(HIDDEN), atol=1e-6)

    student.fit(texts, teacher, settings=settings(epochs=1, embedding_loss="none"))
    assert student.net.project is None


def test_same_seed_same_student(base):
    texts, teacher = corpus(16)
    a, b = (
        TransformerStudent.from_base(base, LABELS, spec()).fit(texts, teacher, settings=settings(epochs=2))
        for _ in range(2)
    )
    np.testing.assert_allclose(a.predict_proba(texts), b.predict_proba(texts), atol=1e-6)
