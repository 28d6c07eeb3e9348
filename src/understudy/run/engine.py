"""The one flow: licence -> teach -> train -> evaluate -> gate -> package, the same for every task.

A task (understudy.tasks, found through the registry) does its own work inside teach, train and evaluate;
the engine owns the order, the run folder, the plan made before any model loads, the gates and the papers.
Each stage reads what the stages before it left in the run folder, so any stage re-runs alone:
`understudy distill RECIPE --out RUN --from evaluate`.
"""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UserError
from ..progress import QUIET, Progress
from .folder import STAGES, RunFolder, recipe_hash


@dataclass
class Run:
    """What a task's stages share: the recipe, the folder, progress, timings, and the task's own state."""

    recipe: Any  # as the user wrote it
    folder: RunFolder
    progress: Progress
    accept_licence_risk: str | None = None
    licence: dict | None = None
    timings: dict = field(default_factory=dict)
    resolved: Any = None  # the recipe with defaults resolved (the task sets it in prepare)
    state: dict = field(default_factory=dict)  # the task's own, between its stages in one process

    @contextmanager
    def timed(self, name: str):
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 2)

    def header(self) -> dict:
        r = self.resolved or self.recipe
        return {
            "schema_version": 1,
            "understudy_version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "run": {
                "name": r.name,
                "task": r.task,
                "out": str(self.folder.path.resolve()),
                "intended_use": r.intended_use.model_dump(),
            },
        }


def task_for(task: str) -> Any:
    """The task plug-in registered under `task` (understudy.tasks)."""
    from .. import registry

    return registry.load(registry.TASKS, task)()


def distill(
    recipe,
    out: str | Path,
    *,
    progress: Progress = QUIET,
    accept_licence_risk: str | None = None,
    start: str = "teach",
    stop: str = "package",
) -> dict:
    """Run the stages from `start` to `stop` (the licence gate always runs first); returns report.json's content
    (an empty dict when the run stops before the gate)."""
    for name, value in (("--from", start), ("--to", stop)):
        if value not in STAGES:
            raise UserError(f"{name} {value!r} is not a stage; the stages are {', '.join(STAGES)}")
    first, last = STAGES.index(start), STAGES.index(stop)
    if first > last:
        raise UserError(f"--from {start} comes after --to {stop}; the stages run in the order {', '.join(STAGES)}")
    from ..check import RecipeProblems, check

    folder = RunFolder(out)
    run = Run(recipe=recipe, folder=folder, progress=progress, accept_licence_risk=accept_licence_risk)
    # `understudy check`, without its timed sample: every problem that can be known before the teacher is asked
    # anything (files, columns, labels, gates, the student against the teacher kind, API settings) fails now, all
    # together, not an hour and a paid labelling in. A licence gate that alone stops the run is left to its stage,
    # which records licence.json and exits as a BLOCK.
    found = check(recipe, out=folder.path, accept_licence_risk=accept_licence_risk)
    if any(p.kind != "licence" for p in found.problems):
        raise RecipeProblems(found)
    if found.estimate is not None and start == "teach":
        progress.note(found.estimate.lines()[0])
    task = task_for(recipe.task)
    with folder.lock(progress):
        try:
            with run.timed("licence gate"):
                licence_stage(run)
            recipe_yaml = recipe.to_yaml()
            for earlier in STAGES[1:first]:
                folder.require(earlier, f"--from {start}")
                if folder.stages()[earlier].get("recipe") != recipe_hash(recipe_yaml):
                    progress.note(
                        f"note: the {earlier} stage in {folder.path} ran from another version of this recipe; "
                        f"its outputs are reused as they are (rerun --from {earlier} to redo them)"
                    )
            for stage in STAGES[max(first, 1) : last + 1]:
                folder.start(stage, recipe_yaml)
                facts = STAGE_RUNNERS[stage](task, run) or {}
                folder.finish(stage, **facts)
        finally:
            close = getattr(task, "close", None)
            if close is not None:
                close(run)
    if last < STAGES.index("gate"):
        return {}
    return folder.read_json("report.json") or {}


def licence_stage(run: Run) -> None:
    """Nothing is loaded or asked of the teacher before its terms allow it."""
    from ..licences import LicenceBlocked, gate_recipe, summary_line, write_result

    folder = run.folder
    result = gate_recipe(run.recipe, accept_risk=run.accept_licence_risk)
    write_result(result, folder.path)
    run.licence = result
    run.progress.note(summary_line(result))  # which model's terms gave the verdict, not the verdict alone
    if not result["proceed"]:
        raise LicenceBlocked(result)
    folder.record("licence", verdict=result["verdict"])


def _teach(task, run: Run) -> dict:
    return task.teach(run)


def _train(task, run: Run) -> dict:
    return task.train(run)


def _evaluate(task, run: Run) -> dict:
    report = {**run.header(), "licence": run.licence, **task.evaluate(run)}
    from .folder import student_fingerprint

    # Taken after every file the evaluation leaves in student/ (calibration, oversight), before the papers.
    report["student"]["fingerprint"] = student_fingerprint(run.folder / "student")
    report["timings"] = run.timings
    run.folder.write_json("report.json", report)
    return {"student_fingerprint": report["student"]["fingerprint"]}


def _gate(task, run: Run) -> dict:
    from ..gates import check

    report = run.folder.read_json("report.json")
    if report is None:
        raise UserError(f"{run.folder / 'report.json'} is missing; rerun from the evaluate stage")
    resolved = run.resolved
    if resolved is None:  # --from gate: the gates need only the sector profile, not the models
        resolved = run.recipe.model_copy(deep=True)
        resolved.gates = resolved.gates.with_sector(resolved.intended_use.sector)
    report["gates"] = check(resolved, report)
    report["licence"] = run.licence
    run.folder.write_json("report.json", report)
    return {"verdict": report["gates"]["verdict"]}


def _package(task, run: Run) -> dict:
    """What ships with the student and what a boss or an auditor reads, all from report.json."""
    from ..licences.ship import card_metadata, write_licence, write_notice
    from ..report.compliance import render_compliance
    from ..report.model_card import render_model_card

    folder = run.folder
    report = folder.read_json("report.json")
    licence = run.licence or {}
    student_dir = folder / "student"
    write_notice(licence, student_dir, report["teacher"]["description"])
    write_licence(licence, student_dir, report["teacher"]["description"])
    task.render_html(report, folder / "report.html")
    render_compliance(report, folder.path)
    card = render_model_card(report, {**licence, **card_metadata(licence)} if licence else None)
    folder.write_text("student/README.md", card)
    return {}


STAGE_RUNNERS = {"teach": _teach, "train": _train, "evaluate": _evaluate, "gate": _gate, "package": _package}
