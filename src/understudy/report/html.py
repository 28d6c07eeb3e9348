"""Render report.json (see docs/report-schema.md) as one self-contained, printable HTML page.

The page needs nothing from the network: styles are inline and every plot is an inline SVG. Every string
that comes from the report is HTML-escaped. Missing or null figures are shown as "n/a".
"""

from __future__ import annotations

import json
import pathlib
from datetime import datetime
from html import escape

NA = '<span class="na">n/a</span>'


def _get(d, *keys):
    """Nested lookup that returns None instead of raising on a missing key or a non-dict."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _e(x) -> str:
    return NA if x is None or x == "" else escape(str(x))


def _num(x, digits: int = 3) -> str:
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return _e(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.{digits}g}"


def _pct(x, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%" if isinstance(x, (int, float)) else NA


def _fix(x, digits: int = 1, suffix: str = "") -> str:
    return f"{x:,.{digits}f}{suffix}" if isinstance(x, (int, float)) else NA


def _auto(x, suffix: str = "") -> str:
    """Fewer decimals for bigger numbers: 41,000 / 24.4 / 0.31."""
    if not isinstance(x, (int, float)):
        return NA
    return _fix(x, 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2, suffix)


def _usd(x) -> str:
    return NA if not isinstance(x, (int, float)) else f"${x:,.2f}" if x >= 0.01 else f"${x:.4f}"


def _mb(n) -> str:
    return _auto(n / 1e6, " MB") if isinstance(n, (int, float)) else NA


def _iv(iv, fmt=_pct) -> str:
    """An interval {"value","low","high"} as 'v (lo–hi)'."""
    if not isinstance(iv, dict) or iv.get("value") is None:
        return NA
    rng = f' <span class="ci">({fmt(iv["low"])}–{fmt(iv["high"])})</span>' if iv.get("low") is not None else ""
    return fmt(iv["value"]) + rng


def _date(s) -> str:
    try:
        return datetime.fromisoformat(str(s).replace("Z", "+00:00")).strftime("%d %B %Y, %H:%M %Z").strip(", ")
    except ValueError:
        return _e(s)


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{h}</th>" for h in head) if any(head) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}">{f"<thead><tr>{th}</tr></thead>" if th else ""}<tbody>{body}</tbody></table>'


def _plot(title: str, svg: str, caption: str) -> str:
    inner = svg or f"<p>{NA} — not enough data to draw this chart.</p>"
    return f"<figure><figcaption><b>{title}</b><br>{caption}</figcaption>{inner}</figure>"


def _header(r: dict) -> str:
    from .verdict import VERDICT_WORDS as words
    from .verdict import verdict_sentence

    verdict = str(_get(r, "gates", "verdict") or "n/a").upper()
    use = _get(r, "run", "intended_use") or {}
    return f"""<header><div><h1>{_e(_get(r, "run", "name"))}</h1>
<p class="sub">Distillation report · created {_date(r.get("created"))}</p>
<p class="why"><b>Why:</b> {escape(verdict_sentence(r))}</p>
<p><b>Intended use:</b> {_e(use.get("description"))} · <b>Sector:</b> {_e(use.get("sector"))}
{"· commercial" if use.get("commercial") else ""}</p></div>
<div class="badge v-{verdict.lower() if verdict in words else "none"}">{escape(verdict)}
<small>{words.get(verdict, "no verdict")}</small></div>
</header>"""


def _nouns(r: dict) -> tuple[str, str]:
    """("rows", "row") on a table run, ("texts", "text") otherwise: what the page calls the inputs."""
    from .words import nouns

    return nouns(_get(r, "run", "task"))


def _cards(r: dict) -> str:
    from . import table_parts
    from .verdict import overlap_warning
    from .words import ratio_words, speed_short

    overlap = overlap_warning(r)  # evaluation texts the student was taught: beside the figure they flatter
    c, t, s = r.get("comparison") or {}, r.get("teacher") or {}, r.get("student") or {}
    ci, ag = c.get("retention_ci") or {}, c.get("agreement") or {}
    one = c.get("speedup_batch_1")
    many, single = _nouns(r)
    quality = (
        table_parts.regression_cards(r)
        if table_parts.is_regression(r)
        else [
            (
                "Quality kept",
                _pct(c.get("retention")),
                f"of the teacher's macro-F1, correct answers averaged over the labels "
                f"(95% range {_pct(ci.get('low'))}–{_pct(ci.get('high'))})",
            ),
            (
                "Agreement",
                _pct(ag.get("value")),
                f"of {many} get the same answer as the teacher ({_pct(ag.get('low'))}–{_pct(ag.get('high'))})",
            ),
        ]
    )
    if overlap:  # beside the figure it flatters
        head, big, caption = quality[-1]
        quality[-1] = (head, big, caption + f'<br><span class="warn">{escape(overlap)}</span>')
    cards = [
        quality[0],
        (
            "Speed compared with the teacher",
            escape(speed_short(c.get("speedup"))) if isinstance(c.get("speedup"), (int, float)) else NA,
            f"{escape(ratio_words(c.get('speedup')))} in batches of 64"
            + (f"; one {single} at a time: {escape(ratio_words(one))}" if isinstance(one, (int, float)) else ""),
        ),
        (
            "Size",
            _pct(c.get("size_ratio")),
            f"of the teacher's size: {_mb(s.get('size_bytes'))} vs {_mb(t.get('size_bytes'))}",
        ),
        *quality[1:],
        (
            "Cost per million predictions",
            _usd(s.get("cost_per_million_usd")),
            f"for the student vs {_usd(t.get('cost_per_million_usd'))} for the teacher",
        ),
    ]
    return (
        '<section class="cards">'
        + "".join(f'<div class="card"><h3>{h}</h3><div class="big">{v}</div><p>{p}</p></div>' for h, v, p in cards)
        + "</section>"
    )


def _gates(r: dict) -> str:
    from .verdict import gate_row, shown_results

    marks = {"PASS": '<span class="ok">✓ pass</span>', "SKIPPED": "<span>skipped</span>"}
    rows = []
    for result in shown_results(r):
        g = gate_row(result, _get(r, "run", "task"))
        mark = marks.get(g.status) or f'<span class="{"bad" if g.status == "BLOCK" else "warn"}">✗ {g.status}</span>'
        what = escape(g.means) + (f'<br><span class="reason">{escape(g.reason)}</span>' if g.reason else "")
        rows.append(
            [
                f'{escape(g.check)}<br><code class="key">{escape(g.name)}</code>',
                escape(g.measured),
                _e(g.bound),
                _e(g.evidence) if g.evidence else '<span class="na">—</span>',
                mark,
                what,
            ]
        )
    body = (
        _table(["Check", "Measured", "Must be", "Evidence (count, 95% range)", "Result", "What it means"], rows)
        if rows
        else f"<p>{NA} — no checks were run.</p>"
    )
    return f"<section><h2>Release checks</h2>{body}</section>"


def _side_by_side(r: dict) -> str:
    from . import table_parts

    t, s = r.get("teacher") or {}, r.get("student") or {}
    many, single = (x.capitalize() for x in _nouns(r))

    def row(name, f):
        return [name, f(t), f(s)]

    sp = lambda m, b, k, fmt: fmt(_get(m, "speed", b, k))  # noqa: E731
    quality = [
        row("Accuracy (95% range)", lambda m: _iv(_get(m, "quality", "accuracy"))),
        row(
            'Macro-F1 (95% range)<br><span class="cap">correct answers averaged over the labels, 1 is perfect</span>',
            lambda m: _iv(_get(m, "quality", "macro_f1"), lambda x: _fix(x, 3)),
        ),
        row(
            "Calibration error (ECE, lower is better)"
            '<br><span class="cap">how far its stated confidence is from how often it is right</span>',
            lambda m: _fix(_get(m, "quality", "ece"), 3),
        ),
        row(
            'Brier score (lower is better)<br><span class="cap">the error of its stated probabilities</span>',
            lambda m: _fix(_get(m, "quality", "brier"), 3),
        ),
    ]
    if table_parts.is_regression(r):
        quality = table_parts.regression_side_by_side(r)
    rows = [
        row("Description", lambda m: _e(m.get("description"))),
        *quality,
        row(f"{many} per second, one at a time", lambda m: sp(m, "batch_1", "texts_per_s", _auto)),
        row(f"{many} per second, batches of 64", lambda m: sp(m, "batch_64", "texts_per_s", _auto)),
        row(
            'Latency p50 / p95, one at a time<br><span class="cap">half / 95 in 100 requests finish within</span>',
            lambda m: f"{sp(m, 'batch_1', 'p50_ms', _auto)} / {sp(m, 'batch_1', 'p95_ms', _auto)} ms",
        ),
        row(
            "Latency p50 / p95, batch of 64",
            lambda m: f"{sp(m, 'batch_64', 'p50_ms', _auto)} / {sp(m, 'batch_64', 'p95_ms', _auto)} ms",
        ),
        row("CPU threads used", lambda m: _e(_get(m, "speed", "threads"))),
        row("Size on disk", lambda m: _mb(m.get("size_bytes"))),
        row("Peak memory", lambda m: _fix(m.get("peak_memory_mb"), 0, " MB")),
        row("Cost per million predictions", lambda m: _usd(m.get("cost_per_million_usd"))),
    ]
    table = _table(["", "Teacher", "Student"], rows, "cmp")
    if table_parts.is_regression(r):  # how close the two answer, beside what each scores
        close = [[escape(k), escape(v)] for k, v in table_parts.regression_comparison_rows(r)]
        table += "<h3>The student against the teacher</h3>" + _table(["", ""], close, "kv")
    return f"<section><h2>Teacher and student side by side</h2>{table}</section>"


def _plots(r: dict) -> str:
    from . import plots, table_parts

    t, s, labels = r.get("teacher") or {}, r.get("student") or {}, [str(x) for x in r.get("labels") or []]
    ms = [("Teacher", plots.TEACHER_COLOUR, t), ("Student", plots.STUDENT_COLOUR, s)]
    regression = table_parts.is_regression(r)
    qs = plots.quality_vs_speed(
        [
            {
                "name": n,
                "colour": c,
                "texts_per_s": _get(m, "speed", "batch_64", "texts_per_s"),
                **(_get(m, "quality", "r2" if regression else "macro_f1") or {}),
            }
            for n, c, m in ms
        ],
        noun=_nouns(r)[0],
        metric="R²" if regression else "Macro-F1",
        floor=None if regression else 0.0,  # an R² below 0 is worse than answering the average: shown, not cut
    )
    if regression:  # no classes: no per-class, confidence or confusion chart to draw
        caption = "Up and to the right is better: R² on the evaluation rows, bars the 95% range."
        return f"<section><h2>Charts</h2>{_plot('Quality against speed', qs, caption)}</section>"
    pc = plots.per_class_f1(
        labels, [{"name": n, "colour": c, "per_class": _get(m, "quality", "per_class_f1")} for n, c, m in ms]
    )
    rel = plots.reliability([{"name": n, "colour": c, "bins": _get(m, "quality", "reliability")} for n, c, m in ms])
    cm = plots.confusions(labels, [{"name": n, "matrix": _get(m, "quality", "confusion")} for n, c, m in ms])
    return (
        "<section><h2>Charts</h2>"
        + "".join(
            [
                _plot("Quality against speed", qs, "Up and to the right is better. Vertical bars show the 95% range."),
                _plot("Quality per class", pc, "F1 for each label; bars show the 95% range."),
                _plot(
                    "Can you trust its confidence?",
                    rel,
                    "When a model says it is 80% sure, it should be right about 80% of the time (the dashed line).",
                ),
                _plot("Where the mistakes go", cm, "Rows are the correct label, columns what the model predicted."),
            ]
        )
        + "</section>"
    )


def _flips(r: dict) -> str:
    from . import table_parts

    if table_parts.is_regression(r):  # no right or wrong answers to flip: the rows the two answer furthest apart
        return table_parts.gaps_html(r)
    many, single = _nouns(r)
    nf = _get(r, "comparison", "negative_flips") or {}
    pf = _get(r, "comparison", "positive_flips") or {}
    rows = []
    for x in nf.get("examples") or []:
        text = str(x.get("text") or "")
        text = text if len(text) <= 300 else text[:300].rstrip() + "…"
        rows.append(
            [
                escape(text),
                _e(x.get("gold")),
                _e(x.get("teacher")),
                _e(x.get("student")),
                f"{_pct(x.get('teacher_confidence'), 0)} / {_pct(x.get('student_confidence'), 0)}",
            ]
        )
    table = (
        _table(
            [single.capitalize(), "Correct", "Teacher said", "Student said", "How sure (teacher / student)"],
            rows,
            "flips",
        )
        if rows
        else "<p>No examples to show.</p>"
    )
    return f"""<section><h2>New mistakes</h2>
<p>The student got <b>{_num(nf.get("count"))}</b> {many} wrong that the teacher got right
({_pct(nf.get("share"))} of the evaluation set). It got <b>{_num(pf.get("count"))}</b> right that the teacher
got wrong ({_pct(pf.get("share"))}).</p>{table}{_per_class(r)}</section>"""


def _per_class(r: dict) -> str:
    """Each class's F1, teacher beside student, and the share kept: a class the student loses shows here even when
    the average hides it; with how many transfer texts the teacher gave it (a rare one is learnt from few)."""
    from .summary import per_class_lines

    per = _get(r, "comparison", "per_class_retention") or {}
    if not per:
        return ""
    taught = (_get(r, "student", "training", "teacher_labels") or {}).get("per_class") or {}
    rows = []
    for label, c in per.items():
        ci = c.get("retention_ci") or {}
        kept = (
            NA
            if c.get("retention") is None
            else f"{_pct(c['retention'])} ({_pct(ci.get('low'))}–{_pct(ci.get('high'))})"
        )
        rows.append(
            [
                _e(label),
                _num(c.get("gold")),
                _e(taught.get(label, "n/a")),
                _num(c.get("teacher_f1")),
                _num(c.get("student_f1")),
                kept,
            ]  # fmt: skip
        )
    notes = "".join(f"<p>{escape(line)}.</p>" for line in per_class_lines(r))
    return (
        "<h3>Per class</h3>"
        + _table(
            [
                "Class",
                f"Evaluation {_nouns(r)[0]}",
                "Teacher labels in the transfer set",
                "Teacher F1",
                "Student F1",
                "Share kept (95% range)",
            ],
            rows,
            "cmp",
        )  # fmt: skip
        + notes
    )


def _data(r: dict) -> str:
    from .table_parts import table_data_html

    tr, ev = _get(r, "data", "transfer") or {}, _get(r, "data", "evaluation") or {}
    many = _nouns(r)[0].capitalize()

    def skipped(d):
        sk = d.get("skipped")
        if not isinstance(sk, dict):
            return NA
        return ", ".join(f"{escape(str(k))}: {_num(v)}" for k, v in sk.items() if v) or "none"

    rows = [
        ["Source", _e(tr.get("source")), _e(ev.get("source"))],
        ["Rows read", _num(tr.get("rows_read")), _num(ev.get("rows_read"))],
        ["Rows used", _num(tr.get("rows_used")), _num(ev.get("rows_used"))],
        ["Rows skipped", skipped(tr), skipped(ev)],
        ["Has correct labels", *(_e({True: "yes", False: "no"}.get(d.get("gold_labels"))) for d in (tr, ev))],
    ]
    counts = ev.get("label_counts")
    if isinstance(counts, dict):
        rows.append([f"{many} per label", NA, ", ".join(f"{escape(str(k))}: {_num(v)}" for k, v in counts.items())])
    lab = r.get("labelling") or {}
    lrows = [
        [f"{many} labelled", _num(lab.get("texts"))],
        ["Reused from earlier runs", _num(lab.get("reused"))],
        ["Asked of the teacher", _num(lab.get("asked"))],
        ["Time taken", _fix(lab.get("seconds"), 1, " s")],
    ]
    return (
        f"<section><h2>Data</h2>{_table(['', 'Training (transfer) set', 'Evaluation set'], rows, 'cmp')}"
        f"{table_data_html(r)}<h3>Labelling by the teacher</h3>{_table(['', ''], lrows, 'kv')}</section>"
    )


def _training(r: dict) -> str:
    from . import plots

    tr = _get(r, "student", "training")
    if not isinstance(tr, dict):
        return f"<section><h2>Student training</h2><p>{NA} — no training details recorded.</p></section>"
    from .table_parts import is_table, training_facts

    rows = [["Kind of student", _e(_get(r, "student", "kind"))]]
    if is_table(r):  # a table student is fitted, not trained in epochs: what it learnt on and its shape
        rows += [[escape(k), _num(v)] for k, v in training_facts(r)]
    else:
        rows += [
            ["Time taken", _fix(tr.get("seconds"), 1, " s")],
            ["Epochs run", _num(tr.get("epochs_run"))],
            ["Best epoch", _num(tr.get("best_epoch"))],
        ]
    for k, v in (tr.get("settings") or {}).items():
        rows.append([escape(str(k)), escape(v if isinstance(v, str) else json.dumps(v, default=str))])
    svg = plots.training_history(tr.get("history") or [], tr.get("best_epoch"))
    fig = _plot("Training progress", svg, "Loss should fall; agreement with the teacher should rise.") if svg else ""
    table = _table(["Setting", "Value"], rows, "kv")
    return f'<section><h2>Student training</h2><div class="split">{table}{fig}</div></section>'


def _skipped(r: dict, evaluations=None) -> str:
    """The evaluations of the run's task that did not run, each with why (report["skipped_evaluations"])."""
    from .sections import evaluations_for, title_of

    skipped = r.get("skipped_evaluations")
    if not isinstance(skipped, dict) or not skipped:
        return ""
    titles = {ev.name: title_of(ev) for ev in evaluations_for(r, evaluations, every=True)}
    rows = [[_e(titles.get(str(name), str(name))), _e(why)] for name, why in skipped.items()]
    return (
        "<section><h2>Not measured in this run</h2><p>These evaluations did not run, so this report claims "
        f"nothing about them:</p>{_table(['Evaluation', 'Why not'], rows, 'kv')}</section>"
    )


def _rules(r: dict) -> str:
    from .table_parts import rules_html

    return rules_html(r)


def _footer(r: dict) -> str:
    tm = r.get("timings") or {}
    stages = ", ".join(f"{escape(str(k))} {_fix(v, 1, ' s')}" for k, v in tm.items()) or NA
    fp = _get(r, "labelling", "teacher_fingerprint") or _get(r, "teacher", "fingerprint")
    return (
        f"<footer><p><b>Time per stage:</b> {stages}</p><p>understudy {_e(r.get('understudy_version'))} · "
        f"report schema {_e(r.get('schema_version'))} · teacher fingerprint <code>{_e(fp)}</code> · "
        f"student fingerprint <code>{_e(_get(r, 'student', 'fingerprint'))}</code></p></footer>"
    )


_STYLE = """
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1f2733;background:#f4f6f9;margin:0;line-height:1.45}main{max-width:1100px;margin:0 auto;padding:24px}
header{display:flex;justify-content:space-between;align-items:center;gap:24px;background:#fff;padding:24px;
border-radius:12px;box-shadow:0 1px 3px #0002}h1{margin:0 0 4px;font-size:28px}.sub{color:#667;margin:0 0 8px}
.badge{min-width:170px;text-align:center;color:#fff;font-size:34px;font-weight:800;padding:14px 22px;border-radius:12px;
letter-spacing:2px}.badge small{display:block;font-size:14px;font-weight:600;letter-spacing:0}
.v-pass{background:#2e7d32}.v-warn{background:#e69500}.v-block{background:#c62828}.v-none{background:#777}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:14px;margin:18px 0}
.card{background:#fff;border-radius:12px;padding:16px;box-shadow:0 1px 3px #0002}.card h3{margin:0;font-size:13px;
text-transform:uppercase;color:#667;letter-spacing:.5px}.big{font-size:30px;font-weight:800;margin:6px 0}
.card p{margin:0;font-size:13px;color:#445}section{background:#fff;border-radius:12px;padding:20px 24px;
margin:18px 0;box-shadow:0 1px 3px #0002}
h2{margin-top:0;font-size:20px;border-bottom:2px solid #e6e9ef;padding-bottom:6px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e6e9ef;
vertical-align:top}th{background:#f0f3f7}table.cmp td:first-child,table.kv td:first-child{font-weight:600;width:34%}
.ci{color:#778;font-size:12px}.ok{color:#2e7d32;font-weight:800}.bad{color:#c62828;font-weight:800}
.warn{color:#b36b00;font-weight:800}.na{color:#999;font-style:italic}
.why{font-size:16px;margin:6px 0 10px}.cap,.reason{display:block;font-size:12px;color:#556;font-weight:400}
code.key{color:#889;font-size:10px}
table.flips td:first-child{width:55%;word-break:break-word}figure{margin:16px 0;page-break-inside:avoid}
figcaption{margin-bottom:6px;font-size:14px;color:#445}.split{display:grid;grid-template-columns:1fr 1.3fr;gap:18px}
ol.rules li{margin:3px 0}ol.rules code{font-size:12px;white-space:pre-wrap;word-break:break-word}
footer{color:#667;font-size:12px;padding:8px 4px}code{font-size:11px;word-break:break-all}
@media print{body{background:#fff}main{padding:0}section,header,.card{box-shadow:none;border:1px solid #ddd}
section,.card,header,tr{page-break-inside:avoid}.badge{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
@media (max-width:700px){header,.split{display:block}}
"""


def _safety(report: dict, evaluations=None) -> str:
    from .safety_html import safety_section  # the evaluations' parts use this module's helpers

    return safety_section(report, evaluations)


def write_page(report: dict, sections: str, path: str | pathlib.Path) -> None:
    """One self-contained HTML page around `sections`, written atomically (a reader never sees half a page)."""
    title = escape(f"understudy report: {_get(report, 'run', 'name') or 'run'}")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><main>" + sections + "</main></body></html>\n"
    )
    from ..run.folder import write_atomic
    from .redact import strip_paths

    write_atomic(path, strip_paths(page, pathlib.Path(path).absolute().parent))


def render_html(report: dict, path: str | pathlib.Path, evaluations=None) -> None:
    """Write `report` (a parsed report.json) to `path` as a single self-contained HTML file.

    The "Safe to ship?" section is the evaluations' own parts; `evaluations` (classes) replaces the registered ones.
    """
    write_page(
        report,
        _header(report)
        + _cards(report)
        + _gates(report)
        + _side_by_side(report)
        + _rules(report)
        + _plots(report)
        + _flips(report)
        + _safety(report, evaluations)
        + _skipped(report, evaluations)
        + _data(report)
        + _training(report)
        + _footer(report),
        path,
    )
