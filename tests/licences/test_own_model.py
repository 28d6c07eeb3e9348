"""Your own model: 'proprietary: OWNER' passes the licence gate as ALLOW, and the owner's duty ships with the student."""

from __future__ import annotations

import json
import shutil

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


@pytest.mark.parametrize(
    "written, near",
    [
        ("propietary: Acme Ltd", 'did you mean "proprietary: Acme Ltd"?'),  # the owner is kept
        ("Apche-2.0", "did you mean 'apache-2.0'?"),
        ("apache-2.1", "did you mean 'apache-2.0'?"),
        ("MTI", "did you mean 'mit'?"),  # two letters swapped: difflib alone finds nothing
        ("Apache License 2.O", "did you mean 'apache-2.0'?"),  # an alias, misspelt
    ],
)
def test_a_misspelt_declared_value_is_a_user_error_not_a_licence_risk(tmp_path, written, near):
    with pytest.raises(UserError) as err:
        check(skops(tmp_path), Use(), declared=written)
    said = str(err.value)
    assert near in said and "--declared" in said and "understudy licence list" in said, said
    assert "accept-licence-risk" not in said


def test_a_misspelt_recipe_licence_exits_2_naming_the_key(tmp_path, tiny_st):
    recipe = callable_recipe(tmp_path, "Apche-2.0", base=tiny_st)
    runner = CliRunner()
    for args in (["check", str(recipe), "--no-sample"], ["distill", str(recipe), "--out", str(tmp_path / "run")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, explain(result)
        out = " ".join(result.output.split())  # rich may wrap it
        assert "teacher.licence 'Apche-2.0' in the recipe" in out and "did you mean 'apache-2.0'?" in out, out
        assert "UNKNOWN" not in out and "accept-licence-risk" not in out, out


def test_an_unknown_licence_in_the_teachers_own_files_stays_unknown(tmp_path, tiny_st):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "README.md").write_text("---\nlicense: apche-2.0\n---\n# a model\n")
    r = check(str(teacher), Use())
    assert r["verdict"] == "UNKNOWN" and "did you mean 'apache-2.0'?" in r["unknown"][0]


def test_declared_on_the_command_line_says_so(tmp_path):
    r = check(skops(tmp_path), Use(), declared=f"proprietary: {OWNER}")
    (lic,) = r["licences"]
    assert lic["found_in"] == "command line" and "(declared on the command line)" in lic["reasons"][0]
    assert r["evidence"][0]["field"] == "--declared"
    recipe = callable_recipe(tmp_path, f"proprietary: {OWNER}")
    from understudy.licences import gate_recipe
    from understudy.recipe import parse_recipe

    (lic,) = gate_recipe(parse_recipe(recipe)[0])["licences"]
    assert lic["found_in"] == "recipe" and "(declared in the recipe)" in lic["reasons"][0]


def test_the_summary_names_the_model_the_obligations_come_from(tmp_path, tiny_st):
    from understudy.licences import gate_recipe, summary_line
    from understudy.recipe import parse_recipe

    base = tmp_path / "base"
    shutil.copytree(tiny_st, base)  # the fixture is shared: tag a copy
    set_card_licence(base, "apache-2.0")
    recipe = callable_recipe(tmp_path, f"proprietary: {OWNER}", base=base)
    r = gate_recipe(parse_recipe(recipe)[0])
    models = {m["role"]: m for m in r["models"]}
    assert models["teacher"]["verdict"] == "ALLOW" and models["teacher"]["owners"] == [OWNER]
    assert models["student base"]["verdict"] == "ALLOW_WITH_OBLIGATIONS"
    assert "apache-2.0" in models["student base"]["duties"]
    line = summary_line(r)
    assert line.startswith("licence gate: ALLOW_WITH_OBLIGATIONS — allow with obligations: from the student's base ")
    assert "(apache-2.0: keep its NOTICE" in line and f"the teacher (proprietary, {OWNER}) allows" in line, line
    shown = CliRunner().invoke(app, ["licence", "check", skops(tmp_path), "--declared", f"proprietary: {OWNER}"])
    assert f"allow: the teacher (proprietary, {OWNER}) allows" in " ".join(shown.output.split()), explain(shown)


def test_the_gate_words_name_both_licences():
    from understudy.report.words import GATES

    assert "student's base" in GATES["licence"].name and "teacher" in GATES["licence"].name
    assert "student starts from" in GATES["licence"].means


def test_licence_list_wraps_at_the_terminal_width():
    listed = CliRunner().invoke(app, ["licence", "list"], env={"COLUMNS": "50"})
    assert listed.exit_code == 0, explain(listed)
    cat = load_catalogue()
    whole = set(cat.values()) | {f"{e.id}: OWNER" for e in cat.licences}
    for line in listed.output.splitlines():
        if len(line) > 50:  # only a value too long for any line, alone on its own
            assert line.strip().removeprefix("aliases: ").rstrip(";") in whole, line
    text = listed.output.replace("\n  ", " ")
    for e in cat.licences:  # every id and alias is printed whole
        assert all(a in text for a in e.aliases), e.id


def test_licence_list_shows_every_value_and_alias_uncut():
    runner = CliRunner()
    listed = runner.invoke(app, ["licence", "list"], env={"COLUMNS": "400"})  # wide: one row a licence
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


def test_a_built_in_table_model_is_judged_by_the_licence_the_recipe_declares():
    from types import SimpleNamespace

    from understudy.data.builtin_tables import BUILTIN_LABELS
    from understudy.licences import BUILTIN_TABLE_MODELS, teacher_target

    assert set(BUILTIN_TABLE_MODELS) == set(BUILTIN_LABELS)
    for name in BUILTIN_TABLE_MODELS:
        spec = SimpleNamespace(kind="lightgbm", path=name, api=None, licence="proprietary: Example Telecom")
        assert teacher_target(spec, lambda p: p) == (None, None)
