"""Tasks: each one's own work inside the engine's shared stages (see understudy.run.engine)."""

# report["not_measured"] for a teacher behind an API: the gates that read these figures are SKIPPED with the reason.
_API = "the teacher runs behind an API: its speed, memory and size are its server's, not measured here"
API_TEACHER_NOT_MEASURED = {f"comparison.{k}": _API for k in ("speedup", "size_ratio", "memory_ratio")}
