"""`understudy` commands. Imports are deferred so that `--help` is instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Distil a big model into a small one, and prove the small one is good enough to ship.")

EXIT_USER_ERROR, EXIT_BLOCKED = 2, 3


def _licence_app():
    from .licence import app as licence

    return licence


app.add_typer(_licence_app(), name="licence", help="Read a teacher's licence and terms: `understudy licence check TARGET`.")


def _console(json_mode: bool):
    from rich.console import Console

    # With --json, stdout carries only JSON; people's output goes to stderr.
    return Console(stderr=json_mode)


def _finish(report: dict, json_mode: bool, console) -> None:
    from ..report.summary import render_lm_summary, render_summary

    if json_mode:
        sys.stdout.write(json.dumps(report, indent=2, default=float) + "\n")
    elif report["run"].get("task") == "text-generation":
        render_lm_summary(report, console)
    else:
        render_summary(report, console)
    if report["gates"]["verdict"] == "BLOCK":
        raise typer.Exit(EXIT_BLOCKED)


def _run(fn, console):
    from ..errors import UserError
    from ..licences import LicenceBlocked

    try:
        return fn()
    except LicenceBlocked as exc:
        console.print(str(exc), style="bold red", markup=False, highlight=False)
        raise typer.Exit(EXIT_BLOCKED) from None
    except UserError as exc:
        console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt:
        console.print("[yellow]stopped; teacher outputs stored so far are kept, rerun to resume[/]")
        raise typer.Exit(130) from None


@app.command()
def distill(recipe: Path = typer.Argument(..., help="The recipe YAML file."),
            out: Path = typer.Option(None, "--out", "-o", help="Run folder (default runs/<recipe name>)."),
            json_mode: bool = typer.Option(False, "--json", help="Print report.json to stdout instead of the table."),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
            accept_licence_risk: str = typer.Option(None, "--accept-licence-risk", metavar="REASON",
                                                    help="Go on when the licence gate says UNKNOWN; the reason is recorded.")):
    """Check the teacher's licence, label the transfer set with the teacher, train the student, measure both side by side, apply the gates."""
    console = _console(json_mode)

    def go():
        from ..lm.recipe import is_lm_recipe, load_lm_recipe
        from ..pipeline import distill as run
        from ..progress import Progress
        from ..recipe import load_recipe

        lm = is_lm_recipe(recipe)
        r = load_lm_recipe(recipe) if lm else load_recipe(recipe)
        target = out or Path("runs") / r.name
        console.print(f"understudy distill: [bold]{r.name}[/] ({r.task}) -> {target}")
        if lm:
            from ..lm.pipeline import distill_lm

            return distill_lm(r, target, Progress(console, enabled=not quiet), accept_licence_risk=accept_licence_risk)
        return run(r, target, progress=Progress(console, enabled=not quiet), accept_licence_risk=accept_licence_risk)

    _finish(_run(go, console), json_mode, console)


@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run folder."),
         json_mode: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
         quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars.")):
    """The built-in default: Amazon reviews, an mpnet teacher, a static student."""
    from ..data.demo import RECIPE

    distill(RECIPE, out, json_mode, quiet, None)


@app.command()
def report(run: Path = typer.Argument(..., help="A run folder made by `understudy distill`."),
           json_mode: bool = typer.Option(False, "--json", help="Print report.json to stdout.")):
    """Print a run's summary again and re-render its report.html from report.json."""
    console = _console(json_mode)

    def go():
        from ..errors import UserError
        from ..report.html import render_html

        path = run / "report.json"
        if not path.is_file():
            raise UserError(f"{path} not found: is {run} a run folder made by `understudy distill`?")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
        if data["run"].get("task") == "text-generation":
            from ..lm.report_html import render_lm_html

            render_lm_html(data, run / "report.html")
        else:
            render_html(data, run / "report.html")
        from ..report.compliance import render_compliance

        render_compliance(data, run)
        return data

    _finish(_run(go, console), json_mode, console)


@app.command()
def serve(target: str = typer.Argument(..., help="A run folder (its student), a model folder, a .gguf file or builtin:NAME."),
          host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 to serve your network)."),
          port: int = typer.Option(8000, "--port", help="Port.")):
    """Serve a student (or a teacher) over HTTP: OpenAI-style chat and completions for language models, /v1/classify
    (with the oversight policy and review queue) for classifiers."""
    console = _console(False)

    def go():
        from ..serve.cli import serve as run

        run(target, host=host, port=port)

    _run(go, console)


@app.command()
def keys(task: str = typer.Option("text-classification", "--task", help="text-classification or text-generation.")):
    """List every recipe key with its default and meaning."""
    from rich.console import Console
    from rich.table import Table

    from ..recipe import Recipe, describe_keys

    if task not in ("text-classification", "text-generation"):
        Console(stderr=True).print(f"error: --task is text-classification or text-generation, not '{task}'")
        raise typer.Exit(EXIT_USER_ERROR)
    if task == "text-generation":
        from ..lm.recipe import LMRecipe as model
    else:
        model = Recipe
    table = Table(title=f"recipe keys ({task})")
    for col in ("key", "default", "meaning"):
        table.add_column(col)
    for row in describe_keys(model):
        table.add_row(*row)
    Console().print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
