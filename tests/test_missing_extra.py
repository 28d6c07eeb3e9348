"""A plug-in whose package lacks an optional dependency says which extra brings it (an install made with
`understudy[serve]` only, serving a transformer student that needs torch)."""

from __future__ import annotations

import pytest

from understudy import registry
from understudy.errors import UserError


@pytest.fixture(autouse=True)
def fresh():
    registry.clear()
    yield
    registry.clear()


def _fake_distribution(site, name: str, requires: list[str], entry_points: str) -> None:
    info = site / f"{name}-0.3.dist-info"
    info.mkdir(parents=True)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 0.3", *[f"Requires-Dist: {r}" for r in requires]]
    (info / "METADATA").write_text("\n".join(meta) + "\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


def test_a_missing_package_names_the_extra_that_brings_it(tmp_path, monkeypatch):
    site = tmp_path / "site"
    requires = [
        "numpy>=1",
        'a-heavy-lib>=2; extra == "train"',
        'a-heavy-lib>=2; extra == "heavy"',
        'another-lib; extra == "train"',
        'fastapi; extra == "serve"',
    ]
    _fake_distribution(site, "some_students", requires, "[understudy.students]\nheavy = some_students_mod:Heavy\n")
    (site / "some_students_mod.py").write_text("import a_heavy_lib.core\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(UserError) as info:
        registry.load(registry.STUDENTS, "heavy")
    msg = str(info.value)
    assert "student kind 'heavy' needs the Python package 'a_heavy_lib'" in msg
    assert "pip install 'some_students[heavy]'" in msg and "'some_students[serve,heavy]'" in msg


def test_a_missing_package_no_extra_brings_keeps_the_plain_message(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _fake_distribution(
        site, "odd_students", ['fastapi; extra == "serve"'], "[understudy.students]\nodd = odd_mod:Odd\n"
    )
    (site / "odd_mod.py").write_text("import not_in_any_extra\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(UserError, match="odd = odd_mod:Odd.*not_in_any_extra.*Reinstall or fix"):
        registry.load(registry.STUDENTS, "odd")


def test_the_transformer_student_without_torch_names_understudy_transformer():
    ep = registry.entry_point(registry.STUDENTS, "transformer")
    exc = ModuleNotFoundError("No module named 'torch'", name="torch")
    msg = registry._missing_extra(registry.STUDENTS, ep, exc)
    assert msg is not None and "pip install 'understudy[transformer]'" in msg
    assert "'understudy[serve,transformer]'" in msg
