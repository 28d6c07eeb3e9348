"""Students, one module per kind, with scikit-learn manners: fit returns self, predict_proba, save/load.

Each kind is a class registered by name under the entry-point group `understudy.students` (understudy's own
in its pyproject.toml); `student.json`'s `kind` says which class loads a saved student.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import UserError

# Used only where a student class does not say its own `training_defaults` (the class attribute wins).
_FALLBACK = {"static": {"epochs": 30, "learning_rate": 3e-3}, "transformer": {"epochs": 4, "learning_rate": 5e-5}}


def student_class(kind: str):
    """The class registered as student kind `kind`; an unknown kind is a UserError listing the installed kinds."""
    from .. import registry

    return registry.load(registry.STUDENTS, kind)


class _Defaults(Mapping):
    """kind -> the training settings a student kind uses where the recipe leaves them unset (epochs, learning_rate).

    Read from the student class's `training_defaults`; the class is imported only when asked for.
    """

    def __getitem__(self, kind: str) -> dict:
        defaults = getattr(student_class(kind), "training_defaults", None)
        return dict(defaults if defaults is not None else _FALLBACK.get(kind, {}))

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
