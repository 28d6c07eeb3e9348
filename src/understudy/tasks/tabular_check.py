"""The table tasks' part of `understudy check`: both tables read against each other, the teacher built from its
file, the student kind a table one, and a timed sample of the teacher (its answers stored in the run folder).
Every problem is found before the teacher is asked about the whole set."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import UserError

FEW_TRANSFER, FEW_EVALUATION = 500, 200  # below these a note says the figures will be shaky


def check(recipe, result, *, missing: set[str], licence_ok: bool, out: Path, sample: int = 0) -> None:
    from .. import registry
    from ..data.tables import load_table
    from ..teachers.tabular import build_table_teacher

    regression = recipe.regression
    try:
        cls = registry.load(registry.STUDENTS, recipe.student.kind)
        if not hasattr(cls, "for_table"):
            result.add(
                f"student.kind '{recipe.student.kind}' is not a table student",
                "choose tree, rules or linear (readable) or gbm (fast)",
                kind="student",
            )
    except UserError as exc:
        result.add(str(exc), kind="student")
    d = recipe.data
    paths = {role: recipe.resolve(getattr(d, role).path) for role in ("transfer", "evaluation")}
    if set(paths.values()) & missing:
        return
    try:
        transfer, schema = load_table(d.transfer, paths["transfer"], d, role="transfer", regression=regression)
    except UserError as exc:
        result.add(str(exc), kind="data")
        return
    teacher = None
    if licence_ok:
        try:
            teacher = build_table_teacher(recipe.teacher, recipe.resolve, schema, regression)
        except UserError as exc:
            result.add(f"teacher ({recipe.teacher.kind}): {exc}", kind="teacher")
    labels = None if regression or teacher is None else teacher.labels
    try:
        evaluation, _ = load_table(
            d.evaluation,
            paths["evaluation"],
            d,
            role="evaluation",
            schema=schema,
            regression=regression,
            known_labels=labels,
            require_target=True,
        )
    except UserError as exc:
        result.add(str(exc), kind="data")
        return
    n_t, n_e = len(transfer.inputs), len(evaluation.inputs)
    result.notes.append(
        f"data: {n_t} transfer rows, {n_e} evaluation rows, {len(schema.features)} feature columns "
        f"({sum(c.kind == 'numeric' for c in schema.columns)} numeric, "
        f"{sum(c.kind == 'categorical' for c in schema.columns)} categorical)"
    )
    if n_t < FEW_TRANSFER or n_e < FEW_EVALUATION:
        result.notes.append(f"few rows ({n_t} transfer, {n_e} evaluation): the intervals in the report will be wide")
    if teacher is None or not result.ok or sample <= 0:  # `distill`'s own check times nothing: the run will
        return
    from ..label import label
    from ..modalities.table import TableModality
    from ..store import TeacherStore

    rows = list(transfer.inputs[:sample])
    start = time.perf_counter()
    # the sample's answers go into the run folder's store, as the run's own will: a paid API is never asked twice
    Path(out).mkdir(parents=True, exist_ok=True)
    store = TeacherStore(Path(out) / "teacher.sqlite")
    try:
        if hasattr(teacher, "attach"):
            teacher.attach(store)
        label(teacher, rows, store, batch_size=len(rows), modality=TableModality(schema))
    except UserError as exc:
        result.add(f"teacher ({recipe.teacher.kind}) on the first {len(rows)} transfer rows: {exc}", kind="teacher")
        return
    except Exception as exc:
        result.add(
            f"teacher ({recipe.teacher.kind}) failed on the first {len(rows)} transfer rows: "
            f"{type(exc).__name__}: {exc}",
            "check that the teacher was trained on these columns (data.numeric, data.categorical, data.drop)",
            kind="teacher",
        )
        return
    finally:
        if hasattr(teacher, "close"):
            teacher.close()
        store.close()
    per_row = (time.perf_counter() - start) / max(len(rows), 1)
    total = n_t * (1 + recipe.training.synthetic_rows) + n_e
    result.notes.append(
        f"teacher: answered {len(rows)} rows in {per_row * len(rows):.2f} s; the run asks it about ~{int(total)} rows "
        f"(real, synthetic and evaluation): about {max(per_row * total, 0.1):.1f} s"
    )
