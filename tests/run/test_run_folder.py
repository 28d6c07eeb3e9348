"""The run folder: atomic writes, stage books, the lock and its takeover."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from understudy.errors import UserError
from understudy.run.folder import RunFolder, RunLocked, student_fingerprint, write_atomic


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    write_atomic(tmp_path / "a" / "x.json", "{}")
    write_atomic(tmp_path / "a" / "x.json", b"[1]")
    assert (tmp_path / "a" / "x.json").read_text() == "[1]"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"]


def test_starting_a_stage_unmarks_every_later_one(tmp_path):
    folder = RunFolder(tmp_path)
    for stage in ("teach", "train", "evaluate", "gate"):
        folder.start(stage, "name: r")
        folder.finish(stage)
    folder.start("train", "name: r")
    books = folder.stages()
    assert books["teach"]["status"] == "done" and books["train"]["status"] == "running"
    assert "evaluate" not in books and "gate" not in books
    with pytest.raises(UserError, match=r"needs the train stage.*started and did not finish.*--from train"):
        folder.require_evaluated("understudy serve")


def test_staging_swaps_a_whole_folder_in(tmp_path):
    folder = RunFolder(tmp_path)
    with folder.staging("student") as tmp:
        (tmp / "w.bin").write_bytes(b"1")
    with pytest.raises(RuntimeError):
        with folder.staging("student") as tmp:
            (tmp / "w.bin").write_bytes(b"2")
            raise RuntimeError("killed half-way")
    assert (tmp_path / "student" / "w.bin").read_bytes() == b"1"  # the half-written one never replaced it


def test_fingerprint_ignores_the_papers(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    before = student_fingerprint(tmp_path)
    (tmp_path / "README.md").write_text("card")
    (tmp_path / "licences").mkdir()
    (tmp_path / "licences" / "MIT.txt").write_text("text")
    assert student_fingerprint(tmp_path) == before
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert student_fingerprint(tmp_path) != before


def test_a_live_lock_stops_a_second_run(tmp_path):
    folder = RunFolder(tmp_path)
    with folder.lock():
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            with RunFolder(tmp_path).lock():
                pass
    assert not (tmp_path / ".lock").exists()


def test_a_stale_lock_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (tmp_path / ".lock").write_text(
        json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"})
    )
    notes = []

    class Notes:
        def note(self, m):
            notes.append(m)

    with RunFolder(tmp_path).lock(Notes()):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert notes and "taking it over" in notes[0]


def test_an_old_run_folder_is_refused_with_the_fix(tmp_path):
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(UserError, match="older understudy.*--from evaluate"):
        RunFolder(tmp_path).require_evaluated("understudy report")
