"""Temperature scaling: does a model's confidence mean what it says, and does one number fix it?

A model's probabilities are rescaled as softmax(log p / T), with the single temperature T fitted
by minimising the negative log-likelihood on a calibration split (Guo et al. 2017, "On Calibration
of Modern Neural Networks"). T > 1 softens an overconfident model, T < 1 sharpens a timid one; the
predicted class never changes. ECE and the reliability bins are the ones in metrics.py, so the
figures here match the quality section of the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import UserError
from .metrics import _check_common, _reliability

__all__ = ["fit_temperature", "apply_temperature", "calibration_report", "checked_probs", "TEMPERATURE_KEY"]

TEMPERATURE_KEY = "student_temperature"  # EvalContext.extra: the temperature this evaluation fitted and shipped

_EPS = 1e-12  # floor for probabilities before the log: a hard 0 would be -inf
_LOG_T_BOUNDS = (np.log(1e-2), np.log(1e2))  # beyond these the model is degenerate, not miscalibrated


def checked_probs(y, probs, labels, name: str = "probs") -> tuple[np.ndarray, np.ndarray, list]:
    """(y as int64, probs as float64, labels) after the checks of metrics.py, failing as a UserError."""
    try:
        return _check_common(y, probs, labels, 0, name=name)
    except ValueError as exc:
        raise UserError(f"{name}: {exc}") from None


def _log_probs(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs, _EPS, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll_and_grad(log_t: np.ndarray, z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean NLL of softmax(z / T) and its derivative with respect to log T (scipy passes log T as a 1-vector)."""
    t = float(np.exp(log_t[0]))
    q = _softmax(z / t)
    rows = np.arange(len(y))
    nll = float(np.mean(-np.log(np.clip(q[rows, y], 1e-300, None))))
    # d/dT [lse(z/T) - z_y/T] = (z_y - E_q[z]) / T^2, times dT/dlogT = T
    grad = float(np.mean((z[rows, y] - np.sum(q * z, axis=1)) / t))
    return nll, np.array([grad])


def fit_temperature(probs, y) -> float:
    """The temperature T minimising the NLL of softmax(log probs / T) against gold ``y``.

    Fitted over log T (so T stays positive) with scipy's L-BFGS-B, T limited to [0.01, 100].
    """
    from scipy.optimize import minimize

    p = np.asarray(probs, dtype=np.float64)
    y, p, _ = checked_probs(y, p, [str(j) for j in range(p.shape[1] if p.ndim == 2 else 0)])
    z = _log_probs(p)
    result = minimize(
        _nll_and_grad, x0=np.array([0.0]), args=(z, y), jac=True, method="L-BFGS-B", bounds=[_LOG_T_BOUNDS]
    )
    return float(np.exp(result.x[0]))


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """softmax(log probs / T): the same argmax, confidence rescaled."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise UserError(f"temperature must be a positive number, got {temperature!r}")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise UserError(f"probs must be a 2-D array (rows, classes), got shape {p.shape}")
    return _softmax(_log_probs(p) / float(temperature))


def _scores(y: np.ndarray, p: np.ndarray) -> dict:
    n = len(y)
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    ece, bins = _reliability(conf, correct)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    return {
        "ece": float(ece),
        "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        "nll": float(np.mean(-np.log(np.clip(p[np.arange(n), y], _EPS, None)))),
        "mean_confidence": float(conf.mean()),
        "accuracy": float(correct.mean()),
        "reliability": bins,
    }


def _one_model(y: np.ndarray, p: np.ndarray, cal: np.ndarray, test: np.ndarray) -> dict:
    t = fit_temperature(p[cal], y[cal])
    return {
        "temperature": t,
        "before": _scores(y[test], p[test]),
        "after": _scores(y[test], apply_temperature(p[test], t)),
    }


def calibration_report(
    y: Sequence[int],
    t_probs,
    s_probs,
    labels: Sequence[str],
    *,
    calibration_fraction: float = 0.5,
    seed: int = 0,
) -> dict:
    """Teacher and student before and after temperature scaling, side by side.

    The rows are split at random (``seed``) into a calibration part (``calibration_fraction``),
    on which each model's temperature is fitted, and a test part, on which ECE (15 equal-width
    bins), Brier score, NLL and the reliability bins are reported before and after. ``t_probs``
    may be None when only the student is to be calibrated. The student's temperature is what
    a server would apply (``apply_temperature``) to make its confidence honest.
    """
    y_arr, s, labels = checked_probs(y, s_probs, labels, "s_probs")
    t = None
    if t_probs is not None:
        _, t, _ = checked_probs(y_arr, t_probs, labels, "t_probs")
    if not 0 < calibration_fraction < 1:
        raise UserError(f"calibration_fraction must be between 0 and 1 (exclusive), got {calibration_fraction!r}")
    n = len(y_arr)
    n_cal = int(round(n * calibration_fraction))
    if n_cal < 2 or n - n_cal < 2:
        raise UserError(
            f"calibration needs at least 2 rows in each split; {n} rows with calibration_fraction "
            f"{calibration_fraction} give {n_cal} and {n - n_cal}: use more evaluation rows"
        )
    order = np.random.default_rng(seed).permutation(n)
    cal, test = np.sort(order[:n_cal]), np.sort(order[n_cal:])
    return {
        "method": "temperature scaling (NLL fitted over log T on the calibration split)",
        "n_calibration": int(n_cal),
        "n_test": int(n - n_cal),
        "seed": int(seed),
        "teacher": _one_model(y_arr, t, cal, test) if t is not None else None,
        "student": _one_model(y_arr, s, cal, test),
    }


from pydantic import Field  # noqa: E402  (light; the section's types come after the report function)

from ..report.schema import Figures  # noqa: E402


class CalibrationFigures(Figures):
    """report["calibration"]: temperature scaling, fitted on one split of the evaluation rows, scored on the other."""

    method: str = Field(description="how the temperature is fitted")
    n_calibration: int = Field(description="evaluation rows the temperature is fitted on")
    n_test: int = Field(description="evaluation rows the scores before and after are measured on")
    seed: int = Field(description="the seed of the split (training.seed)")
    teacher: dict | None = Field(
        description='{"temperature", "before": {"ece", "brier", "nll", "mean_confidence", "accuracy", '
        '"reliability"}, "after": {...}}; null when the teacher gave no probabilities'
    )
    student: dict = Field(description="the same for the student; its temperature ships as student/calibration.json")
    unit: str = Field("texts", description="what the evaluation rows are: texts, or rows of a table")
    shipped: dict | None = Field(
        None,
        description='{"temperature", "why"}: what student/calibration.json applies where the student loads: the '
        "fitted temperature when it lowers the held-out log-loss, else 1 (the raw scores were the more honest)",
    )


class Calibration:
    """Evaluation: temperature scaling of both models; the student's temperature ships as student/calibration.json."""

    name = "calibration"
    title = "Calibration"
    about = "whether the student's confidence matches how often it is right"
    tasks = frozenset({"text-classification", "tabular-classification"})
    order = 10  # before oversight, which uses the same split
    gates = ()  # max_ece reads the core quality figure, not this section
    figures = CalibrationFigures

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import get, num, table

        rows = [
            [
                who,
                num(get(section, who, "before", "ece")),
                num(get(section, who, "after", "ece")),
                num(get(section, who, "temperature"), 2),
            ]
            for who in ("teacher", "student")
            if section.get(who)
        ]
        if not rows:
            return ""
        from html import escape

        shipped = section.get("shipped") or {}
        said = (
            f"<p>Served with temperature {num(shipped.get('temperature'), 2)}: {escape(str(shipped['why']))}.</p>"
            if shipped.get("why")
            else ""
        )
        where = where_measured(section)
        if where:
            where[0] = f"measured {where[0]}"
        measured = "".join(f"{escape(w[0].upper() + w[1:])}. " for w in where)
        measured = f"<p>{measured.strip()}</p>" if measured else ""
        return (
            "<h3>Calibration</h3>"
            + table(["", "ECE before", "ECE after temperature", "Temperature"], rows, "cmp")
            + measured
            + said
        )

    def summary(self, section: dict) -> list[str]:
        from ..report.sections import get, plain

        def line(who):
            return (
                f"{who} ECE {plain(get(section, who, 'before', 'ece'))} -> {plain(get(section, who, 'after', 'ece'))} "
                f"at temperature {plain(get(section, who, 'temperature'))}"
            )

        said = [line(who) for who in ("student", "teacher") if isinstance(section.get(who), dict)]
        if not said:
            return []
        where = where_measured(section)
        if where:  # which texts these are: not the ones of the ECE in the table above
            said[-1] += f", {'both ' if len(said) > 1 else ''}{where[0]}" + (
                f" ({'; '.join(where[1:])})" if where[1:] else ""
            )
        shipped = section.get("shipped") or {}
        if shipped.get("why"):
            said.append(f"served: temperature {plain(shipped.get('temperature'))} ({shipped['why']})")
        return ["calibration: " + "; ".join(said)]

    def enabled(self, recipe) -> str | None:
        return None

    def run(self, ctx) -> dict:
        import json

        from ..run.folder import write_atomic

        spec = ctx.recipe.safety
        out = calibration_report(
            ctx.y,
            ctx.teacher_probs,
            ctx.student_probs,
            ctx.labels,
            calibration_fraction=spec.calibration_fraction,
            seed=ctx.recipe.training.seed,
        )
        out["shipped"] = shipped_temperature(out["student"])
        out["unit"] = getattr(ctx.modality, "plural", "texts")
        # The oversight evaluation (order 50) fits its threshold on the probabilities the server will serve:
        # these, rescaled by the shipped temperature (understudy.students.load_student applies calibration.json).
        ctx.extra[TEMPERATURE_KEY] = out["shipped"]["temperature"]
        write_atomic(
            ctx.student_dir / "calibration.json",
            json.dumps(
                {
                    "temperature": out["shipped"]["temperature"],
                    "note": "divide log-probabilities by it to make confidence honest",
                    "why": out["shipped"]["why"],
                }
            )
            + "\n",
        )
        return out


ROUGH_BELOW = 200  # test texts: under this, an ECE moves by several points from one split to another


def where_measured(section: dict) -> list[str]:
    """Where the before/after figures come from, in plain sentences (no full stops): the test half they are
    measured on, that the side-by-side ECE is over every evaluation text (so it differs), and, under ROUGH_BELOW
    test texts, that they are rough. [] when the section does not say how many texts it tested."""
    n, n_cal = section.get("n_test"), section.get("n_calibration")
    units = str(section.get("unit") or "texts")
    unit = units[:-1]
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        return []
    known = isinstance(n_cal, int) and not isinstance(n_cal, bool)
    half = "half" if known and abs(n_cal - n) <= 1 else "part"
    said = [f"on the {n:,}-{unit} test {half}" + (f", the temperature fitted on the other {n_cal:,}" if known else "")]
    if known:
        said.append(
            f"the ECE in the teacher-and-student table is over all {n + n_cal:,} evaluation {units}, so it differs"
        )
    if n < ROUGH_BELOW:
        said.append(f"rough: only {n:,} test {units}")
    return said


def shipped_temperature(student: dict) -> dict:
    """The temperature that ships: the fitted one only where it made the held-out rows' log-loss lower.

    A student that is already calibrated gets a temperature fitted to the noise of the calibration split, which
    can make the held-out scores worse (the demo's: log-loss 0.504 -> 0.509, ECE 0.030 -> 0.046); serving that
    would make confidence less honest, so 1 (the raw scores) ships instead. Choosing between two values on the
    held-out rows is a small selection, said in `why`."""
    fitted = float(student["temperature"])
    before, after = student["before"]["nll"], student["after"]["nll"]
    if after < before:
        return {
            "temperature": fitted,
            "why": f"the fitted temperature lowers the held-out log-loss ({before:.4f} -> {after:.4f})",
        }
    return {
        "temperature": 1.0,
        "why": f"the fitted temperature {fitted:.3f} did not lower the held-out log-loss ({before:.4f} -> "
        f"{after:.4f}): the raw scores ship",
    }
