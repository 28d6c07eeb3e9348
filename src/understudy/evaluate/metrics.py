"""Quality metrics for one classifier, and a paired comparison of teacher and student.

Everything here is plain numpy and vectorised: bootstrap resamples are drawn as a
(resamples, rows) index matrix and every statistic is computed for all resamples at
once with ``np.bincount``, in chunks so that memory stays bounded for large inputs.

Conventions
-----------
* Predictions are the argmax of the probability rows (first column wins a tie).
* Intervals are 95% percentile bootstrap intervals over rows: rows are resampled with
  replacement, and the same resample indices are used for every metric in one call
  (and for both models in :func:`compare`, so the comparison is paired).
  With ``n_boot=0`` no resampling is done and ``low == high == value``.
* F1 follows scikit-learn's ``f1_score(..., labels=range(k), zero_division=0)``:
  F1 = 2·TP / (2·TP + FP + FN), and 0 for a class never present nor predicted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["quality", "compare", "paired_bootstrap", "N_BINS"]

N_BINS = 15  # equal-width confidence bins over (0, 1] for ECE and the reliability diagram
_ALPHA = 0.05  # 95% intervals
_CHUNK_ELEMENTS = 4_000_000  # max resample-index entries held in memory at once


# --------------------------------------------------------------------------- validation


def _check_labels_array(y_true, k: int, name: str = "y_true") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty: need at least one row to evaluate")
    if y.dtype.kind == "b" or y.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} must hold integer class indices, got non-integer values")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= k)
    if bad.any():
        raise ValueError(f"{name} holds class index {int(y[bad][0])} outside 0..{k - 1} (there are {k} labels)")
    return y


def _check_probs(probs, n: int, name: str = "probs") -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, classes), got shape {p.shape}")
    if p.shape[0] == 0:
        raise ValueError(f"{name} is empty: need at least one row to evaluate")
    if p.shape[1] == 0:
        raise ValueError(f"{name} has no class columns")
    if p.shape[0] != n:
        raise ValueError(f"{name} has {p.shape[0]} rows but y_true has {n}: they must match")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return p


def _check_common(y_true, probs, labels, n_boot, name="probs"):
    p_raw = np.asarray(probs)
    if p_raw.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, classes), got shape {p_raw.shape}")
    k = p_raw.shape[1]
    labels = list(labels)
    if len(labels) != k:
        raise ValueError(f"{name} has {k} class columns but {len(labels)} labels were given: they must match")
    y = _check_labels_array(y_true, k)
    p = _check_probs(p_raw, y.shape[0], name)
    _check_n_boot(n_boot)
    return y, p, labels


def _check_n_boot(n_boot) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")


# --------------------------------------------------------------------------- bootstrap core


def _bootstrap_samples(stat: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, seed: int) -> np.ndarray:
    """Evaluate ``stat`` on ``n_boot`` resamples of ``n`` rows; returns shape (n_boot, ...).

    ``stat`` receives an int index matrix of shape (m, n) (one resample per row) and
    returns an array whose first axis has length m.  Resamples are drawn in chunks
    whose size depends only on ``n``, so results depend only on (n, n_boot, seed).
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    out = []
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(m, n))
        out.append(np.asarray(stat(idx), dtype=np.float64))
        done += m
    return np.concatenate(out, axis=0)


def _percentiles(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, quietly
        low = np.nanpercentile(samples, 100 * _ALPHA / 2, axis=0)
        high = np.nanpercentile(samples, 100 * (1 - _ALPHA / 2), axis=0)
    return low, high


def paired_bootstrap(fn: Callable[[np.ndarray], np.ndarray], n: int, *, n_boot: int = 1000, seed: int = 0) -> tuple:
    """95% percentile bootstrap interval of a vectorised statistic over ``n`` rows.

    ``fn(idx)`` gets an int array of shape (m, n), each row one resample of row indices
    (drawn with replacement), and must return an array of m statistic values (or shape
    (m, j) for j statistics at once).  Use the same ``fn`` call for several models to get
    a paired interval: every model sees the same resample.  NaN values (an undefined
    statistic on some resample) are ignored.  Returns ``(low, high)``: floats for a
    scalar statistic, arrays of length j otherwise.  With ``n_boot=0`` the statistic is
    evaluated once on the original rows and ``low == high`` is that value.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive number of rows, got {n!r}")
    _check_n_boot(n_boot)
    if n_boot == 0:
        samples = np.asarray(fn(np.arange(n)[None, :]), dtype=np.float64)
    else:
        samples = _bootstrap_samples(fn, int(n), int(n_boot), seed)
    low, high = _percentiles(samples)
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high


# --------------------------------------------------------------------------- vectorised stats


def _f1_per_class(y: np.ndarray, pred: np.ndarray, k: int, idx: np.ndarray) -> np.ndarray:
    """Per-class F1 for every resample in ``idx`` (m, n); returns (m, k)."""
    m = idx.shape[0]
    offs = (np.arange(m, dtype=np.int64) * k)[:, None]
    yb = y[idx]
    pb = pred[idx]
    gold_key = (yb + offs).ravel()
    gold = np.bincount(gold_key, minlength=m * k)
    predicted = np.bincount((pb + offs).ravel(), minlength=m * k)
    tp = np.bincount(gold_key[(yb == pb).ravel()], minlength=m * k)
    denom = gold + predicted  # = 2TP + FP + FN
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(m * k), where=denom > 0)
    return f1.reshape(m, k)


def _interval(value: float, low, high) -> dict:
    return {"value": float(value), "low": float(low), "high": float(high)}


def _reliability(conf: np.ndarray, correct: np.ndarray) -> tuple[float, list[dict]]:
    n = conf.shape[0]
    edges = np.arange(N_BINS + 1) / N_BINS  # exact decimal edges: 6/15 == 0.4
    # bin b holds (edges[b], edges[b+1]]; a confidence of exactly 0 goes in the first bin
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, N_BINS - 1)
    count = np.bincount(b, minlength=N_BINS)
    conf_sum = np.bincount(b, weights=conf, minlength=N_BINS)
    acc_sum = np.bincount(b, weights=correct.astype(np.float64), minlength=N_BINS)
    ece = float(np.sum(np.abs(acc_sum - conf_sum)) / n)  # sum_b n_b/n * |acc_b - conf_b|
    bins = []
    for i in range(N_BINS):
        c = int(count[i])
        bins.append(
            {
                "low": float(edges[i]),
                "high": float(edges[i + 1]),
                "count": c,
                "confidence": float(conf_sum[i] / c) if c else None,
                "accuracy": float(acc_sum[i] / c) if c else None,
            }
        )
    return ece, bins


# --------------------------------------------------------------------------- public API


def quality(
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Accuracy, macro-F1 and per-class F1 with 95% bootstrap intervals; ECE, Brier,
    a 15-bin reliability table and the confusion matrix (rows gold, columns predicted)."""
    y, p, labels = _check_common(y_true, probs, labels, n_boot)
    n, k = p.shape
    pred = p.argmax(axis=1)
    correct = pred == y

    def stat(idx: np.ndarray) -> np.ndarray:
        f1 = _f1_per_class(y, pred, k, idx)
        acc = correct[idx].mean(axis=1)
        return np.column_stack([acc, f1.mean(axis=1), f1])

    point = stat(np.arange(n)[None, :])[0]
    if n_boot > 0:
        low, high = _percentiles(_bootstrap_samples(stat, n, int(n_boot), seed))
    else:
        low, high = point, point

    conf = p.max(axis=1)
    ece, reliability = _reliability(conf, correct)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    brier = float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
    confusion = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)

    return {
        "accuracy": _interval(point[0], low[0], high[0]),
        "macro_f1": _interval(point[1], low[1], high[1]),
        "per_class_f1": {
            str(label): _interval(point[2 + j], low[2 + j], high[2 + j]) for j, label in enumerate(labels)
        },
        "ece": ece,
        "brier": brier,
        "reliability": reliability,
        "confusion": confusion.astype(int).tolist(),
    }


def compare(
    y_true: np.ndarray,
    teacher_probs: np.ndarray,
    student_probs: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    n_examples: int = 10,
) -> dict:
    """Student against teacher on the same rows.

    retention = student macro-F1 / teacher macro-F1, with a paired bootstrap interval
    (both models scored on the same resample; resamples where the teacher's macro-F1 is
    0 are skipped).  It is NaN when the teacher's macro-F1 on the full data is 0.
    agreement = share of rows where the two argmaxes agree.  A negative flip is a row the
    teacher gets right and the student gets wrong; a positive flip is the reverse.
    Examples are negative flips, most confident student first, at most ``n_examples``.
    """
    y, t, labels = _check_common(y_true, teacher_probs, labels, n_boot, name="teacher_probs")
    s = np.asarray(student_probs)
    if s.shape != t.shape:
        raise ValueError(f"student_probs has shape {s.shape} but teacher_probs has shape {t.shape}: they must match")
    s = _check_probs(s, y.shape[0], "student_probs")
    texts = list(texts)
    n, k = t.shape
    if len(texts) != n:
        raise ValueError(f"texts has {len(texts)} entries but y_true has {n} rows: they must match")
    if isinstance(n_examples, bool) or not isinstance(n_examples, (int, np.integer)) or n_examples < 0:
        raise ValueError(f"n_examples must be a non-negative integer, got {n_examples!r}")

    tp_, sp_ = t.argmax(axis=1), s.argmax(axis=1)
    agree = tp_ == sp_
    t_ok, s_ok = tp_ == y, sp_ == y
    neg = t_ok & ~s_ok
    pos = ~t_ok & s_ok

    def stat(idx: np.ndarray) -> np.ndarray:
        ft_c, fs_c = _f1_per_class(y, tp_, k, idx), _f1_per_class(y, sp_, k, idx)
        ft, fs = ft_c.mean(axis=1), fs_c.mean(axis=1)
        ret = np.divide(fs, ft, out=np.full(ft.shape, np.nan), where=ft > 0)
        ret_c = np.divide(fs_c, ft_c, out=np.full(ft_c.shape, np.nan), where=ft_c > 0)
        return np.column_stack([agree[idx].mean(axis=1), ret, ret_c])

    point = stat(np.arange(n)[None, :])[0]
    if n_boot > 0:
        low, high = _percentiles(_bootstrap_samples(stat, n, int(n_boot), seed))
    else:
        low, high = point, point

    t_conf, s_conf = t.max(axis=1), s.max(axis=1)
    neg_rows = np.flatnonzero(neg)
    order = neg_rows[np.argsort(-s_conf[neg_rows], kind="stable")][: int(n_examples)]
    examples = [
        {
            "text": texts[i],
            "gold": str(labels[y[i]]),
            "teacher": str(labels[tp_[i]]),
            "student": str(labels[sp_[i]]),
            "teacher_confidence": float(t_conf[i]),
            "student_confidence": float(s_conf[i]),
        }
        for i in order
    ]

    full = np.arange(n)[None, :]
    ft_c, fs_c = _f1_per_class(y, tp_, k, full)[0], _f1_per_class(y, sp_, k, full)[0]
    per_class = {
        str(label): {
            "teacher_f1": float(ft_c[j]),
            "student_f1": float(fs_c[j]),
            "retention": None if ft_c[j] <= 0 else float(point[2 + j]),
            "retention_ci": None if ft_c[j] <= 0 else {"low": float(low[2 + j]), "high": float(high[2 + j])},
            "gold": int((y == j).sum()),
        }
        for j, label in enumerate(labels)
    }
    return {
        "retention": float(point[1]),
        "retention_ci": {"low": float(low[1]), "high": float(high[1])},
        "per_class_retention": per_class,  # a class the student loses shows here, not in the average
        # count/total beside the interval: the gate on agreement shows the cases its interval rests on
        "agreement": _interval(point[0], low[0], high[0]) | {"count": int(agree.sum()), "total": int(n)},
        "negative_flips": {"count": int(neg.sum()), "share": float(neg.mean()), "examples": examples},
        "positive_flips": {"count": int(pos.sum()), "share": float(pos.mean())},
    }


# --------------------------------------------------------------------------- regression (tabular-regression)


def _r2(y: np.ndarray, pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """R^2 of `pred` against `y` on each resample (rows of idx); NaN where a resample's y does not vary."""
    yy, pp = y[idx], pred[idx]
    ss_res = ((yy - pp) ** 2).sum(axis=1)
    ss_tot = ((yy - yy.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    return np.divide(ss_res, ss_tot, out=np.full(ss_res.shape, np.nan), where=ss_tot > 0) * -1 + 1


def regression_quality(y_true: np.ndarray, pred: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """R^2, MAE and RMSE against the true numbers, with 95% bootstrap intervals."""
    _check_n_boot(n_boot)
    y, p = np.asarray(y_true, dtype=float), np.asarray(pred, dtype=float)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true {y.shape} and pred {p.shape} must be the same non-empty 1-d shape")
    n = len(y)

    def stat(idx: np.ndarray) -> np.ndarray:
        err = p[idx] - y[idx]
        return np.column_stack([_r2(y, p, idx), np.abs(err).mean(axis=1), np.sqrt((err**2).mean(axis=1))])

    point = stat(np.arange(n)[None, :])[0]
    low, high = _percentiles(_bootstrap_samples(stat, n, int(n_boot), seed)) if n_boot > 0 else (point, point)
    return {name: _interval(point[j], low[j], high[j]) for j, name in enumerate(("r2", "mae", "rmse"))}


def regression_compare(
    y_true: np.ndarray,
    teacher: np.ndarray,
    student: np.ndarray,
    shown: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    n_examples: int = 10,
) -> dict:
    """Student against teacher on the same rows: retention = student R^2 / teacher R^2 (paired bootstrap
    interval), fidelity = R^2 of the student's numbers against the teacher's, and the rows where the student
    is furthest from the teacher."""
    _check_n_boot(n_boot)
    y, t, s = (np.asarray(a, dtype=float) for a in (y_true, teacher, student))
    n = len(y)

    def stat(idx: np.ndarray) -> np.ndarray:
        rt, rs = _r2(y, t, idx), _r2(y, s, idx)
        ret = np.divide(rs, rt, out=np.full(rt.shape, np.nan), where=rt > 0)
        return np.column_stack([ret, _r2(t, s, idx), np.abs(s[idx] - t[idx]).mean(axis=1)])

    point = stat(np.arange(n)[None, :])[0]
    low, high = _percentiles(_bootstrap_samples(stat, n, int(n_boot), seed)) if n_boot > 0 else (point, point)
    gap = np.abs(s - t)
    worst = np.argsort(-gap, kind="stable")[: int(n_examples)]
    return {
        "retention": float(point[0]),
        "retention_ci": {"low": float(low[0]), "high": float(high[0])},
        "fidelity_r2": _interval(point[1], low[1], high[1]),
        "mean_abs_gap": _interval(point[2], low[2], high[2]),
        "largest_gaps": [
            {"text": str(shown[i]), "true": float(y[i]), "teacher": float(t[i]), "student": float(s[i])} for i in worst
        ],
    }
