"""`understudy licence check` and `licence list`: read a model's licence and terms and say whether it may be
distilled, for what use; list every licence value the gate accepts."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap

import typer

from . import exits

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Read a teacher's licence and terms before distilling it."
)
COLOUR = {"ALLOW": "green", "ALLOW_WITH_OBLIGATIONS": "yellow", "UNKNOWN": "magenta", "BLOCK": "red"}
USES = ("commercial", "research")


@app.command()
def check(
    target: str = typer.Argument(
        ...,
        help="A model folder, a .gguf file, builtin:NAME, package:NAME, "
        "PROVIDER:MODEL (openai:gpt-4o-mini) or an API base URL.",
    ),
    use: str = typer.Option("commercial", "--use", help="commercial or research."),
    sector: str = typer.Option("general", "--sector", help="general, retail, marketing, finance, hr or healthcare."),
    model: str = typer.Option(None, "--model", help="With an API base URL: the model id."),
    declared: str = typer.Option(
        None,
        "--declared",
        help="The licence you know it has (e.g. for a scikit-learn model); your own model: 'proprietary: OWNER'.",
    ),
    from_teacher: bool = typer.Option(
        False, "--student-from-teacher", help="The student is built from the teacher's own weights."
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
):
    """Exit status: 0 allow (with or without obligations), 3 BLOCK, 4 UNKNOWN, 2 a bad argument (docs/cli.md)."""
    from rich.console import Console
    from rich.text import Text

    from ..errors import UserError
    from ..licences import Use
    from ..licences import check as run_check
    from ..licences.catalogue import SECTORS
    from .main import did_you_mean

    console = Console(stderr=json_mode)
    try:
        if use not in USES:
            raise UserError(f"--use must be 'commercial' or 'research', not '{use}'{did_you_mean(use, USES)}")
        if sector not in SECTORS:
            raise UserError(f"--sector '{sector}' is not one of {', '.join(SECTORS)}{did_you_mean(sector, SECTORS)}")
        result = run_check(
            target,
            Use(commercial=use == "commercial", sector=sector, student_from_teacher=from_teacher),
            declared=declared,
            model=model,
        )
    except UserError as exc:  # it quotes the arguments: plain text
        console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
        raise typer.Exit(exits.USER_ERROR) from None
    if json_mode:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        render(result, console)
    raise typer.Exit(exits.for_verdict(result["verdict"]))


@app.command("list")
def list_licences(json_mode: bool = typer.Option(False, "--json", help="Print the list as JSON on stdout.")):
    """Every licence value the gate accepts (in a recipe's teacher.licence or --declared), its aliases, and what
    it allows. Nothing is cut to fit the terminal: on a narrow one each licence gets a few lines, wrapped between
    words, and no id or alias is ever split."""
    from ..licences.catalogue import load_catalogue

    rows = []
    for e in load_catalogue().licences:
        value = f"{e.id}: OWNER" if e.kind == "own-model" else e.id
        commercial = e.commercial.allowed
        if e.commercial.monthly_active_users_limit:
            commercial += f" (up to {e.commercial.monthly_active_users_limit:,} monthly users)"
        rows.append(
            {
                "value": value,
                "distillation": e.distillation.allowed,
                "commercial": commercial,
                "kind": e.kind,
                "name": e.name,
                "aliases": [a for a in e.aliases if a != e.id],
            }
        )
    if json_mode:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    width = shutil.get_terminal_size().columns  # honours COLUMNS
    columns = ["value", "distillation", "commercial", "kind", "name", "aliases"]
    table = [[r[c] if c != "aliases" else "; ".join(r[c]) for c in columns] for r in rows]  # aliases hold commas
    text = aligned(columns, table)
    if max(len(line) for line in text.splitlines()) > width:
        text = "\n\n".join(record(r, width) for r in rows)
    typer.echo(text)
    typer.echo(
        "\n"
        + wrap(
            'Your organisation\'s own model: teacher.licence: "proprietary: OWNER" (or own, internal, in-house), '
            "naming the owner. Values are matched ignoring case, spaces and punctuation.",
            width,
        )
    )


def wrap(text: str, width: int, indent: str = "") -> str:
    """Between words only: a word longer than the line (an id, a URL) stays whole on a line of its own."""
    return "\n".join(
        textwrap.wrap(
            text,
            max(width, 20),
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )


def record(row: dict, width: int) -> str:
    """One licence on a narrow terminal: its value on a line, then what it allows and its aliases, indented."""
    keep = str.maketrans(" ", "\u00a0")  # textwrap never breaks at a no-break space: each alias stays whole
    aliases = "; ".join(a.translate(keep) for a in row["aliases"])
    lines = [
        row["value"],
        wrap(
            f"distillation:\u00a0{row['distillation']}; commercial:\u00a0{row['commercial']}; kind:\u00a0{row['kind']}",
            width,
            "  ",
        ).replace("\u00a0", " "),
        wrap(row["name"], width, "  "),
    ] + ([wrap(f"aliases: {aliases}", width, "  ").replace("\u00a0", " ")] if aliases else [])
    return "\n".join(lines)


def aligned(columns: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns: every value in full, whatever the terminal's width."""
    widths = [max([len(c)] + [len(str(r[i])) for r in rows]) for i, c in enumerate(columns)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [columns] + rows)


def render(result: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    v = result["verdict"]
    console.print(
        f"licence gate: [bold {COLOUR[v]}]{v}[/] for {'commercial' if result['use']['commercial'] else 'research'} "
        f"use, sector {result['use']['sector']}  ({escape(', '.join(result['targets']))})",
        highlight=False,
    )
    if result.get("summary"):  # which model each part of the verdict comes from
        console.print(Text(result["summary"]), highlight=False)
    table = Table(show_lines=True)
    for col in ("terms", "whose", "verdict", "why"):
        table.add_column(col, overflow="fold")
    for lic in result["licences"]:
        table.add_row(
            Text(lic["name"]),
            Text(lic["role"]),
            Text(lic["verdict"], style=COLOUR[lic["verdict"]]),
            Text("\n".join(lic["reasons"])),
        )
    for reason in result["unknown"]:
        table.add_row("?", "", Text("UNKNOWN", style="magenta"), Text(reason))
    console.print(table)
    ev = Table(title="evidence", show_lines=False)
    for col in ("where", "read", "means"):
        ev.add_column(col, overflow="fold")
    for e in result["evidence"]:
        where = ":".join(str(x) for x in (e.get("file") or e.get("source"), e.get("line")) if x) + (
            f" [{e['field']}]" if e.get("field") else ""
        )
        read = textwrap.shorten(str(e.get("clause") or e["value"]), 200, placeholder=" …")  # at a word boundary
        ev.add_row(Text(where), Text(read), Text(e.get("licence") or "not recognised"))
    console.print(ev)
    for note in result["notes"]:
        console.print(Text.assemble(("note: ", "yellow"), note), highlight=False)
    o = result["obligations"]
    duties = (
        ([f"name the student starting with '{o['name_prefix']}'"] if o["name_prefix"] else [])
        + [f"show '{a}'" for a in o["attribution"]]
        + [f"ship a copy of {c['name']}" for c in o["licence_copies"]]
        + [f"pass on: {r['clause']}" for r in o["use_restrictions"]]  # in full: rich wraps it between words
        + o["other"]
    )
    if duties:
        console.print("obligations (understudy writes them into the student's NOTICE, LICENSE and model card):")
        for d in duties:  # wrapped between words, with a hanging indent; never cut
            lines = textwrap.wrap(
                d,
                max(console.width - 4, 40),
                initial_indent="  - ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
            console.print(Text("\n".join(lines)), highlight=False, soft_wrap=True)
    console.print(Text(result["not_legal_advice"], style="dim"))
