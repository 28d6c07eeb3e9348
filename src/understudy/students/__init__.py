"""Students, one module per kind, with scikit-learn manners: fit returns self, predict_proba, save/load."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError

DEFAULTS = {"static": {"epochs": 30, "learning_rate": 3e-3}, "transformer": {"epochs": 4, "learning_rate": 5e-5}}


def load_student(path: str | Path):
    path = Path(path)
    meta_file = path / "student.json"
    if not meta_file.is_file():
        raise UserError(f"{path} holds no student (student.json missing); run `understudy distill` first")
    kind = json.loads(meta_file.read_text())["kind"]
    if kind == "static":
        from .static import StaticStudent

        return StaticStudent.load(path)
    if kind == "transformer":
        from .transformer import TransformerStudent

        return TransformerStudent.load(path)
    raise UserError(f"{meta_file}: unknown student kind '{kind}'")
