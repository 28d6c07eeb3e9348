"""Students, one module per kind, with scikit-learn manners: fit returns self, predict_proba, save/load.

Each kind is a class registered by name under the entry-point group `understudy.students` (understudy's own
in its pyproject.toml); `student.json`'s `kind` says which class loads a saved student.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import UserError


def student_class(kind: str):
    """The class registered as student kind `kind`; an unknown kind is a UserError listing the installed kinds."""
    from .. import registry

    return registry.load(registry.STUDENTS, kind)


class _Defaults(Mapping):
    """kind -> the training settings a student kind uses where the recipe leaves them unset (epochs, learning_rate).

    Read from the student class's `training_defaults`; the class is imported only when asked for.
    """

    def __getitem__(self, kind: str) -> dict:
        return dict(getattr(student_class(kind), "training_defaults", None) or {})

    def __iter__(self) -> Iterator[str]:
        from .. import registry

        return iter(registry.names(registry.STUDENTS))

    def __len__(self) -> int:
        from .. import registry

        return len(registry.names(registry.STUDENTS))


DEFAULTS = _Defaults()


def load_student(path: str | Path):
    path = Path(path)
    meta_file = path / "student.json"
    if not meta_file.is_file():
        raise UserError(f"{path} holds no student (student.json missing); run `understudy distill` first")
    kind = json.loads(meta_file.read_text())["kind"]
    try:
        cls = student_class(kind)
    except UserError as exc:
        raise UserError(f"{meta_file}: {exc}") from None
    return cls.load(path)
