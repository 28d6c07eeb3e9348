"""The shapes that plug into the engine: teachers, students, evaluations, data kinds and tasks.

Plug-ins are found by name through `understudy.registry` (Python entry points); these protocols say what
each must offer. Importing this module loads nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Teacher(Protocol):
    fingerprint: str  # hash of the model's files (or endpoint + model): keys the store, names the lineage
    provides: frozenset[str]  # the outputs it gives: {"probs"}, {"probs", "embedding"}, {"texts", "top_logprobs"}
    description: str  # one line for people: kind and path

    def predict(self, inputs: Sequence[Any]) -> dict[str, np.ndarray]: ...


@runtime_checkable
class Student(Protocol):
    """scikit-learn manners: fit returns self, predict_proba, save, and a classmethod load(path)."""

    def predict_proba(self, inputs: Sequence[Any]) -> np.ndarray: ...

    def save(self, path: str | Path) -> None: ...


@runtime_checkable
class Modality(Protocol):
    """A data kind: how its inputs are read, keyed in the store, batched and perturbed."""

    name: str

    def key(self, item: Any) -> str: ...  # a hash over the input's bytes: the store's input key

    def batches(self, items: Sequence[Any], batch_size: int) -> Iterator[list[int]]: ...  # indices per batch

    def perturbations(self) -> dict[str, Callable[[Any, np.random.Generator], Any]]: ...

    def describe(self, item: Any) -> str: ...  # plain text for reports and errors


@dataclass
class EvalContext:
    """What an evaluation may read: the evaluation set, both models and their outputs on it."""

    task: str
    recipe: Any  # the resolved recipe
    teacher: Any
    student: Any
    inputs: list  # the evaluation inputs
    student_dir: Path  # where an evaluation may leave what ships with the student (calibration.json, oversight.json)
    progress: Any
    labels: list[str] | None = None  # class names (classification)
    y: np.ndarray | None = None  # gold label indices on `inputs`
    teacher_probs: np.ndarray | None = None
    student_probs: np.ndarray | None = None
    groups: dict[str, list] = field(default_factory=dict)  # sensitive-attribute columns of the evaluation set
    teacher_predict: Callable[[Sequence[Any]], np.ndarray] | None = None  # teacher probs for new inputs, via the store
    student_predict: Callable[[Sequence[Any]], np.ndarray] | None = None
    modality: Any = None
    extra: dict = field(default_factory=dict)  # task-specific: generation puts its prompts and answers here


@runtime_checkable
class Evaluation(Protocol):
    """One check of teacher beside student. Besides these, it declares `figures` (a pydantic model of its section,
    from which docs/report-schema.md is generated), `gates` (understudy.gates.GateDef: the gates that read it),
    `title`, and optional parts for the writers: `html(section, report)`, `summary(section)`,
    `compliance(section, report)`, `regressions(section)`, `limitations(section)` (see report/sections.py)."""

    name: str  # its section of report.json
    tasks: frozenset[str]  # the tasks it applies to
    order: int  # run order (calibration before oversight)

    def enabled(self, recipe: Any) -> str | None: ...  # None when it runs; otherwise why it is off

    def run(self, ctx: EvalContext) -> dict: ...


class Task(Protocol):
    """A task's own work inside the shared stages; the engine owns the order, the folder, the gates and the papers."""

    name: str
    recipe_model: type  # its pydantic recipe (the tagged union's member for this task)
