"""`understudy predict RUN (TEXT... | --input FILE) [--output FILE]`: the student's answers, as `serve` gives them.

The student loads through understudy.load: calibrated confidence, and the oversight decision where it has a
policy. A run whose gates said BLOCK is refused (exit 3), as `serve` refuses it, unless --allow-blocked: then
every answer comes with a warning line on stderr. A file in (CSV, TSV, JSONL, Parquet) comes out in the same
shape: its columns, then label, confidence, one p_<label> per class and defer_to_human; the format out is
--output's suffix.

A table student reads rows: --input FILE with its feature columns (cells parsed as the run's table reader parses
them: the recipe's missing-value cells, numbers written as text), or rows as JSON objects in place of texts
(`understudy predict RUN '{"tenure": 3, "contract": "Month-to-month"}'`). A regression's answer is `value`.
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
            raise UserError(
                "nothing to classify: give texts as arguments, or --input FILE (CSV, TSV, JSONL or Parquet); "
                "a table student takes --input FILE with its feature columns, or rows as JSON objects"
            )
        fmt = out_format(output) if output is not None else None  # a bad suffix fails before the model loads
        model = load_checked(run, allow_blocked)
        if model.schema is not None:
            table, checked = table_input(model, input, list(texts or []), text_column)
            for line in checked.warnings:
                console.print(f"note: {line}", markup=False, highlight=False)
            result, renamed = answer_rows(model, table, checked)
            for old, new in renamed:
                console.print(f"note: the input's column '{old}' is written as '{new}'", markup=False, highlight=False)
            return model, result, fmt, None, checked.rows
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
        return model, result, fmt, column, None

    model, result, fmt, column, rows = _run(go, console)
    if output is not None:
        _run(lambda: write_output(result, output, fmt), console)
        console.print(f"wrote {len(result)} rows to {output}", markup=False, highlight=False)
    elif json_mode:
        import sys

        sys.stdout.write(json_lines(result))
    else:
        print_table(result, model, column, console, rows=rows)


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


def table_input(model, path: Path | None, args: list[str], text_column: str | None):
    """A table student's rows: (the table as given, the rows checked against the student's schema), from --input
    or from JSON objects given as arguments; texts are refused, saying what it reads."""
    import json

    import pandas as pd

    from ..errors import UserError
    from ..serve.predict_rows import check_frame, check_rows, feature_list

    schema = model.schema
    if text_column is not None:
        raise UserError(
            f"--text-column is for text students; {model.name} is a table student and reads its feature columns "
            f"({feature_list(schema)})"
        )
    if path is None:
        rows = []
        for i, arg in enumerate(args):
            try:
                row = json.loads(arg)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise UserError(
                    f"argument {i + 1} is not a row: {model.name} is a table student and reads rows, not texts. "
                    f"Give --input FILE (CSV, TSV, JSONL or Parquet) with its {len(schema.features)} feature columns, "
                    "or each row as a JSON object of them, e.g. understudy predict RUN "
                    f"'{json.dumps(_example(schema), ensure_ascii=False)}'"
                )
            rows.append(row)
        checked = check_rows(schema, rows, mode="json", name=lambda i: f"argument {i + 1}", note_ignored=False)
        return pd.DataFrame(rows), checked
    if path.suffix.lower() not in OUT_FORMATS:
        raise UserError(f"--input {path}: unknown file type '{path.suffix or '(none)'}'; give a {_suffixes()} file")
    if path.is_dir():
        raise UserError(f"--input {path} is a folder: give a CSV, TSV, JSONL or Parquet file")
    from ..data.readers import _read

    table, lines = _read(str(path), None)
    if not len(table):
        raise UserError(f"--input {path} holds no rows: nothing to predict")
    table = table.reset_index(drop=True)

    def at(r: int) -> str:
        return f"{path} row {r + 1}" + (f" (line {lines[r]})" if lines else "")

    checked = check_frame(
        schema,
        table,
        source=f"--input {path}",
        at=at,
        mode="file",
        missing=missing_values(model),
        fix_columns="add them, or rename the file's columns to the student's",
    )
    return table, checked


def _example(schema) -> dict:
    from ..serve.docs import example_row

    return example_row(schema)


def missing_values(model) -> frozenset[str]:
    """The cells the run's table reader read as missing (the recipe's data.missing_values, else its default)."""
    import yaml

    from ..tasks.tabular_recipe import MISSING

    run = model.run if model.run is not None else _export_source_run(model.folder)
    recipe = run / "recipe.yaml" if run is not None else None
    found = None
    if recipe is not None and recipe.is_file():
        try:
            found = ((yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}).get("data") or {}).get("missing_values")
        except (yaml.YAMLError, AttributeError):
            found = None
    values = found if isinstance(found, list) else MISSING
    return frozenset([""] + [str(v) for v in values])


def answer_rows(model, table, checked):
    """The table with label, confidence, p_<label> per class and defer_to_human (with a policy) after its columns;
    a regression's value. An input column of the same name keeps its values under input_<name>."""
    import numpy as np

    rows, n = checked.rows, len(checked)
    chunks = [rows.iloc[i : i + CHUNK] if hasattr(rows, "iloc") else rows[i : i + CHUNK] for i in range(0, n, CHUNK)]
    if model.labels is None:  # checked already: the student itself, not understudy.load's checking again
        values = np.concatenate([np.asarray(model.model.predict(c), dtype=float) for c in chunks])
        return _with_answers(table, {"value": values})
    probs = np.concatenate([np.asarray(model.model.predict_proba(c)) for c in chunks])
    return _with_answers(table, _class_answers(model, probs))


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

    texts = table[column].tolist()
    probs = (
        np.concatenate([model.predict_proba(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)])
        if texts
        else np.zeros((0, len(model.labels)))
    )
    return _with_answers(table, _class_answers(model, probs))


def _class_answers(model, probs) -> dict:
    added = {
        "label": [model.labels[int(i)] for i in probs.argmax(1)],
        "confidence": probs.max(1).astype(float),
        **{f"p_{label}": probs[:, j].astype(float) for j, label in enumerate(model.labels)},
    }
    if model.policy is not None:
        from ..oversight.abstain import decide

        added["defer_to_human"] = decide(probs, model.policy)
    return added


def _with_answers(table, added: dict):
    import pandas as pd

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


def print_table(result, model, column: str | None, console, rows=None) -> None:
    """The answers as a table whose headers are never cut; where the columns cannot all fit the terminal, each
    text as its own block of aligned `name  value` lines instead. A table student's `rows` (as checked: dicts or
    a typed DataFrame) are shown as `col=value, ...` text in the first column."""
    from ..modalities.table import Rows, describe_row

    if model.labels is None:
        ours = ["value"]
    else:
        ours = ["label", "confidence", *(f"p_{label}" for label in model.labels)]
    ours += ["defer_to_human"] if "defer_to_human" in result.columns else []
    answers = [[_cell_text(v) for v in row] for row in result[ours].values.tolist()]
    if column is None:  # a table student: its feature columns, as one line of text per row
        as_dicts = Rows(rows) if hasattr(rows, "iloc") else rows
        lead, first, noun = "row", [describe_row(r, width=80) for r in as_dicts], "row"
    else:
        lead, first, noun = column, [_cell_text(v) for v in result[column].tolist()], "text"
    shown = [lead, *ours]
    rows = [[a, *b] for a, b in zip(first, answers)]
    _print_rows(shown, rows, f"{model.name}: {len(rows):,} {noun}{'' if len(rows) == 1 else 's'}", console)


def _cell_text(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _print_rows(shown: list[str], rows: list[list[str]], title: str, console) -> None:
    from rich.table import Table
    from rich.text import Text

    widths = [max([len(str(c)), *(len(r[i]) for r in rows)]) for i, c in enumerate(shown)]
    # The answer columns at full width (3 per column: its padding and border), the text column what is left.
    left = console.width - sum(widths[1:]) - 3 * len(shown) - 1
    if left >= min(max(widths[0], len(str(shown[0]))), MIN_TEXT_WIDTH):
        table = Table(title=Text(title))
        table.add_column(Text(str(shown[0])), overflow="fold", min_width=min(widths[0], MIN_TEXT_WIDTH))
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
