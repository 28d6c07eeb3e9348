"""Plug-ins by name: tasks, teacher kinds, student kinds, evaluations and data kinds.

The table is Python entry points (`[project.entry-points."understudy.teachers"]` in a package's
pyproject.toml). understudy's own built-ins are registered the same way, in its own pyproject.toml, so a
third-party package adds a kind without any edit to understudy. Nothing is read at import time: the
entry points are listed on first use, and a plug-in's module is imported only when it is asked for.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from .errors import UserError

TASKS = "understudy.tasks"
TEACHERS = "understudy.teachers"
STUDENTS = "understudy.students"
EVALUATIONS = "understudy.evaluations"
MODALITIES = "understudy.modalities"
GROUPS = (TASKS, TEACHERS, STUDENTS, EVALUATIONS, MODALITIES)

# What one thing of each group is called in messages.
_WHAT = {
    TASKS: "task",
    TEACHERS: "teacher kind",
    STUDENTS: "student kind",
    EVALUATIONS: "evaluation",
    MODALITIES: "data kind",
}

PLACEHOLDER = "CHOOSE"  # what `understudy init` writes where the user must pick a kind

_entry_points: dict[str, dict[str, metadata.EntryPoint]] = {}
_loaded: dict[tuple[str, str], Any] = {}


def _check_group(group: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"unknown plug-in group {group!r}; the groups are {', '.join(GROUPS)}")


def _group(group: str) -> dict[str, metadata.EntryPoint]:
    _check_group(group)
    if group not in _entry_points:
        found: dict[str, metadata.EntryPoint] = {}
        for ep in metadata.entry_points(group=group):
            found.setdefault(ep.name, ep)  # the first distribution on sys.path wins, as for imports
        _entry_points[group] = found
    return _entry_points[group]


def names(group: str) -> list[str]:
    """The names registered in `group`, sorted."""
    return sorted(_group(group))


def entry_point(group: str, name: str) -> metadata.EntryPoint:
    """The entry point registered as `name` in `group`; an unknown name is a UserError that lists the known ones."""
    eps = _group(group)
    if name not in eps:
        what = _WHAT[group]
        known = ", ".join(sorted(eps)) or "none"
        if name == PLACEHOLDER and eps:  # `understudy init` leaves this for the user to choose
            raise UserError(f"{what} is not chosen yet ('{name}'): set it to one of {known}")
        close = _close(name, list(eps))
        if close:  # a typo of a registered name: no plug-in to install
            raise UserError(f"unknown {what} '{name}': did you mean '{close}'? The known {what}s: {known}")
        fix = (
            f"a plug-in that provides it must be installed: pip install <the package that registers "
            f"{name!r} under the entry-point group '{group}'>"
        )
        if not eps:
            fix += (
                "; no plug-in is registered at all: understudy itself is not installed as a package "
                "(its built-ins are entry points too): pip install -e . in its source folder"
            )
        raise UserError(f"unknown {what} '{name}'; the known {what}s: {known}; {fix}")
    return eps[name]


def _close(name: str, known: list[str]) -> str | None:
    """The registered name a misspelt one is nearest to (`sklern` -> `sklearn`, `SKLearn` -> `sklearn`), if any."""
    import difflib

    lower = {k.lower(): k for k in known}
    if name.lower() in lower:
        return lower[name.lower()]
    # 0.75: a typo (sklern) is close, another name sharing a prefix (text-summarisation, text-generation) is not
    found = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.75)
    return lower[found[0]] if found else None


def _package(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown package"


def load(group: str, name: str) -> Any:
    """What `name` in `group` points at ('module:attr'), imported on first use and cached."""
    key = (group, name)
    if key not in _loaded:
        ep = entry_point(group, name)
        try:
            _loaded[key] = ep.load()
        except Exception as exc:  # a broken plug-in names itself, not a traceback deep in importlib
            hint = _missing_extra(group, ep, exc)
            if hint:
                raise UserError(hint) from exc
            raise UserError(
                f"the {_WHAT[group]} '{name}' could not be loaded: entry point '{ep.name} = {ep.value}' "
                f"(group '{group}', package {_package(ep)}) failed with "
                f"{type(exc).__name__}: {exc}. Reinstall or fix that package."
            ) from exc
    return _loaded[key]


def _missing_extra(group: str, ep: metadata.EntryPoint, exc: Exception) -> str | None:
    """For a plug-in that needs a package an extra of its own distribution brings (the transformer student and
    torch, in an install made with `understudy[serve]` only): which `pip install` adds it. None otherwise."""
    import re

    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    dist = getattr(ep, "dist", None)
    if not missing or dist is None:
        return None

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    top = norm(missing.split(".")[0])
    extras: dict[str, int] = {}  # extra -> how many requirements it has (the smallest one that brings it is named)
    wanted: set[str] = set()
    for req in dist.requires or []:
        named = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", req)
        if not (named and extra):
            continue
        extras[extra.group(1)] = extras.get(extra.group(1), 0) + 1
        if norm(named.group(1)) == top:
            wanted.add(extra.group(1))
    if not wanted:
        return None
    pick = ep.name if ep.name in wanted else min(wanted, key=lambda e: (extras[e], e))
    return (
        f"the {_WHAT[group]} '{ep.name}' needs the Python package '{missing.split('.')[0]}', which is not installed "
        f"here: pip install '{dist.name}[{pick}]' (together with the extras you use, e.g. "
        f"'{dist.name}[serve,{pick}]' to serve it)"
    )


def package_of(group: str, name: str) -> str:
    """The distribution ('name version') that registers `name` in `group`."""
    return _package(entry_point(group, name))


def clear() -> None:
    """Forget what was listed and loaded (tests install plug-ins and list again)."""
    _entry_points.clear()
    _loaded.clear()
