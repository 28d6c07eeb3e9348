"""A first screen of the intended use against the EU AI Act, and the UK principles each measured figure speaks to.

The rules are data (risk_rules.yaml): keyword patterns for the Article 5 prohibited practices, the Annex III
high-risk areas (plus medical devices through Article 6(1)), and the Article 50 transparency duties, matched
against the intended-use description the recipe gives. The screen says which words matched which provision so
that a person can check it; it is not legal advice and cannot decide whether a provision applies.

risk_level is the most serious level any rule reached: prohibited > high-risk > limited > minimal; "unknown"
when no intended use was described (the screen then has nothing to read).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..errors import UserError

RULES_FILE = Path(__file__).with_name("risk_rules.yaml")
LEVELS = ("prohibited", "high-risk", "limited", "minimal", "unknown")


@lru_cache(maxsize=1)
def rules() -> dict:
    """risk_rules.yaml, with every pattern compiled; a broken pattern names its rule."""
    import yaml

    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    for section in ("prohibited", "high_risk", "transparency"):
        for rule in data[section]:
            groups = rule.get("all_of") or ([rule["any_of"]] if rule.get("any_of") else [])
            try:
                rule["_groups"] = [[re.compile(p, re.I) for p in g] for g in groups]
                rule["_unless"] = [re.compile(p, re.I) for p in rule.get("unless") or []]
            except re.error as exc:
                raise UserError(f"{RULES_FILE}: {section} rule '{rule['id']}': bad pattern: {exc}") from None
    return data


def not_legal_advice() -> str:
    return rules()["not_legal_advice"]


def _match(rule: dict, text: str, task: str | None) -> list[str] | None:
    """The words that fired the rule, or None when it does not fire."""
    if task and task in (rule.get("tasks") or []):
        return [f"task: {task}"] + [m.group() for g in rule["_groups"] for p in g for m in p.finditer(text)]
    if not rule["_groups"]:
        return None
    words = []
    for group in rule["_groups"]:
        found = [m.group() for p in group for m in p.finditer(text)]
        if not found:
            return None
        words += found
    return list(dict.fromkeys(w.strip().lower() for w in words))


def _hit(rule: dict, words: list[str]) -> dict:
    return {"id": rule["id"], "where": rule["where"], "title": rule["title"], "matched": words}


def _measured(report: dict | None, path: str) -> bool:
    """Whether report.json holds something at a dotted path ('a|b': at either)."""
    for alternative in path.split("|"):
        node = report
        for key in alternative.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node not in (None, "", [], {}):
            return True
    return False


def uk_principles(report: dict | None = None) -> list[dict]:
    """The UK's five principles, each with the report sections that are evidence for it and whether they were measured."""
    return [
        {
            "id": p["id"],
            "title": p["title"],
            "evidence": [
                {"path": e["path"], "what": e["what"], "measured": _measured(report, e["path"])} for e in p["evidence"]
            ],
        }
        for p in rules()["uk_principles"]
    ]


def screen(intended_use: dict | None, *, task: str | None = None, report: dict | None = None) -> dict:
    """Screen an intended use ({"description", "sector", "commercial"}) against the rules.

    `task` (e.g. "text-generation") triggers the Article 50 duties of generators whatever the description says;
    `report` (a parsed report.json) lets the UK principles say which evidence was measured.
    """
    if intended_use is None:
        intended_use = {}
    if not isinstance(intended_use, dict):
        raise UserError(f"intended_use must be a mapping with description, sector and commercial; got {intended_use!r}")
    description = intended_use.get("description") or ""
    if not isinstance(description, str):
        raise UserError(f"intended_use.description must be text; got {type(description).__name__}")
    text = re.sub(r"\s+", " ", description.replace("’", "'")).strip()
    sector, commercial = intended_use.get("sector"), intended_use.get("commercial")
    r = rules()
    found: dict[str, list] = {"prohibited": [], "high_risk": [], "transparency": []}
    exceptions = []
    for section in found:
        for rule in r[section]:
            words = _match(rule, text, task)
            if words is None:
                continue
            excepted = [m.group().lower() for p in rule["_unless"] for m in p.finditer(text)]
            if excepted:
                exceptions.append({**_hit(rule, words), "exception": rule.get("exception", ""), "because_of": excepted})
                if rule.get("if_excepted"):
                    found["high_risk"].append({"id": rule["id"] + "-excepted", **rule["if_excepted"], "matched": words})
            else:
                found[section].append(_hit(rule, words))

    reasons = []
    if not text:
        level = "unknown"
        reasons.append(
            "No intended use was described, so the screen had nothing to read: write what the student "
            "will be used for in the recipe's intended_use.description."
        )
    else:
        level = (
            "prohibited"
            if found["prohibited"]
            else "high-risk"
            if found["high_risk"]
            else "limited"
            if found["transparency"]
            else "minimal"
        )
    for section, words in (
        ("prohibited", "may be a prohibited practice"),
        ("high_risk", "may be high-risk"),
        ("transparency", "carries a transparency duty"),
    ):
        for h in found[section]:
            reasons.append(f"{h['where']}: {h['title']} — the use {words}; matched: {', '.join(h['matched'])}.")
    for h in exceptions:
        reasons.append(
            f"{h['where']}: {h['title']} matched ({', '.join(h['matched'])}), but an exception may apply "
            f"({', '.join(h['because_of'])}): {h['exception']}"
        )
    sector_note = None
    if text and level in ("minimal", "limited") and sector in (r.get("sector_notes") or {}):
        sector_note = r["sector_notes"][sector]
        reasons.append(f"Sector '{sector}': {sector_note}")
    commercial_note = None
    if commercial is False:
        commercial_note = (
            "Non-commercial use does not by itself take a system out of the AI Act: it excludes systems "
            "developed and used for the sole purpose of scientific research and development "
            "(Article 2(6)) and purely personal, non-professional use (Article 2(10))."
        )
        reasons.append(commercial_note)
    if level == "minimal":
        reasons.insert(0, "The description matches no prohibited practice, high-risk area or transparency duty.")
    info = r["levels"].get(level, {})
    return {
        "risk_level": level,
        "meaning": info.get("meaning", ""),
        "follows": list(info.get("follows") or []),
        "reasons": reasons,
        "prohibited": found["prohibited"],
        "high_risk": found["high_risk"],
        "transparency": found["transparency"],
        "exceptions": exceptions,
        "sector": sector,
        "sector_note": sector_note,
        "commercial": commercial,
        "uk_principles": uk_principles(report),
        "rules_read": str(r.get("read")),
        "sources": dict(r.get("sources") or {}),
        "not_legal_advice": r["not_legal_advice"],
    }


def screen_report(report: dict) -> dict:
    """screen() on a parsed report.json: its intended use and task, with the report as evidence."""
    run = report.get("run") if isinstance(report.get("run"), dict) else {}
    return screen(run.get("intended_use"), task=run.get("task"), report=report)
