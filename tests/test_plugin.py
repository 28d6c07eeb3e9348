"""A third-party package adds a teacher kind through an entry point, and `understudy distill` uses it with no
edit to understudy. The package is written and installed (offline, into a folder of its own) by the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GREAT_WORDS, OTHER_WORDS, review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "understudy-keyword-teacher"
version = "0.2.0"
description = "A teacher kind for understudy: class probabilities from keyword counts."

[project.entry-points."understudy.teachers"]
keyword = "understudy_keyword_teacher:build"

[tool.setuptools]
py-modules = ["understudy_keyword_teacher"]
"""

MODULE = '''\
"""Teacher kind 'keyword': scores each text by the keywords of each class (spec.options["keywords"])."""

import hashlib
import json

import numpy as np


class KeywordTeacher:
    provides = frozenset({"probs"})

    def __init__(self, labels, keywords, default):
        self.labels = list(labels)
        self.keywords = {label: {w.lower() for w in keywords.get(label, [])} for label in self.labels}
        self.default = self.labels.index(default)
        spec = json.dumps({"labels": self.labels, "keywords": {k: sorted(v) for k, v in self.keywords.items()}},
                          sort_keys=True)
        self.fingerprint = "keyword-" + hashlib.sha256(spec.encode()).hexdigest()[:16]
        words = sum(len(v) for v in self.keywords.values())
        self.description = f"keyword teacher (plug-in): {words} keywords over {len(self.labels)} classes"

    def predict(self, texts):
        scores = np.full((len(texts), len(self.labels)), 0.2)
        for i, text in enumerate(texts):
            words = set(text.lower().replace(",", " ").replace(".", " ").replace("!", " ").split())
            hits = [len(words & self.keywords[label]) for label in self.labels]
            if not any(hits):
                hits[self.default] = 1
            scores[i] += hits
        return {"probs": scores / scores.sum(axis=1, keepdims=True)}


def build(spec, resolve, head_builder=None):
    options = spec.options
    return KeywordTeacher(spec.labels, options["keywords"], options.get("default", spec.labels[-1]))
'''


def recipe_lines(st: Path) -> list[str]:
    return [
        "name: keywords",
        "teacher:",
        "  kind: keyword",
        "  labels: [great, other]",
        "  licence: MIT",
        "  options:",
        f"    keywords: {{great: [{', '.join(GREAT_WORDS)}], other: [{', '.join(OTHER_WORDS)}]}}",
        "    default: other",
        "student:",
        "  kind: static",
        f"  base: {st}",
        "  pca_dims: 16",
        "  vocabulary_size: 50",
        "data:",
        "  transfer: {path: data/transfer.csv}",
        "  evaluation: {path: data/eval.csv, label_column: label}",
        "training: {epochs: 5}",
        "evaluation: {bootstrap: 50, speed_texts: 16, measure_memory: false}",
        "safety: {robustness_texts: 10, counterfactual_texts: 10}",
        "gates: {min_retention: 0.0, min_speedup: null, max_size_ratio: null}",
    ]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory, tiny_st):
    """The package written and installed into its own folder, and a recipe folder that uses its kind."""
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (pkg / "understudy_keyword_teacher.py").write_text(MODULE, encoding="utf-8")
    site = root / "site"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(pkg),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    work = root / "work"
    transfer = review_rows(60, seed=51)
    write_csv(work / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(work / "data" / "eval.csv", review_rows(30, seed=52, exclude={t for t, _ in transfer}))
    recipe = work / "recipe.yaml"
    recipe.write_text("\n".join(recipe_lines(tiny_st)) + "\n", encoding="utf-8")
    return {"site": site, "work": work, "recipe": recipe}


def run_with_plugin(plugin, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """A command in a fresh process that sees the installed plug-in (PYTHONPATH) and nothing else new."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin["site"]), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=plugin["work"], timeout=timeout)


def understudy_command() -> list[str]:
    script = Path(sys.executable).parent / "understudy"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "understudy.cli.main"]


def test_the_installed_plug_in_is_a_teacher_kind(plugin):
    code = (
        "from understudy import registry; from understudy.teachers import build_teacher; "
        "from understudy.recipe import load_recipe; import json; "
        "r = load_recipe('recipe.yaml'); t = build_teacher(r.teacher, r.resolve); "
        "print(json.dumps({'kinds': registry.names('understudy.teachers'), "
        "'package': registry.package_of('understudy.teachers', 'keyword'), 'description': t.description, "
        "'probs': t.predict(['great coffee', 'stale and awful'])['probs'].tolist()}))"
    )
    done = run_with_plugin(plugin, sys.executable, "-c", code, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "keyword" in seen["kinds"] and {"callable", "encoder", "sklearn"} <= set(seen["kinds"])
    assert seen["package"] == "understudy-keyword-teacher 0.2.0"
    assert seen["description"].startswith("keyword teacher (plug-in)")
    (g_great, g_other), (b_great, b_other) = seen["probs"]
    assert g_great > g_other and b_other > b_great


def test_distill_uses_the_plug_in_teacher_kind(plugin):
    run = plugin["work"] / "run"
    done = run_with_plugin(
        plugin, *understudy_command(), "distill", str(plugin["recipe"]), "--out", str(run), "--json", "-q"
    )
    assert done.returncode == 0, (
        f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-6000:]}"
    )
    report = json.loads((run / "report.json").read_text())
    assert report["teacher"]["description"].startswith("keyword teacher (plug-in)")
    assert report["licence"]["verdict"] in ("ALLOW", "ALLOW_WITH_OBLIGATIONS")  # the declared MIT licence
    assert report["teacher"]["quality"]["macro_f1"]["value"] > 0.9  # keywords are exactly how the tiny reviews are made
    assert (run / "student" / "student.json").is_file()


def test_a_kind_that_is_not_installed_is_a_clear_error(plugin):
    # this process never saw the plug-in's folder: the same recipe names a kind nobody provides
    result = CliRunner().invoke(app, ["distill", str(plugin["recipe"]), "--out", str(plugin["work"] / "nope")])
    out = result.output.replace("\n", "")
    assert result.exit_code == 2, out
    assert "recipe.yaml:3: teacher.kind" in out and "unknown teacher kind 'keyword'" in out
    assert (
        "callable, encoder, hf-classifier, lightgbm, onnx, openai-api, sklearn, xgboost" in out and "pip install" in out
    )
    assert "Traceback" not in result.output
    assert not (plugin["work"] / "nope").exists()
