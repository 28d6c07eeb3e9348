"""`understudy licence check`: read a model's licence and terms and say whether it may be distilled, for what use."""

from __future__ import annotations

import json
import sys

import typer

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Read a teacher's licence and terms before distilling it."
)
EXIT = {"ALLOW": 0, "ALLOW_WITH_OBLIGATIONS": 0, "BLOCK": 3, "UNKNOWN": 4}
COLOUR = {"ALLOW": "green", "ALLOW_WITH_OBLIGATIONS": "yellow", "UNKNOWN": "magenta", "BLOCK": "red"}


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
        None, "--declared", help="The licence you know it has (e.g. for a scikit-learn model)."
    ),
    from_teacher: bool = typer.Option(
        False, "--student-from-teacher", help="The student is built from the teacher's own weights."
    ),
    json_mode: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
):
    """Exit status: 0 allow (with or without obligations), 3 BLOCK, 4 UNKNOWN, 2 a bad argument."""
    from rich.console import Console

    from ..errors import UserError
    from ..licences import Use
    from ..licences import check as run_check

    console = Console(stderr=json_mode)
    try:
        if use not in ("commercial", "research"):
            raise UserError(f"--use must be 'commercial' or 'research', not '{use}'")
        if sector not in ("general", "retail", "marketing", "finance", "hr", "healthcare"):
            raise UserError(f"--sector '{sector}' is not one of general, retail, marketing, finance, hr, healthcare")
        result = run_check(
            target,
            Use(commercial=use == "commercial", sector=sector, student_from_teacher=from_teacher),
            declared=declared,
            model=model,
        )
    except UserError as exc:
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)  # it quotes the arguments
        raise typer.Exit(2) from None
    if json_mode:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        render(result, console)
    raise typer.Exit(EXIT[result["verdict"]])


def render(result: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    v = result["verdict"]
    console.print(
        f"licence gate: [bold {COLOUR[v]}]{v}[/] for {'commercial' if result['use']['commercial'] else 'research'} "
        f"use, sector {result['use']['sector']}  ({escape(', '.join(result['targets']))})",
        highlight=False,
    )
    table = Table(show_lines=True)
    for col in ("terms", "whose", "verdict", "why"):
        table.add_column(col, overflow="fold")
    for lic in result["licences"]:
        table.add_row(
            escape(lic["name"]),
            escape(lic["role"]),
            f"[{COLOUR[lic['verdict']]}]{lic['verdict']}[/]",
            escape("\n".join(lic["reasons"])),
        )
    for reason in result["unknown"]:
        table.add_row("?", "", "[magenta]UNKNOWN[/]", escape(reason))
    console.print(table)
    ev = Table(title="evidence", show_lines=False)
    for col in ("where", "read", "means"):
        ev.add_column(col, overflow="fold")
    for e in result["evidence"]:
        where = ":".join(str(x) for x in (e.get("file") or e.get("source"), e.get("line")) if x) + (
            f" [{e['field']}]" if e.get("field") else ""
        )
        ev.add_row(
            escape(where),
            escape(str(e.get("clause") or e["value"])[:200]),
            escape(e.get("licence") or "not recognised"),
        )
    console.print(ev)
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    o = result["obligations"]
    duties = (
        ([f"name the student starting with '{o['name_prefix']}'"] if o["name_prefix"] else [])
        + [f"show '{a}'" for a in o["attribution"]]
        + [f"ship a copy of {c['name']}" for c in o["licence_copies"]]
        + [f"pass on: {r['clause'][:100]}" for r in o["use_restrictions"]]
        + o["other"]
    )
    if duties:
        console.print("obligations (understudy writes them into the student's NOTICE, LICENSE and model card):")
        for d in duties:
            console.print(f"  - {escape(d)}", highlight=False)
    console.print(f"[dim]{result['not_legal_advice']}[/]")
