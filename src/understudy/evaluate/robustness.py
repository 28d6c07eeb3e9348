"""Robustness: how much each model loses on messy versions of the evaluation inputs.

The perturbations belong to the data kind (its `perturbations()`): each is seeded, so the teacher and the
student see exactly the same messy inputs and a rerun gives the same figures. Text's
(`understudy.modalities.text`):

  typos           per letter, at ``typo_rate``: a neighbouring key on a QWERTY keyboard, a dropped
                  letter or a doubled letter
  upper, lower    the whole text in capitals / in lower case
  no_punctuation  every punctuation character removed
  truncated       only the first half of the words kept
  noise           a random word, an emoji and a URL inserted at random places

A table's (`understudy.modalities.table`): feature noise, missing values, shifted ranges, swapped categories.

For each: both models' accuracy on the perturbed texts against their clean accuracy (the drop), their
agreement with the teacher's clean predictions, and the share of rows whose prediction is unchanged. Each
accuracy carries its count and exact 95% interval (`accuracy_evidence`); each drop, a difference on the same
rows, a paired 95% interval (`drop_evidence`, Newcombe); `examples` are inputs the student got right clean and
wrong perturbed (at most 5 per perturbation, cut to 200 characters), shown as the data kind describes them (a
row as 'col=value, ...', its perturbed version as the cells that changed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import UserError
from ..modalities.text import PERTURBATIONS, perturb  # the perturbations belong to the text data kind
from .counterfactual import predict_classes
from .evidence import clip, paired_difference, rate

__all__ = ["robustness_report", "perturb", "PERTURBATIONS"]

Predict = Callable[[list], np.ndarray]
WHO = ("teacher", "student")


def robustness_report(
    texts: Sequence,
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
    descriptions: dict[str, str] | None = None,
    describe: Callable[[Any], str] | None = None,
    noun: str = "texts",
    n_examples: int = 5,
) -> dict:
    """Accuracy of teacher and student on perturbed inputs against clean, per perturbation.

    ``t_predict`` / ``s_predict`` map a list of inputs to an (n, k) probability array. At most
    ``max_texts`` rows are used (a seeded sample). ``t_probs`` / ``s_probs``, the models' clean
    probabilities on all of ``texts`` when already known, save predicting the clean inputs again
    (the teacher is the slow one). ``perturbations`` picks a subset of the perturbers.
    ``perturbers`` ({name: fn(input, rng)}, from the data kind's ``perturbations()``) replaces the text ones;
    ``descriptions`` says what each does, ``describe(input)`` shows one in an example, ``noun`` ("rows") names them.
    Without ``perturbers`` the inputs are texts, perturbed as :data:`PERTURBATIONS` says.
    """
    if perturbers is None:
        texts = [str(t) for t in texts]
        perturbers = {kind: (lambda t, r, kind=kind: perturb(t, kind, r, typo_rate)) for kind in PERTURBATIONS}
        descriptions = PERTURBATIONS if descriptions is None else descriptions
    else:
        texts = list(texts)
    descriptions = descriptions or {}

    def show(x) -> str:  # a text as itself; another input (a row) as its data kind describes it
        return x if isinstance(x, str) else (describe or str)(x)

    one = noun[:-1] if noun.endswith("s") else noun
    labels = [str(label) for label in labels]
    k = len(labels)
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or len(y_arr) != len(texts):
        raise UserError(f"robustness needs one gold label per {one}: {len(texts)} {noun}, y of shape {y_arr.shape}")
    if not texts:
        raise UserError(f"robustness needs at least one evaluation input ({noun})")
    if y_arr.dtype.kind not in "iu" or y_arr.min() < 0 or y_arr.max() >= k:
        raise UserError(f"robustness y must hold class indices 0..{k - 1} (one per label in {labels})")
    if isinstance(max_texts, bool) or not isinstance(max_texts, (int, np.integer)) or max_texts < 1:
        raise UserError(f"robustness max_texts must be a positive integer, got {max_texts!r}")
    if not 0 < typo_rate <= 1:
        raise UserError(f"robustness typo_rate must be in (0, 1], got {typo_rate!r}")
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
                    f"expected ({len(texts)}, {k}), one row per {one}"
                )
            clean[who] = known[rows].argmax(axis=1)
        else:
            clean[who] = predict_classes(fn, sample, k, who)
    clean_acc = {who: float(np.mean(clean[who] == gold)) for who in clean}
    n = len(sample)

    report = {
        "n_texts": len(sample),
        "seed": int(seed),
        "typo_rate": float(typo_rate) if "typos" in perturbers else None,  # a table has no typos
        "clean_accuracy": clean_acc,
        "clean_accuracy_evidence": {
            who: rate(int(np.sum(clean[who] == gold)), n, f"perturbed {noun}' clean versions") for who in clean
        },
        "perturbations": {},
    }
    for j, kind in enumerate(kinds):
        kind_rng = np.random.default_rng([seed, j + 1])
        messy = [perturbers[kind](t, kind_rng) for t in sample]
        changed = [a != b for a, b in zip(sample, messy)]
        entry = {
            "description": descriptions.get(kind, kind),
            "changed_share": float(np.mean(changed)),
            "changed_count": int(np.sum(changed)),
        }
        preds = {}
        for who, fn in (("teacher", t_predict), ("student", s_predict)):
            pred, failed = _answer(fn, messy, k, who)
            if pred is None:  # e.g. a teacher that takes no missing value: said, and the other model still measured
                entry[who] = None
                entry.setdefault("errors", {})[who] = refused(who, failed)
                continue
            preds[who] = pred
            acc = float(np.mean(pred == gold))
            was, now = clean[who] == gold, pred == gold
            broke, fixed = int(np.sum(was & ~now)), int(np.sum(~was & now))
            drop = paired_difference(int(np.sum(was & now)), broke, fixed, n)
            entry[who] = {
                "accuracy": acc,
                "accuracy_evidence": rate(int(np.sum(now)), n, f"perturbed {noun}"),
                "drop": clean_acc[who] - acc,
                "drop_evidence": {
                    "count": broke,
                    "total": n,
                    "rate": drop["value"],
                    "interval": drop["interval"],
                    "method": drop["method"],
                    "counted": f"{noun} right when clean and wrong when perturbed ({fixed} went the other way)",
                },
                "agreement_with_teacher_clean": float(np.mean(pred == clean["teacher"])),
                "unchanged": float(np.mean(pred == clean[who])),
            }
        both = entry["teacher"] is not None and entry["student"] is not None
        entry["student_extra_drop"] = entry["student"]["drop"] - entry["teacher"]["drop"] if both else None
        broken = np.flatnonzero((clean["student"] == gold) & (preds["student"] != gold)) if "student" in preds else []
        answered = {who: preds.get(who) for who in WHO}
        entry["examples"] = [
            {
                "text": clip(show(sample[i])),
                "perturbed": clip(_changed(sample[i], messy[i], show)),
                "gold": labels[int(gold[i])],
                **{
                    who: {
                        "clean": labels[int(clean[who][i])],
                        "perturbed": None if answered[who] is None else labels[int(answered[who][i])],
                    }
                    for who in WHO
                },
            }
            for i in broken[: max(0, int(n_examples))]
        ]
        report["perturbations"][kind] = entry
    measured = [kd for kd, e in report["perturbations"].items() if e["student"] is not None]
    report["worst_for_student"] = (
        max(measured, key=lambda kd: report["perturbations"][kd]["student"]["drop"]) if measured else None
    )
    return report


def _answer(fn: Predict, inputs: list, k: int, who: str) -> tuple[np.ndarray | None, str | None]:
    """(class indices, None), or (None, why) when the model refuses these inputs (its own error, a UserError):
    a wrong shape is still an error of the prediction function."""
    try:
        probs = fn(inputs)
    except UserError as exc:
        return None, str(exc)
    return predict_classes(lambda _: probs, inputs, k, who), None


def refused(who: str, why: str | None) -> str:
    """Why a model could not answer the perturbed inputs, in one line that names it ('the teacher: ...')."""
    said = (why or "").strip().splitlines()[0] if (why or "").strip() else "no reason given"
    return clip(said if who in said else f"the {who}: {said}")


def _changed(clean, messy, show: Callable[[Any], str]) -> str:
    """A perturbed input as a reader compares it: a row's changed cells only (the rest is the clean row shown
    beside it), a text whole."""
    if isinstance(clean, dict) and isinstance(messy, dict):
        cells = {c: messy.get(c) for c in messy if messy.get(c) != clean.get(c)}
        return show(cells) if cells else "(unchanged)"
    return show(messy)


def _changed_words(p: dict, total, noun: str) -> str:
    """'38 of 50 rows' from a perturbation's entry; the share alone for a report without the count."""
    from ..report.sections import percent

    count = p.get("changed_count")
    if isinstance(count, int) and isinstance(total, int):
        return f"{count:,} of {total:,} {noun}"
    return percent(p.get("changed_share"))


def perturbation_descriptions(modality) -> dict[str, str]:
    """What each of a data kind's perturbations does, in words: its own `perturbation_descriptions`, else its
    module's PERTURBATIONS (text's and table's keep them there, beside the functions)."""
    import importlib

    found = getattr(modality, "perturbation_descriptions", None)
    if found is None:
        found = getattr(importlib.import_module(type(modality).__module__), "PERTURBATIONS", None)
    return dict(found) if isinstance(found, dict) else {}


from pydantic import Field  # noqa: E402  (light; after the report functions it checks)

from ..gates import GateDef, largest_in  # noqa: E402
from ..report.schema import Figures  # noqa: E402


class RobustnessFigures(Figures):
    """report["robustness"]: accuracy of both models on perturbed evaluation inputs against clean ones."""

    n_texts: int = Field(description="evaluation inputs perturbed (a seeded sample)")
    seed: int = Field(description="the seed of the sample and of the perturbations")
    typo_rate: float | None = Field(
        description="share of characters the typo perturbation changes; null for a data kind without typos (a table)"
    )
    clean_accuracy: dict[str, float] = Field(description='{"teacher", "student"}: accuracy on the unperturbed sample')
    clean_accuracy_evidence: dict = Field(
        description='{"teacher", "student"}: {"count", "total", "rate", "interval", "method", "counted"}: the clean '
        "accuracy as count of inputs (texts, rows) with an exact 95% interval"
    )
    perturbations: dict = Field(
        description='{kind: {"description", "changed_share", "changed_count", "teacher": {"accuracy", '
        '"accuracy_evidence", "drop", "drop_evidence", "agreement_with_teacher_clean", "unchanged"}, "student": {...}, '
        '"student_extra_drop", "examples": [{"text", "perturbed", "gold", "teacher": {"clean", "perturbed"}, '
        '"student": {...}}], "errors": {who: why}}}: the kinds are the data kind\'s (text: typos, upper, lower, '
        "no_punctuation, truncated, noise; table: noise, missing, shifted, category); changed_count is the inputs "
        "the perturbation altered; a model that could not answer the perturbed inputs (a teacher that takes no "
        "missing value) is null, with why in errors, the other still measured; drop_evidence is a paired 95% "
        "interval (Newcombe) whose count is the inputs right clean and wrong perturbed; at most 5 examples (inputs "
        "the student got right clean and wrong perturbed), cut to 200 characters: a row as 'col=value, ...', its "
        "perturbed version as the cells that changed"
    )
    worst_for_student: str | None = Field(description="the perturbation with the student's largest accuracy drop")


class Robustness:
    """Evaluation: both models on perturbed evaluation inputs, perturbed as their data kind says (text: typos,
    casing, punctuation, truncation, noise; a table: feature noise, missing values, shifted ranges, categories)."""

    name = "robustness"
    title = "Robustness to perturbed inputs"
    about = "accuracy on messy inputs: typos, casing, truncation and noise (text); noise, missing values, shifted ranges (table)"
    tasks = frozenset({"text-classification", "tabular-classification"})
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
            "the student's accuracy drop on perturbed inputs",
            ".1%",
            how="run the robustness evaluation (safety.robustness: true)",
        ),
    )

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import esc, get, table, task_of
        from ..report.words import nouns
        from .evidence import gate_bound, reading_of, words

        rob = section.get("perturbations")
        if not rob:
            return ""
        many, one = nouns(task_of(report))
        bound, _ = gate_bound(report, "max_robustness_drop")
        rows = [
            [
                esc(name) + (f'<span class="cap">{esc(p.get("description"))}</span>' if p.get("description") else ""),
                esc(_changed_words(p, section.get("n_texts"), many)),
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
                *(esc(f"{get(e, who, 'clean')} → {get(e, who, 'perturbed') or 'not answered'}") for who in WHO),
            ]
            for name, p in rob.items()
            for e in (p.get("examples") or [])[:5]
        ]
        bound_words = f" against the gate's bound of {bound:.1%}" if bound is not None else ""
        changed = "Cells changed" if many == "rows" else "Perturbed"
        errors = [f"{name}: {why.rstrip('.')}" for name, p in rob.items() for why in (p.get("errors") or {}).values()]
        return (
            f"<h3>Robustness: accuracy on perturbed {many}</h3>"
            + f"<p>Accuracy as count of {many} with an exact 95% interval; a drop's count is the {many} right when "
            f"clean and wrong when perturbed, its interval paired (the same {many}). The reading{esc(bound_words)} "
            "is on the student's drop interval: past the bound, within it, or too few to judge.</p>"
            + table(
                [
                    "Perturbation",
                    f"{many.capitalize()} changed",
                    "Teacher accuracy",
                    "Student accuracy",
                    "Teacher drop",
                    "Student drop",
                    "Reading",
                ],
                rows,
                "cmp",
            )
            + ("<p>Not measured (n/a above): " + "; ".join(esc(e) for e in errors) + ".</p>" if errors else "")
            + (
                "<h4>Examples: the student right when clean, wrong when perturbed</h4>"
                + table(["Perturbation", one.capitalize(), changed, "Gold", "Teacher", "Student"], examples)
                if examples
                else f"<p>No {one} the student got right broke under a perturbation.</p>"
            )
        )

    def summary(self, section: dict) -> list[str]:
        from ..report.sections import get, percent

        worst = section.get("worst_for_student")
        p = (section.get("perturbations") or {}).get(worst) if worst else None
        if not isinstance(p, dict):
            return []
        errors = [
            f"{kind}: {why}"
            for kind, e in (section.get("perturbations") or {}).items()
            for why in (e.get("errors") or {}).values()
        ]
        return [
            f"robustness: worst for the student: {worst}, accuracy drop {percent(get(p, 'student', 'drop'))} "
            f"(teacher {percent(get(p, 'teacher', 'drop'))})"
        ] + [f"robustness: not measured on {e}" for e in errors]

    def enabled(self, recipe) -> str | None:
        return None if recipe.safety.robustness else "safety.robustness: false"

    def run(self, ctx) -> dict:
        spec = ctx.recipe.safety
        n = min(spec.robustness_texts, len(ctx.inputs))
        modality = ctx.modality
        perturbers = modality.perturbations() if modality is not None else None
        noun = getattr(modality, "plural", None) or "texts"
        ctx.progress.note(f"robustness: {len(perturbers or PERTURBATIONS)} perturbations of {n} {noun}")
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
            perturbers=perturbers or None,  # a data kind without its own: text's
            descriptions=perturbation_descriptions(modality) if perturbers else None,
            describe=getattr(modality, "describe", None) if perturbers else None,
            typo_rate=getattr(modality, "typo_rate", None) or 0.05,
            noun=noun,
        )
