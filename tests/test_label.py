"""label(): order kept, duplicates asked once, everything stored reused, and teacher faults said clearly."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.errors import UserError
from understudy.label import label
from understudy.store import TeacherStore, input_hash
from understudy.teachers.python import CallableTeacher


def probs_of(text: str) -> list[float]:
    p = (len(text) % 9 + 1) / 10
    return [p, 1 - p]


class Counting:
    """A teacher function that records every text and every batch it is asked about."""

    def __init__(self, fn=probs_of):
        self.fn = fn
        self.texts: list[str] = []
        self.batches: list[int] = []

    def __call__(self, texts):
        self.texts += list(texts)
        self.batches.append(len(texts))
        return np.array([self.fn(t) for t in texts])


TEXTS = [
    "a much longer text than the others, to move it in the sort",
    "short",
    "mid length one",
    "b",
    "short",
    "yet another text here",
    "b",
    "x" * 40,
]


def test_labels_in_input_order_duplicates_once_then_all_reused(tmp_path):
    fn = Counting()
    teacher = CallableTeacher(fn, ["yes", "no"], fingerprint="fp-count")
    with TeacherStore(tmp_path / "s.sqlite") as store:
        out, stats = label(teacher, TEXTS, store, batch_size=3)
        assert set(out) == {"probs"}
        assert out["probs"].shape == (len(TEXTS), 2)
        assert out["probs"].dtype == np.float32
        for row, text in zip(out["probs"], TEXTS):
            assert np.allclose(row, probs_of(text)), text
        unique = set(TEXTS)
        assert sorted(fn.texts) == sorted(unique)  # each distinct text asked exactly once
        assert max(fn.batches) <= 3 and sum(fn.batches) == len(unique)
        assert (stats.texts, stats.asked, stats.reused) == (len(TEXTS), len(unique), 0)
        assert store.count("fp-count", "probs") == len(unique)

        out2, stats2 = label(teacher, TEXTS, store, batch_size=3)
    assert (stats2.asked, stats2.reused) == (0, len(unique))
    assert len(fn.texts) == len(unique)  # asked nothing new
    assert np.array_equal(out2["probs"], out["probs"])
    report = stats2.to_report("fp-count")
    assert report["teacher_fingerprint"] == "fp-count" and report["asked"] == 0


def test_second_call_without_duplicates_reuses_everything(tmp_path):
    texts = [f"text {i}" for i in range(10)]
    fn = Counting()
    teacher = CallableTeacher(fn, ["yes", "no"], fingerprint="fp")
    with TeacherStore(tmp_path / "s.sqlite") as store:
        label(teacher, texts, store, batch_size=4)
        _, stats = label(teacher, texts, store, batch_size=4)
        assert stats.reused == len(texts) and stats.asked == 0
        # a superset asks only the new texts
        _, stats3 = label(teacher, texts + ["new one"], store, batch_size=4)
    assert (stats3.asked, stats3.reused) == (1, len(texts))
    assert fn.texts.count("new one") == 1 and len(fn.texts) == len(texts) + 1


def test_another_fingerprint_is_asked_again(tmp_path):
    fn = Counting()
    with TeacherStore(tmp_path / "s.sqlite") as store:
        label(CallableTeacher(fn, ["yes", "no"], fingerprint="one"), ["a", "b"], store)
        _, stats = label(CallableTeacher(fn, ["yes", "no"], fingerprint="two"), ["a", "b"], store)
    assert stats.asked == 2 and len(fn.texts) == 4


def test_teacher_failure_names_store_and_rerun_and_keeps_what_was_stored(tmp_path):
    def flaky(texts):
        if any("boom" in t for t in texts):
            raise RuntimeError("GPU fell over")
        return np.array([probs_of(t) for t in texts])

    teacher = CallableTeacher(flaky, ["yes", "no"], fingerprint="flaky")
    path = tmp_path / "s.sqlite"
    texts = ["ok", "ok2", "boom boom boom boom"]  # sorted by length: the failing one comes last
    with TeacherStore(path) as store:
        with pytest.raises(UserError) as info:
            label(teacher, texts, store, batch_size=1)
        message = str(info.value)
        assert str(path) in message
        assert "rerun" in message
        assert "RuntimeError" in message and "GPU fell over" in message
        assert store.count("flaky") == 2  # the batches before the failure are kept
        assert set(store.get("flaky", [input_hash("ok"), input_hash("ok2")], "probs")) == {
            input_hash("ok"),
            input_hash("ok2"),
        }


def test_wrong_shape_is_a_clear_user_error(tmp_path):
    teacher = CallableTeacher(lambda texts: np.full((len(texts), 3), 1 / 3), ["yes", "no"], fingerprint="shape")
    with TeacherStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(UserError) as info:
            label(teacher, ["a", "b"], store)
        assert store.count("shape") == 0
    message = str(info.value)
    assert "shape (2, 3)" in message and "expected (2, 2)" in message and "'yes', 'no'" in message


def test_one_dimensional_output_is_a_clear_user_error(tmp_path):
    teacher = CallableTeacher(lambda texts: np.full(len(texts), 0.5), ["yes", "no"], fingerprint="flat")
    with TeacherStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(UserError, match=r"shape \(2,\).*expected \(2, 2\)"):
            label(teacher, ["a", "b"], store)


def test_rows_not_summing_to_one_is_a_clear_user_error(tmp_path):
    teacher = CallableTeacher(lambda texts: np.array([[2.0, 3.0]] * len(texts)), ["yes", "no"], fingerprint="scores")
    with TeacherStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(UserError) as info:
            label(teacher, ["a", "b"], store)
        assert store.count("scores") == 0
    assert "do not sum to 1" in str(info.value) and "5.0000" in str(info.value)


def test_nan_or_negative_probabilities_are_refused(tmp_path):
    for fp, value in (("nan", [[np.nan, 1.0]]), ("neg", [[-0.5, 1.5]])):
        teacher = CallableTeacher(lambda texts, v=value: np.array(v * len(texts)), ["yes", "no"], fingerprint=fp)
        with TeacherStore(tmp_path / "s.sqlite") as store:
            with pytest.raises(UserError, match="NaN, infinite or negative"):
                label(teacher, ["a"], store)


class FakeEncoder:
    provides = frozenset({"embedding"})
    labels: list[str] = []
    fingerprint = "enc"
    description = "fake encoder"

    def __init__(self):
        self.asked: list[str] = []

    def predict(self, texts):
        self.asked += list(texts)
        return {"embedding": np.array([[len(t), 1.0] for t in texts], dtype=np.float32)}


class FakeEncoderWithHead:
    provides = frozenset({"probs", "embedding"})
    labels = ["short", "long"]
    description = "fake encoder + head"

    def __init__(self, encoder, fingerprint):
        self.encoder, self.fingerprint = encoder, fingerprint

    def from_embeddings(self, emb):
        p = (emb[:, 0] > 3).astype(np.float32)
        return np.stack([1 - p, p], axis=1)


def test_encoder_teacher_stores_embeddings_under_the_encoder_so_a_new_head_reuses_them(tmp_path):
    encoder = FakeEncoder()
    texts = ["ab", "abcdef", "ab", "xyz12"]
    with TeacherStore(tmp_path / "s.sqlite") as store:
        out, stats = label(FakeEncoderWithHead(encoder, "head-1"), texts, store, batch_size=2)
        assert set(out) == {"probs", "embedding"}
        assert out["embedding"][:, 0].tolist() == [2, 6, 2, 5]
        assert out["probs"].argmax(1).tolist() == [0, 1, 0, 1]
        assert store.count("enc", "embedding") == 3
        out2, stats2 = label(FakeEncoderWithHead(encoder, "head-2"), texts, store, batch_size=2)
    assert stats2.asked == 0 and stats2.reused == 3
    assert sorted(encoder.asked) == sorted(set(texts))
    assert np.array_equal(out2["probs"], out["probs"])
