"""Safe to ship? Calibration, fairness, counterfactuals, robustness and the oversight policy, teacher beside student.

Every new text the teacher must answer (perturbed or swapped) goes through the store, so a paid teacher is
never asked twice, and a rerun reuses them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..progress import Progress


def safety_evaluations(recipe, teacher, student, evaluation, y: np.ndarray, e_probs: np.ndarray, s_probs: np.ndarray,
                       store, student_dir: Path, progress: Progress, timings: dict, stage) -> dict:
    from ..label import label
    from .calibration import calibration_report
    from .counterfactual import counterfactual_report
    from .fairness import fairness_report
    from .robustness import robustness_report

    spec, labels, seed = recipe.safety, teacher.labels, recipe.training.seed
    out: dict = {}

    def t_predict(texts):
        outputs, _ = label(teacher, list(texts), store, batch_size=recipe.labelling.batch_size, progress=progress)
        return outputs["probs"]

    with stage(timings, "evaluate calibration"):
        out["calibration"] = calibration_report(y, e_probs, s_probs, labels, calibration_fraction=spec.calibration_fraction,
                                                seed=seed)
        (student_dir / "calibration.json").write_text(json.dumps(
            {"temperature": out["calibration"]["student"]["temperature"],
             "note": "divide log-probabilities by it to make confidence honest"}) + "\n")
    if evaluation.groups:
        with stage(timings, "evaluate fairness"):
            out["fairness"] = fairness_report(y, e_probs, s_probs, evaluation.groups, labels,
                                              positive=spec.fairness_positive, min_group_size=spec.min_group_size)
    if spec.counterfactual:
        with stage(timings, "evaluate counterfactuals"):
            progress.note("counterfactuals: swapping names, gendered words, nationalities and religions")
            out["counterfactual"] = counterfactual_report(evaluation.texts, t_predict, student.predict_proba, labels,
                                                          extra=spec.counterfactual_words or None,
                                                          max_texts=spec.counterfactual_texts, seed=seed)
    if spec.robustness:
        with stage(timings, "evaluate robustness"):
            n = min(spec.robustness_texts, len(evaluation.texts))
            progress.note(f"robustness: 6 perturbations of {n} texts")
            out["robustness"] = robustness_report(evaluation.texts, y, t_predict, student.predict_proba, labels,
                                                  max_texts=n, seed=seed, t_probs=e_probs, s_probs=s_probs)
    if spec.oversight.enabled:  # resolved from the sector profile when the recipe leaves it unset
        with stage(timings, "oversight"):
            out["oversight"] = oversight(spec, y, s_probs, evaluation.groups, student_dir, seed)
    return out


def oversight(spec, y, s_probs, groups: dict, student_dir: Path, seed: int) -> dict:
    """Calibrate the abstention threshold on one split, check it on the other, store it with the student."""
    from ..oversight.abstain import calibrate_abstention, evaluate_policy, save_policy

    n = len(y)
    n_cal = int(round(n * spec.calibration_fraction))
    order = np.random.default_rng(seed).permutation(n)  # the same split as the temperature fit
    cal, test = np.sort(order[:n_cal]), np.sort(order[n_cal:])

    def part(idx):
        return {k: [v[i] for i in idx] for k, v in groups.items()} or None

    policy = calibrate_abstention(s_probs[cal], y[cal], alpha=spec.oversight.alpha, delta=spec.oversight.delta,
                                  groups=part(cal))
    save_policy(policy, student_dir)
    return {"policy": policy, "held_out": evaluate_policy(s_probs[test], y[test], policy, groups=part(test))}
