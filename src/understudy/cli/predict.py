"""`understudy predict RUN (TEXT... | --input FILE) [--output FILE]`: the student's answers, as `serve` gives them.

The student loads through understudy.load: calibrated confidence, and the oversight decision where it has a
policy. A run whose gates said BLOCK is refused (exit 3), as `serve` refuses it, unless --allow-blocked: then
every answer comes with a warning line on stderr. A file in (CSV, TSV, JSONL, Parquet) comes out in the same shape: its columns, then label, confidence,
one p_<label> per class and defer_to_human; the format out is --output's suffix.
"""

from __future__ import annotations

from pathlib import Path

import typer

CHUNK = 4096  # texts per call: a big file never sits in the model's memory at once
OUT_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def predict(
    run: str = typer.Argument(..., help="A run folder made by `understudy distill`, its student/ or an export."),
    texts: list[str] = typer.Argument(None, help="Texts to classify (or give --input)."),
    input: Path = typer.Option(None, "--input", "-i", help="A CSV, TSV, JSONL or Parquet file of texts."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write here; the suffix picks the format (.csv .tsv .jsonl .parquet)."
    ),
    text_column: str = typer.Option(
        None, "--text-column", help="The column holding the texts (default: the run's recipe's, else 'text')."
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print JSON lines to stdout instead of a table."),
    allow_blocked: bool = typer.Option(
        False, "--allow-blocked", help="Use a student whose release checks said BLOCK (a warning says so)."
    ),
):
    """Classify texts with a run's student: label, calibrated confidence, each class's probability, and whether the
    oversight policy sends the text to a person."""
    from .main import _console, _run

    console = _console(json_mode)

    def go():
        from ..errors import UserError

        if texts and input is not None:
            raise UserError("give texts as arguments or --input FILE, not both")
        if not texts and input is None:
            raise UserError("nothing to classify: give texts as arguments, or --input FILE (CSV, JSONL or Parquet)")
        fmt = out_format(output) if output is not None else None  # a bad suffix fails before the model loads
        model = load_checked(run, allow_blocked)
        if input is not None:
            column = text_column or default_column(model)
            table = read_input(input, column)
        else:
            import pandas as pd

            check_texts(
                list(texts),
                [f"text argument {i + 1}" for i in range(len(texts))],
                "the texts given",
                fix="give each argument a text, or leave out the empty ones",
            )
            table, column = pd.DataFrame({"text": list(texts)}), "text"
        result, renamed = answer(model, table, column)
        for old, new in renamed:
            console.print(f"note: the input's column '{old}' is written as '{new}'", markup=False, highlight=False)
        return model, result, fmt, column

    model, result, fmt, column = _run(go, console)
    if output is not None:
        _run(lambda: write_output(result, output, fmt), console)
        console.print(f"wrote {len(result)} rows to {output}", markup=False, highlight=False)
    elif json_mode:
        import sys

        sys.stdout.write(json_lines(result))
    else:
        print_table(result, model, column, console)


def load_checked(run: str, allow_blocked: bool):
    """understudy.load, its BLOCK refusal as it is (exit 3); with --allow-blocked, the warning on stderr, once."""
    import warnings

    from rich.console import Console
    from rich.text import Text

    from ..use import BlockedStudentWarning, load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BlockedStudentWarning)  # said below, in the command's own words
        model = load(run, allow_blocked=allow_blocked)
    if model.verdict == "BLOCK":
        Console(stderr=True).print(
            Text.assemble(
                ("warning: ", "bold red"),
                f"the release checks blocked this student ({model.verdict_why}); these answers come only because "
                "of --allow-blocked: do not rely on them",
            )
        )
    return model


def default_column(model) -> str:
    """The text column of the run's recipe (data.evaluation, else data.transfer); 'text' without one."""
    import yaml

    run = model.run
    if run is None:  # an export: the run it came from, where export.json names it
        run = _export_source_run(model.folder)
    recipe = run / "recipe.yaml" if run is not None else None
    if recipe is None or not recipe.is_file():
        return "text"
    try:
        data = (yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}).get("data") or {}
    except yaml.YAMLError:
        return "text"
    for role in ("evaluation", "transfer"):
        column = (data.get(role) or {}).get("text_column") if isinstance(data.get(role), dict) else None
        if isinstance(column, str) and column:
            return column
    return "text"


def _export_source_run(folder: Path) -> Path | None:
    import json

    info = folder / "export.json"
    try:
        source = Path(json.loads(info.read_text(encoding="utf-8")).get("source") or "")
    except (OSError, ValueError, AttributeError):
        return None
    return source.parent if source.name == "student" and (source.parent / "recipe.yaml").is_file() else None


def read_input(path: Path, column: str):
    """The input file as a table, its text column checked (a message names the file and the row's line)."""
    from ..data.readers import _as_text, _read
    from ..errors import UserError

    if path.suffix.lower() not in OUT_FORMATS:
        raise UserError(f"--input {path}: unknown file type '{path.suffix or '(none)'}'; give a {_suffixes()} file")
    if path.is_dir():
        raise UserError(f"--input {path} is a folder: give a CSV, TSV, JSONL or Parquet file")
    table, lines = _read(str(path), None)
    columns = [str(c) for c in table.columns]
    if column not in columns:
        raise UserError(
            f"--input {path}: no column '{column}'; its columns are {columns}. Name the text column with --text-column"
        )
    where = [f"{path} line {n}" for n in lines] if lines else [f"{path} row {i + 1}" for i in range(len(table))]
    values = []
    for i, v in enumerate(table[column].tolist()):
        try:
            values.append(_as_text(v))
        except TypeError as exc:
            raise UserError(f"{where[i]}: column '{column}' {exc}") from None
    check_texts(values, where, str(path))
    table = table.copy()
    table[column] = values
    return table


def check_texts(
    texts: list, where: list[str], source: str, fix: str = "give every row a text, or remove the empty rows"
) -> None:
    from ..errors import UserError

    if not texts:
        raise UserError(f"{source} holds no rows: nothing to classify")
    empty = [i for i, t in enumerate(texts) if t is None or not str(t).strip()]
    if empty:
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise UserError(f"{where[empty[0]]}: the text is empty{more}; {fix}")


def answer(model, table, column: str):
    """The table with label, confidence, p_<label> per class and defer_to_human (with a policy) after its columns.
    An input column of the same name keeps its values under input_<name>."""
    import numpy as np
    import pandas as pd

    texts = table[column].tolist()
    probs = (
        np.concatenate([model.predict_proba(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)])
        if texts
        else np.zeros((0, len(model.labels)))
    )
    added = {
        "label": [model.labels[int(i)] for i in probs.argmax(1)],
        "confidence": probs.max(1).astype(float),
        **{f"p_{label}": probs[:, j].astype(float) for j, label in enumerate(model.labels)},
    }
    if model.policy is not None:
        from ..oversight.abstain import decide

        added["defer_to_human"] = decide(probs, model.policy)
    renamed = []
    out = table.copy()
    for name in added:
        if name in out.columns:
            new = f"input_{name}"
            while new in out.columns or new in added:
                new = f"input_{new}"
            out = out.rename(columns={name: new})
            renamed.append((name, new))
    return pd.concat([out.reset_index(drop=True), pd.DataFrame(added)], axis=1), renamed


def _suffixes() -> str:
    return ", ".join(OUT_FORMATS)


def out_format(path: Path) -> str:
    from ..errors import UserError

    fmt = OUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"--output {path}: unknown file type '{path.suffix or '(none)'}'; end it with {_suffixes()}")
    if not path.parent.is_dir():
        raise UserError(f"--output {path}: the folder {path.parent} does not exist; create it first")
    return fmt


def json_lines(table) -> str:
    """One JSON object per row, each line ended (pandas ends the last line or not, by version)."""
    text = table.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n")
    return text + "\n" if text else ""


def write_output(table, path: Path, fmt: str) -> None:
    from ..errors import UserError

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt in ("csv", "tsv"):
            table.to_csv(tmp, index=False, sep="\t" if fmt == "tsv" else ",")
        elif fmt == "jsonl":
            tmp.write_text(json_lines(table), encoding="utf-8")
        else:
            table.to_parquet(tmp, index=False)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"--output {path}: cannot write it: {exc.strerror or exc}") from None


def print_table(result, model, column: str, console) -> None:
    """The answers as a table whose headers are never cut; where the columns cannot all fit the terminal, each
    text as its own block of aligned `name  value` lines instead."""
    from rich.table import Table
    from rich.text import Text

    ours = ["label", "confidence", *(f"p_{label}" for label in model.labels)]
    shown = [column, *ours, *(["defer_to_human"] if "defer_to_human" in result.columns else [])]
    n = len(result)
    title = f"{model.name}: {n:,} text{'' if n == 1 else 's'}"
    rows = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in result[shown].values.tolist()]
    widths = [max([len(str(c)), *(len(r[i]) for r in rows)]) for i, c in enumerate(shown)]
    # The answer columns at full width (3 per column: its padding and border), the text column what is left.
    left = console.width - sum(widths[1:]) - 3 * len(shown) - 1
    if left >= min(max(widths[0], len(str(column))), MIN_TEXT_WIDTH):
        table = Table(title=Text(title))
        table.add_column(Text(str(column)), overflow="fold", min_width=min(widths[0], MIN_TEXT_WIDTH))
        for c, w in zip(shown[1:], widths[1:]):
            table.add_column(Text(str(c)), no_wrap=True, min_width=w, justify="left" if c == "label" else "right")
        for r in rows:
            table.add_row(*(Text(v) for v in r))
        console.print(table)
        return
    console.print(Text(title, style="bold"))
    for r in rows:
        block = Table.grid(padding=(0, 2))
        block.add_column(no_wrap=True, style="bold")
        block.add_column(overflow="fold")
        for c, v in zip(shown, r):
            block.add_row(Text(str(c)), Text(v))
        console.print()
        console.print(block)


MIN_TEXT_WIDTH = 20  # below this, the text column reads as broken words: the answers go one block per text
