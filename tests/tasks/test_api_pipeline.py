"""`understudy distill` with an LLM behind an OpenAI-compatible API as the teacher, over real HTTP on loopback."""

from __future__ import annotations

import json

from api_server import FakeLLM
from cli_builders import explain, write_recipe
from conftest import review_rows, write_csv
from typer.testing import CliRunner

from understudy.cli.main import app
from understudy.recipe import load_recipe


def lines(url: str, st) -> list[str]:
    return [
        "name: llm-labels",
        "teacher:",
        "  kind: openai-api",
        "  labels: [great, other]",
        "  licence: apache-2.0",
        "  api:",
        f"    base_url: {url}",
        "    model: fake",
        "    max_in_flight: 3",
        "    timeout_s: 2",
        "    max_retries: 20",
        "    backoff_s: 0.01",
        "    backoff_max_s: 0.05",
        "    task: Decide whether this review of a food product is great or not.",
        "    label_descriptions: {great: the reviewer loved it, other: anything else}",
        "student:",
        "  kind: static",
        f"  base: {st}",
        "  pca_dims: 16",
        "  vocabulary_size: 50",
        "data:",
        "  transfer: {path: data/transfer.csv}",
        "  evaluation: {path: data/eval.csv, label_column: label}",
        "training: {epochs: 5, gold_weight: 0.0}",
        "evaluation: {bootstrap: 50, speed_texts: 16, measure_memory: false}",
        "safety: {robustness_texts: 10, counterfactual_texts: 10}",
        "gates: {min_retention: 0.0, min_speedup: null, max_size_ratio: null}",
    ]


def test_llm_teacher_labels_over_http_with_faults_and_the_student_learns_from_it(tmp_path, tiny_st):
    transfer = review_rows(50, seed=41)
    texts = [t for t, _ in transfer] + ["unanswerable review one", "unanswerable review two"]
    write_csv(tmp_path / "data" / "transfer.csv", [(t, "") for t in texts], header=("text", "note"))
    write_csv(tmp_path / "data" / "eval.csv", review_rows(20, seed=42, exclude=set(texts)))
    rates = {"429": 0.05, "500": 0.05, "malformed": 0.05, "truncated": 0.05}
    with FakeLLM(rates=rates, seed=3) as srv:
        recipe = write_recipe(tmp_path, lines(srv.url, tiny_st))
        run = tmp_path / "run"
        result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "--json", "-q"])
        assert result.exit_code == 0, explain(result)
        report = json.loads(result.stdout)
        asked = sum(srv.texts_answered().values())

        api = report["api"]
        assert api["unparseable"] == 2 and len(api["unparseable_examples"]) == 2  # reported, not taught
        assert api["labelled"] == 70 and api["spend"]["this_run"]["requests"] >= 70
        assert (
            report["data"]["transfer"]["rows_used"] == 50 and report["data"]["transfer"]["unlabelled_by_teacher"] == 2
        )
        assert report["student"]["training"]["settings"]["gold_weight"] == 0.0
        assert (
            report["teacher"]["speed"] is None and report["comparison"]["speedup"] is None
        )  # the server's speed, not ours
        assert report["licence"]["verdict"] == "ALLOW_WITH_OBLIGATIONS"  # a server you run: the declared licence
        assert (
            report["teacher"]["quality"]["macro_f1"]["value"] >= 0
            and 0 <= report["comparison"]["agreement"]["value"] <= 1
        )

        again = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "-q"])  # the people's summary
        assert again.exit_code == 0, explain(again)
        assert "n/a (API)" in again.output and "verdict" in again.output
        # A rerun sends no question already answered (robustness variants were answered once too).
        assert sum(srv.texts_answered().values()) == asked


def test_the_demo_recipe_for_llm_labels_is_valid():
    recipe = load_recipe("recipes/reviews-llm-labels.yaml")
    assert recipe.teacher.kind == "openai-api" and recipe.teacher.api.base_url.startswith("http://127.0.0.1")
    assert recipe.data.transfer.label_column is None and recipe.training.gold_weight == 0.0
