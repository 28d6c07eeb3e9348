"""The review queue: ids right under concurrency, durable across kill -9, retention, the audit log, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from understudy.errors import UserError
from understudy.oversight import queue as queue_module
from understudy.oversight.queue import AlreadyDecided, ReviewNotFound, ReviewQueue

LABELS = ["great", "other"]


@pytest.fixture
def q(tmp_path):
    with ReviewQueue(tmp_path / "q.sqlite") as queue:
        yield queue


def set_decided(path, item, when: dt.datetime):
    """Backdate a decision (or a queueing) as if it were made long ago."""
    with sqlite3.connect(path) as db:
        db.execute(
            "update reviews set decided = ?, created = ? where id = ?", (when.isoformat(), when.isoformat(), item)
        )


def test_every_id_returned_to_32_threads_maps_to_that_threads_text(q):
    per_thread, out, errors = 40, {}, []
    start = threading.Barrier(32)

    def client(n):
        try:
            start.wait()
            for i in range(per_thread // 2):
                text = f"thread {n} item {i}"
                out[q.add(text, "great", 0.55, [0.55, 0.45])] = text
            texts = [f"thread {n} batch {i}" for i in range(per_thread // 2)]
            ids = q.add_many([(t, "other", 0.5, [0.5, 0.5]) for t in texts])
            out.update(zip(ids, texts))
        except Exception as exc:  # a thread's failure must fail the test, not vanish
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(out) == 32 * per_thread  # no id handed out twice
    wrong = [i for i, text in out.items() if q.get(i)["text"] != text]
    assert wrong == []
    assert q.counts() == {"pending": 32 * per_thread, "decided": 0}


def test_a_returned_id_survives_kill_9(tmp_path):
    path = tmp_path / "q.sqlite"
    script = textwrap.dedent(f"""
        from understudy.oversight.queue import ReviewQueue
        q = ReviewQueue({str(path)!r})
        i = 0
        while True:
            ids = q.add_many([(f"text {{i}}", "great", 0.5, [0.5, 0.5]), (f"text {{i + 1}}", "other", 0.5, [0.5, 0.5])])
            print(ids[0], i, flush=True)
            print(ids[1], i + 1, flush=True)
            i += 2
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    printed = []
    try:
        for line in proc.stdout:
            printed.append(tuple(map(int, line.split())))
            if len(printed) >= 300:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and len(printed) >= 300
    with ReviewQueue(path) as q:
        missing = [(item, n) for item, n in printed if (q.get(item) or {}).get("text") != f"text {n}"]
    assert missing == []


def test_decisions_are_audited_and_a_second_one_needs_correct(q):
    item = q.add("soggy box", "great", 0.52, {"great": 0.52, "other": 0.48})
    assert q.pending()[0]["probs"] == {"great": 0.52, "other": 0.48}
    done = q.decide(item, "other", LABELS, "ann")
    assert done["label"] == "other" and done["before"] == "great" and done["action"] == "decide"
    with pytest.raises(AlreadyDecided, match=f"review {item} is already decided.*'other' by ann.*correct=True"):
        q.decide(item, "great", LABELS, "bob")
    assert q.get(item)["label"] == "other"  # the refused one changed nothing
    q.decide(item, "great", LABELS, "bob", correct=True)
    trail = [(a["item"], a["reviewer"], a["before"], a["after"], a["action"]) for a in q.audit()]
    assert trail == [(item, "ann", "great", "other", "decide"), (item, "bob", "other", "great", "correct")]
    assert all(a["at"] for a in q.audit())
    assert q.get(item)["label"] == "great" and q.get(item)["reviewer"] == "bob"
    assert q.counts() == {"pending": 0, "decided": 1}
    assert [d["id"] for d in q.decided(10)] == [item] and q.pending() == []


def test_of_reviewers_deciding_one_item_at_once_exactly_one_wins(q):
    item = q.add("crunchy meh", "great", 0.5, [0.5, 0.5])
    start, outcomes = threading.Barrier(8), []

    def reviewer(n):
        start.wait()
        try:
            q.decide(item, LABELS[n % 2], LABELS, f"r{n}")
            outcomes.append("won")
        except AlreadyDecided:
            outcomes.append("refused")

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    assert len(q.audit()) == 1 and q.audit()[0]["reviewer"] == q.get(item)["reviewer"]


def test_bad_decisions_change_nothing(q):
    item = q.add("meh", "great", 0.6, [0.6, 0.4])
    with pytest.raises(UserError, match=r"label 'maybe' is not one of \['great', 'other'\]"):
        q.decide(item, "maybe", LABELS)
    with pytest.raises(ReviewNotFound, match="review 99 does not exist"):
        q.decide(99, "great", LABELS)
    assert q.audit() == [] and q.counts() == {"pending": 1, "decided": 0}


@pytest.mark.parametrize("item", [0, -1, 2**63, "3", 1.0, True, None])
def test_an_item_id_must_fit_sqlite(q, item):
    with pytest.raises(UserError, match="positive whole number that fits SQLite's 64-bit integer"):
        q.get(item)
    with pytest.raises(UserError, match="64-bit"):
        q.decide(item, "great", LABELS)


def test_the_largest_id_is_asked_about_not_refused(q):
    assert q.get(2**63 - 1) is None


@pytest.mark.parametrize("limit", [0, 1001, -5, "10", True, 2.5])
def test_limits_outside_1_to_1000_are_refused(q, limit):
    for read in (q.pending, q.decided, q.audit):
        with pytest.raises(UserError, match="limit must be a whole number from 1 to 1000"):
            read(limit)


def test_pages_follow_limit_and_offset(q):
    ids = q.add_many([(f"t{i}", "great", 0.5, [0.5, 0.5]) for i in range(7)])
    assert [r["id"] for r in q.pending(3)] == ids[:3]
    assert [r["id"] for r in q.pending(3, offset=6)] == ids[6:]
    with pytest.raises(UserError, match="offset"):
        q.pending(3, offset=-1)


def test_a_bad_row_adds_nothing(q):
    with pytest.raises(UserError, match="row 1: confidence must be a number from 0 to 1"):
        q.add_many([("fine", "great", 0.5, [0.5, 0.5]), ("bad", "great", 1.5, [0.5, 0.5])])
    with pytest.raises(UserError, match="row 0: text must be a non-empty string"):
        q.add("", "great", 0.5, [0.5, 0.5])
    assert q.counts() == {"pending": 0, "decided": 0}


def test_retention_deletes_old_texts_and_keeps_the_audit(tmp_path):
    path = tmp_path / "q.sqlite"
    now = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    with ReviewQueue(path, keep_decided_days=90, keep_pending_days=None) as q:
        old, recent, waiting = q.add_many([(t, "great", 0.5, [0.5, 0.5]) for t in ("old", "recent", "waiting")])
        q.decide(old, "other", LABELS, "ann")
        q.decide(recent, "other", LABELS, "ann")
        set_decided(path, old, now - dt.timedelta(days=91))
        set_decided(path, recent, now - dt.timedelta(days=89))
        with sqlite3.connect(path) as db:
            db.execute(
                "update reviews set created = ? where id = ?", ((now - dt.timedelta(days=400)).isoformat(), waiting)
            )
        assert q.purge(now) == {"decided": 1, "pending": 0}
        assert q.get(old) is None and q.get(recent)["text"] == "recent"
        assert q.get(waiting)["text"] == "waiting"  # pending kept: keep_pending_days is None
        assert [a["item"] for a in q.audit()] == [old, recent]  # who decided what stays after the text goes
        assert "old" not in json.dumps(q.audit())
    with ReviewQueue(path, keep_decided_days=None, keep_pending_days=30) as q:
        assert q.purge(now) == {"decided": 0, "pending": 1}
        assert q.get(waiting) is None and q.get(recent) is not None


def test_the_queue_purges_at_open_and_every_so_many_adds(tmp_path, monkeypatch):
    path = tmp_path / "q.sqlite"
    long_ago = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    with ReviewQueue(path) as q:
        a, b = q.add_many([("a", "great", 0.5, [0.5, 0.5]), ("b", "great", 0.5, [0.5, 0.5])])
        q.decide(a, "other", LABELS)
        q.decide(b, "other", LABELS)
    set_decided(path, a, long_ago)
    with ReviewQueue(path) as q:
        assert q.get(a) is None and q.get(b) is not None  # purged at open
        monkeypatch.setattr(queue_module, "PURGE_EVERY", 5)
        set_decided(path, b, long_ago)
        q.add_many([(f"n{i}", "great", 0.5, [0.5, 0.5]) for i in range(4)])
        assert q.get(b) is not None
        q.add("fifth", "great", 0.5, [0.5, 0.5])
        assert q.get(b) is None  # the fifth add since open ran a purge


def test_a_queue_written_by_the_previous_version_opens(tmp_path):
    path = tmp_path / "q.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("""create table reviews (
            id integer primary key autoincrement, text text not null, suggested text, confidence real,
            probs text, created text not null, decided text, decided_label text, reviewer text)""")
        db.execute(
            "insert into reviews (text, suggested, confidence, probs, created) values ('x', 'great', 0.5, '[0.5, 0.5]', '2030-01-01T00:00:00+00:00')"
        )
    with ReviewQueue(path) as q:
        assert q.pending()[0]["text"] == "x"
        q.decide(1, "other", LABELS, "ann")
        assert q.audit()[0]["before"] == "great"


def test_the_csv_export_holds_decided_items_only(q, tmp_path):
    tricky = 'said "no", then\nleft'
    a, _, c = q.add_many(
        [(tricky, "great", 0.51, [0.51, 0.49]), ("pending", "great", 0.5, [0.5, 0.5]), ("c", "other", 0.6, [0.4, 0.6])]
    )
    q.decide(a, "other", LABELS, "ann")
    q.decide(c, "other", LABELS)
    text = q.export_csv(tmp_path / "gold.csv")
    assert (tmp_path / "gold.csv").read_text(encoding="utf-8") == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["text", "label", "suggested", "reviewer", "decided_at"]
    assert [(r["text"], r["label"], r["suggested"], r["reviewer"]) for r in rows] == [
        ("c", "other", "other", ""),  # newest decision first
        (tricky, "other", "great", "ann"),
    ]
    assert all(r["decided_at"] for r in rows)
    buffer = io.StringIO()
    assert q.export_csv(buffer) == buffer.getvalue() == text


def test_the_label_studio_export_is_a_choices_import(q, tmp_path):
    a, _ = q.add_many([("crunchy", "great", 0.58, [0.58, 0.42]), ("pending", "great", 0.5, [0.5, 0.5])])
    q.decide(a, "other", LABELS, "ann")
    text = q.export_label_studio(tmp_path / "ls.json", model="tiny-student")
    tasks = json.loads((tmp_path / "ls.json").read_text(encoding="utf-8"))
    assert tasks == json.loads(text) and len(tasks) == 1
    task = tasks[0]
    assert task["data"] == {"text": "crunchy"}
    choice = {"from_name": "label", "to_name": "text", "type": "choices"}
    assert task["annotations"] == [{"result": [{**choice, "value": {"choices": ["other"]}}]}]
    assert task["predictions"] == [
        {"model_version": "tiny-student", "score": 0.58, "result": [{**choice, "value": {"choices": ["great"]}}]}
    ]
    assert task["meta"]["review_id"] == a and task["meta"]["reviewer"] == "ann"
