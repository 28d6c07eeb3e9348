"""Oversight: calibrate when the student defers to a person, check it on held-out rows, store it with the student.

The abstention maths is in understudy.oversight.abstain; this is the evaluation that runs it on the evaluation
set (the same split as the temperature fit) and the gates that read its section.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..gates import GateDef, feasible_policy, largest_in


def oversight(spec, y, s_probs, groups: dict, student_dir: Path, seed: int) -> dict:
    """Calibrate the abstention threshold on one split, check it on the other, store it with the student.

    `spec` is the recipe's safety section (calibration_fraction, oversight.alpha, oversight.delta).
    """
    from ..oversight.abstain import calibrate_abstention, evaluate_policy, save_policy

    n = len(y)
    n_cal = round(n * spec.calibration_fraction)
    order = np.random.default_rng(seed).permutation(n)  # the same split as the temperature fit
    cal, test = np.sort(order[:n_cal]), np.sort(order[n_cal:])

    def part(idx):
        return {k: [v[i] for i in idx] for k, v in groups.items()} or None

    policy = calibrate_abstention(
        s_probs[cal], y[cal], alpha=spec.oversight.alpha, delta=spec.oversight.delta, groups=part(cal)
    )
    save_policy(policy, student_dir)
    return {"policy": policy, "held_out": evaluate_policy(s_probs[test], y[test], policy, groups=part(test))}


def _required(recipe) -> bool:
    """Whether the gates ask for an oversight policy: the recipe's own gate, else its sector profile's."""
    gates = recipe.gates
    if "oversight_required" in gates.model_fields_set or gates.oversight_required is not None:
        return bool(gates.oversight_required)
    from ..sectors import sector_gates

    return sector_gates(recipe.intended_use.sector).get("oversight_required") is True


class Oversight:
    """Evaluation: an abstention policy that sends the inputs the student is unsure of to a person."""

    name = "oversight"
    tasks = frozenset({"text-classification"})
    order = 50  # after calibration
    gates = (
        GateDef(
            "oversight_required",
            "required",
            feasible_policy("oversight"),
            "an abstention policy that sends unsure inputs to a human",
            how="run the oversight evaluation (safety.oversight.enabled: true)",
        ),
        GateDef(
            "oversight_alpha",
            "max",
            largest_in("oversight", lambda p: p == ("alpha",), 'the policy\'s "alpha"'),
            "the oversight policy's target error",
            how="run the oversight evaluation (safety.oversight.enabled: true)",
        ),
    )

    def enabled(self, recipe) -> str | None:
        flag = recipe.safety.oversight.enabled
        if flag is None:  # unset: on where the gates (the sector profile) require a policy
            flag = _required(recipe)
            if not flag:
                return (
                    f"safety.oversight.enabled is unset and the gates (sector '{recipe.intended_use.sector}') do "
                    "not require oversight"
                )
        return None if flag else "safety.oversight.enabled: false"

    def run(self, ctx) -> dict:
        r = ctx.recipe
        return oversight(r.safety, ctx.y, ctx.student_probs, ctx.groups, ctx.student_dir, r.training.seed)
