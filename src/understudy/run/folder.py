"""The run folder: the contract between stages, and the only place that writes it.

Every file goes through `write_atomic` (a temporary file, fsync, rename), so a reader never sees half a file.
`stages.json` says which stages finished, with the recipe they ran from; starting a stage marks every later
stage unfinished first, so a run killed just after a new student is swapped in never leaves that student
looking evaluated. A lock file keeps a second run out while one writes; a lock left by a killed run (its
process is gone) is taken over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import UserError

STAGES = ("licence", "teach", "train", "evaluate", "gate", "package")
# Files that leave the machine with the student or with the run's papers: written without machine paths.
SHIPPED_JSON = ("report.json",)
# What the package stage adds to the student folder: left out of the student's fingerprint, so the figure in
# report.json names the model that ships, whatever papers are written beside it afterwards.
PAPERS = ("README.md", "NOTICE", "LICENSE", "licences")


class RunLocked(UserError):
    """Another run is writing this folder."""


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write a file so that it is either the old one or the whole new one, even after `kill -9`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: str | Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=float, ensure_ascii=False) + "\n")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def recipe_hash(recipe_yaml: str) -> str:
    return hashlib.sha256(recipe_yaml.encode("utf-8")).hexdigest()[:16]


class RunFolder:
    """runs/<name>/: recipe.yaml, licence.json, teacher.sqlite, student/, report.json, report.html, stages.json."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --- writing ----------------------------------------------------------------------------------------

    def write_text(self, name: str, text: str) -> Path:
        if name.startswith("student/"):  # the papers that ship with the student name no folder of this machine
            from ..report.redact import strip_paths

            text = strip_paths(text, self.path)
        write_atomic(self.path / name, text)
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        if name in SHIPPED_JSON:
            from ..report.redact import strip_paths_in

            data = strip_paths_in(data, self.path)
        write_json(self.path / name, data)
        return self.path / name

    def read_json(self, name: str) -> Any:
        path = self.path / name
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
        if name in SHIPPED_JSON and isinstance(data, dict) and isinstance(data.get("run"), dict):
            # The file names the run folder neutrally; read here, the run folder is this one.
            data["run"]["out"] = str(self.path.resolve())
        return data

    @contextmanager
    def staging(self, name: str) -> Iterator[Path]:
        """A fresh folder to fill; swapped in for `name` in one rename when the block ends without error."""
        tmp = self.path / f".{name}.staging"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        yield tmp
        old = self.path / f".{name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (self.path / name).exists():
            os.replace(self.path / name, old)
        os.replace(tmp, self.path / name)
        shutil.rmtree(old, ignore_errors=True)

    def open_store(self):
        from ..store import TeacherStore

        return TeacherStore(self.path / "teacher.sqlite")

    # --- which stages finished --------------------------------------------------------------------------

    def stages(self) -> dict:
        return self.read_json("stages.json") or {}

    def start(self, stage: str, recipe_yaml: str | None = None) -> None:
        """Mark `stage` running and every later one unfinished, before the stage changes anything.

        `recipe_yaml`: the recipe it runs from (its hash is booked); None keeps the one the teach stage booked."""
        state = self.stages()
        digest = recipe_hash(recipe_yaml) if recipe_yaml is not None else state.get("teach", {}).get("recipe")
        for later in STAGES[STAGES.index(stage) :]:
            state.pop(later, None)
        state[stage] = {"status": "running", "started": _now(), "recipe": digest, "pid": os.getpid()}
        self.write_json("stages.json", state)

    def finish(self, stage: str, **facts: Any) -> None:
        state = self.stages()
        entry = state.get(stage, {})
        state[stage] = {**entry, "status": "done", "finished": _now(), **facts}
        self.write_json("stages.json", state)

    def record(self, stage: str, **facts: Any) -> None:
        """Mark a stage done without touching later ones (the licence gate, which runs before every run)."""
        state = self.stages()
        state[stage] = {"status": "done", "finished": _now(), **facts}
        self.write_json("stages.json", state)

    def done(self, stage: str) -> bool:
        return self.stages().get(stage, {}).get("status") == "done"

    def require(self, stage: str, needed_by: str) -> None:
        """Refuse to go on from a stage that did not finish, saying which stage to rerun."""
        if self.done(stage):
            return
        entry = self.stages().get(stage)
        how = ("it started and did not finish" if entry else "it has not run") + f" in {self.path}"
        raise UserError(
            f"{needed_by} needs the {stage} stage, and {how}; rerun it: "
            f"understudy distill RECIPE --out {self.path} --from {stage}"
        )

    def require_evaluated(self, what: str) -> None:
        """`report` and `serve` use only a student that was evaluated and gated as it is now."""
        if not (self.path / "stages.json").is_file():
            if (self.path / "report.json").is_file():
                raise UserError(
                    f"{self.path} was made by an older understudy (no stages.json); rerun it: "
                    f"understudy distill RECIPE --out {self.path} --from evaluate"
                )
            raise UserError(f"{self.path} is not a run folder made by `understudy distill` (no stages.json)")
        for stage in ("train", "evaluate", "gate"):
            if not self.done(stage):
                self.require(stage, what)
        report = self.read_json("report.json") or {}
        shipped = student_fingerprint(self.path / "student")
        measured = (report.get("student") or {}).get("fingerprint")
        if measured and shipped and measured != shipped:
            raise UserError(
                f"the student in {self.path / 'student'} is not the one report.json measured "
                f"(fingerprint {shipped}, measured {measured}); rerun: understudy distill RECIPE "
                f"--out {self.path} --from evaluate"
            )

    # --- one writer at a time ---------------------------------------------------------------------------

    @contextmanager
    def lock(self, progress=None) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / ".lock"
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder(lock)
                if holder is not None:
                    raise RunLocked(
                        f"{self.path} is being written by another understudy run (pid {holder['pid']} on "
                        f"{holder['host']}, since {holder['started']}); wait for it to finish, or give "
                        "this run another --out"
                    ) from None
                if progress is not None:
                    progress.note(f"a run that was killed left {lock}; taking it over")
                lock.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            break
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    @staticmethod
    def _holder(lock: Path) -> dict | None:
        """Who holds the lock, or None when it is stale (its process is gone) or unreadable."""
        try:
            holder = json.loads(lock.read_text())
            pid, host = int(holder["pid"]), str(holder["host"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if host == socket.gethostname() and not _alive(pid):
            return None
        return {"pid": pid, "host": host, "started": holder.get("started", "?")}


def student_fingerprint(folder: str | Path) -> str | None:
    """sha256 over the student's own files, leaving out the papers the package stage writes beside it."""
    from ..teachers.base import files_of

    folder = Path(folder)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for f in files_of(folder):
        rel = f.relative_to(folder)
        if rel.parts[0] in PAPERS:
            continue
        digest.update(str(rel).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:32]
