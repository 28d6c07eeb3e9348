"""The language-model path end to end on tiny models: recipe -> teacher answers (stored, resumable) -> student ->
side by side -> report.json and report.html."""

import json

import pytest
from lm_builders import build_tiny_gpt2, build_tiny_llama, lm_recipe_text, write_prompts

from understudy.errors import UserError
from understudy.lm.recipe import is_lm_recipe, load_lm_recipe
from understudy.run import distill
from understudy.store import TeacherStore


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("lmrun")
    return d, build_tiny_llama(d / "teacher"), write_prompts(d / "prompts.jsonl")


def recipe(d, teacher, prompts, name="r.yaml", **over):
    (d / name).write_text(lm_recipe_text(teacher, prompts, **over))
    return load_lm_recipe(d / name)


def test_recipe_errors_name_the_line(setup, tmp_path):
    d, teacher, prompts = setup
    (tmp_path / "r.yaml").write_text(lm_recipe_text(teacher, prompts).replace("method: sequence", "method: magic"))
    with pytest.raises(UserError, match=r"r.yaml:\d+: training.method"):
        load_lm_recipe(tmp_path / "r.yaml")
    (tmp_path / "r.yaml").write_text(lm_recipe_text(teacher, tmp_path / "missing.jsonl"))
    with pytest.raises(UserError, match=r"prompts.path: file not found"):
        load_lm_recipe(tmp_path / "r.yaml")
    assert is_lm_recipe(d / "r.yaml") if (d / "r.yaml").exists() else True


def test_distill_writes_the_run_folder_and_resumes(setup):
    d, teacher, prompts = setup
    out = d / "run"
    report = distill(recipe(d, teacher, prompts), out)
    for name in (
        "recipe.yaml",
        "teacher.sqlite",
        "student/config.json",
        "student/model.safetensors",
        "report.json",
        "report.html",
        "training.json",
    ):
        assert (out / name).is_file(), name
    c = report["comparison"]
    # the student learnt the teacher's answers: they became more likely to it
    assert c["perplexity_after"] < c["perplexity_before"]
    assert report["student"]["training"]["last_loss"] < report["student"]["training"]["first_loss"]
    assert c["parameter_ratio"] < 1 and c["size_ratio"] < 1
    assert report["teacher"]["speed"]["tokens_per_s"] > 0 and report["student"]["speed"]["time_to_first_token_ms"] > 0
    assert report["data"]["train"] == 20 and report["data"]["test"] == 4
    assert report["comparison"]["judge"]["judged"] == 2
    assert len(report["examples"]) == 2 and set(report["examples"][0]) >= {
        "prompt",
        "teacher",
        "student_before",
        "student",
    }
    html = (out / "report.html").read_text()
    assert "Teacher and student side by side" in html and "Example answers" in html and "<script" not in html
    # the gates and the generator's own evaluations, each contributing its part to the same page writer
    assert "Safe to ship?" in html and "Refusal of harmful requests" in html and "refusal_kept_min" in html
    assert json.loads((out / "report.json").read_text())["run"]["task"] == "text-generation"
    # licence first, the generator's safety side by side, and the papers that ship
    assert report["licence"]["verdict"] == "ALLOW_WITH_OBLIGATIONS"
    refusal = report["generation"]["refusal"]
    assert refusal["prompts"] == 6 and refusal["lost_count"] <= 6
    assert "teacher" in report["generation"]["hallucination"]
    assert {g["name"] for g in report["gates"]["results"]} >= {"licence", "refusal_kept_min"}
    for paper in ("student/NOTICE", "student/LICENSE", "student/README.md", "compliance.md", "licence.json"):
        assert (out / paper).is_file(), paper
    with TeacherStore(out / "teacher.sqlite") as store:
        stored = store.count(kind="text")
    assert stored == 24
    # a rerun asks the teacher nothing
    again = distill(recipe(d, teacher, prompts), out, stop="teach")
    assert again == {} and json.loads((out / "teaching.json").read_text())["asked"] == 0


@pytest.mark.parametrize("method", ["topk", "on-policy"])
def test_token_level_methods_train(setup, method):
    d, teacher, prompts = setup
    r = recipe(
        d,
        teacher,
        prompts,
        name=f"{method}.yaml",
        training={
            "method": method,
            "divergence": "jsd",
            "beta": 0.5,
            "epochs": 1,
            "batch_size": 4,
            "learning_rate": 3e-3,
            "on_policy_fraction": 1.0,
        },
    )
    out = d / f"run-{method}"
    distill(r, out, stop="train")
    summary = json.loads((out / "training.json").read_text())
    assert summary["method"] == method and summary["steps"] == 5
    assert all("kd" in h for h in summary["history"])
    if method == "on-policy":
        assert all(h.get("on_policy") for h in summary["history"])


def test_different_tokenizer_is_refused_before_training(setup):
    d, teacher, prompts = setup
    gpt2 = build_tiny_gpt2(d / "gpt2")
    r = recipe(
        d,
        teacher,
        prompts,
        name="mismatch.yaml",
        student={"base": str(gpt2)},
        training={"method": "topk", "epochs": 1, "batch_size": 4},
    )
    with pytest.raises(UserError, match="tokenizers differ"):
        distill(r, d / "run-mismatch")
    assert not (d / "run-mismatch" / "teacher.sqlite").exists()  # refused before the teacher was asked anything
    # sequence-level works across tokenizers (the GPT-2 has no chat template: the plain format is used)
    r = recipe(
        d,
        teacher,
        prompts,
        name="seq.yaml",
        student={"base": str(gpt2)},
        training={"method": "sequence", "epochs": 1, "batch_size": 4, "learning_rate": 3e-3},
    )
    distill(r, d / "run-seq", stop="train")
    assert (d / "run-seq" / "student" / "config.json").is_file()
