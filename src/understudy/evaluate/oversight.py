"""Oversight: calibrate when the student defers to a person, check it on held-out rows, store it with the student.

The abstention maths is in understudy.oversight.abstain; this is the evaluation that runs it on the evaluation
set (the same split as the temperature fit) and the gates that read its section.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..gates import GateDef, feasible_policy, largest_in


def oversight(spec, y, s_probs, groups: dict, student_dir: Path, seed: int, temperature: float | None = None) -> dict:
    """Calibrate the abstention threshold on one split, check it on the other, store it with the student.

    `spec` is the recipe's safety section (calibration_fraction, oversight.alpha, oversight.delta). `s_probs` are
    the student's raw probabilities; `temperature` (the calibration evaluation's) rescales them first, as the
    loaded student serves them, so the threshold and the served confidence agree by construction.
    """
    from ..evaluate.calibration import apply_temperature
    from ..oversight.abstain import calibrate_abstention, evaluate_policy, save_policy

    if temperature is not None:
        s_probs = apply_temperature(s_probs, temperature)

    n = len(y)
    n_cal = round(n * spec.calibration_fraction)
    order = np.random.default_rng(seed).permutation(n)  # the same split as the temperature fit
    cal, test = np.sort(order[:n_cal]), np.sort(order[n_cal:])

    def part(idx):
        return {k: [v[i] for i in idx] for k, v in groups.items()} or None

    policy = calibrate_abstention(
        s_probs[cal], y[cal], alpha=spec.oversight.alpha, delta=spec.oversight.delta, groups=part(cal)
    )
    policy["temperature"] = temperature  # the scores the threshold applies to: softmax(log p / T); None: raw
    save_policy(policy, student_dir)
    return {"policy": policy, "held_out": evaluate_policy(s_probs[test], y[test], policy, groups=part(test))}


def _required(recipe) -> bool:
    """Whether the gates ask for an oversight policy: the recipe's own gate, else its sector profile's."""
    gates = recipe.gates
    if "oversight_required" in gates.model_fields_set or gates.oversight_required is not None:
        return bool(gates.oversight_required)
    from ..sectors import sector_gates

    return sector_gates(recipe.intended_use.sector).get("oversight_required") is True


from pydantic import Field  # noqa: E402

from ..report.schema import Figures  # noqa: E402


class OversightFigures(Figures):
    """report["oversight"]: the abstention policy (also student/oversight.json, which `serve` applies) and how it
    does on the evaluation rows it was not calibrated on."""

    policy: dict = Field(
        description='{"threshold", "alpha", "delta", "feasible", "message", "n_calibration", "coverage", '
        '"deferred_share", "deferred_by_group", "method", ...}: below "threshold" a person decides'
    )
    held_out: dict = Field(
        description='{"n", "coverage", "deferred_share", "error_kept", "meets_alpha", "deferred_by_group"}'
    )


# The policy's figures as the compliance report and the model card name them.
POLICY_KEYS = [
    ("feasible", "A threshold meets the target"),
    ("threshold", "Confidence threshold (below it, a person decides)"),
    ("alpha", "Target error on the answers the student keeps"),
    ("delta", "Allowed chance of missing the target"),
    ("n_calibration", "Calibration examples"),
    ("coverage", "Share the student answers"),
    ("deferred_share", "Share sent to a person"),
    ("calibration_error_kept", "Error on the calibration answers kept"),
    ("achieved_error", "Error on the calibration answers kept"),
    ("message", "What it means"),
    ("method", "Method"),
    ("temperature", "Temperature of the confidence it applies to"),
]
HELD_OUT_KEYS = [
    ("n", "Held-out examples"),
    ("coverage", "Share the student answers"),
    ("deferred_share", "Share sent to a person"),
    ("error_kept", "Error on the answers kept"),
    ("meets_alpha", "Kept answers meet the target error"),
]


def policy_of(section) -> dict:
    """The abstention policy, whether the section is the policy itself or {"policy", "held_out"}."""
    if not isinstance(section, dict):
        return {}
    return section["policy"] if isinstance(section.get("policy"), dict) else section


def _policy_blocks(node: dict, keys: list, title: str) -> list:
    from ..report.compliance import _flat, _label, fmt

    known = {k for k, _ in keys} | {"deferred_by_group", "rule"}
    rows = [(label, fmt(node.get(k))) for k, label in keys if k in node]
    rows += [(_label(p), fmt(v)) for p, v in _flat({k: v for k, v in node.items() if k not in known})]
    blocks: list = [("kv", rows)]
    groups = node.get("deferred_by_group")
    if isinstance(groups, dict) and groups:
        table = []
        for attribute, per in groups.items():
            for group, v in (per or {}).items():
                v = v if isinstance(v, dict) else {"deferred_share": v}
                table.append([str(attribute), str(group), fmt(v.get("n")), fmt(v.get("deferred_share"))])
        blocks.append(("table", ["Attribute", "Group", "Rows", f"Share sent to a person ({title.lower()})"], table))
    return blocks


class Oversight:
    """Evaluation: an abstention policy that sends the inputs the student is unsure of to a person."""

    name = "oversight"
    title = "Human oversight"
    about = "when the student defers to a person, and how that policy does on held-out rows"
    chapter = True  # its own chapter of the compliance report and the model card, said even when it did not run
    tasks = frozenset({"text-classification", "tabular-classification"})
    order = 50  # after calibration
    figures = OversightFigures
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

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import esc, num, pct

        policy = section.get("policy")
        if not policy:
            return ""
        held = section.get("held_out") or {}
        return "<h3>Human oversight</h3>" + (
            f"<p>The student answers on its own when its confidence is at least {num(policy.get('threshold'))}; "
            f"otherwise a person decides. Target error {pct(policy.get('alpha'))} with {pct(1 - policy['delta'])} "
            f"confidence. Held out: the student answers {pct(held.get('coverage'))} of texts, with error "
            f"{pct(held.get('error_kept'))} on those.</p>"
            if policy.get("feasible")
            else f"<p><strong>{esc(policy.get('message'))}</strong></p>"
        )

    def summary(self, section: dict) -> list[str]:
        from ..report.sections import percent, plain

        policy, held = policy_of(section), section.get("held_out") or {}
        if not policy.get("feasible"):
            return [f"oversight: {policy.get('message') or 'no threshold meets the target error'}"]
        return [
            f"oversight: below confidence {plain(policy.get('threshold'))} a person decides; held out, the student "
            f"answers {percent(held.get('coverage'))} of inputs with error {percent(held.get('error_kept'))}"
        ]

    def compliance(self, section, report: dict) -> list:
        """The "Human oversight" chapter; said also when the evaluation did not run (section None)."""
        from ..errors import UserError
        from ..report.compliance import NOT_MEASURED
        from ..report.sections import get
        from ..sectors import sector_gates

        sector = get(report, "run", "intended_use", "sector")
        try:
            required = sector_gates(sector).get("oversight_required") is True if sector else False
        except UserError:  # a sector without a profile: nothing to require
            required = False
        if not isinstance(section, dict) or not section:
            text = (
                f"No oversight policy: {NOT_MEASURED}. The student answers every input itself; no input is sent "
                "to a person."
            )
            if required:
                text += f" The '{sector}' sector profile requires one."
            return [("p", text)]
        policy, held = (
            policy_of(section),
            section.get("held_out") if isinstance(section.get("held_out"), dict) else None,
        )
        blocks: list = [
            (
                "p",
                "The student defers to a person when its confidence is below the threshold; the policy ships in "
                "the student folder (oversight.json)."
                if policy.get("feasible")
                else "No threshold meets the oversight target: send everything to a person; do not deploy the "
                "student alone.",
            )
        ]
        blocks += _policy_blocks(policy, POLICY_KEYS, "Calibration")
        if held:
            blocks.append(("p", "The policy checked on held-out evaluation rows it was not calibrated on:"))
            blocks += _policy_blocks(held, HELD_OUT_KEYS, "Held out")
        return blocks

    def limitations(self, section, report: dict) -> list[str]:
        from ..report.compliance import fmt

        o = policy_of(section)
        if o and o.get("feasible"):
            return [
                f"Send every input whose confidence is below {fmt(o.get('threshold'))} to a person, as the "
                "oversight policy says; do not lower the threshold without measuring again."
            ]
        if o:
            return ["No confidence threshold met the oversight target: keep a person on every decision."]
        return ["No oversight policy was measured: decide who checks the student's answers before it acts on them."]

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
        from .calibration import TEMPERATURE_KEY

        r = ctx.recipe
        temperature = ctx.extra.get(TEMPERATURE_KEY)  # set by the calibration evaluation, which runs first
        return oversight(r.safety, ctx.y, ctx.student_probs, ctx.groups, ctx.student_dir, r.training.seed, temperature)
