"""Abstention: a confidence threshold below which the student's answer goes to a person.

The threshold is calibrated with Learn then Test (Angelopoulos, Bates, Candès, Jordan & Lei 2021,
"Learn then Test: Calibrating Predictive Algorithms to Achieve Risk Control", arXiv:2110.01052),
so that with probability at least 1 - delta over the calibration sample, the predictions the
student keeps (confidence >= threshold) have an error rate of at most alpha on new data from the
same distribution.

How: for each candidate threshold the null hypothesis "the error rate of kept predictions is above
alpha" gets a p-value from the kept rows' error count (mapie's Hoeffding-Bentkus p-value, in its
exact binomial form for a 0/1 loss). The candidates are tested in a fixed order, from the highest
threshold (fewest, surest answers) down, stopping at the first that cannot be rejected
(fixed-sequence testing, mapie's ``control_fwer``); the lowest rejected threshold answers the most
while keeping the guarantee. The order is fixed before the labels are seen. Fixed-sequence testing
stops at its first failure, so the sequence starts where a test has a fair chance: thresholds that
keep fewer rows than needed to certify an observed error rate of alpha / 2 are skipped at the top
(a rule on the confidences alone, never the labels). In simulation this answered more often and
for more rows than starting where zero errors would just pass, with the same guarantee. When
nothing passes the policy is plainly infeasible: every text goes to a person and the student
should not be deployed on its own.

MAPIE's ``BinaryClassificationController`` (precision on a keep/defer decision) computes the same
p-values, but picks the testing direction from the calibration risks themselves and warns when they
are not monotone, which they rarely are; the pieces are used directly here instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..evaluate.calibration import checked_probs

__all__ = [
    "calibrate_abstention",
    "evaluate_policy",
    "decide",
    "save_policy",
    "load_policy",
    "POLICY_FILE",
    "ALWAYS_DEFER",
    "INFEASIBLE",
]

POLICY_FILE = "oversight.json"
ALWAYS_DEFER = math.nextafter(1.0, 2.0)  # just above 1.0: no confidence reaches it
INFEASIBLE = "no threshold meets the target: send everything to a human; do not deploy"
RULE = "defer to a human when the student's highest class probability is below threshold"


def _grid() -> np.ndarray:
    """Candidate thresholds, highest first: a 0.001 grid plus finer steps near 1 for very sure models."""
    return np.unique(np.concatenate([np.linspace(0.0, 1.0, 1001), 1.0 - np.logspace(-8, -3, 26)]))[::-1]


def _check_level(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise UserError(f"oversight {name} must be a number between 0 and 1 (exclusive), got {value!r}")
    return float(value)


def _min_kept(alpha: float, delta: float, n: int) -> int:
    """Fewest kept rows at which an observed error rate of alpha / 2 passes the test (n + 1: never)."""
    from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

    sizes = np.arange(1, n + 1, dtype=float)
    p = compute_hoeffding_bentkus_p_value(np.full(n, alpha / 2), sizes, alpha, binary=True)[:, 0]
    ok = np.flatnonzero(p <= delta)
    return int(sizes[ok[0]]) if len(ok) else n + 1


def _checked(probs, y) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs)
    k = p.shape[1] if p.ndim == 2 else 0
    y, p, _ = checked_probs(y, p, [str(j) for j in range(k)], "probs")
    return y, p


def _deferred_by_group(defer: np.ndarray, groups: Mapping[str, Sequence] | None) -> dict:
    if not groups:
        return {}
    out = {}
    for name, values in groups.items():
        values = ["(missing)" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
        if len(values) != len(defer):
            raise UserError(
                f"oversight group '{name}' has {len(values)} values but there are {len(defer)} rows: "
                "give one group value per row, in the same order"
            )
        arr = np.array(values, dtype=object)
        out[str(name)] = {
            g: {"n": int(np.sum(arr == g)), "deferred_share": float(np.mean(defer[arr == g]))}
            for g in sorted(set(values))
        }
    return out


def calibrate_abstention(
    probs,
    y: Sequence[int],
    *,
    alpha: float = 0.05,
    delta: float = 0.1,
    groups: Mapping[str, Sequence] | None = None,
) -> dict:
    """The abstention policy for the student's probabilities ``probs`` on labelled calibration rows ``y``.

    Guarantee (Learn then Test): with probability >= 1 - ``delta`` over the calibration sample, the
    error rate of the predictions kept on new data is <= ``alpha``. ``groups`` (name -> one value per
    row) adds the share sent to a person per group. Returns a JSON-ready policy dict; ``feasible`` is
    False, with ``threshold`` above 1.0 and the message :data:`INFEASIBLE`, when no threshold meets
    the target. The threshold applies to these probabilities as given: if the server rescales them
    (a temperature), calibrate on the rescaled ones, as the run does (understudy.evaluate.oversight fits it on
    the student's probabilities at calibration.json's temperature, which understudy.students.load_student applies).
    """
    from mapie.risk_control import control_fwer
    from mapie.risk_control.methods import compute_hoeffding_bentkus_p_value

    alpha, delta = _check_level(alpha, "alpha"), _check_level(delta, "delta")
    y, p = _checked(probs, y)
    n = len(y)
    conf = p.max(axis=1)
    wrong = (p.argmax(axis=1) != y).astype(np.int64)

    order = np.argsort(conf, kind="stable")
    conf_sorted = conf[order]
    errors_from = np.concatenate([np.cumsum(wrong[order][::-1])[::-1], [0]])  # errors among rows i.. of conf_sorted
    grid = _grid()
    first_kept = np.searchsorted(conf_sorted, grid, side="left")
    n_kept = n - first_kept
    n_errors = errors_from[first_kept]

    n_min = _min_kept(alpha, delta, n)
    testable = n_kept >= n_min
    threshold, feasible = ALWAYS_DEFER, False
    if testable.any():
        seq = np.flatnonzero(testable)  # still highest threshold first
        r_hat = n_errors[seq] / n_kept[seq]
        p_values = compute_hoeffding_bentkus_p_value(r_hat, n_kept[seq].astype(float), alpha, binary=True)[:, 0]
        rejected = control_fwer(p_values, delta, fwer_method="fixed_sequence")
        if len(rejected):
            threshold, feasible = float(grid[seq[int(np.max(rejected))]]), True

    defer = conf < threshold
    kept = int(np.sum(~defer))
    if feasible:
        message = (
            f"the student answers when its confidence is at least {threshold:.4g}; with probability "
            f"{1 - delta:.0%} its kept answers are wrong at most {alpha:.1%} of the time"
        )
    elif n < n_min:
        message = (
            f"{INFEASIBLE} (only {n} calibration rows: a threshold can be certified for this alpha and "
            "delta only with more labelled calibration rows)"
        )
    else:
        message = INFEASIBLE
    return {
        "rule": RULE,
        "method": "Learn then Test (Angelopoulos et al. 2021): fixed-sequence testing from high thresholds to low, "
        "Hoeffding-Bentkus p-values (mapie)",
        "feasible": feasible,
        "threshold": threshold,
        "alpha": alpha,
        "delta": delta,
        "n_calibration": int(n),
        "min_kept": int(n_min),
        "calibration_error_kept": float(wrong[~defer].mean()) if kept else None,
        "coverage": kept / n,
        "deferred_share": 1 - kept / n,
        "deferred_by_group": _deferred_by_group(defer, groups),
        "message": message,
    }


def _check_policy(policy) -> float:
    if not isinstance(policy, Mapping) or "threshold" not in policy or "feasible" not in policy:
        raise UserError(
            "an oversight policy is the dict made by calibrate_abstention (with 'threshold' and "
            f"'feasible'); got {type(policy).__name__}: recalibrate it"
        )
    threshold = policy["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise UserError(f"oversight policy threshold must be a number, got {threshold!r}: recalibrate it")
    return float(threshold) if policy["feasible"] is True else math.inf


def decide(probs, policy: Mapping) -> list[bool]:
    """For each row of student probabilities: True when it must go to a human (always, for an
    infeasible policy)."""
    threshold = _check_policy(policy)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] == 0:
        raise UserError(f"probs must be a 2-D array (rows, classes), got shape {np.shape(probs)}")
    # a NaN confidence compares False: it is deferred, which is the safe side
    return [not bool(c >= threshold) for c in p.max(axis=1)]


def evaluate_policy(probs, y: Sequence[int], policy: Mapping, *, groups: Mapping[str, Sequence] | None = None) -> dict:
    """The policy on fresh labelled rows: coverage, error rate of the kept answers, deferrals per group."""
    y, p = _checked(probs, y)
    defer = np.array(decide(p, policy), dtype=bool)
    wrong = p.argmax(axis=1) != y
    kept = int(np.sum(~defer))
    return {
        "n": int(len(y)),
        "coverage": kept / len(y),
        "deferred_share": 1 - kept / len(y),
        "error_kept": float(wrong[~defer].mean()) if kept else None,
        "meets_alpha": (float(wrong[~defer].mean()) <= policy["alpha"]) if kept else None,
        "deferred_by_group": _deferred_by_group(defer, groups),
    }


def save_policy(policy: Mapping, folder: str | Path) -> Path:
    """Write the policy as ``oversight.json`` in ``folder`` (the student folder), atomically."""
    _check_policy(policy)
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"cannot save the oversight policy: {folder} is not a folder")
    from ..run.folder import write_atomic

    path = folder / POLICY_FILE
    write_atomic(path, json.dumps(dict(policy), indent=2, allow_nan=False))
    return path


def load_policy(folder: str | Path) -> dict:
    """Read ``oversight.json`` from ``folder``, refusing a policy fitted at another temperature than the
    folder's calibration.json: its threshold would be applied to a confidence it was not fitted on."""
    path = Path(folder) / POLICY_FILE
    if not path.is_file():
        raise UserError(
            f"{path} not found: calibrate the abstention policy (calibrate_abstention, then "
            "save_policy into the student folder) before serving with human oversight"
        )
    try:
        policy = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}; recalibrate the policy") from None
    _check_policy(policy)
    _check_temperature(policy, Path(folder), path)
    return policy


def _check_temperature(policy: Mapping, folder: Path, path: Path) -> None:
    from ..students import read_temperature

    served = read_temperature(folder)
    fitted = policy.get("temperature")  # absent: fitted before the server applied calibration.json (raw scores)
    if fitted == served or ("temperature" not in policy and served is None):
        return
    said = f"at temperature {fitted}" if "temperature" in policy and fitted is not None else "on the raw scores"
    raise UserError(
        f"{path}: the threshold was fitted {said}, but the student is served at "
        f"{'temperature ' + str(served) if served is not None else 'its raw scores'} (calibration.json): rerun "
        "`understudy distill RECIPE --out RUN --from evaluate` so the policy is fitted on the confidence served"
    )
