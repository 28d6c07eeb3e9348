"""Students, one module per kind, with scikit-learn manners: fit returns self, predict_proba, save/load.

Each kind is a class registered by name under the entry-point group `understudy.students` (understudy's own
in its pyproject.toml); `student.json`'s `kind` says which class loads a saved student.

Calibration lives here, once: a student folder's calibration.json (the temperature the run fitted) is applied
by `load_student`, so `serve`, `understudy.load` and `understudy predict` give the same confidence. A student
kind honours it through its `temperature` attribute (None: raw scores); a plug-in kind without one is wrapped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

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


CALIBRATION_FILE = "calibration.json"


def read_temperature(folder: str | Path) -> float | None:
    """The temperature in `folder`/calibration.json; None when the folder has none (an uncalibrated student)."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        t = json.loads(path.read_text(encoding="utf-8")).get("temperature")
    except (json.JSONDecodeError, AttributeError):
        t = None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < float("inf"):
        raise UserError(
            f"{path}: no positive 'temperature' in it; rerun `understudy distill RECIPE --from evaluate` to refit it"
        )
    return float(t)


def calibrate(probs, temperature: float | None):
    """softmax(log p / T) (understudy.evaluate.calibration.apply_temperature); `probs` as given when T is None."""
    if temperature is None:
        return probs
    from ..evaluate.calibration import apply_temperature

    return apply_temperature(probs, temperature).astype(np.asarray(probs).dtype, copy=False)


class Calibrated:
    """A plug-in student without a `temperature` attribute, its predict_proba rescaled; everything else its own."""

    def __init__(self, student, temperature: float):
        self.student, self.temperature = student, temperature

    def __getattr__(self, name):
        return getattr(self.student, name)

    def predict_proba(self, texts):
        return calibrate(self.student.predict_proba(texts), self.temperature)

    def predict(self, texts) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(1)]


def load_student(path: str | Path, *, calibrated: bool = True):
    """The student saved in `path`, with its calibration.json applied (calibrated=False: the raw scores, which is
    what the run's evaluation measures and fits the temperature on)."""
    path = Path(path)
    meta_file = path / "student.json"
    if not meta_file.is_file():
        raise UserError(f"{path} holds no student (student.json missing); run `understudy distill` first")
    kind = json.loads(meta_file.read_text())["kind"]
    try:
        cls = student_class(kind)
    except UserError as exc:
        raise UserError(f"{meta_file}: {exc}") from None
    student = cls.load(path)
    temperature = read_temperature(path) if calibrated else None
    if hasattr(type(student), "temperature"):
        student.temperature = temperature  # set either way: a kind's own load may have read it already
        return student
    return Calibrated(student, temperature) if temperature is not None else student
