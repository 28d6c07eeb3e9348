"""The terminal summary: the few figures a person needs, in one table."""

from __future__ import annotations

VERDICT_STYLE = {"PASS": "bold green", "WARN": "bold yellow", "BLOCK": "bold red"}


def _pct(v):
    return "n/a" if v is None else f"{v:.1%}"


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _ci(q):
    """'0.912 [0.890, 0.931]'; a figure above 100 (an error in the target's unit) with 4 significant digits."""
    if not isinstance(q, dict) or q.get("value") is None:
        return "n/a"
    if max(abs(q["value"]), abs(q.get("low") or 0), abs(q.get("high") or 0)) >= 100:
        return f"{q['value']:.4g} [{q['low']:.4g}, {q['high']:.4g}]"
    return f"{q['value']:.3f} [{q['low']:.3f}, {q['high']:.3f}]"


def _mb(b):
    return "n/a" if b is None else f"{b / 1e6:,.1f} MB"


def _teacher_runtimes(speed: dict) -> list[tuple[str, str]]:
    """One row per runtime the teacher was timed in (texts/s at batch 64); the speed-up is against the fastest
    that counted. A runtime that did not count (int8 whose labels strayed) says why."""
    names = {"torch": "PyTorch", "torch_bf16": "PyTorch bfloat16", "onnx": "ONNX", "onnx_int8": "ONNX int8"}
    runs, parity = speed.get("by_runtime") or {}, speed.get("parity") or {}
    if len(runs) < 2:
        return []
    rows = []
    for key, run in runs.items():
        rate = (run.get("batch_64") or {}).get("texts_per_s")
        if rate is None:
            continue
        said = f"{rate:,.1f}"
        if key == speed.get("runtime"):
            said += " (fastest)"
        elif not run.get("counted", True):
            agree = (parity.get(key) or {}).get("agreement")
            said += " (not used" + (f": {agree:.1%} agree" if isinstance(agree, float) else "") + ")"
        rows.append((f"  batch 64, in {names.get(key, key)}", said))
    return rows


def _gate_lines(report: dict, console) -> None:
    """Why the verdict is what it is, then each check by its plain name with its figure, bound and reason, as
    plain text: reasons quote the user's recipe and command line (a risk-accepted reason, a group name)."""
    from rich.text import Text

    from .verdict import gate_row, shown_results, verdict_sentence

    marks = {"PASS": ("pass", "green"), "SKIPPED": ("skipped", "dim"), "BLOCK": ("BLOCK", "red")}
    for result in shown_results(report):
        g = gate_row(result, (report.get("run") or {}).get("task"))
        said = f"{g.check}: {g.measured}" + (f" (must be {g.bound})" if g.bound and g.status != "SKIPPED" else "")
        if g.evidence:
            said += f" [{g.evidence}]"
        if g.reason and g.status != "PASS":
            said += f" — {g.reason}"
        console.print(Text.assemble("  ", marks.get(g.status, ("warn", "yellow")), "  ", said))
    verdict = str((report.get("gates") or {}).get("verdict") or "PASS")
    console.print(Text.assemble(("why: ", "bold"), verdict_sentence(report)))
    out = str((report.get("run") or {}).get("out") or ".")  # the terminal is this machine's: the real folder
    console.print(
        Text.assemble("verdict: ", (verdict, VERDICT_STYLE.get(verdict, "bold")), f"   report: {out}/report.html")
    )


def _evaluation_lines(report: dict, console, evaluations) -> None:
    """Each evaluation's own lines (its `summary(section)`), printed as plain text: they hold names from the user's
    files (groups, categories), which must not be read as markup."""
    from .sections import evaluations_for, section_of

    for evaluation in evaluations_for(report, evaluations):
        node = section_of(report, evaluation.name)
        if node is None or not hasattr(evaluation, "summary"):
            continue
        for line in evaluation.summary(node):
            console.print(line, markup=False, highlight=False)


def render_summary(report: dict, console, evaluations=None) -> None:
    """The summary of a classification or table run (a regression's R², errors and fidelity in place of F1 and
    agreement); `evaluations` (classes) replaces the registered ones."""
    from rich.table import Table
    from rich.text import Text

    from .words import REGRESSION_TASKS, nouns, ratio_words, usd

    t, s, c = report["teacher"], report["student"], report["comparison"]
    task = report["run"].get("task")
    regression, noun = task in REGRESSION_TASKS, nouns(task)[0]
    table = Table(title=Text(f"understudy: {report['run']['name']}"), show_lines=False)
    table.add_column("")
    table.add_column("teacher", justify="right")
    table.add_column("student", justify="right")
    if regression:  # a number, not a class: R^2 and the size of the misses
        for key, name in (("r2", "R² (95% CI)"), ("mae", "mean absolute error"), ("rmse", "root mean sq. error")):
            table.add_row(name, _ci(t["quality"][key]), _ci(s["quality"][key]))
    else:
        table.add_row("macro-F1 (95% CI)", _ci(t["quality"]["macro_f1"]), _ci(s["quality"]["macro_f1"]))
        table.add_row("accuracy (95% CI)", _ci(t["quality"]["accuracy"]), _ci(s["quality"]["accuracy"]))
        table.add_row("calibration error (ECE)", f"{t['quality']['ece']:.3f}", f"{s['quality']['ece']:.3f}")

    def speed(m, key, fmt):  # an API teacher has no speed of ours: its server's
        return "n/a (API)" if not m.get("speed") else fmt.format(m["speed"][key[0]][key[1]])

    for b in ("batch_1", "batch_64"):
        table.add_row(
            f"{noun}/s, {b.replace('_', ' ')}",
            speed(t, (b, "texts_per_s"), "{:,.1f}"),
            speed(s, (b, "texts_per_s"), "{:,.1f}"),
        )
    for name, row in _teacher_runtimes(t.get("speed") or {}):  # the teacher at its best, each runtime timed
        table.add_row(name, row, "")
    table.add_row(
        "latency p95, batch 1",
        speed(t, ("batch_1", "p95_ms"), "{:,.1f} ms"),
        speed(s, ("batch_1", "p95_ms"), "{:,.2f} ms"),
    )
    table.add_row("size on disk", _mb(t["size_bytes"]), _mb(s["size_bytes"]))
    mem = lambda m: "n/a" if m is None else f"{m:,.0f} MB"  # noqa: E731
    table.add_row("peak memory", mem(t["peak_memory_mb"]), mem(s["peak_memory_mb"]))
    # One way to write dollars everywhere (report/words.py): a teacher at $0.0011 never reads "$0.00" here.
    table.add_row("cost / million predictions", usd(t["cost_per_million_usd"]), usd(s["cost_per_million_usd"]))
    console.print(table)
    if regression:
        fidelity = c.get("fidelity_r2") or {}
        console.print(
            f"quality kept [bold]{_pct(c.get('retention'))}[/] of the teacher's R²  "
            f"fidelity to the teacher (R²) [bold]{_num(fidelity.get('value'))}[/]  "
            f"speed [bold]{ratio_words(c.get('speedup'))}[/]  "
            f"size [bold]{_pct(c.get('size_ratio'))}[/] of the teacher's"
        )
        for name, why in (report.get("skipped_evaluations") or {}).items():
            console.print(f"{name}: not measured ({why})", markup=False, highlight=False)
        _evaluation_lines(report, console, evaluations)
        _gate_lines(report, console)
        return
    flips = c["negative_flips"]
    console.print(
        f"quality kept [bold]{_pct(c['retention'])}[/] of the teacher's  "
        f"same answer as the teacher [bold]{_pct(c['agreement']['value'])}[/]  "
        f"speed [bold]{ratio_words(c['speedup'])}[/]  "
        f"size [bold]{_pct(c['size_ratio'])}[/] of the teacher's  "
        f"new mistakes [bold]{flips['count']}[/] ({_pct(flips['share'])})"
    )
    for line in per_class_lines(report):
        console.print(line, markup=False, highlight=False)
    _evaluation_lines(report, console, evaluations)
    _gate_lines(report, console)


def per_class_lines(report: dict) -> list[str]:
    """The classes the average hides: each class the student keeps under 90% of, and each class the teacher gave
    fewer than training.json's min_labels transfer texts (learnt from too few examples), with counts."""
    from .words import nouns

    per = (report.get("comparison") or {}).get("per_class_retention") or {}
    taught = ((report.get("student") or {}).get("training") or {}).get("teacher_labels") or {}
    noun = nouns((report.get("run") or {}).get("task"))[0]
    lines = []
    for label, c in per.items():
        kept, ci = c.get("retention"), c.get("retention_ci") or {}
        if isinstance(kept, float) and kept < 0.9:
            lines.append(
                f"class '{label}': the student keeps {kept:.1%} of the teacher's F1 (95% range {ci.get('low', 0):.1%}"
                f"–{ci.get('high', 0):.1%}; {c.get('gold')} evaluation {noun} of it)"
            )
    for label, n in (taught.get("rare") or {}).items():
        lines.append(
            f"warning: class '{label}' was learnt from only {n} teacher labels in the transfer set (fewer than "
            f"{taught.get('min_labels')}); add {noun} of it to the transfer set"
        )
    return lines


def render_lm_summary(report: dict, console, evaluations=None) -> None:
    """A language-model run in a few lines: agreement with the teacher before and after, speed, size, gates."""
    from rich.markup import escape

    from .words import ratio_words

    c, s = report["comparison"], report["student"]

    def num(v, fmt="{:.3f}"):
        return "n/a" if v is None else fmt.format(v)

    console.print(
        f"student [bold]{escape(str(s['name']))}[/]: ROUGE-L against the teacher's answers "
        f"{num(c.get('rouge_l_before'))} before -> [bold]{num(c.get('rouge_l_after'))}[/] after; "
        f"embedding similarity {num(c.get('embedding_similarity_before'))} -> {num(c.get('embedding_similarity_after'))}"
    )
    console.print(
        f"speed in tokens/s [bold]{ratio_words(c.get('speedup'))}[/], size [bold]{_pct(c.get('size_ratio'))}[/] "
        f"of the teacher, memory {_pct(c.get('memory_ratio'))}"
    )
    _evaluation_lines(report, console, evaluations)
    _gate_lines(report, console)
