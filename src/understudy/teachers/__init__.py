"""Teachers, one module per kind; `build_teacher` turns a recipe's teacher section into one.

Each kind is a factory `build(spec, resolve, head_builder=None) -> teacher`, registered by name under the
entry-point group `understudy.teachers` (understudy's own kinds in its pyproject.toml, the same seam a
plug-in package uses).
"""

from __future__ import annotations

from .base import Teacher, fingerprint_files, size_on_disk  # noqa: F401


def build_teacher(spec, resolve=lambda p: p, head_builder=None):
    """A teacher from a recipe's `teacher` section. Loads files, not weights: the weights load on first use.

    `resolve(path)` makes a recipe path absolute; `head_builder(name, encoder)` makes a 'builtin:' head (the
    demo's) and returns its path. An unknown kind is a UserError listing the installed kinds.
    """
    from .. import registry

    factory = registry.load(registry.TEACHERS, spec.kind)
    return factory(spec, resolve, head_builder=head_builder)
