"""Sector profiles (sectors.yaml): the default gates of each business sector.

`sector_gates("healthcare")` gives the profile: {gate name: {"threshold", "on_fail"}}, except
oversight_required, a plain true / false (a required policy that is missing or infeasible blocks). The recipe's
GatesSpec.with_sector puts the recipe's own gates on top, and understudy.gates (the one gate engine) checks
them: where each figure is read, and which task measures it, is declared there (`understudy.gates.gate_table`).

`check_safety_gates(profile, report)` is kept for reading a report without its recipe: it checks the profile's
evaluation gates and skips, saying so, a gate whose evaluation is absent (a required oversight policy that is
absent still fails).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import UserError
from .gates import _numbers, gate_table, judge  # noqa: F401  (_numbers: report.compliance reads it)

SECTORS_FILE = Path(__file__).with_name("sectors.yaml")


def known_gates() -> tuple[str, ...]:
    return tuple(gate_table())


def _setting(name: str, value: Any, where: str) -> dict | bool:
    """A gate as {"threshold", "on_fail"}; a bare value blocks when missed. oversight_required is a plain bool."""
    if name == "oversight_required":
        flag = value.get("threshold") if isinstance(value, dict) else value
        if (
            not isinstance(flag, bool)
            or isinstance(value, dict)
            and (set(value) - {"threshold", "on_fail"} or value.get("on_fail", "block") != "block")
        ):
            raise UserError(
                f"{where}: gate 'oversight_required' is true or false (a required oversight policy that "
                f"is missing or infeasible blocks); got {value!r}"
            )
        return flag
    if not isinstance(value, dict):
        value = {"threshold": value}
    extra = set(value) - {"threshold", "on_fail"}
    if extra or "threshold" not in value:
        raise UserError(
            f"{where}: gate '{name}' takes 'threshold' and optionally 'on_fail' (block | warn); "
            f"got keys {sorted(value)}"
        )
    threshold, on_fail = value["threshold"], value.get("on_fail", "block")
    if on_fail not in ("block", "warn"):
        raise UserError(f"{where}: gate '{name}': on_fail must be 'block' or 'warn', not {on_fail!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise UserError(f"{where}: gate '{name}' needs a number as its threshold, not {threshold!r}")
    return {"threshold": threshold, "on_fail": on_fail}


def _check_names(names, where: str) -> None:
    unknown = sorted(set(names) - set(known_gates()))
    if unknown:
        raise UserError(f"{where}: unknown gate(s) {unknown}; known gates: {', '.join(known_gates())}")


@lru_cache(maxsize=1)
def _profiles() -> dict:
    import yaml

    data = yaml.safe_load(SECTORS_FILE.read_text(encoding="utf-8"))
    out = {}
    for sector, body in data["sectors"].items():
        where = f"{SECTORS_FILE}: sectors.{sector}.gates"
        _check_names(body["gates"], where)
        out[sector] = {
            "description": body.get("description", ""),
            "gates": {k: _setting(k, v, where) for k, v in body["gates"].items()},
        }
    return out


def sector_names() -> list[str]:
    return list(_profiles())


def sector_description(sector: str) -> str:
    return _profiles()[_known_sector(sector)]["description"]


def _known_sector(sector: str) -> str:
    if sector not in _profiles():
        raise UserError(f"unknown sector {sector!r}: intended_use.sector is one of {', '.join(_profiles())}")
    return sector


def sector_gates(sector: str, overrides: dict | None = None) -> dict:
    """The sector's default gates, {name: {"threshold", "on_fail"}}, with `overrides` (e.g. the recipe's gates) on top.

    An override of None removes that gate.
    """
    gates = {k: dict(v) if isinstance(v, dict) else v for k, v in _profiles()[_known_sector(sector)]["gates"].items()}
    for name, value in (overrides or {}).items():
        _check_names([name], "gates")
        if value is None:
            gates.pop(name, None)
        else:
            gates[name] = _setting(name, value, "gates")
    return gates


def check_safety_gates(profile: dict, report: dict) -> list[dict]:
    """The profile's evaluation gates (not the core figures) against report.json, read without a recipe.

    Results have the engine's format; a gate whose evaluation is absent is SKIPPED, saying so; a required
    oversight policy that is absent fails.
    """
    _check_names(profile, "profile")
    results = []
    for name, gate in gate_table().items():
        if name not in profile or gate.evaluation is None:
            continue
        result = judge(gate, _setting(name, profile[name], "profile"), report, missing="skip")
        if result is not None:
            results.append(result)
    return results
