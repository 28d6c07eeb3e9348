"""The static student: training against a teacher, numpy inference matching torch, files round trip."""

import numpy as np
import pytest
import torch
from student_builders import BAD, FILLER, GOOD, make_student

from understudy.recipe import TrainingSpec
from understudy.students.static import StaticStudent, transfer_vocabulary
from understudy.students.torch_static import StaticNet, pack


def synthetic(n=120, seed=0):
    rng = np.random.default_rng(seed)
    texts, probs = [], []
    for i in range(n):
        words = list(rng.choice(GOOD if i % 2 == 0 else BAD, 2)) + list(rng.choice(FILLER, 3))
        rng.shuffle(words)
        texts.append(" ".join(words))
        p = 0.9 if i % 2 == 0 else 0.1
        probs.append([p, 1 - p])
    return texts, np.array(probs, dtype=np.float32)


def settings(**kw):
    base = dict(epochs=15, learning_rate=1e-2, batch_size=16, embedding_loss="cosine", patience=15)
    return TrainingSpec(**{**base, **kw})


def test_fit_learns_the_teacher_and_keeps_the_best_epoch():
    texts, probs = synthetic()
    teacher_emb = np.where(probs[:, :1] > 0.5, 1.0, -1.0) * np.ones((len(texts), 6), dtype=np.float32)
    student = make_student().fit(
        texts, {"probs": probs, "embedding": teacher_emb}, settings=settings(), val_idx=np.arange(0, 120, 10)
    )
    agreement = (student.predict_proba(texts).argmax(1) == probs.argmax(1)).mean()
    assert agreement > 0.95
    history = student.training_["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    best = max(h["val_agreement"] for h in history)
    assert history[student.training_["best_epoch"] - 1]["val_agreement"] == best


def test_numpy_inference_matches_the_torch_module():
    texts, probs = synthetic(40)
    student = make_student().fit(texts, {"probs": probs}, settings=settings(epochs=3, embedding_loss="none"))
    net = StaticNet(student.embeddings, 2, 16, None, True)
    h = student.head_
    with torch.no_grad():
        net.head[0].weight.copy_(torch.from_numpy(h["w1"]))
        net.head[0].bias.copy_(torch.from_numpy(h["b1"]))
        net.head[2].weight.copy_(torch.from_numpy(h["w2"]))
        net.head[2].bias.copy_(torch.from_numpy(h["b2"]))
        flat, offsets = pack(student.token_ids(texts + ["", "unknownword"]))
        logits, _ = net({"ids": flat, "offsets": offsets})
    expected = torch.softmax(logits, -1).numpy()
    np.testing.assert_allclose(student.predict_proba(texts + ["", "unknownword"]), expected, atol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    texts, probs = synthetic(40)
    student = make_student().fit(texts, {"probs": probs}, settings=settings(epochs=2, embedding_loss="none"))
    student.save(tmp_path / "s")
    loaded = StaticStudent.load(tmp_path / "s")
    assert loaded.labels == ["great", "other"]
    # Embeddings are stored as float16: predictions move by far less than a decision.
    np.testing.assert_allclose(loaded.predict_proba(texts), student.predict_proba(texts), atol=2e-3)
    assert {p.name for p in (tmp_path / "s").iterdir()} >= {
        "model.safetensors",
        "tokenizer.json",
        "head.safetensors",
        "student.json",
    }


def test_saved_student_loads_in_model2vec(tmp_path):
    from model2vec import StaticModel

    student = make_student()
    student.head_ = {
        "w1": np.zeros((16, 8), np.float32),
        "b1": np.zeros(16, np.float32),
        "w2": np.zeros((2, 16), np.float32),
        "b2": np.zeros(2, np.float32),
    }
    student.save(tmp_path / "s")
    m2v = StaticModel.from_pretrained(str(tmp_path / "s"))
    np.testing.assert_allclose(m2v.encode(["good tea"]), student.embed(["good tea"]), atol=2e-3)


def test_transfer_vocabulary_keeps_frequent_unknown_words():
    texts = ["Kombucha kombucha matcha", "matcha kombucha once", "tea tea"]
    words = transfer_vocabulary(texts, known={"tea"}, size=10)
    assert words == ["kombucha", "matcha"]  # 'once' appears once; 'tea' is known
    assert transfer_vocabulary(texts, known=set(), size=1) == ["kombucha"]


def test_untrained_student_says_so():
    from understudy.errors import UserError

    with pytest.raises(UserError, match="not trained"):
        make_student().predict_proba(["good"])
