"""Rules in words: the conditions on one path through a tree (or one rule of a list) as a person reads them.

Conditions on the same column are merged ("5.5 < tenure <= 17.5"); a one-hot indicator reads as the
category it stands for ("contract is Month-to-month", "contract is not Two year"); missing values say where
they go ("or missing"), for the columns that had missing values in the rows the model learnt from.
"""

from __future__ import annotations

import numpy as np


def _num(x: float) -> str:
    return f"{x:.4g}"


def condition_words(conditions: list[tuple[int, str, float, bool]], features, missing_seen=None) -> list[str]:
    """(feature index, '<=' or '>', threshold, whether missing values take this side) -> phrases, one per column.

    `missing_seen`: per feature, whether the fit rows had missing values there; "(or missing)" is said only
    for those (None: for every feature)."""
    numeric: dict[int, dict] = {}
    words: list[str] = []
    order: list[tuple[str, int]] = []
    for f, op, thr, missing in conditions:
        missing = bool(missing) and (missing_seen is None or bool(missing_seen[f]))
        col, cat = features.source[f]
        if cat is not None:  # an indicator: <= 0.5 is "not this category"
            words.append(
                f"{col} is {'not ' if op == '<=' else ''}{cat}" + (" (or missing)" if missing and op == "<=" else "")
            )
            order.append(("w", len(words) - 1))
            continue
        if f not in numeric:
            numeric[f] = {"low": None, "high": None, "missing": True}
            order.append(("n", f))
        bound = numeric[f]
        if op == "<=":
            bound["high"] = thr if bound["high"] is None else min(bound["high"], thr)
        else:
            bound["low"] = thr if bound["low"] is None else max(bound["low"], thr)
        bound["missing"] = bound["missing"] and missing
    out = []
    for what, i in order:
        if what == "w":
            out.append(words[i])
            continue
        b, name = numeric[i], features.names[i]
        if b["low"] is not None and b["high"] is not None:
            phrase = f"{_num(b['low'])} < {name} <= {_num(b['high'])}"
        elif b["high"] is not None:
            phrase = f"{name} <= {_num(b['high'])}"
        else:
            phrase = f"{name} > {_num(b['low'])}"
        out.append(phrase + (" (or missing)" if b["missing"] else ""))
    return out


def leaf_answer(value: np.ndarray, labels: list[str] | None) -> str:
    """'Yes (p=0.62)' for a class; '1,234.5' for a number."""
    value = np.asarray(value, dtype=float).reshape(-1)
    if labels is None:
        return f"{value[0]:,.4g}"
    p = value / max(value.sum(), 1e-12)
    best = int(p.argmax())
    return f"{labels[best]} (p={p[best]:.2f})"
