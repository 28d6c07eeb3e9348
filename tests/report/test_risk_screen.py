"""The EU AI Act / UK principles screen of an intended use."""

from __future__ import annotations

import pytest

from understudy.errors import UserError
from understudy.report.risk_screen import LEVELS, rules, screen, screen_report, uk_principles


def use(description, sector="general", commercial=True):
    return {"description": description, "sector": sector, "commercial": commercial}


def ids(result, key):
    return [h["id"] for h in result[key]]


def test_healthcare_triage_screens_as_high_risk():
    r = screen(use("Triage patients arriving at the emergency department by urgency of their symptoms", "healthcare"))
    assert r["risk_level"] == "high-risk"
    hit = next(h for h in r["high_risk"] if h["id"] == "emergency-triage")
    assert hit["where"] == "Annex III, point 5(d)" and any("triage" in w for w in hit["matched"])
    assert any("Articles 9 to 15" in x for x in r["follows"]) and "Annex III, point 5(d)" in " ".join(r["reasons"])


def test_social_scoring_screens_as_prohibited():
    r = screen(use("Score citizens by their social behaviour to decide who gets public housing"))
    assert r["risk_level"] == "prohibited"
    assert ids(r, "prohibited") == ["social-scoring"] and r["prohibited"][0]["where"] == "Article 5(1)(c)"
    assert any("Do not deploy" in x for x in r["follows"])
    assert screen(use("We run a social scoring programme for residents"))["risk_level"] == "prohibited"


@pytest.mark.parametrize(
    "description, level, rule",
    [
        ("Screen CVs and shortlist candidates for interviews", "high-risk", "employment-recruitment"),
        ("Assess the creditworthiness of loan applicants", "high-risk", "creditworthiness"),
        ("Set premiums for life insurance policies from application forms", "high-risk", "life-health-insurance"),
        ("Grade student essays for university admissions", "high-risk", "education"),
        ("Help judges find relevant case law for sentencing", "high-risk", "justice-democracy"),
        ("Suggest a diagnosis to doctors from patient notes", "high-risk", "medical-device"),
        ("Process asylum applications at the border control office", "high-risk", "migration"),
        (
            "Detect emotions of employees from webcam facial expressions in meetings",
            "prohibited",
            "emotion-recognition-work-education",
        ),
        (
            "Infer the sexual orientation of users from their profile photos",
            "prohibited",
            "biometric-categorisation-sensitive",
        ),
        (
            "Scrape facial images from social media to build a face search database",
            "prohibited",
            "untargeted-face-scraping",
        ),
    ],
)
def test_annex_iii_and_article_5_rules(description, level, rule):
    r = screen(use(description))
    assert r["risk_level"] == level
    assert rule in ids(r, "prohibited" if level == "prohibited" else "high_risk")


def test_everyday_business_uses_are_minimal_and_chatbots_limited():
    for description in (
        "Route customer reviews of food products to customer service",
        "Tag support tickets by product line",
        "Route Visa card disputes to the right team",
        "Detect customer frustration in chat messages and route them to a senior agent",
    ):
        r = screen(use(description, "retail"))
        assert r["risk_level"] == "minimal", (description, r["reasons"])
    chat = screen(use("A chatbot that answers customer questions about orders", "retail"))
    assert chat["risk_level"] == "limited" and "interacts-with-people" in ids(chat, "transparency")
    assert chat["transparency"][0]["where"] == "Article 50(1)"
    # a generator carries the Article 50(2) duty whatever its description says
    gen = screen(use("Reply to reviews", "retail"), task="text-generation")
    assert gen["risk_level"] == "limited" and "generates-content" in ids(gen, "transparency")
    assert "task: text-generation" in gen["transparency"][0]["matched"]


def test_exceptions_are_named_not_silently_dropped():
    r = screen(use("Detect fraud in credit scoring applications", "finance"))
    assert r["risk_level"] == "minimal" and r["exceptions"][0]["id"] == "creditworthiness"
    assert "fraud" in r["exceptions"][0]["exception"] and any("exception may apply" in x for x in r["reasons"])
    r = screen(use("Detect drowsiness and fatigue emotions of workers driving forklifts for safety reasons"))
    assert "emotion-recognition-work-education" in [h["id"] for h in r["exceptions"]]
    assert r["risk_level"] == "high-risk"  # emotion recognition stays high-risk (Annex III, point 1)


def test_sector_note_commercial_note_and_unknown():
    r = screen(use("Sort incoming emails by department", "hr", commercial=False))
    assert r["risk_level"] == "minimal" and "Annex III, point 4" in r["sector_note"]
    assert any("Article 2(6)" in x for x in r["reasons"])
    empty = screen(use("", "healthcare"))
    assert empty["risk_level"] == "unknown" and "intended_use.description" in empty["reasons"][0]
    assert set(LEVELS) == {"prohibited", "high-risk", "limited", "minimal", "unknown"}


def test_not_legal_advice_and_uk_principles_linked_to_evidence():
    report = {
        "run": {"task": "text-classification", "intended_use": use("Route reviews")},
        "comparison": {"negative_flips": {"count": 3}},
        "gates": {"verdict": "PASS"},
        "oversight": {"policy": {"feasible": True}},
    }
    r = screen_report(report)
    assert "not legal advice" in r["not_legal_advice"]
    principles = {p["id"]: p for p in r["uk_principles"]}
    assert len(principles) == 5
    measured = {e["path"]: e["measured"] for p in principles.values() for e in p["evidence"]}
    assert measured["comparison.negative_flips"] and measured["oversight"] and measured["gates"]
    assert not measured["fairness"] and not measured["robustness"] and not measured["licence"]
    assert principles["contestability-redress"]["evidence"][0]["path"] == "oversight"
    gen = {p["id"]: p for p in uk_principles({"generation": {"refusal": {"kept": 1.0}}})}
    assert any(e["measured"] for e in gen["safety-security-robustness"]["evidence"] if "refusal" in e["path"])


def test_rules_file_is_well_formed_and_bad_input_is_a_user_error():
    r = rules()
    for section in ("prohibited", "high_risk", "transparency"):
        for rule in r[section]:
            assert rule["id"] and rule["where"] and rule["title"] and (rule["_groups"] or rule.get("tasks"))
    assert {x["where"] for x in r["prohibited"]} >= {f"Article 5(1)({c})" for c in "abcdefgh"}
    with pytest.raises(UserError, match="intended_use must be a mapping"):
        screen("triage")
    with pytest.raises(UserError, match="description must be text"):
        screen({"description": 3})
