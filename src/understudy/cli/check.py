"""`understudy check RECIPE`: every problem found before the teacher is asked anything, then the labelling's
time and cost. Exit 0 when there is none; when the licence gate's BLOCK or UNKNOWN is the only kind of problem,
3 or 4 as for `distill` and `licence check` (understudy.cli.exits); 2 (a user error) for any other problem."""

from __future__ import annotations

from pathlib import Path

import typer


def check(
    recipe: Path = typer.Argument(..., help="The recipe YAML file."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder the distillation will use (default runs/<name>)."),
    no_sample: bool = typer.Option(
        False, "--no-sample", help="Do not time the teacher on a few texts (nothing is asked of it)."
    ),
    sample: int = typer.Option(8, "--sample", min=1, help="Texts to label and time for the estimate (stored)."),
    accept_licence_risk: str = typer.Option(
        None,
        "--accept-licence-risk",
        metavar="REASON",
        help="As for distill: go on when the licence gate says UNKNOWN.",
    ),
):
    """Check a recipe before paying for anything: the recipe, its files and columns, the labels, the licence gate,
    the student against the teacher, the gates, the API settings, the output folder; then how many texts the
    teacher will label and how long (and, for an API teacher, how much) that takes."""
    from rich.text import Text

    from .exits import USER_ERROR, for_verdict
    from .main import _console, _run

    console = _console(False)

    def say(text: str, style: str = "") -> None:
        console.print(Text(text, style=style), soft_wrap=True)  # recipe values and file contents: plain text

    def go():
        from ..check import check_file

        return check_file(recipe, out=out, sample=0 if no_sample else sample, accept_licence_risk=accept_licence_risk)

    result = _run(go, console)
    for note in result.notes:
        say(f"note: {note}", "dim")
    if result.estimate is not None:
        for line in result.estimate.lines():
            say(line)
    if result.problems:
        say(f"{len(result.problems)} problem{'s' if len(result.problems) != 1 else ''}:", "bold red")
        for i, problem in enumerate(result.problems, 1):
            say(f"{i}. {problem}")
        verdicts = {p.verdict for p in result.problems if p.kind == "licence" and p.verdict}
        if len(verdicts) == 1 and all(p.kind == "licence" for p in result.problems):
            raise typer.Exit(for_verdict(verdicts.pop()))  # the licence verdict alone: the code distill gives it
        raise typer.Exit(USER_ERROR)
    # the same --out as this check: the run folder holds the answers sampled here, so they are not asked again
    folder = out if out is not None else result.out
    say(f"ok: {recipe} is ready; run: understudy distill {recipe}" + (f" --out {folder}" if folder else ""), "green")
