"""The review queue: predictions the student defers to a person wait here until someone decides.

SQLite beside the student. Why it is built this way:
- one connection per thread, and every id comes from `insert ... returning id` in the writing transaction: a
  connection shared by threads hands one request's `lastrowid` to another;
- WAL with synchronous=FULL: an id the server has returned survives a kill -9 or a power cut;
- retention: decided items are deleted `keep_decided_days` after their decision, pending ones `keep_pending_days`
  after they were queued (None keeps them). Purged at open and every PURGE_EVERY adds;
- the audit log is kept whatever is purged: who decided which item when, the label before and the label after,
  never the text, so deleting texts leaves the record of decisions whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
import sqlite3
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import UserError

MAX_ID = 2**63 - 1  # SQLite's integer is signed 64-bit
MAX_LIMIT = 1000
PURGE_EVERY = 1000  # adds between retention passes: a purge is one indexed delete, not worth doing per request

SCHEMA = """
create table if not exists reviews (
    id integer primary key autoincrement, text text not null, suggested text, confidence real,
    probs text, created text not null, decided text, decided_label text, reviewer text);
create index if not exists reviews_decided on reviews (decided);
create table if not exists audit (
    id integer primary key autoincrement, item integer not null, reviewer text, at text not null,
    before text, after text not null, action text not null);
"""
ITEM = "id, text, suggested, confidence, probs, created, decided_label, reviewer, decided"


class ReviewNotFound(UserError):
    """No review with that id (never queued, or purged): the server answers 404."""


class AlreadyDecided(UserError):
    """The review has a decision; changing it needs correct=True: the server answers 409 (or 404)."""


class ReviewQueue:
    def __init__(
        self, path: str | Path, *, keep_decided_days: float | None = 90, keep_pending_days: float | None = None
    ):
        for name, days in (("keep_decided_days", keep_decided_days), ("keep_pending_days", keep_pending_days)):
            if days is not None and not (isinstance(days, int | float) and days >= 0 and math.isfinite(days)):
                raise UserError(f"review queue {path}: {name} must be a number of days >= 0 or None; got {days!r}")
        self.path = Path(path)
        self.keep_decided_days, self.keep_pending_days = keep_decided_days, keep_pending_days
        self._local = threading.local()
        self._all: dict[threading.Thread, sqlite3.Connection] = {}
        self._all_lock = threading.Lock()
        self._adds = itertools.count(1)
        db = self._db()
        db.executescript(SCHEMA)
        self.purge()

    # --- connections ------------------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # check_same_thread=False only so close() can close every thread's connection; each is used by its own.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("pragma auto_vacuum=incremental")  # takes effect on a new file only: purged pages go back
            db.execute("pragma journal_mode=wal")
            db.execute("pragma synchronous=full")  # per connection: a commit is on disk before the id goes out
            self._local.db = db
            with self._all_lock:
                for thread in [t for t in self._all if not t.is_alive()]:  # a finished thread's connection
                    self._all.pop(thread).close()
                self._all[threading.current_thread()] = db
        return db

    @contextmanager
    def _write(self):
        """A write transaction; `begin immediate` takes the write lock first, so concurrent writers wait their
        turn (busy timeout) instead of failing to upgrade a read lock."""
        db = self._db()
        db.execute("begin immediate")
        try:
            yield db
        except BaseException:
            db.execute("rollback")
            raise
        db.execute("commit")

    def close(self) -> None:
        with self._all_lock:
            for db in self._all.values():
                db.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> ReviewQueue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- adding -----------------------------------------------------------------------------------------

    def add(self, text: str, suggested: str, confidence: float, probs: list[float] | dict[str, float]) -> int:
        return self.add_many([(text, suggested, confidence, probs)])[0]

    def add_many(self, rows: Iterable[tuple[str, str, float, list[float] | dict[str, float]]]) -> list[int]:
        """One transaction for a request's deferred texts; the ids in the order given."""
        values = [_row(i, row) for i, row in enumerate(rows)]
        if not values:
            return []
        now = _now()
        with self._write() as db:
            ids = [
                db.execute(
                    "insert into reviews (text, suggested, confidence, probs, created) values (?, ?, ?, ?, ?) "
                    "returning id",
                    (*v, now),
                ).fetchone()[0]
                for v in values
            ]
        if any(n % PURGE_EVERY == 0 for n in itertools.islice(self._adds, len(ids))):
            self.purge()
        return ids

    # --- reading ----------------------------------------------------------------------------------------

    def get(self, item: int) -> dict | None:
        row = self._db().execute(f"select {ITEM} from reviews where id = ?", (_item(item),)).fetchone()
        return _as_dict(row) if row else None

    def pending(self, limit: int = 100, offset: int = 0) -> list[dict]:
        rows = self._db().execute(
            f"select {ITEM} from reviews where decided is null order by id limit ? offset ?",
            (_limit(limit), _offset(offset)),
        )
        return [_as_dict(r, decided=False) for r in rows]

    def decided(self, limit: int = 100, offset: int = 0) -> list[dict]:
        rows = self._db().execute(
            f"select {ITEM} from reviews where decided is not null order by decided, id limit ? offset ?",
            (_limit(limit), _offset(offset)),
        )
        return [_as_dict(r) for r in rows]

    def counts(self) -> dict:
        pending, done = (
            self._db().execute("select sum(decided is null), sum(decided is not null) from reviews").fetchone()
        )
        return {"pending": pending or 0, "decided": done or 0}

    def audit(self, limit: int = 100, offset: int = 0) -> list[dict]:
        """Every decision and correction, oldest first; kept when the item's text is purged."""
        rows = self._db().execute(
            "select id, item, reviewer, at, before, after, action from audit order by id limit ? offset ?",
            (_limit(limit), _offset(offset)),
        )
        return [dict(zip(("id", "item", "reviewer", "at", "before", "after", "action"), r)) for r in rows]

    # --- deciding ---------------------------------------------------------------------------------------

    def decide(
        self, item: int, label: str, labels: list[str], reviewer: str | None = None, *, correct: bool = False
    ) -> dict:
        """Record a person's label, with its audit row, in one transaction. A decided item changes only with
        correct=True (the audit then shows the previous label -> the new one)."""
        item = _item(item)
        if label not in labels:
            raise UserError(f"review {item}: label {label!r} is not one of {list(labels)}")
        if reviewer is not None and not isinstance(reviewer, str):
            raise UserError(f"review {item}: reviewer must be a name (text); got {type(reviewer).__name__}")
        now = _now()
        with self._write() as db:
            row = db.execute("select suggested, decided_label, reviewer, decided from reviews where id = ?", (item,))
            found = row.fetchone()
            if found is None:
                raise ReviewNotFound(f"review {item} does not exist (never queued, or purged after its retention)")
            suggested, previous, who, when = found
            if when is not None and not correct:
                raise AlreadyDecided(
                    f"review {item} is already decided ({previous!r} by {who or 'an unnamed reviewer'} at {when}), "
                    "so a pending review with that id does not exist; pass correct=True to change the decision"
                )
            before, action = (previous, "correct") if when is not None else (suggested, "decide")
            db.execute(
                "update reviews set decided = ?, decided_label = ?, reviewer = ? where id = ?",
                (now, label, reviewer, item),
            )
            db.execute(
                "insert into audit (item, reviewer, at, before, after, action) values (?, ?, ?, ?, ?, ?)",
                (item, reviewer, now, before, label, action),
            )
        return {"id": item, "label": label, "reviewer": reviewer, "decided_at": now, "before": before, "action": action}

    # --- retention --------------------------------------------------------------------------------------

    def purge(self, now: dt.datetime | None = None) -> dict:
        """Delete texts past their retention; the audit log stays. Returns how many of each were deleted."""
        now = now or dt.datetime.now(dt.UTC)
        decided_before, pending_before = _cutoff(now, self.keep_decided_days), _cutoff(now, self.keep_pending_days)
        deleted = {"decided": 0, "pending": 0}
        with self._write() as db:
            if decided_before:
                deleted["decided"] = db.execute("delete from reviews where decided < ?", (decided_before,)).rowcount
            if pending_before:
                deleted["pending"] = db.execute(
                    "delete from reviews where decided is null and created < ?", (pending_before,)
                ).rowcount
        if deleted["decided"] or deleted["pending"]:
            self._db().execute("pragma incremental_vacuum").fetchall()  # the freed pages go back to the disk
        return deleted

    # --- corrections export -----------------------------------------------------------------------------

    def export_csv(self, path_or_file: str | Path | IO[str] | None = None) -> str:
        """Decided items, newest decision first, as text,label,suggested,reviewer,decided_at (label: the
        reviewer's): the `data.gold` file of the next distillation. Written to path_or_file when given (a path or
        an open text file); the CSV text is returned either way."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["text", "label", "suggested", "reviewer", "decided_at"])
        for r in self._all_decided():
            w.writerow([r["text"], r["label"], r["suggested"], r["reviewer"] or "", r["decided_at"]])
        return _deliver(out.getvalue(), path_or_file)

    def export_label_studio(
        self, path_or_file: str | Path | IO[str] | None = None, *, model: str = "understudy"
    ) -> str:
        """Decided items as Label Studio JSON tasks for a choices project: the reviewer's label as the annotation,
        the student's suggestion (with its confidence as score) as the prediction. The labelling config it fits:
        <View><Text name="text" value="$text"/><Choices name="label" toName="text" choice="single">...</Choices></View>
        """

        def choice(label: str) -> list[dict]:
            return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]

        tasks = [
            {
                "data": {"text": r["text"]},
                "meta": {"review_id": r["id"], "reviewer": r["reviewer"], "decided_at": r["decided_at"]},
                "annotations": [{"result": choice(r["label"])}],
                "predictions": (
                    [{"model_version": model, "score": r["confidence"], "result": choice(r["suggested"])}]
                    if r["suggested"] is not None
                    else []
                ),
            }
            for r in self._all_decided()
        ]
        return _deliver(json.dumps(tasks, ensure_ascii=False, indent=1), path_or_file)

    def _all_decided(self):
        # Newest decision first: where one text was queued and decided twice, a reader that keeps the first copy
        # of a text (as understudy's data.gold does) keeps the latest decision.
        rows = self._db().execute(
            f"select {ITEM} from reviews where decided is not null order by decided desc, id desc"
        )
        return (_as_dict(r) for r in rows)


# --- checks and conversions -----------------------------------------------------------------------------


def _item(item) -> int:
    if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ID:
        raise UserError(
            f"review id must be a positive whole number that fits SQLite's 64-bit integer (1 to {MAX_ID}); got {item!r}"
        )
    return item


def _limit(limit) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UserError(f"review queue: limit must be a whole number from 1 to {MAX_LIMIT}; got {limit!r}")
    return limit


def _offset(offset) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_ID:
        raise UserError(f"review queue: offset must be a whole number from 0 to {MAX_ID}; got {offset!r}")
    return offset


def _row(i: int, row) -> tuple[str, str, float, str]:
    try:
        text, suggested, confidence, probs = row
    except (TypeError, ValueError):
        raise UserError(f"review queue: row {i} must be (text, suggested, confidence, probs); got {row!r}") from None
    if not isinstance(text, str) or not text:
        raise UserError(f"review queue: row {i}: text must be a non-empty string; got {text!r}")
    try:
        confidence = float(confidence)
    except (TypeError, ValueError):
        confidence = math.nan
    if not 0.0 <= confidence <= 1.0:
        raise UserError(f"review queue: row {i}: confidence must be a number from 0 to 1; got {row[2]!r}")
    probs = {str(k): float(v) for k, v in probs.items()} if isinstance(probs, dict) else [float(p) for p in probs]
    return text, str(suggested), confidence, json.dumps(probs)


def _as_dict(row, decided: bool = True) -> dict:
    item_id, text, suggested, confidence, probs, created, label, reviewer, decided_at = row
    out = {
        "id": item_id,
        "text": text,
        "suggested": suggested,
        "confidence": confidence,
        "probs": json.loads(probs) if probs else None,
        "created": created,
    }
    if decided:
        out.update(label=label, reviewer=reviewer, decided_at=decided_at)
    return out


def _deliver(text: str, path_or_file) -> str:
    if path_or_file is None:
        return text
    if isinstance(path_or_file, str | Path):
        Path(path_or_file).write_text(text, encoding="utf-8", newline="")
    else:
        path_or_file.write(text)
    return text


def _cutoff(now: dt.datetime, days: float | None) -> str | None:
    """The stamp before which items are deleted; None: keep them (no retention, or one longer than the calendar)."""
    if days is None:
        return None
    try:
        return _stamp(now - dt.timedelta(days=days))
    except OverflowError:
        return None


def _stamp(when: dt.datetime) -> str:
    # ISO 8601 in UTC with a fixed width, so text order is time order (retention compares the strings).
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def _now() -> str:
    return _stamp(dt.datetime.now(dt.UTC))
