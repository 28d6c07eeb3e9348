"""Group fairness of teacher and student, side by side: does the student treat groups less evenly?

For each sensitive attribute (one group value per evaluation row) and each model, fairlearn's
MetricFrame gives per-group accuracy, selection rate, false positive rate and false negative rate,
and fairlearn's demographic-parity and equalised-odds differences summarise the largest gap between
groups. ``widened_by`` is the student's gap minus the teacher's: above 0 the distillation made the
model less even across groups.

Selection rate, FPR, FNR and both gaps need a yes/no outcome; with more than two classes they are
computed one-vs-rest on the ``positive`` class. Accuracy is the full multi-class accuracy.
Groups with fewer than ``min_group_size`` rows are listed but marked too small to judge and left
out of the gaps, since a gap between tiny groups is mostly noise: a small group never warns or
blocks on its own. When no attribute has two groups large enough, the section says so in
``unjudged`` and the gap gate is skipped as too few to judge.

Evidence: each group's accuracy is a count of rows with an exact 95% interval (``accuracy_evidence``),
the student's accuracy less the teacher's in a group a paired 95% interval (Newcombe), and each
``widened_by`` figure a paired percentile bootstrap interval over the judged rows
(``widened_by_evidence``: both models and both gaps on every resample). ``examples`` are rows of the
group where the student does worst that the student gets wrong (at most 5, cut to 200 characters; a table's
row written as 'col=value, ...').
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import UserError
from .calibration import checked_probs
from .evidence import clip, paired_difference, rate

__all__ = ["fairness_report", "default_positive"]

MISSING = "(missing)"  # the group name for rows whose attribute value is None or NaN


def default_positive(y: np.ndarray, labels: Sequence[str]) -> int:
    """Index of the least frequent gold class; a tie goes to the later label.

    The outcome a fairness audit cares about (approved, flagged, escalated) is usually the rarer
    one, and binary label lists usually put it second ([no, yes], [0, 1], [negative, positive]).
    """
    counts = np.bincount(y, minlength=len(labels))
    return int(len(labels) - 1 - np.argmin(counts[::-1]))


def _group_names(values, n: int, attribute: str) -> np.ndarray:
    values = list(values)
    if len(values) != n:
        raise UserError(
            f"fairness attribute '{attribute}' has {len(values)} values but there are {n} evaluation "
            "rows: give one group value per row, in the same order"
        )
    out = []
    for v in values:
        missing = v is None or (isinstance(v, float) and math.isnan(v))
        out.append(MISSING if missing else str(v))
    return np.array(out, dtype=object)


def _rate(num: int, den: int) -> float | None:
    return float(num / den) if den else None


def _clean(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _gaps(y_pos: np.ndarray, pred_pos: np.ndarray, groups: np.ndarray) -> dict:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    return {
        "demographic_parity_difference": _clean(
            demographic_parity_difference(y_pos, pred_pos, sensitive_features=groups)
        ),
        "equalized_odds_difference": _clean(equalized_odds_difference(y_pos, pred_pos, sensitive_features=groups)),
    }


def _gap_samples(y_pos: np.ndarray, preds: list[np.ndarray], codes: np.ndarray, k: int, idx: np.ndarray) -> np.ndarray:
    """Demographic-parity and equalised-odds differences of each model on every resample in ``idx`` (m, n):
    (m, 2 * models), the same definitions as fairlearn's (largest minus smallest group rate; equalised odds the
    larger of the TPR and FPR ranges). A group absent from a resample is left out of it."""
    m = idx.shape[0]
    offs = (np.arange(m) * k)[:, None]
    keys = (codes[idx] + offs).ravel()
    yb = y_pos[idx].ravel()

    def rates(flags: np.ndarray, within: np.ndarray) -> np.ndarray:
        den = np.bincount(keys[within], minlength=m * k).astype(float)
        num = np.bincount(keys[within], weights=flags[within], minlength=m * k)
        return np.divide(num, den, out=np.full(m * k, np.nan), where=den > 0).reshape(m, k)

    def spread(r: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no row of a kind: NaN, quietly
            return np.nanmax(r, axis=1) - np.nanmin(r, axis=1)

    every = np.ones_like(yb, dtype=bool)
    cols = []
    for pred in preds:
        pb = pred[idx].ravel().astype(float)
        dp = spread(rates(pb, every))
        eo = np.fmax(spread(rates(pb, yb == 1)), spread(rates(pb, yb == 0)))
        cols += [dp, eo]
    return np.column_stack(cols)


def _widening_evidence(y_pos, pred_t, pred_s, groups, n_boot: int, seed: int) -> dict:
    """{gap: evidence} for the student's gap minus the teacher's, a paired bootstrap interval over the rows given."""
    from .metrics import paired_bootstrap

    names, codes = np.unique(groups, return_inverse=True)
    n = len(y_pos)
    preds = [pred_t.astype(int), pred_s.astype(int)]
    point = _gap_samples(y_pos, preds, codes, len(names), np.arange(n)[None, :])[0]
    low, high = paired_bootstrap(
        lambda idx: (
            _gap_samples(y_pos, preds, codes, len(names), idx)[:, 2:]
            - _gap_samples(y_pos, preds, codes, len(names), idx)[:, :2]
        ),
        n,
        n_boot=n_boot,
        seed=seed,
    )
    out = {}
    for j, gap in enumerate(("demographic_parity_difference", "equalized_odds_difference")):
        value = float(point[2 + j] - point[j])
        lo, hi = float(low[j]), float(high[j])
        out[gap] = {
            "count": None,
            "total": int(n),
            "rate": value,
            "interval": [min(lo, value), max(hi, value)],
            "method": f"paired percentile bootstrap over rows ({n_boot} resamples)",
            "counted": f"rows in the {len(names)} groups judged",
        }
    return out


def _accuracy_excess(t_ok: np.ndarray, s_ok: np.ndarray, group: str) -> dict:
    """The student's accuracy less the teacher's in one group: a paired 95% interval (the same rows)."""
    d = paired_difference(int(np.sum(t_ok & s_ok)), int(np.sum(s_ok & ~t_ok)), int(np.sum(t_ok & ~s_ok)), len(t_ok))
    return {
        "count": int(np.sum(t_ok & ~s_ok)),
        "total": len(t_ok),
        "rate": d["value"],
        "interval": d["interval"],
        "method": d["method"],
        "counted": f"rows in group {group} the teacher gets right and the student wrong",
    }


def _by_group(y: np.ndarray, pred: np.ndarray, positive: int, groups: np.ndarray) -> dict:
    """Per-group accuracy, selection rate, FPR and FNR for one model (fairlearn MetricFrame)."""
    from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate, selection_rate
    from sklearn.metrics import accuracy_score

    y_pos, pred_pos = (y == positive).astype(int), (pred == positive).astype(int)
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "false_positive_rate": false_positive_rate,
            "false_negative_rate": false_negative_rate,
        },
        y_true=y_pos,
        y_pred=pred_pos,
        sensitive_features=groups,
    )
    accuracy = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=pred, sensitive_features=groups)
    out = {}
    for g in frame.by_group.index:
        in_g = groups == g
        negatives, positives = int(np.sum(y_pos[in_g] == 0)), int(np.sum(y_pos[in_g] == 1))
        row = frame.by_group.loc[g]
        out[str(g)] = {
            "accuracy": float(accuracy.by_group.loc[g]),
            "accuracy_evidence": rate(int(np.sum(pred[in_g] == y[in_g])), int(np.sum(in_g)), f"rows in group {g}"),
            "selection_rate": float(row["selection_rate"]),
            # sklearn reports 0 for a rate whose denominator is empty: say "undefined" instead
            "false_positive_rate": _clean(row["false_positive_rate"]) if negatives else None,
            "false_negative_rate": _clean(row["false_negative_rate"]) if positives else None,
        }
    return out


def fairness_report(
    y: Sequence[int],
    t_probs,
    s_probs,
    attributes: Mapping[str, Sequence],
    labels: Sequence[str],
    *,
    positive: str | int | None = None,
    min_group_size: int = 30,
    texts: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    n_examples: int = 5,
) -> dict:
    """Per-group metrics and fairness gaps for teacher and student, for each sensitive attribute.

    ``attributes`` maps an attribute name (e.g. "gender") to one group value per row of ``y``;
    None or NaN values form a group of their own, "(missing)". ``positive`` is the label (name or
    index) whose selection the gaps are about; by default the least frequent gold class (see
    :func:`default_positive`). Returns a JSON-ready dict; a gap is None when fewer than two groups
    are large enough to judge. ``texts`` (one per row) give the examples; ``n_boot`` and ``seed`` the
    bootstrap of the widening intervals.
    """
    y_arr, t, labels = checked_probs(y, t_probs, labels, "t_probs")
    _, s, _ = checked_probs(y_arr, s_probs, labels, "s_probs")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, (int, np.integer)) or min_group_size < 1:
        raise UserError(f"min_group_size must be a positive integer, got {min_group_size!r}")
    if not attributes:
        raise UserError("fairness needs at least one sensitive attribute: a name and one group value per row")
    if positive is None:
        pos, rule = default_positive(y_arr, labels), "least frequent gold class (default)"
    elif isinstance(positive, (int, np.integer)) and not isinstance(positive, bool) and 0 <= positive < len(labels):
        pos, rule = int(positive), "given"
    elif isinstance(positive, str) and positive in labels:
        pos, rule = labels.index(positive), "given"
    else:
        raise UserError(
            f"fairness positive class {positive!r} is not one of the labels {labels}: give a label name or its index"
        )
    if texts is not None and len(texts) != len(y_arr):
        raise UserError(f"fairness texts has {len(texts)} entries but there are {len(y_arr)} evaluation rows")
    preds = {"teacher": t.argmax(axis=1), "student": s.argmax(axis=1)}
    y_pos = (y_arr == pos).astype(int)

    attributes_out: dict[str, dict] = {}
    report: dict = {
        "positive": str(labels[pos]),
        "positive_rule": rule,
        "min_group_size": int(min_group_size),
        "small_groups": f"a group with fewer than {int(min_group_size)} rows is listed but never judged: it warns "
        "or blocks nothing on its own (safety.min_group_size sets the size)",
        "attributes": attributes_out,
    }
    for name, values in attributes.items():
        groups = _group_names(values, len(y_arr), name)
        names, counts = np.unique(groups, return_counts=True)
        size = {str(g): int(c) for g, c in zip(names, counts)}
        judged = sorted(g for g, c in size.items() if c >= min_group_size)
        per_model = {m: _by_group(y_arr, p, pos, groups) for m, p in preds.items()}
        right = {m: p == y_arr for m, p in preds.items()}
        entry: dict = {
            "groups": {
                g: {
                    "n": size[g],
                    "too_small": size[g] < min_group_size,
                    "teacher": per_model["teacher"][g],
                    "student": per_model["student"][g],
                    "student_minus_teacher_accuracy": _accuracy_excess(
                        right["teacher"][groups == g], right["student"][groups == g], g
                    ),
                }
                for g in sorted(size)
            },
            "judged_groups": judged,
            "too_small_groups": sorted(g for g in size if size[g] < min_group_size),
        }
        if len(judged) >= 2:
            keep = np.isin(groups, judged)
            for m, p in preds.items():
                entry[m] = _gaps(y_pos[keep], (p[keep] == pos).astype(int), groups[keep])
            entry["widened_by"] = {
                k: (
                    None
                    if entry["student"][k] is None or entry["teacher"][k] is None
                    else entry["student"][k] - entry["teacher"][k]
                )
                for k in entry["student"]
            }
            entry["widened_by_evidence"] = _widening_evidence(
                y_pos[keep], preds["teacher"][keep] == pos, preds["student"][keep] == pos, groups[keep], n_boot, seed
            )
            entry["note"] = None
        else:
            empty = {"demographic_parity_difference": None, "equalized_odds_difference": None}
            entry.update(teacher=dict(empty), student=dict(empty), widened_by=dict(empty), widened_by_evidence={})
            entry["note"] = (
                f"fewer than two groups have at least {min_group_size} rows: "
                "no gap can be judged; collect more labelled rows per group"
            )
        entry["examples"] = _examples(texts, y_arr, preds, groups, judged or sorted(size), labels, n_examples)
        attributes_out[str(name)] = entry
    judged_any = [a for a, e in attributes_out.items() if len(e["judged_groups"]) >= 2]
    report["unjudged"] = (
        None
        if judged_any
        else f"no attribute has two groups of at least {int(min_group_size)} rows, so no gap between groups "
        "could be judged; collect more labelled rows per group"
    )
    return report


def _examples(texts, y, preds, groups, candidates, labels, limit: int) -> list[dict]:
    """Rows the student gets wrong in the candidate group where it is least accurate (teacher-right rows first)."""
    if texts is None or limit <= 0:
        return []
    wrong = preds["student"] != y
    worst = min(candidates, key=lambda g: (-np.mean(wrong[groups == g]), g))
    found = np.flatnonzero((groups == worst) & wrong)
    rows = sorted(found, key=lambda i: (preds["teacher"][i] != y[i], i))[:limit]
    return [
        {
            "group": str(worst),
            "text": clip(texts[i]),
            "gold": str(labels[y[i]]),
            "teacher": str(labels[preds["teacher"][i]]),
            "student": str(labels[preds["student"][i]]),
        }
        for i in rows
    ]


def shown_inputs(inputs, modality) -> list[str]:
    """The inputs as the examples show them: a text as itself, a row (a dict) as its data kind describes it
    ('tenure=3, contract=Month-to-month, ...'), so report.json holds plain text, never a structure."""
    describe = getattr(modality, "describe", None) or str
    return [x if isinstance(x, str) else describe(x) for x in inputs]


from pydantic import Field  # noqa: E402  (light; after the report functions it checks)

from ..gates import GateDef, largest_in  # noqa: E402
from ..report.schema import Figures  # noqa: E402

GAPS = ("demographic_parity_difference", "equalized_odds_difference")


class FairnessFigures(Figures):
    """report["fairness"]: per-group metrics and the gaps between groups, teacher and student side by side."""

    positive: str = Field(description="the label whose selection the gaps are about")
    positive_rule: str = Field(description='how it was chosen: "given" or "least frequent gold class (default)"')
    min_group_size: int = Field(description="groups with fewer evaluation rows are listed but not judged")
    small_groups: str = Field(description="the rule for small groups, in words: listed, never judged on their own")
    attributes: dict = Field(
        description='{column: {"groups": {value: {"n", "too_small", "teacher": {"accuracy", "accuracy_evidence": '
        '{"count", "total", "rate", "interval", "method", "counted"}, ...}, "student": {...}, '
        '"student_minus_teacher_accuracy": {... a paired 95% interval (Newcombe)}}}, '
        '"judged_groups", "too_small_groups", "teacher": {"demographic_parity_difference", '
        '"equalized_odds_difference"}, "student": {...}, "widened_by": {...}, "widened_by_evidence": {gap: {"count": '
        'null, "total", "rate", "interval", "method", "counted"}: a paired bootstrap interval}, "examples": '
        '[{"group", "text", "gold", "teacher", "student"}] (text: the input as plain text, a row as \'col=value, ...\'), '
        '"note"}}'
    )
    unjudged: str | None = Field(
        None, description="why no gap could be judged (every attribute has under two groups large enough), or null"
    )


class Fairness:
    """Evaluation: per-group metrics and gaps on the evaluation set's sensitive-attribute columns."""

    name = "fairness"
    title = "Fairness across groups"
    about = "per-group accuracy and error rates, and whether the student widens a gap"
    tasks = frozenset({"text-classification", "tabular-classification"})
    order = 20
    figures = FairnessFigures
    gates = (
        GateDef(
            "max_group_gap_widening",
            "max",
            largest_in(
                "fairness",
                lambda p: "widened_by" in p or "gap_widening" in p,
                'the largest number under a "widened_by" key',
            ),
            "how much the student widens a gap between groups",
            how="give the evaluation set a sensitive attribute (data.evaluation.group_columns)",
        ),
    )

    def html(self, section: dict, report: dict) -> str:
        from ..report.sections import esc, get, num, table, task_of
        from ..report.words import nouns
        from .evidence import gate_bound, reading_of, words

        fair = section.get("attributes")
        if not fair:
            return ""
        bound, _ = gate_bound(report, "max_group_gap_widening")
        rows = []
        for name, a in fair.items():
            for metric in GAPS:
                ev = get(a, "widened_by_evidence", metric)
                rows.append(
                    [
                        esc(name),
                        metric.replace("_", " "),
                        num(get(a, "teacher", metric)),
                        num(get(a, "student", metric)),
                        esc(words(ev, pct=False)) if ev else num(get(a, "widened_by", metric)),
                        esc(reading_of(ev, bound) or ("not judged" if not ev else "no gate")),
                    ]
                )
        groups = [
            [
                esc(name),
                esc(g),
                esc(grp.get("n")),
                esc("too small: listed, not judged" if grp.get("too_small") else "judged"),
                esc(words(get(grp, "teacher", "accuracy_evidence"), fallback=get(grp, "teacher", "accuracy"))),
                esc(words(get(grp, "student", "accuracy_evidence"), fallback=get(grp, "student", "accuracy"))),
                esc(words(grp.get("student_minus_teacher_accuracy"))),
            ]
            for name, a in fair.items()
            for g, grp in (a.get("groups") or {}).items()
        ]
        small = [
            f"{esc(n)}: {', '.join(map(esc, a.get('too_small_groups') or []))}"
            for n, a in fair.items()
            if a.get("too_small_groups")
        ]
        examples = [
            [
                esc(name),
                esc(e.get("group")),
                esc(e.get("text")),
                esc(e.get("gold")),
                esc(e.get("teacher")),
                esc(e.get("student")),
            ]
            for name, a in fair.items()
            for e in (a.get("examples") or [])[:5]
        ]
        return (
            "<h3>Fairness across groups</h3>"
            + (f"<p>{esc(section['small_groups'])}</p>" if section.get("small_groups") else "")
            + (f"<p>{esc(section['unjudged'])}.</p>" if section.get("unjudged") else "")
            + (f"<p>Too small to judge (listed, never judged on their own): {'; '.join(small)}.</p>" if small else "")
            + table(["Attribute", "Gap", "Teacher", "Student", "Widened by (95% interval)", "Reading"], rows, "cmp")
            + "<h4>Accuracy per group: count of rows right, exact 95% interval</h4>"
            + table(["Attribute", "Group", "Rows", "Judged", "Teacher", "Student", "Student − teacher"], groups, "cmp")
            + (
                "<h4>Examples: rows the student gets wrong in its weakest group</h4>"
                + table(
                    ["Attribute", "Group", nouns(task_of(report))[1].capitalize(), "Gold", "Teacher", "Student"],
                    examples,
                )
                if examples
                else ""
            )
        )

    def summary(self, section: dict) -> list[str]:
        from ..report.sections import plain

        widened = [
            (v, name, metric)
            for name, a in (section.get("attributes") or {}).items()
            for metric, v in ((a or {}).get("widened_by") or {}).items()
            if isinstance(v, (int, float))
        ]
        if not widened:
            return ["fairness: no gap between groups could be judged (too few rows per group)"]
        v, name, metric = max(widened)
        if v <= 0:
            return ["fairness: the student widens no gap between groups"]
        return [f"fairness: the student widens the {metric.replace('_', ' ')} on {name} by {plain(v)}"]

    def regressions(self, section: dict) -> list[str]:
        from ..gates import _numbers
        from ..report.compliance import _label, fmt

        return [
            f"fairness › {_label(path)}: the student widens the gap by {fmt(value)}"
            for value, path in _numbers(section, lambda p: "widened_by" in p or "gap_widening" in p)
            if value > 0
        ]

    def enabled(self, recipe) -> str | None:
        evaluation = getattr(getattr(recipe, "data", None), "evaluation", None)
        if not getattr(evaluation, "group_columns", None):
            return (
                "data.evaluation.group_columns is empty: the evaluation set names no sensitive attribute "
                "to compare groups on"
            )
        return None

    def run(self, ctx) -> dict:
        spec = ctx.recipe.safety
        return fairness_report(
            ctx.y,
            ctx.teacher_probs,
            ctx.student_probs,
            ctx.groups,
            ctx.labels,
            positive=spec.fairness_positive,
            min_group_size=spec.min_group_size,
            texts=shown_inputs(ctx.inputs, ctx.modality),
            n_boot=getattr(getattr(ctx.recipe, "evaluation", None), "bootstrap", 1000),
            seed=ctx.recipe.training.seed,
        )
