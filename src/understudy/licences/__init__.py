"""The licence gate: read the teacher's licence and terms before asking it anything, decide, and carry the obligations.

check(target, use)          one model, folder, GGUF file, package or API: the verdict dict
gate_recipe(recipe)         the first stage of `distill`: the teacher, its base model and the student's base
summary_line(result)        the one line the terminal prints: the verdict, and which model gave it
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from .catalogue import load_catalogue
from .evidence import Findings, collect
from .verdict import NOT_LEGAL_ADVICE, RANK, Use, decide, summary_line  # noqa: F401


class LicenceBlocked(UserError):
    """The licence gate said BLOCK (or UNKNOWN with no accepted risk): nothing was asked of the teacher."""

    def __init__(self, result: dict):
        self.result = result
        reasons = [r for lic in result["licences"] if lic["verdict"] in ("BLOCK", "UNKNOWN") for r in lic["reasons"]]
        reasons += result["unknown"]
        hint = (
            ""
            if result["verdict"] == "BLOCK"
            else '\n  If you have read the terms and accept the risk, rerun with --accept-licence-risk "your reason".'
        )
        super().__init__(
            f"licence gate: {result['verdict']}; the teacher was not loaded or asked anything.\n  - "
            + "\n  - ".join(reasons or ["no reason recorded"])
            + hint
            + f"\n  ({NOT_LEGAL_ADVICE})"
        )


def check(
    target: str,
    use: Use,
    *,
    declared: str | None = None,
    model: str | None = None,
    student_base: str | None = None,
    accept_risk: str | None = None,
) -> dict:
    catalogue = load_catalogue()
    findings = [collect(target, catalogue, declared=declared, model=model, declared_in="command line")]
    if student_base:
        findings.append(collect(student_base, catalogue, role="student base"))
    return decide(findings, catalogue, use, accept_risk=accept_risk)


def recipe_use(recipe) -> Use:
    iu = recipe.intended_use
    return Use(
        commercial=iu.commercial,
        sector=iu.sector,
        description=iu.description,
        student_from_teacher=getattr(recipe.student, "base", None) == "teacher",
    )


def teacher_target(spec, resolve) -> tuple[str | None, str | None]:
    """(target, model id) of a recipe's teacher section, without loading anything."""
    api = getattr(spec, "api", None)
    if api is not None:
        return api.base_url, api.model
    if getattr(spec, "kind", None) == "callable":
        target = spec.target or ""
        return (resolve(target.rsplit(":", 1)[0]) if ".py:" in target else None), None
    path = getattr(spec, "path", None)
    if path is None:  # a plug-in teacher kind without files: the licence the recipe declares is the evidence
        return None, None
    if path in BUILTIN_TABLE_MODELS:  # fitted here on the business's own rows: its declared licence is the evidence
        return None, None
    return (path if path.startswith("builtin:") else resolve(path)), None


# understudy.data.builtin_tables' models, named here so the gate imports nothing to know them
BUILTIN_TABLE_MODELS = ("builtin:churn-boosted", "builtin:breast-cancer-forest")


def gate_recipe(recipe, *, accept_risk: str | None = None) -> dict:
    """Findings for the teacher (and the base it names) and the student's base, decided for the recipe's use."""
    catalogue = load_catalogue()
    target, model = teacher_target(recipe.teacher, recipe.resolve)
    declared = getattr(recipe.teacher, "licence", None)
    if target is None:
        found = Findings(getattr(recipe.teacher, "target", None) or "teacher")
        if declared:
            from .evidence import _tag

            _tag(found, catalogue, declared, source="recipe", field="teacher.licence")
        findings = [found]
    else:
        findings = [collect(target, catalogue, declared=declared, model=model)]
    base = getattr(recipe.student, "base", "teacher")
    if base and base != "teacher":
        findings.append(
            collect(base if base.startswith("builtin:") else recipe.resolve(base), catalogue, role="student base")
        )
    return decide(findings, catalogue, recipe_use(recipe), accept_risk=accept_risk)


def write_result(result: dict, out: Path) -> Path:
    from ..run.folder import write_atomic

    path = Path(out) / "licence.json"
    write_atomic(path, json.dumps(result, indent=2, default=str))
    return path
