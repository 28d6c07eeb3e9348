"""Hand-computed checks of understudy.evaluate.metrics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score

from understudy.evaluate.metrics import N_BINS, compare, paired_bootstrap, quality

approx = pytest.approx

# ---------------------------------------------------------------- 2-class hand example
#   row gold probs        pred ok  conf  bin (width 1/15)
#   0   0    [0.9, 0.1]   0    yes 0.9   13  (0.867, 0.933]
#   1   0    [0.4, 0.6]   1    no  0.6    8  (0.533, 0.600]   <- right edge belongs to the bin
#   2   1    [0.2, 0.8]   1    yes 0.8   11  (0.733, 0.800]   <- right edge belongs to the bin
#   3   1    [0.3, 0.7]   1    yes 0.7   10  (0.667, 0.733]
# accuracy 3/4; F1 neg: tp1 gold2 pred1 -> 2/3; F1 pos: tp2 gold2 pred3 -> 4/5; macro 11/15
# Brier: 0.02 + 0.72 + 0.08 + 0.18 = 1.00 -> 0.25
# ECE: (0.1 + 0.6 + 0.2 + 0.3) / 4 = 0.3
Y2 = np.array([0, 0, 1, 1])
P2 = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
L2 = ["neg", "pos"]


def test_two_class_hand_computed():
    q = quality(Y2, P2, L2, n_boot=0)
    assert q["accuracy"]["value"] == approx(0.75)
    assert q["per_class_f1"]["neg"]["value"] == approx(2 / 3)
    assert q["per_class_f1"]["pos"]["value"] == approx(4 / 5)
    assert q["macro_f1"]["value"] == approx(11 / 15)
    assert q["brier"] == approx(0.25)
    assert q["ece"] == approx(0.3)
    assert q["confusion"] == [[1, 1], [0, 2]]
    assert all(isinstance(v, int) for row in q["confusion"] for v in row)
    assert set(q["per_class_f1"]) == {"neg", "pos"}


def test_two_class_reliability_bins_and_edges():
    rel = quality(Y2, P2, L2, n_boot=0)["reliability"]
    assert len(rel) == N_BINS == 15
    assert rel[0]["low"] == 0.0 and rel[-1]["high"] == 1.0
    for i, b in enumerate(rel):
        assert b["low"] == approx(i / 15) and b["high"] == approx((i + 1) / 15)
    filled = {i: b for i, b in enumerate(rel) if b["count"]}
    assert sorted(filled) == [8, 10, 11, 13]
    assert filled[8]["confidence"] == approx(0.6) and filled[8]["accuracy"] == 0.0
    assert filled[11]["confidence"] == approx(0.8) and filled[11]["accuracy"] == 1.0
    assert filled[10]["confidence"] == approx(0.7) and filled[13]["confidence"] == approx(0.9)
    empty = [b for b in rel if b["count"] == 0]
    assert len(empty) == 11
    assert all(b["confidence"] is None and b["accuracy"] is None for b in empty)
    assert sum(b["count"] for b in rel) == 4


# ---------------------------------------------------------------- 3-class hand example
#   row gold probs             pred ok  conf  bin
#   0   a    [0.5, 0.3, 0.2]   a    yes 0.5   7
#   1   a    [0.5, 0.2, 0.3]   a    yes 0.5   7
#   2   b    [0.5, 0.4, 0.1]   a    no  0.5   7
#   3   b    [0.1, 0.9, 0.0]   b    yes 0.9   13
#   4   c    [0.0, 0.9, 0.1]   b    no  0.9   13
#   5   c    [0.0, 0.0, 1.0]   c    yes 1.0   14
# accuracy 4/6. F1 a: tp2 gold2 pred3 -> 4/5; b: tp1 gold2 pred2 -> 1/2; c: tp1 gold2 pred1 -> 2/3
# macro = (4/5 + 1/2 + 2/3) / 3 = 59/90
# ECE: bin7 3/6*|2/3-0.5| = 1/12; bin13 2/6*|0.5-0.9| = 2/15; bin14 0  -> 13/60
# Brier: 0.38 + 0.38 + 0.62 + 0.02 + 1.62 + 0 = 3.02 -> 3.02/6
Y3 = np.array([0, 0, 1, 1, 2, 2])
P3 = np.array(
    [
        [0.5, 0.3, 0.2],
        [0.5, 0.2, 0.3],
        [0.5, 0.4, 0.1],
        [0.1, 0.9, 0.0],
        [0.0, 0.9, 0.1],
        [0.0, 0.0, 1.0],
    ]
)
L3 = ["a", "b", "c"]


def test_three_class_hand_computed():
    q = quality(Y3, P3, L3, n_boot=0)
    assert q["accuracy"]["value"] == approx(4 / 6)
    assert q["per_class_f1"]["a"]["value"] == approx(4 / 5)
    assert q["per_class_f1"]["b"]["value"] == approx(1 / 2)
    assert q["per_class_f1"]["c"]["value"] == approx(2 / 3)
    assert q["macro_f1"]["value"] == approx(59 / 90)
    assert q["ece"] == approx(13 / 60)
    assert q["brier"] == approx(3.02 / 6)
    assert q["confusion"] == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]
    rel = q["reliability"]
    assert [b["count"] for b in rel] == [0] * 7 + [3] + [0] * 5 + [2, 1]
    assert rel[7]["accuracy"] == approx(2 / 3) and rel[7]["confidence"] == approx(0.5)
    assert rel[13]["accuracy"] == approx(0.5) and rel[13]["confidence"] == approx(0.9)
    assert rel[14]["accuracy"] == approx(1.0) and rel[14]["confidence"] == approx(1.0)


def test_matches_sklearn_and_macro_covers_absent_classes():
    # class "c" is never gold nor predicted: it still counts in macro-F1 with F1 = 0
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    q = quality(y, p, L3, n_boot=0)
    pred = p.argmax(1)
    assert q["macro_f1"]["value"] == approx(f1_score(y, pred, labels=[0, 1, 2], average="macro", zero_division=0))
    per = f1_score(y, pred, labels=[0, 1, 2], average=None, zero_division=0)
    assert [q["per_class_f1"][k]["value"] for k in L3] == approx(list(per))
    assert q["per_class_f1"]["c"]["value"] == 0.0
    assert q["confusion"] == confusion_matrix(y, pred, labels=[0, 1, 2]).tolist()


# ---------------------------------------------------------------- bootstrap


def _random_case(n, k=3, acc=0.8, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < acc, y, rng.integers(0, k, n))
    p = rng.dirichlet(np.ones(k), n) * 0.4
    p[np.arange(n), pred] += 0.6
    return y, p


def test_n_boot_zero_gives_degenerate_intervals():
    q = quality(Y3, P3, L3, n_boot=0)
    for d in [q["accuracy"], q["macro_f1"], *q["per_class_f1"].values()]:
        assert d["low"] == d["value"] == d["high"]
    c = compare(Y3, P3, P3[:, [1, 2, 0]], ["t"] * 6, L3, n_boot=0)
    assert c["agreement"]["low"] == c["agreement"]["value"] == c["agreement"]["high"]
    assert c["retention_ci"]["low"] == c["retention"] == c["retention_ci"]["high"]


def test_bootstrap_interval_contains_value_and_narrows_with_more_rows():
    widths = {}
    for n in (100, 3000):
        y, p = _random_case(n)
        q = quality(y, p, L3, n_boot=500, seed=3)
        for d in [q["accuracy"], q["macro_f1"], *q["per_class_f1"].values()]:
            assert d["low"] < d["value"] < d["high"]
        widths[n] = q["accuracy"]["high"] - q["accuracy"]["low"]
    assert widths[3000] < widths[100] / 3  # ~ 1/sqrt(30) of the width


def test_bootstrap_matches_naive_loop_with_same_resamples():
    y, p = _random_case(60, seed=7)
    n_boot, seed = 100, 5
    q = quality(y, p, L3, n_boot=n_boot, seed=seed)
    idx = np.random.default_rng(seed).integers(0, 60, size=(n_boot, 60))
    pred = p.argmax(1)
    acc = [np.mean(pred[i] == y[i]) for i in idx]
    per = np.array([f1_score(y[i], pred[i], labels=[0, 1, 2], average=None, zero_division=0) for i in idx])
    mf1, f1b = per.mean(axis=1), per[:, 1]
    assert q["accuracy"]["low"] == approx(np.percentile(acc, 2.5))
    assert q["accuracy"]["high"] == approx(np.percentile(acc, 97.5))
    assert q["macro_f1"]["low"] == approx(np.percentile(mf1, 2.5))
    assert q["macro_f1"]["high"] == approx(np.percentile(mf1, 97.5))
    assert q["per_class_f1"]["b"]["low"] == approx(np.percentile(f1b, 2.5))
    assert q["per_class_f1"]["b"]["high"] == approx(np.percentile(f1b, 97.5))


def test_bootstrap_is_seeded():
    y, p = _random_case(200)
    a = quality(y, p, L3, n_boot=200, seed=11)
    b = quality(y, p, L3, n_boot=200, seed=11)
    c = quality(y, p, L3, n_boot=200, seed=12)
    assert a == b
    assert (a["macro_f1"]["low"], a["macro_f1"]["high"]) != (c["macro_f1"]["low"], c["macro_f1"]["high"])


def test_bootstrap_is_fast():
    y, p = _random_case(1000, k=4)
    labels = ["w", "x", "y", "z"]
    t0 = time.perf_counter()
    quality(y, p, labels, n_boot=1000)
    compare(y, p, p[:, ::-1], ["t"] * 1000, labels, n_boot=1000)
    assert time.perf_counter() - t0 < 2.0


def test_paired_bootstrap_helper():
    x = np.arange(100, dtype=float)
    lo, hi = paired_bootstrap(lambda idx: x[idx].mean(axis=1), 100, n_boot=500, seed=0)
    assert lo < x.mean() < hi and hi - lo < 20
    assert paired_bootstrap(lambda idx: x[idx].mean(axis=1), 100, n_boot=0) == (x.mean(), x.mean())
    # paired: the same resample for both "models" makes their difference exactly 0
    lo, hi = paired_bootstrap(lambda idx: x[idx].mean(axis=1) - x[idx].mean(axis=1), 100, n_boot=100)
    assert (lo, hi) == (0.0, 0.0)
    lows, highs = paired_bootstrap(lambda idx: np.column_stack([x[idx].min(1), x[idx].max(1)]), 100, n_boot=50)
    assert lows.shape == (2,) and np.all(lows <= highs)
    with pytest.raises(ValueError, match="n must be"):
        paired_bootstrap(lambda idx: idx.mean(1), 0)


# ---------------------------------------------------------------- compare
#   row gold teacher student  t ok  s ok  agree
#   0   0    0       0        y     y     y
#   1   0    0       1        y     n     n     negative flip, student conf 0.7
#   2   0    0       0        y     y     y
#   3   1    1       1        y     y     y
#   4   1    1       0        y     n     n     negative flip, student conf 0.9
#   5   1    0       1        n     y     n     positive flip
# teacher F1: c0 tp3 gold3 pred4 -> 6/7; c1 tp2 gold3 pred2 -> 4/5; macro 29/35
# student F1: c0 tp2 gold3 pred3 -> 2/3; c1 tp2 gold3 pred3 -> 2/3; macro 2/3
# retention = (2/3) / (29/35) = 70/87
YC = np.array([0, 0, 0, 1, 1, 1])
TC = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.2, 0.8], [0.25, 0.75], [0.55, 0.45]])
SC = np.array([[0.8, 0.2], [0.3, 0.7], [0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.35, 0.65]])
TEXTS = ["r0", "r1", "r2", "r3", "r4", "r5"]


def test_compare_constructed_case():
    c = compare(YC, TC, SC, TEXTS, L2, n_boot=0)
    assert c["agreement"]["value"] == approx(0.5)
    assert c["retention"] == approx(70 / 87)
    assert c["negative_flips"]["count"] == 2
    assert c["negative_flips"]["share"] == approx(1 / 3)
    assert c["positive_flips"] == {"count": 1, "share": approx(1 / 6)}
    ex = c["negative_flips"]["examples"]
    assert [e["text"] for e in ex] == ["r4", "r1"]  # most confidently wrong first
    assert ex[0] == {
        "text": "r4",
        "gold": "pos",
        "teacher": "pos",
        "student": "neg",
        "teacher_confidence": approx(0.75),
        "student_confidence": approx(0.9),
    }
    assert ex[1]["student_confidence"] == approx(0.7) and ex[1]["gold"] == "neg"
    short = compare(YC, TC, SC, TEXTS, L2, n_boot=0, n_examples=1)
    assert [e["text"] for e in short["negative_flips"]["examples"]] == ["r4"]
    assert short["negative_flips"]["count"] == 2  # the cap limits examples, not the count


def test_compare_bootstrap_interval_is_paired_and_contains_values():
    y, t = _random_case(800, acc=0.9, seed=2)
    _, s = _random_case(800, acc=0.8, seed=2)  # same gold labels, a worse student
    c = compare(y, t, s, ["x"] * 800, L3, n_boot=400, seed=0)
    assert c["retention_ci"]["low"] < c["retention"] < c["retention_ci"]["high"]
    assert c["retention"] < 1.0
    assert c["agreement"]["low"] < c["agreement"]["value"] < c["agreement"]["high"]
    assert c["negative_flips"]["count"] > c["positive_flips"]["count"]


def test_compare_identical_models():
    y, p = _random_case(300)
    c = compare(y, p, p.copy(), [f"t{i}" for i in range(300)], L3, n_boot=200)
    assert c["retention"] == approx(1.0)
    assert c["retention_ci"] == {"low": approx(1.0), "high": approx(1.0)}
    assert c["agreement"] == {"value": 1.0, "low": 1.0, "high": 1.0, "count": 300, "total": 300}
    assert c["negative_flips"] == {"count": 0, "share": 0.0, "examples": []}
    assert c["positive_flips"] == {"count": 0, "share": 0.0}


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "y, p, labels, match",
    [
        (np.array([0, 1]), np.array([[0.5, 0.5]]), L2, "1 rows but y_true has 2"),
        (np.array([], dtype=int), np.zeros((0, 2)), L2, "empty"),
        (np.array([0, 1]), np.array([0.5, 0.5]), L2, "2-D"),
        (np.array([[0, 1]]), np.array([[0.5, 0.5]]), L2, "1-D"),
        (np.array([0, 2]), np.array([[0.5, 0.5], [0.5, 0.5]]), L2, "outside 0..1"),
        (np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]]), L3, "2 class columns but 3 labels"),
        (np.array([0, 1]), np.array([[0.5, np.nan], [0.5, 0.5]]), L2, "NaN"),
        (np.array([0.5, 1]), np.array([[0.5, 0.5], [0.5, 0.5]]), L2, "integer"),
    ],
)
def test_quality_validation(y, p, labels, match):
    with pytest.raises(ValueError, match=match):
        quality(y, p, labels)


def test_quality_rejects_negative_n_boot():
    with pytest.raises(ValueError, match="n_boot"):
        quality(Y2, P2, L2, n_boot=-1)


def test_compare_validation():
    with pytest.raises(ValueError, match="student_probs has shape"):
        compare(YC, TC, SC[:5], TEXTS, L2)
    with pytest.raises(ValueError, match="student_probs has shape"):
        compare(YC, TC, np.ones((6, 3)) / 3, TEXTS, L2)
    with pytest.raises(ValueError, match="texts has 5 entries"):
        compare(YC, TC, SC, TEXTS[:5], L2)
    with pytest.raises(ValueError, match="teacher_probs has 5 rows"):
        compare(YC, TC[:5], SC[:5], TEXTS, L2)
    with pytest.raises(ValueError, match="empty"):
        compare(np.array([], dtype=int), np.zeros((0, 2)), np.zeros((0, 2)), [], L2)
