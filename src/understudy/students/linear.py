"""The linear student: a sparse linear score that learns the teacher's probabilities (or numbers), readable as
a short list of weights ("+0.83  contract is Month-to-month").

Its terms: each numeric column standardised ((value - mean) / spread, a missing value at the mean), plus a
"missing" indicator for a numeric column that had missing values; each category's indicator as it is (0 or 1).

Classification: L1-regularised logistic regression (scikit-learn) on the exact soft-label cross-entropy: each
row is repeated once per class with sample_weight = the teacher's probability of that class (multinomial for
more than two classes). Regression: the Lasso. The L1 strength is walked from strong to weak and the one kept
is the best fit (lowest training loss) that uses at most student.max_features columns; the weights on those
columns are then refitted without the L1 shrinkage (a relaxed lasso), which fits the teacher better and keeps
the same few columns. Saved as JSON (terms, means, spreads, weights, intercepts); predicted in numpy.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import UserError
from .table_base import TableStudent

STEPS = 16  # strengths on the L1 path


class LinearStudent(TableStudent):
    kind = "linear"

    def _fit(self, x: np.ndarray, y: np.ndarray, settings) -> None:
        most = getattr(self.spec, "max_features", 12)
        self._terms_of(x)
        z = self._design(x)
        if self.regression:
            weights, intercept, path = _lasso(z, y, most)
            link = "identity"
        else:
            weights, intercept, path = _logistic(z, y, most, getattr(settings, "seed", 0))
            link = "logistic" if y.shape[1] == 2 else "softmax"
        self.model = {
            "terms": self.terms,
            "link": link,
            "weights": weights.tolist(),
            "intercept": intercept.tolist(),
            "missing_seen": list(self.missing_seen),
        }
        self._arrays()
        used = int(np.any(weights != 0, axis=0).sum())
        self.training_ = {"terms": len(self.terms), "nonzero": used, "path": path}

    # --- terms -------------------------------------------------------------------------------------------

    def _terms_of(self, x: np.ndarray) -> None:
        """[feature, 'value' or 'missing', mean, spread] per term, from the fit rows."""
        self.terms = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its mean is NaN, set to 0
            means, spreads = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
        for j in range(x.shape[1]):
            if self.features.is_indicator(j):
                self.terms.append([j, "value", 0.0, 1.0])
                continue
            mean = float(means[j]) if np.isfinite(means[j]) else 0.0
            spread = float(spreads[j]) if np.isfinite(spreads[j]) and spreads[j] > 0 else 1.0
            self.terms.append([j, "value", mean, spread])
            if self.missing_seen[j]:
                self.terms.append([j, "missing", 0.0, 1.0])

    @staticmethod
    def _columns(terms) -> tuple:
        return (
            np.array([t[0] for t in terms], dtype=np.intp),
            np.array([t[1] == "missing" for t in terms], dtype=bool),
            np.array([t[2] for t in terms], dtype=np.float64),
            np.array([t[3] for t in terms], dtype=np.float64),
        )

    def _design(self, x: np.ndarray, columns=None) -> np.ndarray:
        """The terms' values: standardised numbers (0 where missing), missing indicators, category indicators."""
        feature, is_missing, mean, spread = columns if columns is not None else self._columns(self.terms)
        v = x[:, feature]
        nan = np.isnan(v)
        z = np.where(nan, 0.0, (v - mean) / spread)
        return np.where(is_missing, nan, z)

    # --- answering ---------------------------------------------------------------------------------------

    def _arrays(self) -> None:
        m = self.model
        self.terms = m["terms"]
        w = np.asarray(m["weights"], dtype=np.float64).reshape(-1, len(self.terms))
        self._used = np.flatnonzero(np.any(w != 0, axis=0))  # predicting reads only the columns with a weight
        self._used_terms = [self.terms[i] for i in self._used]
        self._used_columns = self._columns(self._used_terms)
        self._w = w[:, self._used].T.copy()
        self._b = np.asarray(m["intercept"], dtype=np.float64).reshape(-1)
        self.missing_seen = list(m.get("missing_seen") or [True] * len(self.features.names))

    def _raw(self, x: np.ndarray) -> np.ndarray:
        score = (self._design(x, self._used_columns) @ self._w if len(self._used) else 0.0) + self._b
        score = np.broadcast_to(score, (len(x), len(self._b)))
        link = self.model["link"]
        if link == "identity":
            return score
        if link == "logistic":
            p = 1.0 / (1.0 + np.exp(-score[:, 0]))
            return np.column_stack([1.0 - p, p])
        e = np.exp(score - score.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _save_model(self, path: Path) -> None:
        (path / "linear.json").write_text(json.dumps(self.model), encoding="utf-8")

    def _load_model(self, path: Path) -> None:
        file = path / "linear.json"
        try:
            self.model = json.loads(file.read_text(encoding="utf-8"))
            self._arrays()
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise UserError(f"{file}: not a linear model this version can read ({exc}); refit the student") from None

    def rules(self) -> dict:
        """The score as a list of weights, largest first, and how a score becomes the answer."""
        m = self.model
        w = np.asarray(m["weights"], dtype=np.float64).reshape(-1, len(self.terms))
        link = m["link"]
        if link == "logistic":
            names = [self.labels[1]]
        elif link == "softmax":
            names = list(self.labels)
        else:
            names = [None]
        text, weights = [], []
        for k, name in enumerate(names):
            text.append(f"score{'' if name is None or link == 'logistic' else f'({name})'} = {m['intercept'][k]:+.4g}")
            for i in sorted(np.flatnonzero(w[k]), key=lambda i: -abs(w[k, i])):
                words = self._term_words(self.terms[i])
                weights.append({"class": name, "term": words, "weight": float(w[k, i])})
                text.append(f"  {w[k, i]:+.3g}  {words}")
        if any(t[1] == "value" and not self.features.is_indicator(t[0]) for t in self._used_terms):
            text.append("a numeric column counts (value - mean) / spread; a missing value counts as 0")
        if link == "logistic":
            text.append(f"p({self.labels[1]}) = 1 / (1 + exp(-score)); p({self.labels[0]}) = 1 - p({self.labels[1]})")
        elif link == "softmax":
            text.append("p(class) = exp(score(class)) / the sum of exp(score) over the classes")
        else:
            text.append("the answer is the score")
        return {"form": "linear score", "link": link, "intercept": m["intercept"], "weights": weights, "text": text}

    def _term_words(self, term) -> str:
        j, what, mean, spread = term
        col, cat = self.features.source[j]
        if cat is not None:
            return f"{col} is {cat}"
        if what == "missing":
            return f"{col} is missing"
        return f"{col}, per {spread:.4g} above {mean:.4g}"


# --- fitting -----------------------------------------------------------------------------------------


def _nonzero(coef: np.ndarray) -> int:
    return int(np.any(np.asarray(coef).reshape(-1, coef.shape[-1]) != 0, axis=0).sum())


def _logistic_model(c: float, l1: bool, seed: int, multi: bool):
    """LogisticRegression with an L1 (or L2) penalty, whichever way this scikit-learn spells it (1.8 moved it
    from `penalty` to `l1_ratio`)."""
    from sklearn.linear_model import LogisticRegression

    solver = ("saga" if multi else "liblinear") if l1 else "lbfgs"
    kw = {"C": c, "solver": solver, "max_iter": 1000 if solver == "saga" else 300, "random_state": seed}
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        kw["l1_ratio"] = 1.0 if l1 else 0.0
    else:
        kw["penalty"] = "l1" if l1 else "l2"
    if solver == "liblinear":
        kw["intercept_scaling"] = 10.0  # liblinear penalises the intercept too: a larger scale frees it
    return LogisticRegression(**kw)


def _logistic(z: np.ndarray, p: np.ndarray, most: int, seed: int):
    """The L1 path on the soft-label cross-entropy, the best fit within `most` columns, refitted on them."""
    from sklearn.exceptions import ConvergenceWarning

    n, k = p.shape
    multi = k > 2
    xr, yr = np.tile(z, (k, 1)), np.repeat(np.arange(k), n)
    wr = p.T.reshape(-1)
    keep = wr > 0
    xr, yr, wr = xr[keep], yr[keep], wr[keep]
    if len(np.unique(yr)) < 2:  # the teacher gave one class everywhere: no weights, the intercept says it
        return (*_constant(p, z.shape[1]), [])
    # the weakest L1 that keeps every weight at 0: 1 / the largest gradient there (weights summed over repeats)
    start = 1.0 / max(float(np.abs(z.T @ (p - p.mean(axis=0))).max()), 1e-12)
    best, path = None, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for c in start * np.logspace(-0.3, 4, STEPS):
            model = _logistic_model(float(c), True, seed, multi).fit(xr, yr, sample_weight=wr)
            used = _nonzero(model.coef_)
            if used > most:
                break
            loss = _cross_entropy(p, _probs(model, z, k))
            path.append({"C": round(float(c), 6), "nonzero": used, "loss": round(loss, 6)})
            if used and (best is None or loss < best[0]):
                best = (loss, model)
        if best is None:
            return (*_constant(p, z.shape[1]), path)
        support = np.flatnonzero(np.any(best[1].coef_ != 0, axis=0))
        refit = _logistic_model(100.0, False, seed, multi).fit(xr[:, support], yr, sample_weight=wr)
    return (*_per_class(refit, k, support, z.shape[1]), path)


def _per_class(model, k: int, support: np.ndarray, width: int):
    """The fitted weights as the saved form reads them: one score row (two classes) or one per class; a class
    the teacher never gave gets no weights and an intercept that rules it out."""
    classes, w, b = model.classes_, model.coef_, model.intercept_
    if k == 2:
        coef = np.zeros((1, width))
        coef[:, support] = w
        return coef, b.astype(np.float64)
    coef, intercept = np.zeros((k, width)), np.full(k, -50.0)
    if len(classes) == 2:  # scikit-learn fits two present classes as one score: the second against the first
        coef[classes[1], support] = w[0]
        intercept[classes[1]], intercept[classes[0]] = b[0], 0.0
    else:
        coef[np.ix_(classes, support)] = w
        intercept[classes] = b
    return coef, intercept


def _constant(p: np.ndarray, width: int):
    """No weights: the intercept gives every row the teacher's average answer."""
    k = p.shape[1]
    mean = np.clip(p.mean(axis=0), 1e-6, 1.0)
    if k == 2:
        return np.zeros((1, width)), np.array([np.log(mean[1] / mean[0])])
    return np.zeros((k, width)), np.log(mean)


def _probs(model, z: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(z), k))
    out[:, model.classes_] = model.predict_proba(z)
    return out


def _cross_entropy(p: np.ndarray, q: np.ndarray) -> float:
    return float(-(p * np.log(np.clip(q, 1e-12, 1.0))).sum(axis=1).mean())


def _lasso(z: np.ndarray, y: np.ndarray, most: int):
    """The Lasso path from the strength that keeps no weight down, the best fit within `most` columns, its
    columns refitted by least squares."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso, LinearRegression

    zc = z - z.mean(axis=0)
    top = float(np.abs(zc.T @ (y - y.mean())).max() / len(y)) if z.shape[1] else 0.0
    best, path = None, []
    if top > 0:
        model = Lasso(alpha=top, warm_start=True, max_iter=5000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for alpha in top * np.logspace(-0.05, -4, STEPS):
                model.set_params(alpha=float(alpha)).fit(z, y)
                used = _nonzero(model.coef_.reshape(1, -1))
                if used > most:
                    break
                loss = float(np.mean((model.predict(z) - y) ** 2))
                path.append({"alpha": round(float(alpha), 6), "nonzero": used, "loss": round(loss, 6)})
                if used and (best is None or loss < best[0]):
                    best = (loss, np.flatnonzero(model.coef_ != 0))
    coef = np.zeros((1, z.shape[1]))
    if best is None:
        return coef, np.array([float(y.mean())]), path
    refit = LinearRegression().fit(z[:, best[1]], y)
    coef[0, best[1]] = refit.coef_
    return coef, np.array([float(refit.intercept_)]), path
