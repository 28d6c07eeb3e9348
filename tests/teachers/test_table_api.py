"""Kind openai-api for tables: each row asked as 'column: value' lines of a real HTTP server (tests/api_server.py),
every answer stored, nothing asked twice, the API teacher's reports with rows in place of texts."""

from __future__ import annotations

import numpy as np
import pytest
from api_server import FakeLLM, brain
from conftest import LABELS

from understudy.api import ApiSettings
from understudy.errors import UserError
from understudy.label import label
from understudy.modalities.table import Column, Rows, TableModality, TableSchema
from understudy.recipe import TeacherSpec
from understudy.store import TeacherStore
from understudy.teachers.api import KIND_ANSWER
from understudy.teachers.api_table import render_row
from understudy.teachers.tabular import build_table_teacher

pytest.importorskip("httpx")

SCHEMA = TableSchema([Column("visits", "numeric"), Column("note", "categorical"), Column("spend", "numeric")])
NOTES = ["great service", "awful wait", "love the staff", "terrible parking", "ok", None]


def rows(n: int = 12) -> Rows:
    data = [
        {"visits": float(i % 5) if i % 4 else None, "note": NOTES[i % len(NOTES)], "spend": 12.5 + i} for i in range(n)
    ]
    return Rows(SCHEMA.frame(data))


def spec(url: str, **api) -> TeacherSpec:
    settings = ApiSettings(base_url=url, model="fake", backoff_s=0.01, backoff_max_s=0.05, timeout_s=5, **api)
    return TeacherSpec(kind="openai-api", labels=LABELS, api=settings)


def test_rows_are_rendered_one_column_a_line_in_the_schema_order():
    row = {"spend": 12.5, "note": None, "visits": 3.0}
    assert render_row(row, SCHEMA.features) == "visits: 3\nnote: (missing)\nspend: 12.5"
    assert render_row({"visits": 0.1, "note": " two\nwords ", "spend": 1e20}, SCHEMA.features) == (
        "visits: 0.1\nnote: two words\nspend: 1e+20"
    )


def test_each_row_is_asked_as_text_and_stored_so_a_rerun_asks_nothing(tmp_path):
    batch = rows()
    texts = [render_row(r, SCHEMA.features) for r in batch]
    modality = TableModality(SCHEMA)
    with FakeLLM() as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = build_table_teacher(spec(srv.url), lambda p: p, SCHEMA)
        assert teacher.labels == LABELS and teacher.provides == frozenset({"probs"}) and teacher.files == []
        assert teacher.fingerprint != teacher.inner.fingerprint and "as text" in teacher.description
        teacher.attach(store)
        out, stats = label(teacher, list(batch), store, batch_size=5, modality=modality)
        assert stats.asked == len(batch)
        for row, text in zip(out["probs"], texts):
            assert np.allclose(row, brain(text, LABELS), atol=1e-5), text  # the server saw the rendered row
        sent = {b["messages"][-1]["content"] for b in srv.bodies.values()}
        assert sent == set(texts)
        system = next(iter(srv.bodies.values()))["messages"][0]["content"]
        assert system.startswith("Classify the table row the user sends")
        assert teacher.labelled_mask(list(batch)).all() and len(teacher.outcomes(batch)) == len(batch)
        report = teacher.report(list(batch))
        assert report["labelled"] == len(batch) and report["inputs"].startswith("rows as text")
        assert store.count(teacher.inner.fingerprint, KIND_ANSWER) == len(batch)
        teacher.close()

        asked = sum(srv.received.values())
        again = build_table_teacher(spec(srv.url), lambda p: p, SCHEMA).attach(store)
        assert again.fingerprint == teacher.fingerprint
        assert np.array_equal(again.predict(batch)["probs"], out["probs"])
        assert sum(srv.received.values()) == asked  # every answer came from the store


def test_a_task_the_recipe_sets_is_kept_and_the_fingerprint_follows_the_columns():
    with FakeLLM() as srv:
        teacher = build_table_teacher(spec(srv.url, task="Will this customer come back?"), lambda p: p, SCHEMA)
        assert teacher.inner.settings.task == "Will this customer come back?"
        renamed = TableSchema(
            [Column("visits", "numeric"), Column("comment", "categorical"), Column("spend", "numeric")]
        )
        other = build_table_teacher(spec(srv.url, task="Will this customer come back?"), lambda p: p, renamed)
        assert other.fingerprint != teacher.fingerprint and other.inner.fingerprint == teacher.inner.fingerprint


def test_regression_through_an_api_is_refused_with_the_fix():
    with pytest.raises(UserError, match="tabular-regression needs a local teacher"):
        build_table_teacher(spec("http://127.0.0.1:9/v1"), lambda p: p, SCHEMA, regression=True)
