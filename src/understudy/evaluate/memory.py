"""Run in a fresh process by `speed.peak_memory_mb`: load one model, predict, print peak RSS as JSON."""

from __future__ import annotations

import json
import resource
import sys


def main() -> None:
    job = json.loads(sys.stdin.read())
    if job["kind"] == "student":
        from ..students import load_student

        model = load_student(job["payload"]["path"])
        # a regression (a table student without classes) answers numbers through predict
        (model.predict if getattr(model, "labels", True) is None else model.predict_proba)(job["texts"])
    elif job["payload"].get("table"):  # a table teacher: its recipe section, the run's schema, rows as dicts
        from ..modalities.table import TableSchema
        from ..recipe import TeacherSpec
        from ..teachers.tabular import build_table_teacher

        p = job["payload"]
        teacher = build_table_teacher(
            TeacherSpec.model_validate(p["spec"]), lambda x: x, TableSchema.from_json(p["schema"]), p["regression"]
        )
        teacher.predict(job["texts"])
    else:
        from ..recipe import TeacherSpec
        from ..teachers import build_teacher

        teacher = build_teacher(TeacherSpec.model_validate(job["payload"]))
        teacher.predict(job["texts"])
    print(json.dumps({"peak_mb": round(peak_kb() / 1024, 1)}))


def peak_kb() -> int:
    """VmHWM, the high-water mark of this process's own memory. ru_maxrss is not used: on Linux it
    carries the parent's peak across fork and exec, so every child would look as big as its parent."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
