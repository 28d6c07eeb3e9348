"""The SQLite store of teacher outputs, keyed by (teacher fingerprint, input key: a hash over the input's bytes).

Every batch is committed as soon as the teacher returns it, in WAL mode, so a run killed with
`kill -9` loses at most the batch in flight and a rerun asks the teacher nothing it has stored.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    fingerprint TEXT NOT NULL,
    input_hash  TEXT NOT NULL,
    kind        TEXT NOT NULL,          -- 'probs', 'embedding', ...
    value       BLOB NOT NULL,          -- a numpy array in .npy format
    created     REAL NOT NULL,
    PRIMARY KEY (fingerprint, input_hash, kind)
);
CREATE TABLE IF NOT EXISTS teachers (
    fingerprint TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
"""


def input_key(data: bytes) -> str:
    """The store's key for one input: the sha256 hex digest of its bytes (text, a table row, an image, audio)."""
    return hashlib.sha256(data).hexdigest()


def input_hash(text: str) -> str:
    """The key of a text: `input_key` over its UTF-8 bytes (the key every existing store holds)."""
    return input_key(text.encode("utf-8"))


def _to_blob(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def _from_blob(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


class TeacherStore:
    """Teacher outputs on disk. Arrays go in as .npy bytes: never pickled."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TeacherStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def register(self, fingerprint: str, description: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO teachers VALUES (?, ?)", (fingerprint, description))
        self._db.commit()

    def get(self, fingerprint: str, hashes: Sequence[str], kind: str) -> dict[str, np.ndarray]:
        """The stored outputs among `hashes`, as {input_hash: array}."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):  # SQLite caps bound parameters
            chunk = list(hashes[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT input_hash, value FROM outputs WHERE fingerprint=? AND kind=? AND input_hash IN ({marks})",
                [fingerprint, kind, *chunk],
            )
            found.update((h, _from_blob(v)) for h, v in rows)
        return found

    def put(self, fingerprint: str, kind: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store one batch and commit it at once."""
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?)",
                [(fingerprint, h, kind, _to_blob(a), now) for h, a in items],
            )

    def count(self, fingerprint: str | None = None, kind: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM outputs WHERE 1=1", []
        if fingerprint:
            sql, args = sql + " AND fingerprint=?", args + [fingerprint]
        if kind:
            sql, args = sql + " AND kind=?", args + [kind]
        return self._db.execute(sql, args).fetchone()[0]
