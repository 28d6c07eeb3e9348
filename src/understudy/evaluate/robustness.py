"""Robustness: how much each model loses on messy versions of the evaluation texts.

Each perturbation is seeded, so the teacher and the student see exactly the same messy texts and a
rerun gives the same figures (they are defined in `understudy.modalities.text`):

  typos           per letter, at ``typo_rate``: a neighbouring key on a QWERTY keyboard, a dropped
                  letter or a doubled letter
  upper, lower    the whole text in capitals / in lower case
  no_punctuation  every punctuation character removed
  truncated       only the first half of the words kept
  noise           a random word, an emoji and a URL inserted at random places

For each: both models' accuracy on the perturbed texts against their clean accuracy (the drop), their
agreement with the teacher's clean predictions, and the share of rows whose prediction is unchanged. Each
accuracy carries its count and exact 95% interval (`accuracy_evidence`); each drop, a difference on the same
rows, a paired 95% interval (`drop_evidence`, Newcombe); `examples` are texts the student got right clean and
wrong perturbed (at most 5 per perturbation, cut to 200 characters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import UserError
from ..modalities.text import PERTURBATIONS, perturb  # the perturbations belong to the text data kind
from .counterfactual import predict_classes
from .evidence import clip, paired_difference, rate

__all__ = ["robustness_report", "perturb", "PERTURBATIONS"]

Predict = Callable[[list[str]], np.ndarray]
WHO = ("teacher", "student")


def robustness_report(
    texts: Sequence[str],
    y: Sequence[int],
    t_predict: Predict,
    s_predict: Predict,
    labels: Sequence[str],
    *,
    max_texts: int = 500,
    seed: int = 0,
    perturbations: Sequence[str] | None = None,
    typo_rate: float = 0.05,
    t_probs=None,
    s_probs=None,
    perturbers: dict[str, Callable] | None = None,
    n_examples: int = 5,
) -> dict:
    """Accuracy of teacher and student on perturbed texts against clean, per perturbation.

    ``t_predict`` / ``s_predict`` map a list of texts to an (n, k) probability array. At most
    ``max_texts`` rows are used (a seeded sample). ``t_probs`` / ``s_probs``, the models' clean
    probabilities on all of ``texts`` when already known, save predicting the clean texts again
    (the teacher is the slow one). ``perturbations`` picks a subset of :data:`PERTURBATIONS`.
    ``perturbers`` ({name: fn(input, rng)}, from the data kind's ``perturbations()``) replaces the text ones.
    """
    texts = [str(t) for t in texts]
    labels = [str(label) for label in labels]
    k = len(labels)
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or len(y_arr) != len(texts):
        raise UserError(f"robustness needs one gold label per text: {len(texts)} texts, y of shape {y_arr.shape}")
    if not texts:
        raise UserError("robustness needs at least one evaluation text")
    if y_arr.dtype.kind not in "iu" or y_arr.min() < 0 or y_arr.max() >= k:
        raise UserError(f"robustness y must hold class indices 0..{k - 1} (one per label in {labels})")
    if isinstance(max_texts, bool) or not isinstance(max_texts, (int, np.integer)) or max_texts < 1:
        raise UserError(f"robustness max_texts must be a positive integer, got {max_texts!r}")
    if not 0 < typo_rate <= 1:
        raise UserError(f"robustness typo_rate must be in (0, 1], got {typo_rate!r}")
    if perturbers is None:
        perturbers = {kind: (lambda t, r, kind=kind: perturb(t, kind, r, typo_rate)) for kind in PERTURBATIONS}
    kinds = list(perturbers) if perturbations is None else list(perturbations)
    for kind in kinds:
        if kind not in perturbers:
            raise UserError(f"unknown perturbation '{kind}': choose from {', '.join(perturbers)}")

    rng = np.random.default_rng(seed)
    rows = np.arange(len(texts))
    if len(rows) > max_texts:
        rows = np.sort(rng.choice(rows, size=max_texts, replace=False))
    sample = [texts[i] for i in rows]
    gold = y_arr[rows].astype(np.int64)

    clean = {}
    for who, fn, known in (("teacher", t_predict, t_probs), ("student", s_predict, s_probs)):
        if known is not None:
            known = np.asarray(known)
            if known.shape != (len(texts), k):
                raise UserError(
                    f"robustness {who} clean probabilities have shape {known.shape}; "
                    f"expected ({len(texts)}, {k}), one row per text"
                )
            clean[who] = known[rows].argmax(axis=1)
        else:
            clean[who] = predict_classes(fn, sample, k, who)
    clean_acc = {who: float(np.mean(clean[who] == gold)) for who in clean}
    n = len(sample)

    report = {
        "n_texts": len(sample),
        "seed": int(seed),
        "typo_rate": float(typo_rate),
        "clean_accuracy": clean_acc,
        "clean_accuracy_evidence": {
            who: rate(int(np.sum(clean[who] == gold)), n, "perturbed texts' clean versions") for who in clean
        },
        "perturbations": {},
    }
    for j, kind in enumerate(kinds):
        kind_rng = np.random.default_rng([seed, j + 1])
        messy = [perturbers[kind](t, kind_rng) for t in sample]
        entry = {
            "description": PERTURBATIONS.get(kind, kind),
            "changed_share": float(np.mean([a != b for a, b in zip(sample, messy)])),
        }
        preds = {}
        for who, fn in (("teacher", t_predict), ("student", s_predict)):
            pred = preds[who] = predict_classes(fn, messy, k, who)
            acc = float(np.mean(pred == gold))
            was, now = clean[who] == gold, pred == gold
            broke, fixed = int(np.sum(was & ~now)), int(np.sum(~was & now))
            drop = paired_difference(int(np.sum(was & now)), broke, fixed, n)
            entry[who] = {
                "accuracy": acc,
                "accuracy_evidence": rate(int(np.sum(now)), n, "perturbed texts"),
                "drop": clean_acc[who] - acc,
                "drop_evidence": {
                    "count": broke,
                    "total": n,
                    "rate": drop["value"],
                    "interval": drop["interval"],
                    "method": drop["method"],
                    "counted": f"texts right when clean and wrong when perturbed ({fixed} went the other way)",
                },
                "agreement_with_teacher_clean": float(np.mean(pred == clean["teacher"])),
                "unchanged": float(np.mean(pred == clean[who])),
            }
        entry["student_extra_drop"] = entry["student"]["drop"] - entry["teacher"]["drop"]
        broken = np.flatnonzero((clean["student"] == gold) & (preds["student"] != gold))
        entry["examples"] = [
            {
                "text": clip(sample[i]),
                "perturbed": clip(messy[i]),
                "gold": labels[int(gold[i])],
                "teacher": {"clean": labels[int(clean["teacher"][i])], "perturbed": labels[int(preds["teacher"][i])]},
                "student": {"clean": labels[int(clean["student"][i])], "perturbed": labels[int(preds["student"][i])]},
            }
            for i in broken[: max(0, int(n_examples))]
        ]
        report["perturbations"][kind] = entry
    if report["perturbations"]:
        report["worst_for_student"] = max(
            report["perturbations"], key=lambda kd: report["perturbations"][kd]["student"]["drop"]
        )
    else:
        report["worst_for_student"] = None
    return report


from pydantic import Field  # noqa: E402  (light; after the report functions it checks)

from ..gates import GateDef, largest_in  # noqa: E402
from ..report.schema import Figures  # noqa: E402


class RobustnessFigures(Figures):
    """report["robustness"]: accuracy of both models on perturbed evaluation inputs against clean ones."""

    n_texts: int = Field(description="evaluation inputs perturbed (a seeded sample)")
    seed: int = Field(description="the seed of the sample and of the perturbations")
    typo_rate: float = Field(description="share of characters the typo perturbation changes")
    clean_accuracy: dict[str, float] = Field(description='{"teacher", "student"}: accuracy on the unperturbed sample')
    clean_accuracy_evidence: dict = Field(
        description='{"teacher", "student"}: {"count", "total", "rate", "interval", "method", "counted"}: the clean '
        "accuracy as count of texts with an exact 95% interval"
    )
    perturbations: dict = Field(
        description='{kind: {"description", "changed_share", "teacher": {"accuracy", "accuracy_evidence", "drop", '
        '"drop_evidence", "agreement_with_teacher_clean", "unchanged"}, "student": {...}, "student_extra_drop", '
        '"examples": [{"text", "perturbed", "gold", "teacher": {"clean", "perturbed"}, "student": {...}}]}}: '
        "drop_evidence is a paired 95% interval (Newcombe) whose count is the texts right clean and wrong "
        "perturbed; at most 5 examples (texts the student got right clean and wrong perturbed), cut to 200 characters"
    )
    worst_for_student: str | None = Field(description="the perturbation with the student's largest accuracy drop")


class Robustness:
    """Evaluation: both models on perturbed evaluation inputs (typos, casing, punctuation, truncation, noise)."""

    name = "robustness"
    title = "Robustness to perturbed inputs"
    about = "accuracy on inputs with typos, casing, truncation and noise"
    tasks = frozenset({"text-classification"})
    order = 40
    figures = RobustnessFigures
    gates = (
        GateDef(
            "max_robustness_drop",
            "max",
            largest_in(
                "robustness",
                lambda p: (p[-1] in ("drop", "accuracy_drop") and "student" in p) or p[-1] == "student_drop",
                'the largest "drop" / "accuracy_drop" under a "student" key',
            ),
            "the student's accuracy drop on perturbed texts",
            ".1%",
            how="run the robustness evaluation (safety.robustness: true)",
        ),
    )

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import esc, get, table
        from .evidence import gate_bound, reading_of, words

        rob = section.get("perturbations")
        if not rob:
            return ""
        bound, _ = gate_bound(report, "max_robustness_drop")
        rows = [
            [
                esc(name),
                *(esc(words(get(p, who, "accuracy_evidence"), fallback=get(p, who, "accuracy"))) for who in WHO),
                *(esc(words(get(p, who, "drop_evidence"), fallback=get(p, who, "drop"))) for who in WHO),
                esc(reading_of(get(p, "student", "drop_evidence"), bound) or "no gate"),
            ]
            for name, p in rob.items()
        ]
        examples = [
            [
                esc(name),
                esc(e.get("text")),
                esc(e.get("perturbed")),
                esc(e.get("gold")),
                esc(f"{get(e, 'teacher', 'clean')} → {get(e, 'teacher', 'perturbed')}"),
                esc(f"{get(e, 'student', 'clean')} → {get(e, 'student', 'perturbed')}"),
            ]
            for name, p in rob.items()
            for e in (p.get("examples") or [])[:5]
        ]
        bound_words = f" against the gate's bound of {bound:.1%}" if bound is not None else ""
        return (
            "<h3>Robustness: accuracy on perturbed texts</h3>"
            + f"<p>Accuracy as count of texts with an exact 95% interval; a drop's count is the texts right when "
            f"clean and wrong when perturbed, its interval paired (the same texts). The reading{esc(bound_words)} is "
            "on the student's drop interval: past the bound, within it, or too few to judge.</p>"
            + table(
                ["Perturbation", "Teacher accuracy", "Student accuracy", "Teacher drop", "Student drop", "Reading"],
                rows,
                "cmp",
            )
            + (
                "<h4>Examples: the student right when clean, wrong when perturbed</h4>"
                + table(["Perturbation", "Text", "Perturbed", "Gold", "Teacher", "Student"], examples)
                if examples
                else "<p>No text the student got right broke under a perturbation.</p>"
            )
        )

    def summary(self, section: dict) -> list[str]:
        from ..report.sections import get, percent

        worst = section.get("worst_for_student")
        p = (section.get("perturbations") or {}).get(worst) if worst else None
        if not isinstance(p, dict):
            return []
        return [
            f"robustness: worst for the student: {worst}, accuracy drop {percent(get(p, 'student', 'drop'))} "
            f"(teacher {percent(get(p, 'teacher', 'drop'))})"
        ]

    def enabled(self, recipe) -> str | None:
        return None if recipe.safety.robustness else "safety.robustness: false"

    def run(self, ctx) -> dict:
        spec = ctx.recipe.safety
        n = min(spec.robustness_texts, len(ctx.inputs))
        ctx.progress.note(f"robustness: {len(PERTURBATIONS)} perturbations of {n} texts")
        return robustness_report(
            ctx.inputs,
            ctx.y,
            ctx.teacher_predict,
            ctx.student_predict or ctx.student.predict_proba,
            ctx.labels,
            max_texts=n,
            seed=ctx.recipe.training.seed,
            t_probs=ctx.teacher_probs,
            s_probs=ctx.student_probs,
        )
