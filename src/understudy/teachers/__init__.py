"""Teachers, one module per kind; `build_teacher` turns a recipe's teacher section into one."""

from __future__ import annotations

from ..errors import UserError
from .base import Teacher, fingerprint_files, size_on_disk  # noqa: F401


def build_teacher(spec, resolve=lambda p: p, head_builder=None):
    """A teacher from a recipe's `teacher` section. Loads files, not weights: the weights load on first use.

    `head_builder(encoder)` makes a 'builtin:' head (the demo's) and returns its path.
    """
    from ..data.builtin import builtin_model

    def model_path(p):
        return str(builtin_model(p)) if p.startswith("builtin:") else resolve(p)

    if spec.kind == "encoder":
        from .encoder import EncoderWithHead, SentenceEncoder

        folder = model_path(spec.path)
        head = spec.head
        if head.startswith("builtin:"):
            if head_builder is None:
                raise UserError(f"teacher.head '{head}' is a builtin head; only the built-in demo can make it")
            head = head_builder(head, SentenceEncoder(folder, spec.max_length))
        else:
            head = resolve(head)
        return EncoderWithHead(folder, head, spec.labels, spec.max_length)
    if spec.kind == "hf-classifier":
        from .encoder import HFClassifier

        return HFClassifier(model_path(spec.path), spec.labels, spec.max_length)
    if spec.kind == "sklearn":
        from .python import SklearnTeacher

        return SklearnTeacher(resolve(spec.path), spec.labels)
    if spec.kind == "callable":
        from .python import CallableTeacher

        target = spec.target
        if ".py:" in target:
            file, name = target.rsplit(":", 1)
            target = f"{resolve(file)}:{name}"
        return CallableTeacher(target, spec.labels)
    if spec.kind == "openai-api":
        from .api import ApiClassifierTeacher

        return ApiClassifierTeacher(spec.api, spec.labels)
    raise UserError(f"unknown teacher kind '{spec.kind}'")
