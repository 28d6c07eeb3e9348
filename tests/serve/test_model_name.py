"""The model id is the student's name from its run, not the folder's: /v1/models, /health, answers and banner agree."""

from __future__ import annotations

import pytest
from conftest import review_rows, write_csv
from fastapi.testclient import TestClient
from serve_builders import bearer, keys
from typer.testing import CliRunner

from understudy.cli.main import app as cli
from understudy.errors import UserError
from understudy.serve.app import create_app
from understudy.serve.cli import banner

RECIPE = """\
name: reviews
teacher: {{kind: encoder, path: {st}, head: {head}}}
student: {{kind: static, base: teacher, pca_dims: 16, vocabulary_size: 50}}
data:
  transfer: {{path: data/transfer.csv}}
  evaluation: {{path: data/eval.csv, label_column: label}}
training: {{epochs: 2}}
evaluation: {{bootstrap: 20, speed_texts: 16, measure_memory: false}}
safety: {{counterfactual: false, robustness_texts: 10}}
gates:
  min_retention: 0.0
  min_speedup: {{threshold: 0.0, on_fail: warn}}
  max_size_ratio: {{threshold: 1000.0, on_fail: warn}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_st, tiny_head):
    """A real run of `understudy distill`, in a folder whose name is not the student's."""
    folder = tmp_path_factory.mktemp("named")
    transfer = review_rows(30, seed=31)
    write_csv(folder / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(folder / "data" / "eval.csv", review_rows(16, seed=32, exclude={t for t, _ in transfer}))
    (folder / "recipe.yaml").write_text(RECIPE.format(st=tiny_st, head=tiny_head))
    out = folder / "runs" / "2024-06-01-try3"
    result = CliRunner().invoke(cli, ["distill", str(folder / "recipe.yaml"), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def ids_seen(app, client_key: str, store) -> dict[str, str]:
    api = TestClient(app, headers=bearer(client_key))
    return {
        "models": api.get("/v1/models").json()["data"][0]["id"],
        "health": api.get("/health").json()["model"],
        "classify": api.post("/v1/classify", json={"text": "great tea"}).json()["model"],
        "root": api.get("/").json()["model"],
        "banner": banner(app, "127.0.0.1", 8000, store)[0].split()[1],
    }


def test_a_run_is_served_under_its_students_name(run, tmp_path):
    store, client_key, _ = keys(tmp_path)
    for target in (run, run / "student"):  # the run folder or its student folder: the same name
        seen = ids_seen(create_app(str(target), keys=store), client_key, store)
        assert set(seen.values()) == {"reviews-student"}, seen  # the recipe's name + "-student", not the folder's
    assert run.name != "reviews-student"


def test_name_overrides_the_students_name_everywhere(run, tmp_path):
    store, client_key, _ = keys(tmp_path)
    seen = ids_seen(create_app(str(run), keys=store, name="support-triage-v2"), client_key, store)
    assert set(seen.values()) == {"support-triage-v2"}, seen


@pytest.mark.parametrize("bad", ["", "   ", " padded", "new\nline", "x" * 129])
def test_a_bad_name_is_refused_at_start_naming_the_option(run, tmp_path, bad):
    store, _, _ = keys(tmp_path)
    with pytest.raises(UserError, match="--name"):
        create_app(str(run), keys=store, name=bad)


def test_the_cli_takes_name_and_refuses_a_bad_one_before_serving(run, tmp_path):
    store, _, _ = keys(tmp_path)
    result = CliRunner().invoke(cli, ["serve", str(run), "--keys", str(store.path), "--name", " "])
    assert result.exit_code != 0 and "--name" in result.output and "Traceback" not in result.output
