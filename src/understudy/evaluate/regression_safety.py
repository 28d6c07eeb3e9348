"""Fairness and robustness of a regression (a number per row), in errors where a classifier has accuracies.

group_error (fairness): for each sensitive column, both models' mean absolute error (MAE) in every group, with a
95% bootstrap interval; the gap between the judged groups' largest and smallest MAE, per model; and how much the
student widens the teacher's gap, as a share of the teacher's MAE over all rows (`widened_by`): a share, so one
bound serves any target, whatever its unit. Its interval is a paired bootstrap (the same resampled rows for both
models, groups resampled with them). A group under safety.min_group_size rows is listed, never judged.

perturbed_error (robustness): on the data kind's perturbations (a table: feature noise, missing values, shifted
ranges, swapped categories), seeded as the classification robustness is, both models' MAE on the perturbed rows
against their clean MAE, and the increase as a share of the clean MAE (`relative_increase`), with a paired
bootstrap interval; how far each model's numbers moved (mean absolute change); and the rows whose student error
grew most, shown as their cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import Field

from ..errors import UserError
from ..gates import GateDef, largest_in
from ..report.schema import Figures
from .evidence import clip
from .metrics import paired_bootstrap
from .robustness import _changed, perturbation_descriptions, refused

WHO = ("teacher", "student")
METHOD = "paired percentile bootstrap over rows"


def _mae(err: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.abs(err[idx]).mean(axis=1)


def _figure(value: float, low: float, high: float, total: int, counted: str) -> dict:
    return {"count": None, "total": int(total), "rate": float(value), "interval": [float(low), float(high)],
            "method": METHOD, "counted": counted}  # fmt: skip


def _shared_checks(y, t, s, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, t, s = (np.asarray(a, dtype=float).reshape(-1) for a in (y, t, s))
    if not (len(y) == len(t) == len(s)) or len(y) == 0:
        raise UserError(
            f"{what} needs one true number and one answer of each model per row: {len(y)}, {len(t)}, {len(s)}"
        )
    if not np.all(np.isfinite(y)):
        raise UserError(f"{what}: the true numbers must all be finite")
    return y, t, s


# --- fairness ------------------------------------------------------------------------------------------------


def group_error_report(
    y,
    t_values,
    s_values,
    attributes: dict[str, Sequence],
    *,
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    shown: Sequence[str] | None = None,
    n_examples: int = 5,
) -> dict:
    """Per-group MAE of both models and how much the student widens the gap between groups (see the module)."""
    from .fairness import _group_names

    y, t, s = _shared_checks(y, t_values, s_values, "fairness")
    if not attributes:
        raise UserError("fairness needs at least one sensitive attribute: a name and one group value per row")
    n = len(y)
    err = {"teacher": t - y, "student": s - y}
    teacher_mae = float(np.abs(err["teacher"]).mean())
    out: dict = {
        "min_group_size": int(min_group_size),
        "small_groups": f"a group with fewer than {int(min_group_size)} rows is listed but never judged: it warns "
        "or blocks nothing on its own (safety.min_group_size sets the size)",
        "teacher_mae": teacher_mae,
        "attributes": {},
    }
    for name, values in attributes.items():
        groups = _group_names(values, n, name)
        names, counts = np.unique(groups, return_counts=True)
        size = {str(g): int(c) for g, c in zip(names, counts)}
        judged = sorted(g for g, c in size.items() if c >= min_group_size)
        entry: dict = {"groups": {}, "judged_groups": judged,
                       "too_small_groups": sorted(g for g in size if size[g] < min_group_size)}  # fmt: skip
        for g in sorted(size):
            rows = np.flatnonzero(groups == g)
            et, es = err["teacher"][rows], err["student"][rows]

            def stat(idx, et=et, es=es):
                mt, ms = _mae(et, idx), _mae(es, idx)
                return np.column_stack([mt, ms, ms - mt])

            point = stat(np.arange(len(rows))[None, :])[0]
            low, high = paired_bootstrap(stat, len(rows), n_boot=n_boot, seed=seed)
            counted = f"rows of {name} = {g}"
            entry["groups"][g] = {
                "n": size[g],
                "too_small": size[g] < min_group_size,
                "teacher": {
                    "mae": float(point[0]),
                    "mae_evidence": _figure(point[0], low[0], high[0], len(rows), counted),
                },
                "student": {
                    "mae": float(point[1]),
                    "mae_evidence": _figure(point[1], low[1], high[1], len(rows), counted),
                },
                "student_minus_teacher_mae": _figure(point[2], low[2], high[2], len(rows), counted),
            }
        if len(judged) >= 2 and teacher_mae > 0:
            codes = np.array([judged.index(g) if g in judged else -1 for g in groups])
            absolute = {who: np.abs(err[who]) for who in WHO}

            def gaps(idx, codes=codes, k=len(judged), absolute=absolute):  # per resample: each model's largest
                c = codes[idx]  # minus smallest group MAE, and the widening
                masks = [c == j for j in range(k)]
                counts = np.stack([m.sum(axis=1) for m in masks])  # (groups, resamples)
                found = []
                for who in WHO:
                    a = absolute[who][idx]
                    sums = np.stack([np.where(m, a, 0.0).sum(axis=1) for m in masks])
                    mae = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
                    found.append(np.nanmax(mae, axis=0) - np.nanmin(mae, axis=0))
                return np.column_stack([*found, (found[1] - found[0]) / teacher_mae])

            point = gaps(np.arange(n)[None, :])[0]
            low, high = paired_bootstrap(gaps, n, n_boot=n_boot, seed=seed)
            entry["teacher"] = {"mae_gap": float(point[0])}
            entry["student"] = {"mae_gap": float(point[1])}
            entry["widened_by"] = float(point[2])
            entry["widened_by_evidence"] = _figure(point[2], low[2], high[2], n, f"rows in {len(judged)} judged groups")
            entry["note"] = None
        else:
            entry.update(
                teacher={"mae_gap": None}, student={"mae_gap": None}, widened_by=None, widened_by_evidence=None
            )
            entry["note"] = (
                f"fewer than two groups have at least {min_group_size} rows: no gap can be judged; collect more "
                "labelled rows per group"
                if teacher_mae > 0
                else "the teacher's error is 0 on every row: there is no error to compare groups on"
            )
        entry["examples"] = _worst_in_weakest(entry, groups, err, y, t, s, shown, n_examples)
        out["attributes"][str(name)] = entry
    judged_any = [a for a, e in out["attributes"].items() if e["widened_by"] is not None]
    out["unjudged"] = (
        None
        if judged_any
        else f"no attribute has two groups of at least {int(min_group_size)} rows, so no gap between groups could "
        "be judged; collect more labelled rows per group"
    )
    return out


def _worst_in_weakest(entry, groups, err, y, t, s, shown, limit: int) -> list[dict]:
    """The rows with the student's largest errors in the group where its MAE is highest."""
    if shown is None or limit <= 0:
        return []
    candidates = entry["judged_groups"] or list(entry["groups"])
    if not candidates:
        return []
    weakest = max(candidates, key=lambda g: entry["groups"][g]["student"]["mae"])
    rows = np.flatnonzero(groups == weakest)
    worst = rows[np.argsort(-np.abs(err["student"][rows]), kind="stable")[:limit]]
    return [
        {"group": weakest, "text": clip(shown[i]), "true": float(y[i]), "teacher": float(t[i]), "student": float(s[i])}
        for i in worst
    ]


# --- robustness ----------------------------------------------------------------------------------------------


def perturbed_error_report(
    inputs: Sequence,
    y,
    t_predict: Callable[[list], Any],
    s_predict: Callable[[list], Any],
    perturbers: dict[str, Callable],
    *,
    t_values=None,
    s_values=None,
    max_rows: int = 500,
    seed: int = 0,
    n_boot: int = 1000,
    descriptions: dict[str, str] | None = None,
    describe: Callable[[Any], str] | None = None,
    noun: str = "rows",
    n_examples: int = 5,
) -> dict:
    """Both models' error on perturbed rows against clean ones (see the module). `t_values` / `s_values`: the
    clean answers on all of `inputs` when known (the teacher's are stored), else asked."""
    inputs = list(inputs)
    y = np.asarray(y, dtype=float).reshape(-1)
    if len(y) != len(inputs) or not inputs:
        raise UserError(f"robustness needs one true number per row: {len(inputs)} {noun}, {len(y)} numbers")
    if not perturbers:
        raise UserError("robustness needs the data kind's perturbations; this data kind has none")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(inputs))
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    sample, gold, n = [inputs[i] for i in rows], y[rows], len(rows)
    clean = {}
    for who, fn, known in (("teacher", t_predict, t_values), ("student", s_predict, s_values)):
        values = np.asarray(known, dtype=float).reshape(-1)[rows] if known is not None else _numbers(fn, sample, who)
        if values is None:
            raise UserError(f"robustness: the {who} could not answer the clean evaluation {noun}")
        clean[who] = values
    clean_mae = {who: float(np.abs(clean[who] - gold).mean()) for who in WHO}
    show = describe or str
    report: dict = {"n_rows": n, "seed": int(seed), "clean_mae": clean_mae, "perturbations": {}}
    for j, kind in enumerate(perturbers):
        kind_rng = np.random.default_rng([seed, j + 1])
        messy = [perturbers[kind](r, kind_rng) for r in sample]
        changed = [a != b for a, b in zip(sample, messy)]
        entry: dict = {
            "description": (descriptions or {}).get(kind, kind),
            "changed_share": float(np.mean(changed)),
            "changed_count": int(np.sum(changed)),
        }
        answers = {}
        for who, fn in (("teacher", t_predict), ("student", s_predict)):
            try:
                answers[who] = _numbers(fn, messy, who)
            except UserError as exc:
                entry[who] = None
                entry.setdefault("errors", {})[who] = refused(who, str(exc))
        for who, values in answers.items():
            before, after = np.abs(clean[who] - gold), np.abs(values - gold)

            def stat(idx, before=before, after=after):
                was = before[idx].mean(axis=1)
                inc = after[idx].mean(axis=1) - was
                return np.column_stack([inc, np.divide(inc, was, out=np.full(inc.shape, np.nan), where=was > 0)])

            point = stat(np.arange(n)[None, :])[0]
            low, high = paired_bootstrap(stat, n, n_boot=n_boot, seed=seed)
            judged = clean_mae[who] > 0
            entry[who] = {
                "mae": float(after.mean()),
                "error_increase": float(point[0]),
                "relative_increase": float(point[1]) if judged else None,
                "relative_increase_evidence": _figure(point[1], low[1], high[1], n, f"perturbed {noun}")
                if judged
                else None,
                "moved": float(np.abs(values - clean[who]).mean()),
            }
        entry["student_extra_increase"] = entry["student_extra_increase_evidence"] = None
        if len(answers) == 2 and clean_mae["teacher"] > 0:
            grew = {w: np.abs(answers[w] - gold) - np.abs(clean[w] - gold) for w in WHO}
            t_clean = np.abs(clean["teacher"] - gold)

            def extra(idx, t_clean=t_clean, grew=grew):  # the student's extra growth, per teacher clean error
                base = t_clean[idx].mean(axis=1)
                more = grew["student"][idx].mean(axis=1) - grew["teacher"][idx].mean(axis=1)
                return np.divide(more, base, out=np.full(more.shape, np.nan), where=base > 0)

            value = float(extra(np.arange(n)[None, :])[0])
            low, high = paired_bootstrap(extra, n, n_boot=n_boot, seed=seed)
            entry["student_extra_increase"] = value
            entry["student_extra_increase_evidence"] = _figure(value, low, high, n, f"perturbed {noun}")
        entry["examples"] = []
        if "student" in answers:
            grew = np.abs(answers["student"] - gold) - np.abs(clean["student"] - gold)
            for i in np.argsort(-grew, kind="stable")[: max(0, int(n_examples))]:
                if grew[i] <= 0:
                    break
                entry["examples"].append(
                    {
                        "text": clip(show(sample[i])),
                        "perturbed": clip(_changed(sample[i], messy[i], show)),
                        "true": float(gold[i]),
                        **{
                            w: {
                                "clean": float(clean[w][i]),
                                "perturbed": float(answers[w][i]) if w in answers else None,
                            }  # fmt: skip
                            for w in WHO
                        },
                    }
                )
        report["perturbations"][kind] = entry
    measured = {k: e["student_extra_increase"] for k, e in report["perturbations"].items()
                if e["student_extra_increase"] is not None}  # fmt: skip
    report["worst_for_student"] = max(measured, key=measured.__getitem__) if measured else None
    return report


def _numbers(fn, inputs: list, who: str) -> np.ndarray:
    values = np.asarray(fn(inputs), dtype=float).reshape(-1)
    if len(values) != len(inputs):
        raise UserError(f"robustness: the {who} gave {len(values)} numbers for {len(inputs)} rows")
    return values


# --- the evaluations -----------------------------------------------------------------------------------------


class GroupErrorFigures(Figures):
    """report["group_error"]: a regression's per-group error, teacher and student side by side."""

    min_group_size: int = Field(description="groups with fewer evaluation rows are listed but not judged")
    small_groups: str = Field(description="the rule for small groups, in words")
    teacher_mae: float = Field(description="the teacher's mean absolute error over all evaluation rows")
    attributes: dict = Field(
        description='{column: {"groups": {value: {"n", "too_small", "teacher": {"mae", "mae_evidence"}, "student": '
        '{...}, "student_minus_teacher_mae": {"count": null, "total", "rate", "interval", "method", "counted"}}}, '
        '"judged_groups", "too_small_groups", "teacher": {"mae_gap"}, "student": {"mae_gap"}, "widened_by": the '
        "student's gap minus the teacher's, as a share of the teacher's MAE, \"widened_by_evidence\": its paired "
        'bootstrap interval, "examples": [{"group", "text", "true", "teacher", "student"}], "note"}}'
    )
    unjudged: str | None = Field(None, description="why no gap could be judged, or null")


class PerturbedErrorFigures(Figures):
    """report["perturbed_error"]: a regression's error on perturbed rows against clean ones."""

    n_rows: int = Field(description="evaluation rows perturbed (a seeded sample of at most safety.robustness_texts)")
    seed: int = Field(description="the seed of the sample and of every perturbation")
    clean_mae: dict = Field(description='{"teacher", "student"}: mean absolute error on the clean rows')
    perturbations: dict = Field(
        description='{kind: {"description", "changed_share", "changed_count", "teacher": {"mae", "error_increase", '
        '"relative_increase", "relative_increase_evidence", "moved"}, "student": {...}, "student_extra_increase", '
        '"student_extra_increase_evidence", "examples": [{"text", "perturbed", "true", "teacher": {"clean", '
        '"perturbed"}, "student": {...}}], "errors": {who: why}}}: relative_increase is a model\'s MAE increase as a '
        "share of its clean MAE; student_extra_increase the student's MAE increase minus the teacher's, as a share of "
        "the teacher's clean MAE (what the gate reads), each with a paired bootstrap interval; moved the mean "
        "absolute change of the model's numbers; a model that could not answer is null, with why in errors"
    )
    worst_for_student: str | None = Field(description="the perturbation with the student's largest extra increase")


REGRESSION = frozenset({"tabular-regression"})


class GroupError:
    """Evaluation: a regression's error per group of each sensitive column, and whether the student widens a gap."""

    name = "group_error"
    title = "Fairness across groups (error of the numbers)"
    about = "per-group mean absolute error, and whether the student widens the gap between groups"
    tasks = REGRESSION
    order = 20
    figures = GroupErrorFigures
    gates = (
        GateDef(
            "max_group_error_widening",
            "max",
            largest_in("group_error", lambda p: p[-1] == "widened_by", 'the largest "widened_by"'),
            "how much the student widens the gap in error between groups, as a share of the teacher's error",
            ".1%",
            how="give the evaluation set a sensitive attribute (data.evaluation.group_columns)",
        ),
    )

    def enabled(self, recipe) -> str | None:
        from .fairness import Fairness

        return Fairness().enabled(recipe)

    def run(self, ctx) -> dict:
        from .fairness import shown_inputs

        e = ctx.extra
        return group_error_report(
            e["y_values"],
            e["teacher_values"],
            e["student_values"],
            ctx.groups,
            min_group_size=ctx.recipe.safety.min_group_size,
            n_boot=ctx.recipe.evaluation.bootstrap,
            seed=ctx.recipe.training.seed,
            shown=shown_inputs(ctx.inputs, ctx.modality),
        )

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import esc, get, num, table
        from .evidence import gate_bound, reading_of

        fair = section.get("attributes")
        if not fair:
            return ""
        bound, _ = gate_bound(report, "max_group_error_widening")
        gaps = [
            [
                esc(name),
                num(get(a, "teacher", "mae_gap")),
                num(get(a, "student", "mae_gap")),
                esc(_share(a.get("widened_by_evidence"), a.get("widened_by"))),
                esc(reading_of(a.get("widened_by_evidence"), bound) or ("not judged" if a.get("note") else "no gate")),
            ]
            for name, a in fair.items()
        ]
        groups = [
            [
                esc(name),
                esc(g),
                esc(grp.get("n")),
                esc("too small: listed, not judged" if grp.get("too_small") else "judged"),
                esc(_number(get(grp, "teacher", "mae_evidence"), get(grp, "teacher", "mae"))),
                esc(_number(get(grp, "student", "mae_evidence"), get(grp, "student", "mae"))),
                esc(_number(grp.get("student_minus_teacher_mae"), None, signed=True)),
            ]
            for name, a in fair.items()
            for g, grp in (a.get("groups") or {}).items()
        ]
        notes = [f"{esc(n)}: {esc(a['note'])}" for n, a in fair.items() if a.get("note")]
        examples = [
            [
                esc(name),
                esc(e.get("group")),
                esc(e.get("text")),
                num(e.get("true")),
                num(e.get("teacher")),
                num(e.get("student")),
            ]  # fmt: skip
            for name, a in fair.items()
            for e in (a.get("examples") or [])[:5]
        ]
        return (
            "<h3>Fairness across groups: error of the numbers</h3>"
            + f"<p>{esc(section.get('small_groups') or '')}. The gap is the largest group's mean absolute error "
            "minus the smallest's; widened by is the student's gap minus the teacher's, as a share of the teacher's "
            f"mean absolute error over all rows ({num(section.get('teacher_mae'))}).</p>"
            + (f"<p>{esc(section['unjudged'])}.</p>" if section.get("unjudged") else "")
            + ("<p>" + "; ".join(notes) + ".</p>" if notes else "")
            + table(["Attribute", "Teacher gap", "Student gap", "Widened by (95% interval)", "Reading"], gaps, "cmp")
            + "<h4>Mean absolute error per group (95% bootstrap interval)</h4>"
            + table(["Attribute", "Group", "Rows", "Judged", "Teacher", "Student", "Student − teacher"], groups, "cmp")
            + (
                "<h4>Examples: the student's largest errors in its weakest group</h4>"
                + table(["Attribute", "Group", "Row", "True", "Teacher", "Student"], examples)
                if examples
                else ""
            )
        )

    def summary(self, section: dict) -> list[str]:
        widened = [(a["widened_by"], n) for n, a in (section.get("attributes") or {}).items()
                   if isinstance(a.get("widened_by"), (int, float))]  # fmt: skip
        if not widened:
            return ["fairness: no gap in error between groups could be judged (too few rows per group)"]
        v, name = max(widened)
        if v <= 0:
            return ["fairness: the student widens no gap in error between groups"]
        return [f"fairness: the student widens the gap in error on {name} by {v:.1%} of the teacher's error"]

    def regressions(self, section: dict) -> list[str]:
        return [
            f"fairness › {name}: the student widens the gap in error between groups by {a['widened_by']:.1%} of the "
            "teacher's error"
            for name, a in (section.get("attributes") or {}).items()
            if isinstance(a.get("widened_by"), (int, float)) and a["widened_by"] > 0
        ]


class PerturbedError:
    """Evaluation: a regression's error on the data kind's perturbed rows against the clean rows."""

    name = "perturbed_error"
    title = "Robustness to perturbed rows (error of the numbers)"
    about = "error on messy rows: noisy, missing or shifted numbers, swapped categories"
    tasks = REGRESSION
    order = 40
    figures = PerturbedErrorFigures
    gates = (
        GateDef(
            "max_robustness_error_increase",
            "max",
            largest_in(
                "perturbed_error", lambda p: p[-1] == "student_extra_increase", 'the largest "student_extra_increase"'
            ),
            "how much more the student's error grows on perturbed rows than the teacher's, as a share of the "
            "teacher's clean error",
            ".1%",
            how="run the robustness evaluation (safety.robustness: true)",
        ),
    )

    def enabled(self, recipe) -> str | None:
        return None if recipe.safety.robustness else "safety.robustness: false"

    def run(self, ctx) -> dict:
        modality, e = ctx.modality, ctx.extra
        perturbers = modality.perturbations() if modality is not None else {}
        n = min(ctx.recipe.safety.robustness_texts, len(ctx.inputs))
        ctx.progress.note(f"robustness: {len(perturbers)} perturbations of {n} rows")
        return perturbed_error_report(
            ctx.inputs,
            e["y_values"],
            ctx.teacher_predict,
            ctx.student_predict,
            perturbers,
            t_values=e["teacher_values"],
            s_values=e["student_values"],
            max_rows=n,
            seed=ctx.recipe.training.seed,
            n_boot=ctx.recipe.evaluation.bootstrap,
            descriptions=perturbation_descriptions(modality),
            describe=getattr(modality, "describe", None),
        )

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import esc, get, num, table
        from .evidence import gate_bound, reading_of

        rob = section.get("perturbations")
        if not rob:
            return ""
        bound, _ = gate_bound(report, "max_robustness_error_increase")
        rows = [
            [
                esc(kind) + (f'<span class="cap">{esc(p.get("description"))}</span>' if p.get("description") else ""),
                esc(f"{p.get('changed_count', 0):,} of {section.get('n_rows', 0):,} rows"),
                *(num(get(p, w, "mae")) for w in WHO),
                *(esc(_share(get(p, w, "relative_increase_evidence"), get(p, w, "relative_increase"))) for w in WHO),
                esc(_share(p.get("student_extra_increase_evidence"), p.get("student_extra_increase"))),
                esc(reading_of(p.get("student_extra_increase_evidence"), bound) or "no gate"),
            ]
            for kind, p in rob.items()
        ]
        errors = [f"{k}: {why.rstrip('.')}" for k, p in rob.items() for why in (p.get("errors") or {}).values()]
        examples = [
            [
                esc(kind),
                esc(e.get("text")),
                esc(e.get("perturbed")),
                num(e.get("true")),
                *(esc(f"{num(get(e, w, 'clean'))} → {num(get(e, w, 'perturbed'))}") for w in WHO),
            ]  # fmt: skip
            for kind, p in rob.items()
            for e in (p.get("examples") or [])[:5]
        ]
        clean = section.get("clean_mae") or {}
        return (
            "<h3>Robustness: error of the numbers on perturbed rows</h3>"
            + f"<p>Mean absolute error on the clean rows: teacher {num(clean.get('teacher'))}, student "
            f"{num(clean.get('student'))}. A model's increase is its error on the perturbed rows minus its clean error, "
            "as a share of its clean error; the student's extra is how much more its error grows than the teacher's, as "
            "a share of the teacher's clean error (what the gate reads); each with a paired 95% bootstrap interval (the "
            "same rows).</p>"
            + table(
                [
                    "Perturbation",
                    "Cells changed",
                    "Teacher error",
                    "Student error",
                    "Teacher increase",
                    "Student increase",
                    "Student's extra",
                    "Reading",
                ],
                rows,
                "cmp",
            )  # fmt: skip
            + ("<p>Not measured (n/a above): " + "; ".join(esc(e) for e in errors) + ".</p>" if errors else "")
            + (
                "<h4>Examples: the rows whose student error grew most</h4>"
                + table(["Perturbation", "Row", "Cells changed", "True", "Teacher", "Student"], examples)
                if examples
                else ""
            )
        )

    def summary(self, section: dict) -> list[str]:
        worst = section.get("worst_for_student")
        p = (section.get("perturbations") or {}).get(worst) if worst else None
        if not isinstance(p, dict):
            return []
        t, s = (p.get(w) or {} for w in WHO)
        shown = [
            f"{x['relative_increase']:+.1%}" if isinstance(x.get("relative_increase"), float) else "n/a" for x in (s, t)
        ]
        return [
            f"robustness: worst for the student: {worst}, error {shown[0]} (teacher {shown[1]}); its error grows "
            f"{p['student_extra_increase']:+.1%} of the teacher's error more than the teacher's"
        ]

    def regressions(self, section: dict) -> list[str]:
        return [
            f"robustness › {kind}: the student's error grows more than the teacher's, by {p['student_extra_increase']:.1%} "
            "of the teacher's clean error"
            for kind, p in (section.get("perturbations") or {}).items()
            if isinstance(p.get("student_extra_increase"), float) and p["student_extra_increase"] > 0
        ]


def _share(ev, value) -> str:
    if isinstance(ev, dict) and isinstance(ev.get("interval"), list):
        low, high = ev["interval"]
        return f"{ev['rate']:+.1%} (95% interval {low:+.1%} to {high:+.1%})"
    return f"{value:+.1%}" if isinstance(value, (int, float)) else "n/a"


def _number(ev, value, signed: bool = False) -> str:
    f = (lambda x: f"{x:+.4g}") if signed else (lambda x: f"{x:.4g}")  # noqa: E731
    if isinstance(ev, dict) and isinstance(ev.get("interval"), list):
        low, high = ev["interval"]
        return f"{f(ev['rate'])} (95% interval {f(low)} to {f(high)})"
    return f(value) if isinstance(value, (int, float)) else "n/a"
