"""The review queue: predictions the student defers to a person wait here until someone decides.

SQLite beside the student (WAL, one row per deferred text), so a server restart loses nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from ..errors import UserError


class ReviewQueue:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("pragma journal_mode=wal")
        self.db.execute("""create table if not exists reviews (
            id integer primary key autoincrement, text text not null, suggested text, confidence real,
            probs text, created text not null, decided text, decided_label text, reviewer text)""")

    def add(self, text: str, suggested: str, confidence: float, probs: list[float]) -> int:
        cur = self.db.execute(
            "insert into reviews (text, suggested, confidence, probs, created) values (?, ?, ?, ?, ?)",
            (text, suggested, float(confidence), json.dumps(probs), _now()),
        )
        return int(cur.lastrowid)

    def pending(self, limit: int = 100) -> list[dict]:
        rows = self.db.execute(
            "select id, text, suggested, confidence, created from reviews where decided is null order by id limit ?",
            (limit,),
        ).fetchall()
        return [dict(zip(("id", "text", "suggested", "confidence", "created"), r)) for r in rows]

    def decide(self, item: int, label: str, labels: list[str], reviewer: str | None = None) -> dict:
        if label not in labels:
            raise UserError(f"review {item}: label '{label}' is not one of {labels}")
        cur = self.db.execute(
            "update reviews set decided = ?, decided_label = ?, reviewer = ? where id = ? and decided is null",
            (_now(), label, reviewer, item),
        )
        if cur.rowcount == 0:
            raise UserError(f"review {item} does not exist or is already decided")
        return {"id": item, "label": label, "reviewer": reviewer}

    def counts(self) -> dict:
        pending, done = self.db.execute("select sum(decided is null), sum(decided is not null) from reviews").fetchone()
        return {"pending": pending or 0, "decided": done or 0}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
