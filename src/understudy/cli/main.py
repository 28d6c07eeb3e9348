"""`understudy` commands. Imports are deferred so that `--help` is instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from . import exits

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Distil a big model into a small one, and prove the small one is good enough to ship.",
)

EXIT_USER_ERROR, EXIT_BLOCKED = exits.USER_ERROR, exits.BLOCK  # the old names; new code imports cli.exits


@app.callback()
def _entry() -> None:
    """Runs before every command: third-party load reports and progress bars stay off the user's terminal."""
    from ..quiet import silence

    silence()


def did_you_mean(value: str, choices) -> str:
    """The ' (did you mean ...?)' to add to a message about a misspelt value; '' when nothing is near."""
    import difflib

    near = difflib.get_close_matches(value, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""


def _licence_app():
    from .licence import app as licence

    return licence


app.add_typer(
    _licence_app(), name="licence", help="Read a teacher's licence and terms: `understudy licence check TARGET`."
)


def _access_apps():
    from .access import api_keys, reviewers

    return api_keys, reviewers


from .export import export as export_command  # noqa: E402  (typer only at its top: --help stays instant)

app.command(name="export")(export_command)
app.command(name="check")(__import__(f"{__package__}.check", fromlist=["check"]).check)
app.command(name="init")(__import__(f"{__package__}.init", fromlist=["init"]).init)
app.command(name="predict")(__import__(f"{__package__}.predict", fromlist=["predict"]).predict)
app.add_typer(_access_apps()[0], name="api-keys")
app.add_typer(_access_apps()[1], name="reviewers")


def _console(json_mode: bool):
    from rich.console import Console

    # With --json, stdout carries only JSON; people's output goes to stderr.
    return Console(stderr=json_mode)


def _finish(report: dict, json_mode: bool, console, strict: bool = False) -> None:
    from ..report.summary import render_lm_summary, render_summary

    if json_mode:
        sys.stdout.write(json.dumps(report, indent=2, default=float) + "\n")
    elif report["run"].get("task") == "text-generation":
        render_lm_summary(report, console)
    else:
        render_summary(report, console)
    code = exits.for_verdict(report["gates"]["verdict"], strict=strict)
    if code:
        raise typer.Exit(code)


def _run(fn, console):
    from ..errors import UserError
    from ..licences import LicenceBlocked

    try:
        return fn()
    except LicenceBlocked as exc:  # BLOCK exits 3, UNKNOWN 4, as `licence check` does
        console.print(str(exc), style="bold red", markup=False, highlight=False)
        raise typer.Exit(exits.for_verdict(exc.result["verdict"])) from None
    except UserError as exc:
        from rich.text import Text

        # The message may quote the user's files: plain text, never markup.
        console.print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(getattr(exc, "exit_code", exits.USER_ERROR)) from None
    except KeyboardInterrupt:
        console.print("stopped; teacher outputs stored so far are kept, rerun to resume", style="yellow")
        raise typer.Exit(exits.INTERRUPTED) from None


@app.command()
def distill(
    recipe: Path = typer.Argument(..., help="The recipe YAML file."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default runs/<recipe name>)."),
    json_mode: bool = typer.Option(False, "--json", help="Print report.json to stdout instead of the table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    start: str = typer.Option(
        "teach",
        "--from",
        metavar="STAGE",
        help="Start at this stage (teach, train, evaluate, gate, package), reusing what "
        "the earlier stages left in the run folder; the licence gate always runs first.",
    ),
    stop: str = typer.Option("package", "--to", metavar="STAGE", help="Stop after this stage."),
    accept_licence_risk: str = typer.Option(
        None,
        "--accept-licence-risk",
        metavar="REASON",
        help="Go on when the licence gate says UNKNOWN; the reason is recorded.",
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when the gates say WARN (default: 0)."),
):
    """Check the teacher's licence, have the teacher answer the transfer set, train the student, measure both side by
    side, apply the gates and write what ships."""
    console = _console(json_mode)

    def go():
        from ..progress import Progress
        from ..recipe import load_recipe
        from ..run import distill as run

        r = load_recipe(recipe)
        target = out or Path("runs") / r.name
        console.print(f"understudy distill: {r.name} ({r.task}) -> {target}", markup=False, highlight=False)
        return run(
            r,
            target,
            progress=Progress(console, enabled=not quiet),
            accept_licence_risk=accept_licence_risk,
            start=start,
            stop=stop,
        )

    report = _run(go, console)
    if report:
        _finish(report, json_mode, console, strict)
    else:
        console.print(f"stopped after the {stop} stage; continue with --from", markup=False, highlight=False)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run folder."),
    json_mode: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """The built-in default: Amazon reviews, an mpnet teacher, a static student."""
    from ..data.demo import RECIPE

    distill(RECIPE, out, json_mode, quiet, "teach", "package", None, False)


@app.command()
def report(
    run: Path = typer.Argument(..., help="A run folder made by `understudy distill`."),
    json_mode: bool = typer.Option(False, "--json", help="Print report.json to stdout."),
):
    """Print a run's summary again and re-render its report.html from report.json."""
    console = _console(json_mode)

    def go():
        from ..errors import UserError
        from ..report.compliance import render_compliance
        from ..run import RunFolder
        from ..run.engine import task_for

        folder = RunFolder(run)
        if not (run / "report.json").is_file():
            raise UserError(f"{run / 'report.json'} not found: is {run} a run folder made by `understudy distill`?")
        folder.require_evaluated("understudy report")
        data = folder.read_json("report.json")

        task_for(data["run"].get("task", "text-classification")).render_html(data, run / "report.html")
        render_compliance(data, run)
        return data

    _finish(_run(go, console), json_mode, console)


@app.command()
def serve(
    target: str = typer.Argument(..., help="A run folder (its student), a model folder, a .gguf file or builtin:NAME."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 to serve your network)."),
    port: int = typer.Option(8000, "--port", help="Port."),
    keys: str | None = typer.Option(
        None, "--keys", help="The key file (default: $UNDERSTUDY_KEYS, else ~/.understudy/keys.sqlite)."
    ),
    allow_blocked: bool = typer.Option(
        False, "--allow-blocked", help="Serve a student whose gates said BLOCK (/health then says so to every caller)."
    ),
    max_body_mb: float = typer.Option(1.0, "--max-body-mb", min=0.001, help="Largest request body, in MB (413 above)."),
    max_batch: int = typer.Option(
        256, "--max-batch", min=1, help="Most texts in one /v1/classify request (413 above)."
    ),
    keep_decided_days: float = typer.Option(
        90, "--keep-decided-days", min=0, help="Days a decided review item keeps its text (the audit log stays)."
    ),
    keep_pending_days: float | None = typer.Option(
        None,
        "--keep-pending-days",
        min=0,
        help="Days a pending review item waits before it is dropped (default: kept).",
    ),
    access_log: bool = typer.Option(
        False, "--access-log", help="Log one line per request (off by default: it costs about a third of the p99)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="The model id clients see (default: the student's name from the run)."
    ),
):
    """Serve a student (or a teacher) over HTTP, behind API keys: OpenAI-style chat and completions for language
    models; /v1/classify with the oversight policy, the review queue and the review desk for classifiers."""
    console = _console(False)

    def go():
        from rich.text import Text

        from ..serve.cli import serve as run

        run(
            target,
            host=host,
            port=port,
            keys_file=keys,
            allow_blocked=allow_blocked,
            max_body_mb=max_body_mb,
            max_batch=max_batch,
            keep_decided_days=keep_decided_days,
            keep_pending_days=keep_pending_days,
            access_log=access_log,
            name=name,
            say=lambda line: console.print(Text(line), soft_wrap=True),
        )

    _run(go, console)


@app.command()
def keys(
    task: str = typer.Option(
        "text-classification",
        "--task",
        help="A registered task: text-classification, text-generation, or one a plug-in adds.",
    ),
):
    """List every recipe key of a task with its default and meaning. Key names are never cut."""
    import shutil

    from rich.console import Console
    from rich.text import Text

    from .. import registry
    from ..errors import UserError
    from ..recipe import describe_keys, recipe_model

    try:
        tasks = registry.names(registry.TASKS)
        if tasks and task not in tasks:
            raise UserError(f"unknown task '{task}'{did_you_mean(task, tasks)}; the known tasks: {', '.join(tasks)}")
        model = recipe_model(task)
    except UserError as exc:  # it quotes the argument: plain text
        Console(stderr=True).print(Text.assemble(("error: ", "bold red"), "--task: ", str(exc)), highlight=False)
        raise typer.Exit(exits.USER_ERROR) from None
    typer.echo(key_table(describe_keys(model), shutil.get_terminal_size().columns, title=f"recipe keys ({task})"))


def key_table(rows, columns: int, *, title: str) -> str:
    """Plain aligned text: key and default in full; the meaning wrapped between words into what width is left."""
    import functools
    import textwrap

    wrap = functools.partial(textwrap.wrap, break_long_words=False, break_on_hyphens=False)
    kw = max(len("key"), *(len(k) for k, _, _ in rows))
    dw = max([len("default")] + [len(d) for _, d, _ in rows if len(d) <= 24])
    indent = kw + dw + 4
    room = columns - indent
    out = [title, f"{'key'.ljust(kw)}  {'default'.ljust(dw)}  meaning"]
    for key, default, meaning in rows:
        head = f"{key.ljust(kw)}  {default.ljust(dw)}  " if len(default) <= dw else f"{key}  {default}"
        if room >= 30 and len(default) <= dw:
            lines = wrap(meaning, room) or [""]
            out.append((head + lines[0]).rstrip())
            out += [" " * indent + ln for ln in lines[1:]]
        else:  # too narrow beside the key, or a long default: the meaning goes below, indented
            out.append(head.rstrip())
            out += ["    " + ln for ln in wrap(meaning, max(columns - 4, 30))]
    return "\n".join(out)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
