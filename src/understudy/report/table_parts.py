"""What a table run adds to the papers, from report.json alone: the student's rules (what it decides), the feature
columns, the synthetic rows it also learnt on, and a regression's figures in place of accuracy and F1.

`*_html` parts are report.html's (escaped HTML); `*_blocks` are the compliance report's and the model card's
blocks (plain text; their renderers escape it). A report without these sections gets "" or [] from each.
"""

from __future__ import annotations

from .html import NA, _e, _get, _iv, _num, _pct, _table
from .words import REGRESSION_TASKS, TABLE_TASKS, metric_name

MAX_CATEGORIES = 8  # categories named per column; the rest are counted
REGRESSION_FIGURES = ("r2", "mae", "rmse")  # teacher["quality"] and student["quality"] of a regression
HEADING = "What the student decides"


def is_table(report: dict) -> bool:
    return _get(report, "run", "task") in TABLE_TASKS


def is_regression(report: dict) -> bool:
    return _get(report, "run", "task") in REGRESSION_TASKS


def _fmt(x) -> str:
    """A plain-text figure: 4 significant digits, as the compliance report prints them."""
    from .compliance import fmt

    return fmt(x)


# --- the rules --------------------------------------------------------------------------------------------------


def rule_lines(report: dict) -> list[str]:
    """The student's rules as it applies them, one line each (student.rules.text), or [] when it has none."""
    lines = _get(report, "student", "rules", "text")
    return [str(x) for x in lines] if isinstance(lines, list) else []


def weight_rows(report: dict) -> list[list[str]]:
    """A linear student's weights as rows of plain text: [{"feature", "weight", ...}] or {feature: weight} or
    {class: {feature: weight}} (student.rules.weights); [] when there are none."""
    weights = _get(report, "student", "rules", "weights")
    if isinstance(weights, list):
        given = [w for w in weights if isinstance(w, dict)]
        # a column that is empty throughout (a regression's "class") says nothing
        keys = [k for k in dict.fromkeys(k for w in given for k in w) if any(w.get(k) is not None for w in given)]
        cell = lambda v: "" if v is None else _fmt(v)  # noqa: E731
        return [keys] + [[cell(w.get(k)) for k in keys] for w in given] if keys else []
    if isinstance(weights, dict):
        rows = []
        for k, v in weights.items():
            if isinstance(v, dict):
                rows += [[str(k), str(f), _fmt(x)] for f, x in v.items()]
            else:
                rows.append([str(k), _fmt(v)])
        if not rows:
            return []
        return [["class", "feature", "weight"] if len(rows[0]) == 3 else ["feature", "weight"]] + rows
    return []


def rules_intro(report: dict) -> str:
    """One plain sentence saying what the lines below are, or why there are none."""
    rules = _get(report, "student", "rules")
    kind = _get(report, "student", "kind") or "table"
    if not isinstance(rules, dict):
        return (
            f"The {kind} student has no rules in words (a boosted model is many small trees added together): "
            "what it decides can be read only from its answers, measured above."
        )
    form, listed = rules.get("form") or f"{kind} model", rules.get("rules")
    if isinstance(listed, list) and listed:
        n = len(listed)
        return (
            f"The student is a {form}: {n} rule{'s' if n != 1 else ''}, exactly as it applies them to a row; every "
            "answer it gives comes from these (the rows in brackets are the training rows, real and synthetic, a rule "
            "covers)."
        )
    return (
        f"The student is a {form}: the lines below are its whole computation, exactly as it applies it to a row; "
        "every answer it gives comes from them."
    )


def rules_html(report: dict) -> str:
    if not is_table(report):
        return ""
    lines, weights = rule_lines(report), weight_rows(report)
    body = f"<p>{_e(rules_intro(report))}</p>"
    if lines:
        body += '<ol class="rules">' + "".join(f"<li><code>{_e(line)}</code></li>" for line in lines) + "</ol>"
    if weights:
        head, *rows = weights
        body += "<h3>Weights</h3>" + _table([_e(h) for h in head], [[_e(c) for c in r] for r in rows], "cmp")
    return f"<section><h2>{HEADING}</h2>{body}</section>"


def rules_blocks(report: dict) -> list:
    """The rules as the card and the compliance report print them: a code block, one rule a line."""
    if not is_table(report):
        return []
    blocks: list = [("p", rules_intro(report))]
    lines, weights = rule_lines(report), weight_rows(report)
    if lines:
        blocks.append(("code", lines))
    if weights:
        head, *rows = weights
        blocks += [("p", "Weights:"), ("table", head, rows)]
    return blocks


# --- the feature columns and the synthetic rows -----------------------------------------------------------------


def _values_seen(c: dict) -> str:
    if c.get("kind") == "categorical":
        cats = [str(x) for x in c.get("categories") or []]
        more = len(cats) - MAX_CATEGORIES
        return ", ".join(cats[:MAX_CATEGORIES]) + (f" and {more} more" if more > 0 else "") if cats else "none seen"
    parts = []
    if c.get("low") is not None and c.get("high") is not None:
        parts.append(f"{_fmt(c['low'])} to {_fmt(c['high'])}")
    if c.get("mean") is not None:
        parts.append(f"mean {_fmt(c['mean'])}")
    if c.get("std") is not None:
        parts.append(f"spread (sd) {_fmt(c['std'])}")
    return ", ".join(parts) or "not recorded"


def schema_rows(report: dict) -> list[list[str]]:
    """[column, kind, values seen in the transfer set] for each feature column, in order."""
    columns = _get(report, "data", "schema", "columns")
    if not isinstance(columns, list):
        return []
    return [[str(c.get("name")), str(c.get("kind")), _values_seen(c)] for c in columns if isinstance(c, dict)]


def synthetic_words(report: dict) -> str:
    """The synthetic rows in one plain sentence, or "" when the report has none recorded."""
    syn = _get(report, "data", "synthetic")
    if not isinstance(syn, dict):
        return ""
    n, real = syn.get("rows"), _get(report, "student", "training", "real_rows")
    settings = syn.get("settings") or {}
    if not n:
        return "No synthetic rows: the student learnt on the real transfer rows only (training.synthetic_rows: 0)."
    said = ", ".join(f"{k} {_fmt(v)}" for k, v in settings.items())
    beside = f" beside the {_fmt(real)} real transfer rows" if real is not None else ""
    return (
        f"{_fmt(n)} synthetic rows{beside}, drawn around the real ones by {syn.get('method') or 'an unnamed method'}; "
        f"the teacher answered each, and the student learnt on both" + (f" (settings: {said})." if said else ".")
    )


def target_words(report: dict) -> str:
    target = _get(report, "data", "schema", "target")
    return f"The answer is the column '{target}'; it is not a feature." if target else ""


def table_data_html(report: dict) -> str:
    rows = schema_rows(report)
    if not rows:
        return ""
    syn = synthetic_words(report)
    return (
        f"<h3>Feature columns</h3><p>{_e(target_words(report))}</p>"
        + _table(["Column", "Kind", "Values in the transfer set"], [[_e(c) for c in r] for r in rows])
        + (f"<h3>Synthetic rows</h3><p>{_e(syn)}</p>" if syn else "")
    )


def table_data_blocks(report: dict) -> list:
    rows = schema_rows(report)
    if not rows:
        return []
    blocks: list = [("p", f"Feature columns. {target_words(report)}".strip())]
    blocks.append(("table", ["Column", "Kind", "Values in the transfer set"], rows))
    syn = synthetic_words(report)
    return blocks + ([("p", syn)] if syn else [])


# --- a regression's figures ---------------------------------------------------------------------------------------


def regression_side_by_side(report: dict) -> list[list[str]]:
    """report.html's rows for R^2, MAE and RMSE, each with its 95% range, teacher beside student."""
    t, s = report.get("teacher") or {}, report.get("student") or {}
    task = _get(report, "run", "task")
    return [
        [
            _e(metric_name(key, task)) + ' <span class="cap">(95% range)</span>',
            *(_iv(_get(m, "quality", key), lambda x: _num(x, 4)) for m in (t, s)),
        ]
        for key in REGRESSION_FIGURES
    ]


def regression_quality_rows(report: dict) -> list[list[str]]:
    """The same as plain text: [name, teacher, student], with the intervals."""
    t, s = report.get("teacher") or {}, report.get("student") or {}
    task = _get(report, "run", "task")
    return [
        [metric_name(key, task) + " (95% range)", *(_interval(_get(m, "quality", key)) for m in (t, s))]
        for key in REGRESSION_FIGURES
    ]


def _interval(iv) -> str:
    if not isinstance(iv, dict) or iv.get("value") is None:
        return _fmt(None)
    rng = f" ({_fmt(iv.get('low'))} to {_fmt(iv.get('high'))})" if iv.get("low") is not None else ""
    return _fmt(iv["value"]) + rng


def regression_comparison_rows(report: dict) -> list[tuple[str, str]]:
    """(name, value) for how close the student is to the teacher: fidelity, the gap, quality kept, the ratios."""
    from .words import ratio_words

    c = report.get("comparison") or {}
    task = _get(report, "run", "task")
    ci = c.get("retention_ci") or {}
    kept = _fmt(c.get("retention")) + (
        f" (95% range {_fmt(ci.get('low'))} to {_fmt(ci.get('high'))})" if ci.get("low") is not None else ""
    )
    return [
        (metric_name("fidelity_r2", task), _interval(c.get("fidelity_r2"))),
        (metric_name("mean_abs_gap", task), _interval(c.get("mean_abs_gap"))),
        (metric_name("retention", task) + " (student R² / teacher R²)", kept),
        ("Speed compared with the teacher, batches of 64", ratio_words(c.get("speedup"), precise=True)),
        ("Speed compared with the teacher, one row at a time", ratio_words(c.get("speedup_batch_1"), precise=True)),
        ("Size compared with the teacher (student / teacher)", _fmt(c.get("size_ratio"))),
        ("Memory compared with the teacher (student / teacher)", _fmt(c.get("memory_ratio"))),
        ("Cost compared with the teacher (student / teacher)", _fmt(c.get("cost_ratio"))),
    ]


def gap_rows(report: dict) -> list[list]:
    """The largest gaps between the two models' answers: [row, true, teacher, student, gap] (raw values)."""
    gaps = _get(report, "comparison", "largest_gaps")
    out = []
    for g in gaps if isinstance(gaps, list) else []:
        if not isinstance(g, dict):
            continue
        t, s = g.get("teacher"), g.get("student")
        gap = abs(s - t) if all(isinstance(x, (int, float)) for x in (t, s)) else None
        out.append([g.get("text"), g.get("true"), t, s, gap])
    return out


def gaps_html(report: dict) -> str:
    rows = gap_rows(report)
    table = (
        _table(
            ["Row", "True value", "Teacher said", "Student said", "Gap"],
            [[_e(r[0]), *(_num(x, 4) for x in r[1:])] for r in rows],
            "flips",
        )
        if rows
        else f"<p>{NA} — no gaps recorded.</p>"
    )
    c = report.get("comparison") or {}
    return (
        "<section><h2>Largest gaps from the teacher</h2><p>The evaluation rows where the student's answer is "
        f"furthest from the teacher's; on average the two differ by {_num(_get(c, 'mean_abs_gap', 'value'), 4)} "
        f"(95% range {_num(_get(c, 'mean_abs_gap', 'low'), 4)}–{_num(_get(c, 'mean_abs_gap', 'high'), 4)}), and "
        f"the student's R² against the teacher's answers (fidelity) is {_iv(c.get('fidelity_r2'), _fix3)}.</p>"
        f"{table}</section>"
    )


def _fix3(x) -> str:
    return _num(x, 3)


def regression_cards(report: dict) -> list[tuple[str, str, str]]:
    """report.html's cards for a regression: quality kept and fidelity in place of macro-F1 and agreement."""
    c = report.get("comparison") or {}
    ci, fid = c.get("retention_ci") or {}, c.get("fidelity_r2") or {}
    return [
        (
            "Quality kept",
            _pct(c.get("retention")),
            f"of the teacher's R² (the share of the target's variance explained; 95% range "
            f"{_pct(ci.get('low'))}–{_pct(ci.get('high'))})",
        ),
        (
            "Fidelity to the teacher",
            _num(fid.get("value"), 3),
            f"R² of the student's answers against the teacher's, 1 is the same answers "
            f"({_num(fid.get('low'), 3)}–{_num(fid.get('high'), 3)})",
        ),
    ]


# What the table student's training.json says, in words (the rest read as their keys).
TRAINING_WORDS = {
    "rows": "Rows learnt on (real and synthetic)",
    "real_rows": "Real transfer rows",
    "synthetic_rows": "Synthetic rows",
    "features": "Feature columns it reads (after one-hot)",
    "depth": "Depth of the tree",
    "leaves": "Leaves (one rule each)",
    "seconds": "Time taken (s)",
}


def training_facts(report: dict) -> list[tuple[str, object]]:
    """(name, value) for each plain figure of the student's training, settings aside."""
    tr = _get(report, "student", "training")
    if not isinstance(tr, dict):
        return []
    return [
        (TRAINING_WORDS.get(k, k.replace("_", " ").capitalize()), v)
        for k, v in tr.items()
        if k != "settings" and (v is None or isinstance(v, (int, float, str)))
    ]
