"""understudy: distil a big model into a small one, and prove the small one is good enough to ship.

From Python: `understudy.load(folder)` (a student as it ships) and `understudy.distill(recipe)` (see docs/use.md).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load", "distill", "__version__"]


def __getattr__(name: str):
    # Loaded on first use, so `import understudy` (and every command's --help) stays cheap.
    if name in ("load", "distill", "Student", "Distilled", "BlockedStudentWarning", "RowWarning"):
        from . import use

        return getattr(use, name)
    raise AttributeError(f"module 'understudy' has no attribute {name!r}")
