"""Teachers: scikit-learn via skops only, Python callables, transformers classifiers, encoders with a skops head."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from conftest import LABELS, encode, fit_skops_head, review_rows

from understudy.errors import UserError
from understudy.label import label
from understudy.recipe import TeacherSpec
from understudy.store import TeacherStore
from understudy.teachers import build_teacher, size_on_disk
from understudy.teachers.encoder import EncoderWithHead, HFClassifier, SentenceEncoder
from understudy.teachers.python import CallableTeacher, SklearnTeacher, import_target

TEXTS = ["great coffee and the best tea", "awful product, it broke", "the box arrived", "perfect snack"]


def fit_pipeline(rows):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = zip(*rows)
    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(list(texts), list(labels))


@pytest.fixture
def skops_pipeline(tmp_path):
    import skops.io as sio

    path = tmp_path / "teacher.skops"
    sio.dump(fit_pipeline(review_rows(40, seed=5)), str(path))
    return path


# ------------------------------------------------------------------------------------------ sklearn


def test_sklearn_teacher_labels_probs_and_fingerprint(skops_pipeline, tmp_path):
    import skops.io as sio

    teacher = SklearnTeacher(skops_pipeline)
    assert teacher.labels == ["great", "other"]
    assert teacher.provides == frozenset({"probs"})
    probs = teacher.predict(TEXTS)["probs"]
    assert probs.shape == (len(TEXTS), 2) and probs.dtype == np.float32
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert probs[0].argmax() == 0 and probs[1].argmax() == 1  # it learned something
    assert str(skops_pipeline) in teacher.description
    assert teacher.files == [skops_pipeline]

    again = SklearnTeacher(skops_pipeline)
    assert again.fingerprint == teacher.fingerprint
    # the same bytes elsewhere: the same fingerprint (the file's name is part of it, not its folder)
    (tmp_path / "copy").mkdir()
    copy = shutil.copy(skops_pipeline, tmp_path / "copy" / "teacher.skops")
    assert SklearnTeacher(copy).fingerprint == teacher.fingerprint
    # another model in the same file: another fingerprint
    sio.dump(fit_pipeline(review_rows(40, seed=6)), str(skops_pipeline))
    assert SklearnTeacher(skops_pipeline).fingerprint != teacher.fingerprint


def test_sklearn_teacher_explicit_labels(skops_pipeline):
    assert SklearnTeacher(skops_pipeline, labels=["pos", "neg"]).labels == ["pos", "neg"]


def test_pickle_is_refused(tmp_path):
    path = tmp_path / "teacher.skops"
    path.write_bytes(pickle.dumps(fit_pipeline(review_rows(10, seed=1))))
    with pytest.raises(UserError) as info:
        SklearnTeacher(path)
    assert str(path) in str(info.value) and "skops" in str(info.value)
    with pytest.raises(UserError, match="not found"):
        SklearnTeacher(tmp_path / "absent.skops")


def test_model_without_predict_proba_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.svm import LinearSVC

    path = tmp_path / "svm.skops"
    sio.dump(LinearSVC().fit(np.random.default_rng(0).random((10, 3)), [0, 1] * 5), str(path))
    with pytest.raises(UserError, match="predict_proba"):
        SklearnTeacher(path)


def test_untrusted_types_are_refused(tmp_path, monkeypatch):
    import sys
    import types

    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    module = types.ModuleType("custom_teacher_mod")
    monkeypatch.setitem(sys.modules, "custom_teacher_mod", module)

    class HomeMade(LogisticRegression):
        pass

    HomeMade.__module__, HomeMade.__qualname__ = "custom_teacher_mod", "HomeMade"
    module.HomeMade = HomeMade
    path = tmp_path / "custom.skops"
    sio.dump(HomeMade().fit(np.random.default_rng(0).random((10, 3)), ["a", "b"] * 5), str(path))
    with pytest.raises(UserError) as info:
        SklearnTeacher(path)
    assert "does not trust" in str(info.value) and "custom_teacher_mod.HomeMade" in str(info.value)


def test_build_teacher_sklearn_from_spec(skops_pipeline):
    teacher = build_teacher(
        TeacherSpec(kind="sklearn", path=skops_pipeline.name), resolve=lambda p: str(skops_pipeline.parent / p)
    )
    assert isinstance(teacher, SklearnTeacher) and teacher.labels == ["great", "other"]


# ----------------------------------------------------------------------------------------- callable

MODULE = """
import numpy as np

def fn(texts):
    return np.array([[0.75, 0.25] for _ in texts])

not_callable = 3
"""


def test_callable_teacher_from_file(tmp_path):
    (tmp_path / "teach.py").write_text(MODULE, encoding="utf-8")
    target = f"{tmp_path / 'teach.py'}:fn"
    teacher = CallableTeacher(target, ["a", "b"])
    probs = teacher.predict(["x", "y", "z"])["probs"]
    assert probs.shape == (3, 2) and np.allclose(probs[:, 0], 0.75)
    assert teacher.labels == ["a", "b"] and teacher.target == target
    assert teacher.fingerprint == CallableTeacher(target, ["a", "b"]).fingerprint
    assert teacher.fingerprint != CallableTeacher(target, ["b", "a"]).fingerprint  # labels are part of it
    assert teacher.files == [tmp_path / "teach.py"]
    # editing the function's file changes the fingerprint: a changed teacher is asked again
    (tmp_path / "teach.py").write_text(MODULE.replace("0.75, 0.25", "0.5, 0.5"), encoding="utf-8")
    changed = CallableTeacher(target, ["a", "b"])
    assert changed.fingerprint != teacher.fingerprint
    assert np.allclose(changed.predict(["x"])["probs"], 0.5)


def test_callable_teacher_from_module_and_function():
    teacher = CallableTeacher("understudy.evaluate.metrics:quality", ["a"])
    assert teacher.fn.__name__ == "quality"
    direct = CallableTeacher(lambda texts: np.ones((len(texts), 1)), ["only"])
    assert direct.predict(["a", "b"])["probs"].shape == (2, 1)


def test_import_target_errors(tmp_path):
    (tmp_path / "teach.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "broken.py").write_text("import no_such_module_xyz\n", encoding="utf-8")
    with pytest.raises(UserError, match="must look like"):
        import_target("teach.py")
    with pytest.raises(UserError, match="file not found"):
        import_target(f"{tmp_path / 'absent.py'}:fn")
    with pytest.raises(UserError, match="'missing' is not a callable"):
        import_target(f"{tmp_path / 'teach.py'}:missing")
    with pytest.raises(UserError, match="'not_callable' is not a callable"):
        import_target(f"{tmp_path / 'teach.py'}:not_callable")
    with pytest.raises(UserError, match="cannot import"):
        import_target(f"{tmp_path / 'broken.py'}:fn")
    with pytest.raises(UserError, match="cannot import"):
        import_target("no_such_package_xyz.mod:fn")
    assert callable(import_target(f"{tmp_path / 'teach.py'}:fn"))


def test_callable_teacher_file_may_define_a_dataclass(tmp_path):
    (tmp_path / "dc_teacher.py").write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "import numpy as np\n\n"
        "@dataclass\n"
        "class Cfg:\n"
        "    p: float = 0.75\n\n"
        "def fn(texts):\n"
        "    return np.array([[Cfg().p, 1 - Cfg().p] for _ in texts])\n",
        encoding="utf-8",
    )
    teacher = CallableTeacher(f"{tmp_path / 'dc_teacher.py'}:fn", ["a", "b"])
    assert teacher.predict(["x"])["probs"][0, 0] == pytest.approx(0.75)


def test_build_teacher_callable_resolves_the_file(tmp_path, monkeypatch):
    (tmp_path / "teach.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    spec = TeacherSpec(kind="callable", target="teach.py:fn", labels=["a", "b"])
    teacher = build_teacher(spec, resolve=lambda p: str(tmp_path / p))
    assert teacher.predict(["q"])["probs"][0, 0] == pytest.approx(0.75)


# ------------------------------------------------------------------------------------- transformers


def test_hf_classifier_probs_and_embeddings(tiny_bert, tmp_path):
    teacher = HFClassifier(tiny_bert)
    assert teacher.labels == LABELS  # from id2label
    assert teacher.provides == frozenset({"probs", "embedding"})
    out = teacher.predict(TEXTS)
    assert out["probs"].shape == (len(TEXTS), 2) and out["probs"].dtype == np.float32
    assert np.allclose(out["probs"].sum(1), 1.0, atol=1e-5)
    assert out["embedding"].shape == (len(TEXTS), 32) and out["embedding"].dtype == np.float32
    # padding does not change a text's output: batch of one vs batch of many
    alone = teacher.predict(TEXTS[2:3])
    assert np.allclose(alone["probs"][0], out["probs"][2], atol=1e-5)
    assert np.allclose(alone["embedding"][0], out["embedding"][2], atol=1e-4)
    assert HFClassifier(tiny_bert).fingerprint == teacher.fingerprint
    assert HFClassifier(tiny_bert, labels=["yes", "no"]).labels == ["yes", "no"]
    with pytest.raises(UserError, match="has 3 names"):
        HFClassifier(tiny_bert, labels=["a", "b", "c"])
    with pytest.raises(UserError, match="cannot read the classifier config"):
        HFClassifier(tmp_path)


def test_hf_classifier_through_label_and_store(tiny_bert, tmp_path):
    teacher = HFClassifier(tiny_bert)
    with TeacherStore(tmp_path / "s.sqlite") as store:
        out, stats = label(teacher, TEXTS, store, batch_size=3)
        assert stats.asked == len(TEXTS)
        assert store.count(teacher.fingerprint, "probs") == store.count(teacher.fingerprint, "embedding") == len(TEXTS)
        out2, stats2 = label(teacher, TEXTS, store, batch_size=3)
    assert stats2.asked == 0
    assert np.array_equal(out2["probs"], out["probs"]) and np.array_equal(out2["embedding"], out["embedding"])
    direct = teacher.predict(TEXTS)
    assert np.allclose(out["probs"], direct["probs"], atol=1e-5)


def test_encoder_with_head(tiny_st, tiny_head, tmp_path):
    import skops.io as sio

    teacher = EncoderWithHead(tiny_st, tiny_head)
    assert teacher.labels == LABELS  # from the head's classes_
    assert teacher.provides == frozenset({"probs", "embedding"})
    out = teacher.predict(TEXTS)
    assert out["embedding"].shape == (len(TEXTS), 32)
    assert out["probs"].shape == (len(TEXTS), 2)
    assert np.allclose(out["probs"].sum(1), 1.0, atol=1e-5)
    emb = encode(tiny_st, TEXTS)
    assert np.allclose(out["embedding"], emb, atol=1e-5)
    head = sio.load(str(tiny_head))
    assert np.allclose(out["probs"], head.predict_proba(emb), atol=1e-4)
    assert teacher.files == [tiny_st, tiny_head]
    assert size_on_disk(*teacher.files) > 0
    # the teacher fingerprint covers encoder and head; the encoder has its own
    assert teacher.fingerprint != teacher.encoder.fingerprint
    assert EncoderWithHead(tiny_st, tiny_head).fingerprint == teacher.fingerprint
    other_head = fit_skops_head(tiny_st, tmp_path / "other.skops", review_rows(30, seed=99))
    other = EncoderWithHead(tiny_st, other_head)
    assert other.fingerprint != teacher.fingerprint
    assert other.encoder.fingerprint == teacher.encoder.fingerprint
    # a second head on the same encoder reuses the stored embeddings
    with TeacherStore(tmp_path / "s.sqlite") as store:
        label(teacher, TEXTS, store)
        got, stats = label(other, TEXTS, store)
    assert stats.asked == 0
    assert np.allclose(got["probs"], sio.load(str(other_head)).predict_proba(emb), atol=1e-4)


def test_encoder_with_head_label_checks(tiny_st, tiny_head, tmp_path):
    assert EncoderWithHead(tiny_st, tiny_head, labels=LABELS).labels == LABELS
    with pytest.raises(UserError, match="differ from the head's classes"):
        EncoderWithHead(tiny_st, tiny_head, labels=["other", "great"])
    with pytest.raises(UserError, match="encoder folder not found"):
        EncoderWithHead(tmp_path / "nope", tiny_head)
    with pytest.raises(UserError, match="skops file not found"):
        EncoderWithHead(tiny_st, tmp_path / "nope.skops")


def test_sentence_encoder_broken_folder_is_a_user_error(tmp_path):
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "modules.json").write_text("not json")
    with pytest.raises(UserError, match="cannot load the encoder"):
        SentenceEncoder(tmp_path / "enc").predict(["a"])


def test_build_teacher_encoder_and_hf(tiny_st, tiny_head, tiny_bert):
    enc = build_teacher(TeacherSpec(kind="encoder", path=str(tiny_st), head=str(tiny_head)))
    assert isinstance(enc, EncoderWithHead) and enc.labels == LABELS
    hf = build_teacher(TeacherSpec(kind="hf-classifier", path=str(tiny_bert), max_length=16))
    assert isinstance(hf, HFClassifier) and hf.max_length == 16
    assert hf.fingerprint != HFClassifier(tiny_bert).fingerprint  # the truncation is part of the teacher
    with pytest.raises(UserError, match="builtin head"):
        build_teacher(TeacherSpec(kind="encoder", path=str(tiny_st), head="builtin:reviews-logreg-head"))
