"""The teacher-output store: exact round trips, WAL mode, and resuming after a real `kill -9`."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from understudy.store import TeacherStore, input_hash


def test_put_get_round_trip_keeps_values_and_dtype(tmp_path):
    arrays = {
        input_hash("a"): np.array([0.25, 0.75], dtype=np.float32),
        input_hash("b"): np.array([1 / 3, 2 / 3], dtype=np.float64),
        input_hash("c"): np.arange(12, dtype=np.float16).reshape(3, 4) / 7,
    }
    with TeacherStore(tmp_path / "t.sqlite") as store:
        store.put("fp1", "probs", arrays.items())
        got = store.get("fp1", list(arrays), "probs")
    assert set(got) == set(arrays)
    for h, a in arrays.items():
        assert got[h].dtype == a.dtype
        assert got[h].shape == a.shape
        assert np.array_equal(got[h], a)

    # survives closing and reopening
    with TeacherStore(tmp_path / "t.sqlite") as store:
        again = store.get("fp1", [input_hash("b")], "probs")
    assert np.array_equal(again[input_hash("b")], arrays[input_hash("b")])
    assert again[input_hash("b")].dtype == np.float64


def test_get_unknown_returns_nothing_and_keys_are_separate(tmp_path):
    with TeacherStore(tmp_path / "t.sqlite") as store:
        assert store.get("fp1", [input_hash("x")], "probs") == {}
        assert store.get("fp1", [], "probs") == {}
        store.put("fp1", "probs", [(input_hash("x"), np.ones(2, dtype=np.float32))])
        # another teacher, another kind, another text: not found
        assert store.get("fp2", [input_hash("x")], "probs") == {}
        assert store.get("fp1", [input_hash("x")], "embedding") == {}
        assert set(store.get("fp1", [input_hash("x"), input_hash("y")], "probs")) == {input_hash("x")}


def test_get_many_hashes_beyond_the_parameter_chunk(tmp_path):
    hashes = [input_hash(str(i)) for i in range(1203)]
    with TeacherStore(tmp_path / "t.sqlite") as store:
        store.put("fp", "probs", [(h, np.array([i], dtype=np.float32)) for i, h in enumerate(hashes)])
        got = store.get("fp", hashes, "probs")
    assert len(got) == 1203
    assert got[hashes[1202]][0] == 1202


def test_count_by_fingerprint_and_kind(tmp_path):
    with TeacherStore(tmp_path / "t.sqlite") as store:
        store.put("fp1", "probs", [(input_hash(t), np.zeros(2)) for t in "abc"])
        store.put("fp1", "embedding", [(input_hash(t), np.zeros(4)) for t in "ab"])
        store.put("fp2", "probs", [(input_hash("a"), np.zeros(2))])
        store.put("fp2", "probs", [(input_hash("a"), np.ones(2))])  # replaces, does not add
        assert store.count() == 6
        assert store.count("fp1") == 5
        assert store.count("fp2") == 1
        assert store.count(kind="probs") == 4
        assert store.count("fp1", "embedding") == 2
        assert store.count("nope") == 0
        assert np.array_equal(store.get("fp2", [input_hash("a")], "probs")[input_hash("a")], np.ones(2))


def test_wal_mode_is_on(tmp_path):
    path = tmp_path / "t.sqlite"
    with TeacherStore(path) as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    # WAL is a property of the database file: a fresh connection sees it too
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    finally:
        con.close()


# ------------------------------------------------------------------------------- kill -9 and resume

N_TEXTS, BATCH = 80, 4
FINGERPRINT = "kill-test-teacher"

SCRIPT = textwrap.dedent(  # a script template: % keeps its braces plain
    """
    import sys, time
    import numpy as np
    from understudy.label import label
    from understudy.store import TeacherStore
    from understudy.teachers.python import CallableTeacher

    DB, LOG = sys.argv[1], sys.argv[2]

    def p_of(text):
        return (int(text.rsplit(" ", 1)[1]) + 1) / 82.0

    def fn(texts):
        out = []
        for t in texts:
            with open(LOG, "a", encoding="utf-8") as fh:
                fh.write(t + "\\n")
                fh.flush()
            time.sleep(0.05)
            p = p_of(t)
            out.append([p, 1.0 - p])
        return np.array(out)

    teacher = CallableTeacher(fn, ["a", "b"], fingerprint="%s")
    texts = ["review text number %%d" %% i for i in range(%d)]
    out, stats = label(teacher, texts, TeacherStore(DB), batch_size=%d)
    assert out["probs"].shape == (len(texts), 2)
    print("done", stats.asked, stats.reused)
    """
    % (FINGERPRINT, N_TEXTS, BATCH)
)


def _expected(i: int) -> np.ndarray:
    p = (i + 1) / 82.0
    return np.array([p, 1.0 - p], dtype=np.float64).astype(np.float32)


def _stored_hashes(db) -> set[str]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return set()
    try:
        return {h for (h,) in con.execute("SELECT input_hash FROM outputs WHERE fingerprint=?", (FINGERPRINT,))}
    except sqlite3.OperationalError:  # not created yet
        return set()
    finally:
        con.close()


def _log_lines(log) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_kill_9_mid_labelling_then_rerun_asks_only_what_is_missing(tmp_path):
    script, db, log = tmp_path / "job.py", tmp_path / "teacher.sqlite", tmp_path / "calls.log"
    script.write_text(SCRIPT, encoding="utf-8")
    texts = [f"review text number {i}" for i in range(N_TEXTS)]
    hash_of = {input_hash(t): t for t in texts}

    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        while len(_stored_hashes(db)) < 20:
            if proc.poll() is not None:
                pytest.fail(f"the labelling script ended early (rc {proc.returncode}): {proc.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("the store never reached 20 rows")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    stored_at_kill = _stored_hashes(db)
    calls_at_kill = len(_log_lines(log))
    assert 20 <= len(stored_at_kill) < N_TEXTS, "the kill should land mid-run"
    assert stored_at_kill <= set(hash_of)
    # what was committed was asked; at most one batch was in flight
    assert calls_at_kill >= len(stored_at_kill)
    assert calls_at_kill - len(stored_at_kill) <= BATCH

    done = subprocess.run([sys.executable, str(script), str(db), str(log)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", str(N_TEXTS - len(stored_at_kill)), str(len(stored_at_kill))]

    calls = _log_lines(log)
    after = calls[calls_at_kill:]
    assert not {input_hash(t) for t in after} & stored_at_kill, "the rerun re-asked texts stored before the kill"
    assert {input_hash(t) for t in after} == set(hash_of) - stored_at_kill
    assert len(calls) <= N_TEXTS + BATCH

    with TeacherStore(db) as store:
        assert store.count(FINGERPRINT, "probs") == N_TEXTS
        got = store.get(FINGERPRINT, list(hash_of), "probs")
    assert set(got) == set(hash_of)
    for h, t in hash_of.items():
        i = int(t.rsplit(" ", 1)[1])
        assert got[h].dtype == np.float32
        assert np.array_equal(got[h], _expected(i)), t
