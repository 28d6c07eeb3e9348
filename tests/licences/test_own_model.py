"""Your own model: 'proprietary: OWNER' passes the licence gate as ALLOW, and the owner's duty ships with the student."""

from __future__ import annotations

import json

import pytest
from cli_builders import explain
from conftest import set_card_licence
from licence_builders import callable_recipe
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.errors import UserError
from understudy.licences import Use, check
from understudy.licences.catalogue import load_catalogue
from understudy.licences.ship import card_metadata, write_licence, write_notice

OWNER = "Acme Ltd"


def skops(tmp_path):
    path = tmp_path / "model.skops"
    path.write_bytes(b"x")
    return str(path)


@pytest.mark.parametrize(
    "written", [f"proprietary: {OWNER}", f"own: {OWNER}", f"Internal:{OWNER}", f"in-house: {OWNER}"]
)
def test_own_model_is_allow_with_the_owners_duty(tmp_path, written):
    r = check(skops(tmp_path), Use(commercial=True, sector="finance"), declared=written)
    assert r["verdict"] == "ALLOW" and r["proceed"] and r["accepted_risk"] is None
    (lic,) = r["licences"]
    assert lic["id"] == "proprietary" and lic["owner"] == OWNER
    duty = f"internal model of {OWNER}: the distilled student is {OWNER}'s too; keep it under {OWNER}'s terms"
    assert duty in r["obligations"]["other"] and r["obligations"]["owners"] == [OWNER]


def test_the_owners_duty_ships_in_notice_licence_and_card(tmp_path):
    r = check(skops(tmp_path), Use(), declared=f"proprietary: {OWNER}")
    ship = tmp_path / "student"
    ship.mkdir()
    notice = write_notice(r, ship, "churn-model").read_text()
    licence = write_licence(r, ship, "churn-model").read_text()
    owned = (ship / "licences" / "proprietary.txt").read_text()
    assert f"internal model of {OWNER}" in notice and "accepted the risk" not in notice
    assert f"owned by {OWNER}" in licence and "licences/proprietary.txt" in licence
    assert owned.startswith(f"This model is the property of {OWNER}.") and "churn-model" in owned
    assert card_metadata(r) == {"license": "other", "license_name": "proprietary", "license_link": "LICENSE"}


def test_no_owner_named_is_a_user_error_saying_to_name_it(tmp_path):
    with pytest.raises(UserError, match=r"names no owner: write it as \"proprietary: OWNER\""):
        check(skops(tmp_path), Use(), declared="proprietary")
    recipe = callable_recipe(tmp_path, "internal")
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, explain(result)
    assert "names no owner" in result.output and "Traceback" not in result.output


def test_a_card_that_says_proprietary_is_someone_elses_terms(tmp_path):
    folder = tmp_path / "vendor-model"
    folder.mkdir()
    set_card_licence(folder, "proprietary")
    r = check(str(folder), Use())
    assert r["verdict"] == "UNKNOWN" and not r["licences"]
    assert any("its maker's own terms" in u and 'teacher.licence: "proprietary: OWNER"' in u for u in r["unknown"])


def test_distill_passes_the_gate_without_accepting_risk(tmp_path, tiny_st):
    recipe = callable_recipe(tmp_path, f"proprietary: {OWNER}", base=tiny_st)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "--to", "teach", "-q"])
    assert result.exit_code == 0, explain(result)
    verdict = json.loads((run / "licence.json").read_text())
    assert verdict["proceed"] and verdict["accepted_risk"] is None  # the student base's apache-2.0 adds its duties
    teacher = next(lic for lic in verdict["licences"] if lic["role"] == "teacher")
    assert teacher["verdict"] == "ALLOW" and teacher["owner"] == OWNER
    assert any(f"internal model of {OWNER}" in x for x in verdict["obligations"]["other"])


def test_a_misspelt_licence_value_gets_did_you_mean(tmp_path):
    r = check(skops(tmp_path), Use(), declared="propietary: Acme Ltd")
    assert r["verdict"] == "UNKNOWN"
    assert "did you mean 'proprietary'?" in r["unknown"][0] and "understudy licence list" in r["unknown"][0]
    assert "did you mean 'apache-2.0'?" in check(skops(tmp_path), Use(), declared="apache-2.1")["unknown"][0]


def test_licence_list_shows_every_value_and_alias_uncut():
    runner = CliRunner()
    listed = runner.invoke(app, ["licence", "list"], env={"COLUMNS": "40"})
    assert listed.exit_code == 0, explain(listed)
    lines = listed.output.splitlines()
    cat = load_catalogue()
    for e in cat.licences:
        row = next(ln for ln in lines if ln.split("  ")[0].strip() in (e.id, f"{e.id}: OWNER"))
        assert e.distillation.allowed in row and all(a in row for a in e.aliases if a != e.id), e.id
    as_json = json.loads(runner.invoke(app, ["licence", "list", "--json"]).stdout)
    written = {r["value"].removesuffix(": OWNER") for r in as_json} | {a for r in as_json for a in r["aliases"]}
    assert written == set(cat.values())
    assert {"own", "internal", "in-house"} <= set(
        next(r for r in as_json if r["value"] == "proprietary: OWNER")["aliases"]
    )
