"""The "Safe to ship?" section of report.html: the safety figures, teacher beside student. The full story is compliance.html."""

from __future__ import annotations

from .html import _e, _get, _num, _pct, _table


def _pair(node: dict | None, key: str, fmt=_pct) -> list[str]:
    return [fmt(_get(node, "teacher", key)), fmt(_get(node, "student", key))]


def safety_section(r: dict) -> str:
    parts = []
    cal = r.get("calibration")
    if cal:
        rows = [
            [
                who,
                _num(_get(cal, who, "before", "ece")),
                _num(_get(cal, who, "after", "ece")),
                _num(_get(cal, who, "temperature"), 2),
            ]
            for who in ("teacher", "student")
            if cal.get(who)
        ]
        parts.append(
            "<h3>Calibration</h3>" + _table(["", "ECE before", "ECE after temperature", "Temperature"], rows, "cmp")
        )
    cf = _get(r, "counterfactual", "categories")
    if cf:
        rows = [[_e(name), str(c.get("tested", "")), *_pair(c, "flip_rate")] for name, c in cf.items()]
        parts.append(
            "<h3>Counterfactual swaps: share of texts whose answer changes</h3>"
            + _table(["Swapped", "Texts", "Teacher", "Student"], rows, "cmp")
        )
    rob = _get(r, "robustness", "perturbations")
    if rob:
        rows = [[_e(name), *_pair(p, "accuracy"), *_pair(p, "drop")] for name, p in rob.items()]
        parts.append(
            "<h3>Robustness: accuracy on perturbed texts</h3>"
            + _table(["Perturbation", "Teacher", "Student", "Teacher drop", "Student drop"], rows, "cmp")
        )
    fair = _get(r, "fairness", "attributes")
    if fair:
        rows = []
        for name, a in fair.items():
            for metric in ("demographic_parity_difference", "equalized_odds_difference"):
                rows.append(
                    [_e(name), metric.replace("_", " "), *_pair(a, metric, _num), _num(_get(a, "widened_by", metric))]
                )
        small = [
            f"{_e(n)}: {', '.join(map(_e, a.get('too_small_groups') or []))}"
            for n, a in fair.items()
            if a.get("too_small_groups")
        ]
        parts.append(
            "<h3>Fairness across groups</h3>"
            + _table(["Attribute", "Gap", "Teacher", "Student", "Widened by"], rows, "cmp")
            + (f"<p>Too small to judge: {'; '.join(small)}.</p>" if small else "")
        )
    policy = _get(r, "oversight", "policy")
    if policy:
        held = _get(r, "oversight", "held_out") or {}
        parts.append(
            "<h3>Human oversight</h3>"
            + (
                f"<p>The student answers on its own when its confidence is at least {_num(policy.get('threshold'))}; "
                f"otherwise a person decides. Target error {_pct(policy.get('alpha'))} with {_pct(1 - policy['delta'])} "
                f"confidence. Held out: the student answers {_pct(held.get('coverage'))} of texts, with error "
                f"{_pct(held.get('error_kept'))} on those.</p>"
                if policy.get("feasible")
                else f"<p><strong>{_e(policy.get('message'))}</strong></p>"
            )
        )
    if not parts:
        return ""
    return (
        "<section><h2>Safe to ship?</h2>"
        + "".join(parts)
        + '<p>The evidence, the EU AI Act / UK screen and the lineage are in <a href="compliance.html">compliance.html</a>.</p></section>'
    )
