"""`understudy init --from data.csv`: a commented starting recipe from a data file's columns.

It guesses the text column (the longest free text), a label column (few distinct values) and group-column
candidates, and leaves the teacher for the user to choose: `understudy check` then names that one thing to set.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from ..registry import PLACEHOLDER  # "CHOOSE": not a teacher kind; check and distill stop on it and list the kinds

SAMPLE_ROWS = 2000  # enough rows to tell a label column from free text, quick on any file
MAX_LABELS = 20  # a column with at most this many distinct values (and repeats) reads as labels
GROUP_WORDS = ("gender", "sex", "age", "region", "country", "language", "ethnic", "race", "religion", "nationality")


def init(
    source: Path = typer.Option(..., "--from", help="A CSV (or JSONL, Parquet) of your texts."),
    out: Path = typer.Option(Path("recipe.yaml"), "--out", "-o", help="The recipe to write."),
    task: str = typer.Option("text-classification", "--task", help="The task (text-classification)."),
    evaluation: Path = typer.Option(
        None, "--eval", help="A held-out labelled file for the evaluation set (default: the --from file, if labelled)."
    ),
    name: str = typer.Option(None, "--name", help="The run's name (default: the file's name)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
):
    """Write a starting recipe from a data file's columns; set its teacher, then `understudy check` it."""
    from rich.text import Text

    from .main import _console, _run

    console = _console(False)

    def go():
        from ..errors import UserError

        if task != "text-classification":
            raise UserError(f"--task {task}: init writes text-classification recipes; see docs/lm-distillation.md")
        if out.exists() and not force:
            raise UserError(f"{out} exists; pass --force to overwrite it, or --out another file")
        guess = guess_columns(source)
        held_out = guess_columns(evaluation) if evaluation else None
        text = render(source, guess, out, evaluation=evaluation, held_out=held_out, name=name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        return guess

    guess = _run(go, console)
    say = lambda line: console.print(Text(line), soft_wrap=True)  # noqa: E731  (column names are the user's)
    say(
        f"wrote {out}: text column '{guess['text']}'" + (f", label column '{guess['label']}'" if guess["label"] else "")
    )
    say(f"next: set the teacher in {out}, then run: understudy check {out}")


def guess_columns(path: Path) -> dict:
    """{'text', 'label', 'groups', 'columns', 'rows'} guessed from the file's header and first rows."""
    from ..data.readers import read_table
    from ..errors import UserError

    table = read_table(str(path)).head(SAMPLE_ROWS)
    columns = [str(c) for c in table.columns]
    if table.empty:
        raise UserError(f"{path}: no data rows; init needs a header and some rows of your texts")
    stats = {}
    for col, series in zip(columns, (table[c] for c in table.columns)):
        values = series.dropna().astype(str).str.strip()
        values = values[values != ""]
        stats[col] = {
            "length": float(values.str.len().mean()) if len(values) else 0.0,
            "distinct": int(values.nunique()),
            "filled": len(values),
        }
    text = max(columns, key=lambda c: stats[c]["length"])
    if stats[text]["length"] == 0:
        raise UserError(f"{path}: every column is empty; init needs a column of texts")

    def few(col: str) -> bool:
        s = stats[col]
        return col != text and 2 <= s["distinct"] <= MAX_LABELS and s["distinct"] < max(s["filled"], 1) / 2

    named = [c for c in columns if few(c) and c.lower() in ("label", "labels", "class", "category", "target", "y")]
    groups = [c for c in columns if few(c) and any(w in c.lower() for w in GROUP_WORDS)]
    others = [c for c in columns if few(c) and c not in groups]
    label = (named or others or [None])[0]
    return {"text": text, "label": label, "groups": [g for g in groups if g != label], "columns": columns}


def _q(value: str) -> str:
    """A YAML scalar for a user's column or path (quoted where YAML would read it otherwise)."""
    return value if re.fullmatch(r"[A-Za-z0-9_./-]+", value) and not value[0].isdigit() else json.dumps(value)


def _rel(path: Path, recipe: Path) -> str:
    """The path as the recipe will read it: relative to the recipe's folder where it can be."""
    try:
        return str(path.resolve().relative_to(recipe.resolve().parent))
    except ValueError:
        return str(path.resolve())


def render(source: Path, guess: dict, out: Path, *, evaluation=None, held_out=None, name=None) -> str:
    from .. import registry

    kinds = ", ".join(registry.names(registry.TEACHERS))
    label, groups = guess["label"], guess["groups"]
    run_name = name or re.sub(r"[^A-Za-z0-9_-]+", "-", source.stem).strip("-") or "my-run"
    lines = [
        f"# A starting recipe for {source.name}, written by `understudy init`. Columns: {', '.join(guess['columns'])}.",
        "# Every key, its default and meaning: `understudy keys`. Check it before any teacher call: `understudy check`.",
        f"name: {_q(run_name)}",
        "intended_use:",
        # left empty on purpose: check stops on it until someone writes the sentence (the EU AI Act screen reads it)
        '  description: "" # set this: one sentence on what the student is for and who it affects',
        "  sector: general # general | retail | marketing | finance | hr | healthcare (sets the default gates)",
        "  commercial: true",
        "teacher:",
        f"  kind: {PLACEHOLDER} # set this: one of {kinds}",
        "  # sklearn:     path: models/teacher.skops   (a pipeline saved with skops.io.dump)",
        "  # callable:    target: teacher.py:predict   labels: [a, b]   (a function: texts -> probabilities)",
        "  # openai-api:  labels: [a, b]   api: {base_url: https://api.openai.com/v1, model: gpt-4o-mini,",
        "  #                                     api_key_env: OPENAI_API_KEY}",
        "  # encoder:     path: models/encoder   head: models/head.skops",
        "  # README.md has a recipe for each kind that runs as written.",
        "student:",
        "  kind: static # static (numpy only, fastest) | transformer",
        "  base: builtin:all-MiniLM-L6-v2 # the encoder the student starts from; 'teacher' for an encoder teacher",
        "data:",
        "  transfer: # unlabelled texts of your business: the teacher labels them, the student learns from them",
        f"    path: {_q(_rel(source, out))}",
        f"    text_column: {_q(guess['text'])}",
    ]
    if evaluation is not None:
        lines += [
            "  evaluation: # held-out labelled texts: teacher and student are measured on them",
            f"    path: {_q(_rel(evaluation, out))}",
            f"    text_column: {_q((held_out or guess)['text'])}",
        ]
        eval_label, eval_groups = (held_out or guess)["label"], (held_out or guess)["groups"]
    else:
        lines += [
            "  evaluation: # held-out labelled texts; better a separate file the transfer set does not hold",
            f"    path: {_q(_rel(source, out))}",
            f"    text_column: {_q(guess['text'])}",
        ]
        eval_label, eval_groups = label, groups
    if eval_label:
        lines.append(f"    label_column: {_q(eval_label)}")
    else:
        lines.append("    label_column: label # set this: no column looked like labels (few distinct values)")
    if eval_groups:
        lines.append(f"    group_columns: [{', '.join(_q(g) for g in eval_groups)}] # fairness: compared per group")
    else:
        lines.append("    # group_columns: [gender, age_band] # fairness: teacher and student compared per group")
    lines += [
        "gates: {} # unset gates take the sector's defaults; a bare number blocks when missed, e.g.",
        "  # min_retention: 0.95",
        "",
    ]
    return "\n".join(lines)
