"""A rate with its evidence: how many cases, a 95% interval, and what the interval says against a bound.

A share of cases ("3 of 56 texts flipped") is written as `rate(count, total)`:

    {"count": 3, "total": 56, "rate": 0.0536, "interval": [0.0112, 0.1487], "method": "Clopper-Pearson exact"}

Intervals (all 95%, two-sided):
  rate(k, n)                      Clopper-Pearson exact interval (Clopper & Pearson 1934, Biometrika 26:404-413):
                                  it covers the true rate at least 95% of the time whatever the number of
                                  cases, so a gate that blocks on it never states a failure the cases do not show
  wilson(k, n)                    Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001, Statistical
                                  Science 16:101-133): the building block of Newcombe's differences below
  difference(k1, n1, k2, n2)      p1 - p2 of two independent groups: Newcombe's hybrid score interval
                                  (Newcombe 1998, Statistics in Medicine 17:873-890, method 10)
  paired_difference(both, only1, only2, n)
                                  p1 - p2 measured on the same n cases (student vs teacher on the same texts):
                                  Newcombe's score interval for paired data (Newcombe 1998, Statistics in
                                  Medicine 17:2635-2650, method 10)

The rule that reads an interval against a gate's bound (`read`), the same for every gate:
  "past the bound"    the whole interval lies on the wrong side of the bound: the figure fails its gate
  "within the bound"  the whole interval lies on the allowed side (the bound itself allowed): it passes
  "too few to judge"  the interval straddles the bound: the cases measured cannot say which side the true
                      figure is on, so it is neither a failure nor a pass (the gate warns and says so)
This is the reading of a two-sided 95% interval as a test of "the figure is past the bound" (an
equivalence-style reading: pass only when the evidence shows the figure inside, fail only when it shows it
outside); see e.g. Schuirmann 1987, J. Pharmacokinetics and Biopharmaceutics 15:657-680.
"""

from __future__ import annotations

import math
from typing import Literal

Z = 1.959963984540054  # the 97.5% normal quantile: two-sided 95%
PAST, WITHIN, TOO_FEW = "past the bound", "within the bound", "too few to judge"
Kind = Literal["min", "max"]

__all__ = [
    "PAST",
    "TOO_FEW",
    "WITHIN",
    "clopper_pearson",
    "difference",
    "paired_difference",
    "rate",
    "read",
    "settle",
    "wilson",
]


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a whole number of cases, got {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def wilson(count: int, total: int) -> tuple[float, float]:
    """The 95% Wilson score interval of count/total; (0, 1) when there are no cases."""
    k, n = _count("count", count), _count("total", total)
    if k > n:
        raise ValueError(f"count {k} is more than total {n}")
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, Z * Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # exact ends at 0 and n (the formula gives them up to rounding)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def clopper_pearson(count: int, total: int) -> tuple[float, float]:
    """The 95% Clopper-Pearson exact interval of count/total (beta quantiles); (0, 1) when there are no cases."""
    from scipy.special import betaincinv  # scipy is a core dependency; special is the light part of it

    k, n = _count("count", count), _count("total", total)
    if k > n:
        raise ValueError(f"count {k} is more than total {n}")
    if n == 0:
        return 0.0, 1.0
    alpha = 1 - 0.95
    low = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high


def rate(count: int, total: int, counted: str = "cases") -> dict:
    """count of total cases as a rate with its evidence (rate None when there are no cases).

    `counted` says in plain words what the total counts ("texts with a swappable word")."""
    low, high = clopper_pearson(count, total)
    return {
        "count": int(count),
        "total": int(total),
        "rate": (count / total) if total else None,
        "interval": [low, high],
        "method": "Clopper-Pearson exact",
        "counted": counted,
    }


def difference(k1: int, n1: int, k2: int, n2: int) -> dict:
    """k1/n1 - k2/n2 for two independent groups, with Newcombe's hybrid score 95% interval."""
    if not n1 or not n2:
        return {"value": None, "interval": [-1.0, 1.0], "method": "Newcombe hybrid score"}
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return {"value": d, "interval": [max(-1.0, low), min(1.0, high)], "method": "Newcombe hybrid score"}


def paired_difference(both: int, only1: int, only2: int, total: int) -> dict:
    """p1 - p2 on the same `total` cases: `both` cases count for 1 and 2, `only1` for 1 only, `only2` for 2 only.

    E.g. student vs teacher flips on the same texts: p1 = (both + only1)/n, p2 = (both + only2)/n. Newcombe's
    paired score interval (method 10), with the corrected phi correlation of the 2x2 table (0 when a margin is
    empty)."""
    a, b, c, n = (_count(k, v) for k, v in (("both", both), ("only1", only1), ("only2", only2), ("total", total)))
    d_ = n - a - b - c
    if d_ < 0:
        raise ValueError(f"both + only1 + only2 = {a + b + c} is more than total {n}")
    if n == 0:
        return {"value": None, "interval": [-1.0, 1.0], "method": "Newcombe paired score"}
    p1, p2 = (a + b) / n, (a + c) / n
    (l1, u1), (l2, u2) = wilson(a + b, n), wilson(a + c, n)
    margins = (a + b) * (c + d_) * (a + c) * (b + d_)
    raw = a * d_ - b * c
    # Newcombe's phi, corrected towards 0 for a positive association (as in Altman et al., Statistics with
    # Confidence, 2000, ch. 6): 0 when 0 <= AD - BC <= n/2
    cross = raw - n / 2 if raw > n / 2 else float(raw) if raw < 0 else 0.0
    phi = cross / math.sqrt(margins) if margins else 0.0
    diff = p1 - p2
    low = diff - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = diff + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return {"value": diff, "interval": [max(-1.0, low), min(1.0, high)], "method": "Newcombe paired score"}


def read(interval, bound: float, kind: Kind) -> str:
    """What a 95% interval says against a gate's bound: PAST, WITHIN or TOO_FEW (see the module docstring).

    kind "max": the figure must be at most the bound; "min": at least."""
    low, high = float(interval[0]), float(interval[1])
    if kind == "max":
        return WITHIN if high <= bound else PAST if low > bound else TOO_FEW
    if kind == "min":
        return WITHIN if low >= bound else PAST if high < bound else TOO_FEW
    raise ValueError(f"kind must be 'min' or 'max', got {kind!r}")


def settle(value: float, interval, bound: float, total: int | None) -> int | None:
    """About how many more cases (at the same figure) would move a straddling interval off the bound, or None.

    An interval's width shrinks as 1/sqrt(cases): the side facing the bound must shrink to the distance from
    the figure to the bound. An estimate, not a promise: the figure itself moves as cases come in."""
    if not total or value is None or value == bound:
        return None
    low, high = float(interval[0]), float(interval[1])
    reach = (high - value) if value < bound else (value - low)  # the interval's side facing the bound
    if reach <= 0:
        return None
    needed = total * (reach / abs(value - bound)) ** 2
    return max(1, math.ceil(needed - total))


# --- for the evaluations' report sections and HTML parts -------------------------------------------------

CLIP = 200  # characters of a user's text kept in an example


def clip(text, limit: int = CLIP) -> str:
    """A user's text cut to `limit` characters with an ellipsis (plain text: the HTML parts escape it)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def words(ev: dict | None, pct: bool = True, fallback=None) -> str:
    """Evidence in plain words: '3 of 56 (5.4%; 95% interval 1.1% to 14.9%)'; without evidence (a report
    written before it was kept) the `fallback` figure alone, or 'n/a'."""
    f = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:+.3f}")  # noqa: E731
    if not isinstance(ev, dict) or not isinstance(ev.get("interval"), (list, tuple)):
        ok = isinstance(fallback, (int, float)) and not isinstance(fallback, bool)
        return f(fallback) if ok else "n/a"
    low, high = ev["interval"]
    value = ev.get("rate", ev.get("value"))
    head = f"{ev['count']} of {ev['total']}" if isinstance(ev.get("count"), int) else ""
    figure = f(value) if isinstance(value, (int, float)) else "n/a"
    if head:
        return f"{head} ({figure}; 95% interval {f(low)} to {f(high)})"
    return f"{figure} (95% interval {f(low)} to {f(high)})"


def gate_bound(report: dict, gate: str) -> tuple[float | None, dict | None]:
    """The threshold and result of `gate` in report["gates"] (None, None when it was not judged)."""
    for result in (report.get("gates") or {}).get("results") or []:
        if isinstance(result, dict) and result.get("name") == gate:
            threshold = result.get("threshold")
            bound = (
                float(threshold) if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else None
            )
            return bound, result
    return None, None


def reading_of(ev: dict | None, bound: float | None, kind: Kind = "max") -> str:
    """The reading of one figure's evidence against a gate's bound, or "" when either is missing."""
    if bound is None or not isinstance(ev, dict) or not isinstance(ev.get("interval"), (list, tuple)):
        return ""
    return read(ev["interval"], bound, kind)
