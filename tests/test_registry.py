"""The plug-in registry: names from entry points, filled lazily; built-ins registered the same way; clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from understudy import registry
from understudy.errors import UserError

ROOT = Path(__file__).resolve().parents[1]

BUILTINS = {
    registry.TASKS: ["tabular-classification", "tabular-regression", "text-classification", "text-generation"],
    registry.TEACHERS: ["callable", "encoder", "hf-classifier", "lightgbm", "onnx", "openai-api", "sklearn", "xgboost"],
    registry.STUDENTS: ["gbm", "linear", "onnx", "rules", "static", "transformer", "tree"],
    registry.EVALUATIONS: [
        "calibration",
        "counterfactual",
        "fairness",
        "group_error",
        "hallucination",
        "oversight",
        "perturbed_error",
        "refusal",
        "robustness",
    ],
    registry.MODALITIES: ["chat", "table", "text"],
}


@pytest.fixture(autouse=True)
def fresh():
    registry.clear()
    yield
    registry.clear()


@pytest.mark.parametrize("group", registry.GROUPS)
def test_builtins_are_registered_through_entry_points(group):
    assert set(BUILTINS[group]) <= set(registry.names(group))
    assert registry.names(group) == sorted(registry.names(group))


@pytest.mark.parametrize("group", registry.GROUPS)
def test_every_builtin_target_imports(group):
    for name in BUILTINS[group]:
        assert registry.load(group, name) is not None, (group, name)
    if group == registry.TASKS:
        for name in BUILTINS[group]:
            task = registry.load(group, name)
            assert task.recipe_model.model_fields["task"].annotation.__args__ == (name,)


def test_importing_the_registry_imports_no_plug_in():
    code = "import sys, understudy.registry as r; print(sorted(m for m in sys.modules if m.startswith('understudy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == ["understudy", "understudy.errors", "understudy.registry"]


def test_load_is_lazy_and_cached(monkeypatch):
    from importlib import metadata

    calls = []
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: calls.append(kw) or real(**kw))
    first = registry.load(registry.TEACHERS, "callable")
    assert registry.load(registry.TEACHERS, "callable") is first
    registry.names(registry.TEACHERS)
    assert calls == [{"group": registry.TEACHERS}]  # listed once
    registry.clear()
    registry.names(registry.TEACHERS)
    assert len(calls) == 2


def test_unknown_name_says_what_was_asked_the_known_names_and_the_fix():
    with pytest.raises(UserError) as info:
        registry.load(registry.TEACHERS, "foo")
    msg = str(info.value)
    assert "unknown teacher kind 'foo'" in msg
    assert "callable, encoder, hf-classifier, lightgbm, onnx, openai-api, sklearn, xgboost" in msg
    assert "a plug-in that provides it must be installed: pip install" in msg and "understudy.teachers" in msg
    with pytest.raises(UserError, match="unknown student kind 'forest'.*onnx, rules, static, transformer, tree"):
        registry.load(registry.STUDENTS, "forest")
    with pytest.raises(ValueError, match="unknown plug-in group"):
        registry.names("understudy.nothing")


def _fake_distribution(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


def test_a_plug_in_that_fails_to_import_names_the_entry_point_and_package(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _fake_distribution(site, "broken_teachers", "[understudy.teachers]\nbroken = broken_teachers_mod:build\n")
    (site / "broken_teachers_mod.py").write_text("import a_module_that_is_not_there\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    assert "broken" in registry.names(registry.TEACHERS)
    with pytest.raises(UserError) as info:
        registry.load(registry.TEACHERS, "broken")
    msg = str(info.value)
    assert "broken = broken_teachers_mod:build" in msg
    assert "broken_teachers 0.3" in msg
    assert "a_module_that_is_not_there" in msg
    assert registry.package_of(registry.TEACHERS, "broken") == "broken_teachers 0.3"


def test_build_teacher_dispatches_through_the_registry(tmp_path, monkeypatch):
    from understudy.recipe import TeacherSpec
    from understudy.teachers import build_teacher

    site = tmp_path / "site"
    _fake_distribution(site, "echo_teachers", "[understudy.teachers]\necho = echo_teachers_mod:build\n")
    (site / "echo_teachers_mod.py").write_text(
        "def build(spec, resolve, head_builder=None):\n"
        "    return {'spec': spec, 'resolved': resolve('x'), 'head_builder': head_builder}\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    spec = TeacherSpec(kind="echo", labels=["a", "b"], options={"k": 1})
    made = build_teacher(spec, lambda p: "/abs/" + p, head_builder="hb")
    assert made == {"spec": spec, "resolved": "/abs/x", "head_builder": "hb"}


def test_student_kind_comes_from_the_registry(tmp_path):
    from understudy.students import DEFAULTS, load_student

    (tmp_path / "student.json").write_text(json.dumps({"kind": "forest"}))
    with pytest.raises(UserError, match=r"student\.json: unknown student kind 'forest'.*gbm, linear, onnx, rules"):
        load_student(tmp_path)
    assert DEFAULTS["static"] == {"epochs": 30, "learning_rate": 3e-3, "batch_size": 64}
    assert DEFAULTS["transformer"] == {"epochs": 4, "learning_rate": 5e-5, "batch_size": 32}
    assert set(DEFAULTS) >= {"static", "transformer"}


# --- pyproject.toml: ranges for what the core needs, one extra per capability; the requirements files stay the lock


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _pins(*files: str) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for f in files:
        for line in (ROOT / f).read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].split("--hash")[0].strip()
            if "==" in line:
                name, version = line.split("==")
                pins[canonicalize_name(name)] = version.strip()
    return pins


def test_pyproject_declares_ranges_that_the_lock_satisfies():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = _pyproject()["project"]
    pins = _pins("requirements.txt", "requirements-dev.txt", "requirements-models.txt")
    core = [Requirement(r) for r in project["dependencies"]]
    assert len(core) >= 10
    assert "torch" not in {canonicalize_name(r.name) for r in core}  # a plain resolve would pull a CUDA build
    for req in core:
        assert str(req.specifier), f"{req.name}: a range, not a bare name"
        assert canonicalize_name(req.name) in pins, f"{req.name}: core dependency missing from requirements.txt"
    extras = project["optional-dependencies"]
    assert {"lm", "api", "serve", "safety", "gguf", "transformer", "dev"} <= set(extras)
    assert "torch" in " ".join(extras["lm"]) and "torch" in " ".join(extras["transformer"])
    for extra, reqs in extras.items():
        for req in map(Requirement, reqs + project["dependencies"]):
            if req.name == "understudy":
                assert req.extras <= set(extras), (extra, req)
                continue
            pin = pins.get(canonicalize_name(req.name))
            if pin is not None:
                assert req.specifier.contains(pin, prereleases=True), f"[{extra}] {req}: the lock has {pin}"


def test_the_makefile_installs_the_project_without_resolving_its_dependencies():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet --no-deps --no-build-isolation -e ." in makefile


def test_pyproject_registers_every_builtin():
    eps = _pyproject()["project"]["entry-points"]
    for group, names in BUILTINS.items():
        assert sorted(eps[group]) == names, group


def test_a_misspelt_name_gets_did_you_mean_and_no_install_hint():
    with pytest.raises(UserError) as err:
        registry.entry_point(registry.TEACHERS, "sklern")
    msg = str(err.value)
    assert "did you mean 'sklearn'?" in msg and "pip install" not in msg
    with pytest.raises(UserError) as err:
        registry.entry_point(registry.TEACHERS, "SKLearn")  # the same but for case
    assert "did you mean 'sklearn'?" in str(err.value)
    with pytest.raises(UserError) as err:  # nothing close: a plug-in may provide it
        registry.entry_point(registry.TASKS, "text-summarisation")
    assert "did you mean" not in str(err.value) and "pip install" in str(err.value)


def test_the_init_placeholder_says_to_choose_a_kind():
    with pytest.raises(UserError) as err:
        registry.entry_point(registry.TEACHERS, registry.PLACEHOLDER)
    msg = str(err.value)
    assert msg.startswith("teacher kind is not chosen yet ('CHOOSE'): set it to one of callable, encoder")
    assert "pip install" not in msg and "unknown" not in msg
