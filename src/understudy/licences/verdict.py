"""From evidence and the intended use to ALLOW / ALLOW_WITH_OBLIGATIONS / BLOCK / UNKNOWN."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .catalogue import Catalogue, Entry
from .evidence import OWN_ELSEWHERE, Findings

NOT_LEGAL_ADVICE = (
    "This is an automated reading of licence texts and terms, not legal advice. "
    "Check the terms yourself, or with a lawyer, before you ship the student."
)
RANK = {"ALLOW": 0, "ALLOW_WITH_OBLIGATIONS": 1, "UNKNOWN": 2, "BLOCK": 3}


@dataclass
class Use:
    commercial: bool = True
    sector: str = "general"
    student_from_teacher: bool = (
        False  # the student is built from the teacher's own weights (layers kept, embeddings distilled)
    )
    description: str = ""

    def to_dict(self) -> dict:
        return {
            "commercial": self.commercial,
            "sector": self.sector,
            "student_from_teacher": self.student_from_teacher,
            "description": self.description,
        }


def judge(
    entry: Entry, use: Use, role: str, *, owner: str | None = None, found_in: str = "recipe"
) -> tuple[str, list[str]]:
    """One licence's verdict for this use, with the reasons quoted from the terms."""
    if entry.kind == "own-model":  # the user declared the teacher their organisation's own, naming the owner
        where = "on the command line" if found_in == "command line" else "in the recipe"
        return "ALLOW", [
            f"the teacher is {owner or 'your organisation'}'s own model (declared {where}): "
            "no third party's terms apply"
        ]
    block, unknown, why = [], [], []
    d = entry.distillation
    quote = f' ("{d.clause}"' + (f", {d.section})" if d.section else ")") if d.clause else ""
    if role != "student base":  # fine-tuning a student base is not distillation from it
        if d.allowed == "no":
            block.append(f"{entry.name} does not allow training another model on its outputs{quote}")
        elif d.allowed == "permission-required":
            block.append(
                f"{entry.name} requires the provider's prior permission to train a model on its outputs{quote}; "
                "ask the provider, or use another teacher"
            )
        elif d.allowed == "research-only" and use.commercial:
            block.append(
                f"{entry.name} allows distillation for research only, and the recipe's use is commercial{quote}"
            )
        elif d.allowed == "derivative-only":
            if use.student_from_teacher:
                why.append(
                    f"{entry.name}: allowed because the student is built from the teacher's own weights "
                    f"({d.condition or 'a derivative of the teacher'}){quote}"
                )
            else:
                block.append(
                    f"{entry.name} allows training on its outputs only to improve its own derivatives "
                    f"({d.condition or 'the student must be built from the teacher'}), and this student is not{quote}"
                )
        elif d.allowed == "conditional":
            unknown.append(
                f"{entry.name} allows it only under a condition a person must judge: "
                f"{d.condition or 'see the clause'}{quote}"
            )
    c = entry.commercial
    if use.commercial and c.allowed == "no":
        block.append(
            f"{entry.name} does not allow commercial use, and the recipe's use is commercial"
            + (f' ("{c.clause}")' if c.clause else "")
        )
    for r in entry.restricted_uses:
        if use.sector in r.sectors:
            block.append(
                f"{entry.name} bans this use for the recipe's sector '{use.sector}': \"{r.clause}\""
                + (f" ({r.where})" if r.where else "")
            )
    if block:
        return "BLOCK", block + unknown
    if unknown:
        return "UNKNOWN", unknown
    if entry.obligations.any() or c.allowed == "threshold" or entry.restricted_uses or entry.geographic:
        return "ALLOW_WITH_OBLIGATIONS", why or [f"{entry.name} allows it, with obligations carried into the student"]
    return "ALLOW", why or [f"{entry.name} allows it with no conditions"]


def decide(findings: list[Findings], catalogue: Catalogue, use: Use, *, accept_risk: str | None = None) -> dict:
    """The licence gate's result: verdict, whether the run may go on, every licence with its reasons, evidence, obligations."""
    roles: dict[
        str, tuple[str, str, str]
    ] = {}  # licence id -> (role, where first found, target); a teacher role beats 'student base'
    unknown_reasons, evidence, notes = [], [], []
    unknown_by_role: dict[str, list[str]] = {}  # whose terms could not be confirmed, for the per-model summary
    for i, f in enumerate(findings):
        evidence += [e.to_dict() | {"target": f.target} for e in f.evidence]
        notes += f.notes
        recognised = [e for e in f.evidence if e.licence]
        for e in recognised:
            role = (
                "student base"
                if e.role == "student base"
                else ("API provider" if e.role == "API provider" else "teacher")
            )
            if e.licence not in roles or roles[e.licence][0] == "student base":
                roles[e.licence] = (role, e.source, f.target)
        for e in f.evidence:
            if e.licence is None:
                unknown_reasons.append(_not_known(e, catalogue))
                unknown_by_role.setdefault(_whose(e.role), []).append(unknown_reasons[-1])
        if not recognised and not any(e.licence is None for e in f.evidence):
            unknown_reasons.append(
                f"{f.target}: no licence found (no card tag, licence file, GGUF metadata or "
                "package metadata); declare it as teacher.licence in the recipe if you know it"
            )
            # check() and gate_recipe() put the teacher first and the student's base after it
            unknown_by_role.setdefault("teacher" if i == 0 else "student base", []).append(unknown_reasons[-1])
    owners = _owners(findings)
    licences = []
    for lid, (role, source, target) in roles.items():
        entry = catalogue.get(lid)
        verdict, reasons = judge(entry, use, role, owner=owners.get(lid), found_in=source)
        licences.append(
            {
                "id": entry.id,
                "name": entry.name,
                "role": role,
                "target": target,
                "found_in": source,
                "verdict": verdict,
                "reasons": reasons,
                "source": entry.source,
                "read": str(entry.read),
            }
            | ({"owner": owners[lid]} if lid in owners else {})
        )
    verdict = max(
        [lic["verdict"] for lic in licences] + (["UNKNOWN"] if unknown_reasons else []) or ["UNKNOWN"],
        key=RANK.__getitem__,
    )
    entries = [catalogue.get(lic["id"]) for lic in licences]
    models = per_model(licences, unknown_by_role, catalogue)
    result = {
        "verdict": verdict,
        "proceed": verdict in ("ALLOW", "ALLOW_WITH_OBLIGATIONS") or (verdict == "UNKNOWN" and bool(accept_risk)),
        "use": use.to_dict(),
        "targets": [f.target for f in findings],
        "licences": licences,
        "models": models,
        "summary": summarise(verdict, models),
        "unknown": unknown_reasons,
        "notes": notes,
        "evidence": evidence,
        "licence_files": [str(p) for f in findings for p in dict.fromkeys(f.files)],
        "model_names": [n for f in findings for n in dict.fromkeys(f.names)],
        "obligations": obligations(entries, use, owners),
        "accepted_risk": None,
        "checked": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "not_legal_advice": NOT_LEGAL_ADVICE,
    }
    if verdict == "UNKNOWN" and accept_risk:
        result["accepted_risk"] = {"reason": accept_risk, "at": result["checked"]}
    return result


ROLES = ("teacher", "API provider", "student base")  # the order the summary names them in
SAYS = {
    "ALLOW": "allows",
    "ALLOW_WITH_OBLIGATIONS": "allows, with obligations",
    "UNKNOWN": "could not be confirmed",
    "BLOCK": "does not allow this use",
}


def _whose(role: str) -> str:
    return role if role in ("student base", "API provider") else "teacher"  # a teacher's base model is the teacher's


def per_model(licences: list[dict], unknown_by_role: dict[str, list[str]], catalogue: Catalogue) -> list[dict]:
    """What each model's terms gave: the teacher, the API provider and the student's base, each on its own, so a
    reader sees which one an obligation or a BLOCK comes from."""
    out = []
    for role in ROLES:
        mine = [lic for lic in licences if lic["role"] == role]
        unknown = unknown_by_role.get(role, [])
        if not mine and not unknown:
            continue
        verdict = max([lic["verdict"] for lic in mine] + (["UNKNOWN"] if unknown else []), key=RANK.__getitem__)
        out.append(
            {
                "role": role,
                "target": mine[0]["target"] if mine else None,
                "verdict": verdict,
                "licences": [lic["id"] for lic in mine],
                "owners": [lic["owner"] for lic in mine if lic.get("owner")],
                "duties": {
                    lic["id"]: duty_words(catalogue.get(lic["id"]))
                    for lic in mine
                    if lic["verdict"] == "ALLOW_WITH_OBLIGATIONS"
                },
                "unknown": unknown,
            }
        )
    return out


def duty_words(entry: Entry) -> str:
    """A licence's obligations in a few words (the catalogue's summary, or read off its fields)."""
    o = entry.obligations
    if o.summary:
        return o.summary
    words = (
        ([f"start the student's name with '{o.name_prefix}'"] if o.name_prefix else [])
        + ([f"show '{o.attribution}'"] if o.attribution else [])
        + (["keep its notice"] if o.notice else [])
        + (["pass on its use restrictions"] if o.pass_on_use_policy or entry.restricted_uses else [])
        + (
            [f"up to {entry.commercial.monthly_active_users_limit:,} monthly users"]
            if entry.commercial.monthly_active_users_limit
            else []
        )
        + (["share alike"] if o.share_alike else [])
        + (["offer the source"] if o.source_code else [])
        + (["do not redistribute the student"] if o.no_redistribution_of_derivatives else [])
        + (["regional limits"] if entry.geographic else [])
        + (["ship the licence"] if o.licence_copy else [])
    )
    return ", ".join(words or ["see its obligations"])


def _who(m: dict) -> str:
    """'the teacher (proprietary, Acme Ltd)', "the student's base all-MiniLM-L6-v2 (apache-2.0, mit)"."""
    name = {"teacher": "the teacher", "API provider": "the API provider", "student base": "the student's base"}
    who = name[m["role"]]
    if m["role"] == "student base" and m.get("target"):
        who += " " + str(m["target"]).removeprefix("builtin:").rstrip("/").rsplit("/", 1)[-1]
    what = m["licences"] + m["owners"]
    return who + (f" ({', '.join(what)})" if what else "")


def summarise(verdict: str, models: list[dict]) -> str:
    """The verdict in words, naming the model each part of it comes from: the one line the terminal prints."""
    parts = []
    for m in sorted(models, key=lambda m: -RANK[m["verdict"]]):  # what decides the verdict first
        if m["verdict"] == "ALLOW_WITH_OBLIGATIONS":
            name = _who({**m, "licences": [], "owners": []})
            duties = "; ".join(f"{lid}: {d}" for lid, d in m["duties"].items())
            parts.append(f"from {name} ({duties})")
        else:
            parts.append(f"{_who(m)} {SAYS[m['verdict']]}")
    return verdict.replace("_", " ").lower() + (": " + "; ".join(parts) if parts else "")


def summary_line(result: dict) -> str:
    """'licence gate: ALLOW_WITH_OBLIGATIONS — allow with obligations: from the student's base ...; the teacher
    (proprietary, Acme Ltd) allows'. A result written before per-model summaries gives the verdict alone."""
    head = f"licence gate: {result['verdict']}" + (" (risk accepted)" if result.get("accepted_risk") else "")
    return head + (f" — {result['summary']}" if result.get("summary") else "")


def own_duty(owner: str | None) -> str:
    owner = owner or "your organisation"
    return f"internal model of {owner}: the distilled student is {owner}'s too; keep it under {owner}'s terms"


def _owners(findings: list[Findings]) -> dict[str, str]:
    """Own-model licence id -> the owner named in the declaration."""
    return {e.licence: e.owner for f in findings for e in f.evidence if e.licence and e.owner}


def _not_known(e, catalogue: Catalogue) -> str:
    """Why a piece of evidence is UNKNOWN; a misspelt value gets 'did you mean'."""
    where = f"{e.file}:{e.line}" if e.file and e.line else (e.file or e.source)
    if where == "recipe" and e.field:
        where = f"recipe {e.field}"
    what = "" if where.startswith(e.source) else f"{e.source} "
    if e.clause == OWN_ELSEWHERE:
        return f"{where}: {what}says '{e.value}' — {e.clause}"
    out = f"{where}: {what}'{e.value}' is not a licence understudy knows" + (f" — {e.clause}" if e.clause else "")
    if e.kind == "tag" and not e.clause:
        near = catalogue.suggest(e.value)
        if near:
            out += "; did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
        out += " (`understudy licence list` shows every accepted value)"
    return out


def obligations(entries: list[Entry], use: Use, owners: dict[str, str] | None = None) -> dict:
    """What the student must carry: every licence's obligations, merged; an own model's owner keeps the student."""
    owners = owners or {}
    out = {
        "name_prefix": None,
        "attribution": [],
        "notices": [],
        "licence_copies": [],
        "use_restrictions": [],
        "use_policies": [],
        "share_alike": [],
        "source_code": False,
        "no_redistribution": False,
        "user_limits": [],
        "geographic": [],
        "other": [],
        "owners": [],
    }
    for e in entries:
        if e.id in owners:
            out["owners"].append(owners[e.id])
            out["notices"].append(f"This model is an {own_duty(owners[e.id])}.")
            out["other"].append(own_duty(owners[e.id]))
        o = e.obligations
        if o.name_prefix and not out["name_prefix"]:
            out["name_prefix"] = o.name_prefix
        if o.attribution:
            out["attribution"].append(o.attribution)
        if o.notice:
            out["notices"].append(o.notice)
        if o.licence_copy:
            out["licence_copies"].append({"id": e.id, "name": e.name, "source": e.source})
        if o.pass_on_use_policy or e.restricted_uses:
            out["use_restrictions"] += [
                {"licence": e.name, "id": r.id, "clause": r.clause, "where": r.where} for r in e.restricted_uses
            ]
            if o.use_policy:
                out["use_policies"].append({"licence": e.name, "link": o.use_policy})
        if o.share_alike:
            out["share_alike"].append(o.share_alike)
        out["source_code"] |= o.source_code
        out["no_redistribution"] |= o.no_redistribution_of_derivatives
        if e.commercial.monthly_active_users_limit:
            out["user_limits"].append(
                {"licence": e.name, "monthly_active_users": e.commercial.monthly_active_users_limit}
            )
        out["geographic"] += [{"licence": e.name, **g.model_dump()} for g in e.geographic]
        out["other"] += [f"{e.name}: {x}" for x in o.other]
    for k in ("attribution", "notices", "share_alike", "other", "owners"):
        out[k] = list(dict.fromkeys(out[k]))
    return out
