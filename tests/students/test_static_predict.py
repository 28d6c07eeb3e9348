"""The static student's vectorised predict path gives what the per-text loop it replaced gave."""

import numpy as np
import pytest
from student_builders import BAD, FILLER, GOOD, make_student
from threadpoolctl import threadpool_info

from understudy.students import calibrate
from understudy.students.static import one_blas_thread, softmax


def loop_proba(student, texts):
    """The predict path before benchmarks/tokenizer_wall.py: one Python gather and mean per text."""
    out = np.zeros((len(texts), student.embeddings.shape[1]), dtype=np.float32)
    for row, ids in enumerate(student.token_ids(texts)):
        if ids:
            out[row] = student.embeddings[ids].mean(axis=0)
    if student.normalize:
        out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-12
    h = student.head_
    hidden = np.maximum(out @ h["w1"].T + h["b1"], 0)
    return calibrate(softmax(hidden @ h["w2"].T + h["b2"]), student.temperature)


def trained(max_length=512, scale=1.0, seed=1):
    student = make_student()
    student.max_length = max_length
    rng = np.random.default_rng(seed)
    student.head_ = {
        "w1": rng.normal(size=(16, 8)).astype(np.float32),
        "b1": rng.normal(size=16).astype(np.float32),
        "w2": (scale * rng.normal(size=(2, 16))).astype(np.float32),
        "b2": rng.normal(size=2).astype(np.float32),
    }
    return student


def texts(seed=0):
    rng = np.random.default_rng(seed)
    words = GOOD + BAD + FILLER + ["unknownword", "zzz"]
    out = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(40)]
    # empty, empty after tokenisation (unknown words only), and far past max_length with unknowns inside
    out += ["", "unknownword zzz qqq", " ".join(rng.choice(words, 3000)), "zzz " * 600 + "great"]
    return out


@pytest.mark.parametrize("temperature", [None, 1.0, 0.7, 2.5])
@pytest.mark.parametrize("max_length", [512, 7])
def test_batch_and_single_texts_match_the_loop(temperature, max_length):
    student = trained(max_length)
    student.temperature = temperature
    batch = texts()
    expected = loop_proba(student, batch)
    np.testing.assert_allclose(student.predict_proba(batch), expected, atol=1e-6, rtol=0)
    singles = np.vstack([student.predict_proba([t]) for t in batch])
    np.testing.assert_allclose(singles, expected, atol=1e-6, rtol=0)
    assert student.predict_proba(batch).dtype == expected.dtype == np.float32


@pytest.mark.parametrize("temperature", [None, 2.5])
def test_confident_heads_past_the_calibration_floor_match_too(temperature):
    student = trained(scale=300.0)  # logit margins of hundreds: raw probabilities under 1e-12
    batch = texts(1)
    assert loop_proba(student, batch).min() < 1e-12
    student.temperature = temperature
    expected = loop_proba(student, batch)
    np.testing.assert_allclose(student.predict_proba(batch), expected, atol=1e-6, rtol=0)


def test_packed_ids_are_the_per_text_ids_flattened():
    student = trained(max_length=7)
    batch = texts(2)
    flat, text_of = student.packed_ids(batch)
    per_text = student.token_ids(batch)
    assert flat.tolist() == [i for ids in per_text for i in ids]
    assert text_of.tolist() == [row for row, ids in enumerate(per_text) for _ in ids]
    assert student.packed_ids(["unknownword"])[0].size == 0


def test_no_texts_give_no_rows():
    assert trained().predict_proba([]).shape == (0, 2)


def test_the_head_runs_on_one_blas_thread_and_gives_the_threads_back():
    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    with one_blas_thread():
        assert all(lib["num_threads"] == 1 for lib in threadpool_info() if lib["user_api"] == "blas")
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before


def test_the_one_thread_setting_is_given_back_only_when_the_last_holder_leaves():
    """A server predicts from several threads, so holders overlap: the count comes back when the last one is out."""
    from understudy.students.static import _blas_libraries

    libraries = _blas_libraries()
    if not libraries:
        pytest.skip("no BLAS library under threadpoolctl here")
    before = [lib.get_num_threads() for lib in libraries]
    outer, inner = one_blas_thread(), one_blas_thread()
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # the first in leaves first, as a faster request would
    assert [lib.get_num_threads() for lib in libraries] == [1] * len(libraries)
    inner.__exit__(None, None, None)
    assert [lib.get_num_threads() for lib in libraries] == before
