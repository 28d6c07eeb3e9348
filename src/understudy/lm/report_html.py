"""report.html for a language-model run: one self-contained page in the house style of understudy.report.html.

Every string from the report is HTML-escaped; missing figures show as "n/a".
"""

from __future__ import annotations

import json
import pathlib
from html import escape

from ..report.html import NA, _auto, _date, _e, _fix, _gates, _get, _mb, _num, _pct, _plot, _safety, _table, write_page
from ..report.words import ratio_words, speed_short


def _header(r: dict) -> str:
    use = _get(r, "run", "intended_use") or {}
    return f"""<header><div><h1>{_e(_get(r, "run", "name"))}</h1>
<p class="sub">Language-model distillation report · created {_date(r.get("created"))}</p>
<p><b>Intended use:</b> {_e(use.get("description"))} · <b>Sector:</b> {_e(use.get("sector"))}
{"· commercial" if use.get("commercial") else ""}</p></div>
<div class="badge v-none">{escape(str(_get(r, "student", "training", "method") or "n/a")).upper()}
<small>distillation method</small></div></header>"""


def _cards(r: dict) -> str:
    c, t, s = r.get("comparison") or {}, r.get("teacher") or {}, r.get("student") or {}
    cards = [
        (
            "Agreement with the teacher",
            _fix(c.get("rouge_l_after"), 3),
            f"ROUGE-L on held-out prompts, from {_fix(c.get('rouge_l_before'), 3)} before distillation "
            f"({_fix(c.get('rouge_l_gain'), 1, '×')})",
        ),
        (
            "Meaning kept",
            _fix(c.get("embedding_similarity_after"), 3),
            f"embedding similarity to the teacher's answers, from {_fix(c.get('embedding_similarity_before'), 3)}",
        ),
        (
            "Speed compared with the teacher",
            escape(speed_short(c.get("speedup"))) if isinstance(c.get("speedup"), (int, float)) else NA,
            f"{escape(ratio_words(c.get('speedup')))} in words generated per second "
            f"({_auto(_get(s, 'speed', 'tokens_per_s'))} vs {_auto(_get(t, 'speed', 'tokens_per_s'))})",
        ),
        (
            "Size",
            _pct(c.get("size_ratio")),
            f"of the teacher's: {_mb(s.get('size_bytes'))} vs {_mb(t.get('size_bytes'))} "
            f"(same format); {_pct(c.get('parameter_ratio'))} of its parameters",
        ),
    ]
    j = c.get("judge")
    if isinstance(j, dict) and j.get("judged"):
        cards.append(
            (
                "Teacher as judge",
                f"{_num(j.get('win'))} / {_num(j.get('tie'))} / {_num(j.get('loss'))}",
                f"win / tie / loss for the student over {_num(j.get('judged'))} held-out prompts",
            )
        )
    return (
        '<section class="cards">'
        + "".join(f'<div class="card"><h3>{h}</h3><div class="big">{v}</div><p>{p}</p></div>' for h, v, p in cards)
        + "</section>"
    )


def _side_by_side(r: dict) -> str:
    t, s = r.get("teacher") or {}, r.get("student") or {}
    b, a = _get(s, "before") or {}, _get(s, "after") or {}
    rows = [
        ["Description", _e(t.get("description")), _e(s.get("description"))],
        ["Parameters", _num(t.get("parameters")), _num(s.get("parameters"))],
        ["Size on disk (float32 safetensors)", _mb(t.get("size_bytes")), _mb(s.get("size_bytes"))],
        ["Teacher's own file", _mb(t.get("file_size_bytes")), ""],
        [
            "Tokens per second (one answer at a time)",
            _auto(_get(t, "speed", "tokens_per_s")),
            _auto(_get(s, "speed", "tokens_per_s")),
        ],
        [
            "Time to first token",
            _auto(_get(t, "speed", "time_to_first_token_ms"), " ms"),
            _auto(_get(s, "speed", "time_to_first_token_ms"), " ms"),
        ],
        ["CPU threads used", _e(_get(t, "speed", "threads")), _e(_get(s, "speed", "threads"))],
        ["Peak memory", _fix(t.get("peak_memory_mb"), 0, " MB"), _fix(s.get("peak_memory_mb"), 0, " MB")],
        [
            "Mean answer length",
            _fix(_get(t, "answer_length", "mean_words"), 1, " words"),
            _fix(_get(a, "answer_length", "mean_words"), 1, " words"),
        ],
        [
            "Perplexity on the teacher's answers (lower: closer)",
            _fix(t.get("perplexity_on_own_answers"), 2),
            f"{_fix(b.get('perplexity_on_teacher_answers'), 2)} before → {_fix(a.get('perplexity_on_teacher_answers'), 2)} after",
        ],
        [
            "ROUGE-L against the teacher's answers",
            "1 (reference)",
            f"{_fix(b.get('rouge_l'), 3)} before → {_fix(a.get('rouge_l'), 3)} after",
        ],
        [
            "Embedding similarity to the teacher's answers",
            "1 (reference)",
            f"{_fix(b.get('embedding_similarity'), 3)} before → {_fix(a.get('embedding_similarity'), 3)} after",
        ],
    ]
    return (
        f"<section><h2>Teacher and student side by side</h2>{_table(['', 'Teacher', 'Student'], rows, 'cmp')}</section>"
    )


def _judge(r: dict) -> str:
    j = _get(r, "comparison", "judge")
    if not isinstance(j, dict):
        return f"<section><h2>Teacher as judge</h2><p>{NA} — not run.</p></section>"
    rows = [
        ["Student better (both orders)", _num(j.get("win"))],
        ["Tie (the orders disagree)", _num(j.get("tie"))],
        ["Teacher better (both orders)", _num(j.get("loss"))],
        ["Prompts judged", _num(j.get("judged"))],
    ]
    note = _e(j.get("caveat") or j.get("note"))
    return f"<section><h2>Teacher as judge</h2>{_table(['', ''], rows, 'kv')}<p>{note}</p></section>"


def _examples(r: dict) -> str:
    def cut(x):
        x = str(x or "")
        return escape(x if len(x) <= 600 else x[:600].rstrip() + "…") or NA

    rows = [
        [cut(x.get("prompt")), cut(x.get("teacher")), cut(x.get("student_before")), cut(x.get("student"))]
        for x in r.get("examples") or []
    ]
    table = (
        _table(["Prompt", "Teacher", "Student before", "Student after"], rows, "flips")
        if rows
        else "<p>No examples.</p>"
    )
    return f"<section><h2>Example answers (held-out prompts)</h2>{table}</section>"


def _training(r: dict) -> str:
    from ..report import plots

    tr = _get(r, "student", "training") or {}
    rows = [
        ["Method", _e(tr.get("method"))],
        ["Examples", _num(tr.get("examples"))],
        ["Steps", _num(tr.get("steps"))],
        ["Processes", _num(tr.get("world_size"))],
        ["Time taken", _fix(tr.get("seconds"), 1, " s")],
        ["Loss, first step → last steps", f"{_fix(tr.get('first_loss'), 3)} → {_fix(tr.get('last_loss'), 3)}"],
        ["Trainable parameters", _num(tr.get("trainable_parameters"))],
    ]
    for k, v in (tr.get("settings") or {}).items():
        rows.append([escape(str(k)), escape(v if isinstance(v, str) else json.dumps(v, default=str))])
    history = [{"epoch": h.get("step"), "loss": h.get("loss")} for h in tr.get("history") or []]
    svg = plots.training_history(history, None) if history else ""
    fig = _plot("Training loss", svg, "Loss per step; it should fall.") if svg else ""
    return f'<section><h2>Student training</h2><div class="split">{_table(["Setting", "Value"], rows, "kv")}{fig}</div></section>'


def _data(r: dict) -> str:
    d, te = r.get("data") or {}, r.get("teaching") or {}
    rows = [
        ["Prompts file", _e(d.get("prompts_file"))],
        ["Prompts used", _num(d.get("prompts"))],
        ["For training / held out", f"{_num(d.get('train'))} / {_num(d.get('test'))}"],
        ["Left out as too long", _num(len(d.get("too_long") or []))],
        ["Teacher answers reused / asked", f"{_num(te.get('reused'))} / {_num(te.get('asked'))}"],
        ["Teacher answering time", _fix(te.get("seconds"), 1, " s")],
    ]
    return f"<section><h2>Data</h2>{_table(['', ''], rows, 'kv')}</section>"


def _footer(r: dict) -> str:
    tm = r.get("timings") or {}
    stages = ", ".join(f"{escape(str(k))} {_fix(v, 1, ' s')}" for k, v in tm.items()) or NA
    return (
        f"<footer><p><b>Time per stage:</b> {stages}</p><p>understudy {_e(r.get('understudy_version'))} · "
        f"report schema {_e(r.get('schema_version'))} · teacher fingerprint <code>{_e(_get(r, 'teacher', 'fingerprint'))}</code>"
        f" · student fingerprint <code>{_e(_get(r, 'student', 'fingerprint'))}</code></p></footer>"
    )


def render_lm_html(report: dict, path: str | pathlib.Path) -> None:
    """Write a language-model report.json as one self-contained HTML file."""
    write_page(
        report,
        _header(report)
        + _cards(report)
        + _gates(report)
        + _side_by_side(report)
        + _safety(report)
        + _judge(report)
        + _examples(report)
        + _training(report)
        + _data(report)
        + _footer(report),
        path,
    )
