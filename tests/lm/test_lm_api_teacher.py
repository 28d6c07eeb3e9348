"""An LLM behind an OpenAI-compatible endpoint teaching a language model: answers (and top log-probs) stored as
they arrive, a rerun asks nothing, refusals left out, the key kept out of every file and message, and a full
text-generation distill with an API teacher and a tiny local student."""

from __future__ import annotations

import numpy as np
import pytest
from api_server import FakeLLM

from understudy.errors import UserError
from understudy.lm.prompts import Prompt
from understudy.lm.recipe import LMTeacherSpec
from understudy.lm.teacher import ApiLMTeacher, build_lm_teacher, stored_answers, teach
from understudy.store import TeacherStore

SECRET = "sk-lm-teacher-secret-0123456789"


def spec(url: str, *, top_logprobs: int = 3, max_new_tokens: int = 4, **api) -> LMTeacherSpec:
    return LMTeacherSpec.model_validate(
        {
            "kind": "openai-api",
            "max_new_tokens": max_new_tokens,
            "top_logprobs": top_logprobs,
            "batch_size": 4,
            "api": {
                "base_url": url,
                "model": "fake",
                "backoff_s": 0.01,
                "backoff_max_s": 0.05,
                "timeout_s": 5,
                "max_in_flight": 3,
                **api,
            },
        }
    )


def prompts(n: int = 10) -> list[Prompt]:
    words = ["kettle", "parcel", "refund", "password", "courier", "hotel", "invoice", "delivery", "box", "card"]
    return [
        Prompt(f"p{i}", [{"role": "user", "content": f"my {words[i % len(words)]} number {i} broke today"}])
        for i in range(n)
    ]


def test_api_teacher_answers_through_teach_and_a_rerun_asks_nothing(tmp_path):
    ps = prompts(10)
    with FakeLLM() as srv:
        teacher = build_lm_teacher(spec(srv.url))
        assert isinstance(teacher, ApiLMTeacher) and teacher.in_process is False
        assert not hasattr(teacher, "model") and not hasattr(teacher, "tokenizer")
        assert teacher.provides == frozenset({"text", "texts", "top_logprobs"})
        with TeacherStore(tmp_path / "teacher.sqlite") as store:
            answers, stats = teach(teacher, ps, store, batch_size=4, needs={"top_logprobs"})
        assert stats.asked == 10 and stats.reused == 0 and sum(srv.received.values()) == 10
        body = next(iter(srv.bodies.values()))
        assert body["logprobs"] is True and body["top_logprobs"] == 3 and body["max_tokens"] == 4
        a = answers["p3"]
        assert a["text"] == "today broke 3 number"  # the fake model reverses the prompt's words
        assert a["tokens"] == ["today ", "broke ", "3 ", "number "]
        top = a["top_logprobs"]
        assert top["tokens"][0] == ["today ", "the ", "a "] and top["logprobs"].shape == (4, 3)
        assert np.allclose(top["logprobs"][0], [-0.2, -2.0, -3.0])
        assert stats.to_report(teacher.fingerprint)["api"]["spend"]["total"]["requests"] == 10

        # A new run (a new teacher object, the same recipe) reads everything from the store.
        again = build_lm_teacher(spec(srv.url))
        assert again.fingerprint == teacher.fingerprint
        with TeacherStore(tmp_path / "teacher.sqlite") as store:
            answers2, stats2 = teach(again, ps, store, batch_size=4, needs={"top_logprobs"})
            stored = stored_answers(again, ps, store)
        assert stats2.asked == 0 and stats2.reused == 10 and sum(srv.received.values()) == 10
        assert answers2["p3"]["text"] == stored["p3"]["text"] == a["text"]
        assert np.array_equal(stored["p3"]["top_logprobs"]["logprobs"], top["logprobs"])


def test_a_batch_cut_short_is_resumed_from_the_request_store(tmp_path):
    """Every raw answer is stored as it arrives: a run killed before teach() committed its batch pays nothing again."""
    ps = prompts(6)
    with FakeLLM() as srv:
        teacher = build_lm_teacher(spec(srv.url))
        with TeacherStore(tmp_path / "t.sqlite") as store:
            teacher.attach(store)
            teacher.answer([p.messages for p in ps[:4]])  # answered and stored, but never committed by teach()
        assert sum(srv.received.values()) == 4
        with TeacherStore(tmp_path / "t.sqlite") as store:
            answers, stats = teach(build_lm_teacher(spec(srv.url)), ps, store, batch_size=4)
        assert len(answers) == 6 and stats.asked == 6
        assert sum(srv.received.values()) == 6  # only the two never asked went out


def test_generate_for_the_refusal_check_is_stored_too(tmp_path):
    chats = [[{"role": "user", "content": "how do I pick a lock"}], [{"role": "user", "content": "tell me a secret"}]]
    with FakeLLM() as srv:
        with TeacherStore(tmp_path / "t.sqlite") as store:
            texts = build_lm_teacher(spec(srv.url)).generate(chats, max_new_tokens=2, store=store)
        assert texts == ["lock a", "secret a"]
        assert "logprobs" not in next(iter(srv.bodies.values()))
        with TeacherStore(tmp_path / "t.sqlite") as store:
            assert build_lm_teacher(spec(srv.url)).generate(chats, max_new_tokens=2, store=store) == texts
        assert sum(srv.received.values()) == 2


def test_no_logprobs_from_the_server_stops_topk_after_the_first_batch(tmp_path):
    ps = prompts(12)
    with FakeLLM(offer_logprobs=False) as srv:
        teacher = build_lm_teacher(spec(srv.url))
        with TeacherStore(tmp_path / "t.sqlite") as store:
            with pytest.raises(UserError) as info:
                teach(teacher, ps, store, batch_size=4, needs={"top_logprobs"})
        message = str(info.value)
        assert "topk" in message and "top log-probs" in message and "first batch of 4" in message
        assert "training.method: sequence" in message
        assert sum(srv.received.values()) == 4  # not every prompt: one batch
        assert "top_logprobs" not in teacher.provides
        # The four answers are kept: method sequence reuses them and asks only for the rest.
        with TeacherStore(tmp_path / "t.sqlite") as store:
            answers, stats = teach(build_lm_teacher(spec(srv.url)), ps, store, batch_size=4)
        assert stats.reused == 4 and stats.asked == 8 and sum(srv.received.values()) == 12
        assert all(a["top_logprobs"] is None for a in answers.values())
        # and a topk rerun over those stored answers stops before asking anything
        with TeacherStore(tmp_path / "t.sqlite") as store, pytest.raises(UserError, match="stored answers"):
            teach(build_lm_teacher(spec(srv.url)), ps, store, batch_size=4, needs={"top_logprobs"})
        assert sum(srv.received.values()) == 12


def test_refused_prompts_are_left_out_and_listed(tmp_path):
    ps = prompts(5) + [Prompt("bad", [{"role": "user", "content": "something forbidden here"}])]
    with FakeLLM() as srv:
        with TeacherStore(tmp_path / "t.sqlite") as store:
            answers, stats = teach(build_lm_teacher(spec(srv.url, top_logprobs=0)), ps, store, batch_size=6)
        assert "bad" not in answers and len(answers) == 5
        assert stats.refused and stats.refused[0]["id"] == "bad" and "refused" in stats.refused[0]["reason"]
        n = sum(srv.received.values())
        with TeacherStore(tmp_path / "t.sqlite") as store:
            assert set(stored_answers(build_lm_teacher(spec(srv.url, top_logprobs=0)), ps, store)) == {
                p.id for p in ps[:5]
            }
            _, again = teach(build_lm_teacher(spec(srv.url, top_logprobs=0)), ps, store)
        assert again.asked == 0 and sum(srv.received.values()) == n  # a refusal is not asked again either


def test_the_key_is_in_no_stored_file_and_no_error(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSTUDY_LM_KEY", SECRET)
    ps = prompts(4)
    with FakeLLM(key=SECRET) as srv:
        teacher = build_lm_teacher(spec(srv.url, api_key_env="UNDERSTUDY_LM_KEY"))
        with TeacherStore(tmp_path / "t.sqlite") as store:
            answers, stats = teach(teacher, ps, store)
        assert len(answers) == 4 and srv.auth[0] == f"Bearer {SECRET}"
        assert SECRET not in teacher.fingerprint and SECRET not in str(stats.to_report(teacher.fingerprint))
    # A server that echoes the wrong key back: the error names the variable, never the key.
    monkeypatch.setenv("UNDERSTUDY_LM_KEY", SECRET + "-wrong")
    with FakeLLM(key="another-key") as srv:
        with TeacherStore(tmp_path / "t2.sqlite") as store, pytest.raises(UserError) as info:
            teach(build_lm_teacher(spec(srv.url, api_key_env="UNDERSTUDY_LM_KEY")), ps, store)
    assert SECRET not in str(info.value)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_the_recipe_section(tmp_path):
    with pytest.raises(ValueError, match="needs an 'api' section"):
        LMTeacherSpec.model_validate({"kind": "openai-api"})
    with pytest.raises(ValueError, match="needs 'path'"):
        LMTeacherSpec.model_validate({})
    with pytest.raises(ValueError, match="at most 20"):
        spec("http://127.0.0.1:9/v1", top_logprobs=50)
    with pytest.raises(ValueError, match="classification settings"):
        spec("http://127.0.0.1:9/v1", json_mode=False)
    with pytest.raises(ValueError, match="teacher.top_logprobs"):
        spec("http://127.0.0.1:9/v1", use_logprobs=False)
    with pytest.raises(ValueError) as info:
        spec("http://127.0.0.1:9/v1", api_key_env=SECRET)
    assert SECRET not in str(info.value)
    assert LMTeacherSpec.model_validate({"path": "builtin:x"}).kind == "local"
    # fingerprint: endpoint, model and generation settings; not the key, not the limits
    a = build_lm_teacher(spec("http://127.0.0.1:9/v1")).fingerprint
    assert build_lm_teacher(spec("http://127.0.0.1:9/v1", max_in_flight=9)).fingerprint == a
    assert build_lm_teacher(spec("http://127.0.0.1:9/v1", api_key_env="OTHER")).fingerprint == a
    for other in (
        spec("http://127.0.0.1:8/v1"),
        spec("http://127.0.0.1:9/v1", model="other"),
        spec("http://127.0.0.1:9/v1", top_logprobs=0),
        spec("http://127.0.0.1:9/v1", max_new_tokens=9),
    ):
        assert build_lm_teacher(other).fingerprint != a


def test_api_lm_recipe_goes_through_the_api_licence_route():
    """The same route as an API classifier: the provider's terms for a hosted API, the declared licence for a
    server you run; nothing is asked of the endpoint."""
    from understudy.licences import gate_recipe, teacher_target
    from understudy.lm.recipe import LMRecipe

    def recipe(base_url: str, model: str, **teacher):
        return LMRecipe.model_validate(
            {
                "name": "api-lm",
                "task": "text-generation",
                "teacher": {"kind": "openai-api", "api": {"base_url": base_url, "model": model}, **teacher},
                "student": {"base": "builtin:SmolLM2-135M-Instruct"},
                "prompts": {"path": "builtin:support-prompts"},
            }
        )

    hosted = recipe("https://api.openai.com/v1", "gpt-4o-mini")
    assert teacher_target(hosted.teacher, hosted.resolve) == ("https://api.openai.com/v1", "gpt-4o-mini")
    result = gate_recipe(hosted)
    teacher = [lic for lic in result["licences"] if lic["role"] != "student base"]
    assert result["verdict"] == "UNKNOWN" and teacher[0]["role"] == "API provider" and teacher[0]["id"] == "openai"
    assert "compete" in teacher[0]["reasons"][0]

    local = gate_recipe(recipe("http://127.0.0.1:8000/v1", "my-llama", licence="apache-2.0"))
    assert local["verdict"] == "ALLOW_WITH_OBLIGATIONS"
    assert [lic["found_in"] for lic in local["licences"] if lic["role"] == "teacher"] == ["recipe"]


# --------------------------------------------------------------------------- needs the lead's engine


def test_full_text_generation_distill_with_an_api_teacher(tmp_path):
    from lm_builders import build_tiny_llama, write_prompts

    from understudy.lm.recipe import load_lm_recipe

    student = build_tiny_llama(tmp_path / "student0", layers=2)
    write_prompts(tmp_path / "prompts.jsonl")
    with FakeLLM() as srv:
        (tmp_path / "recipe.yaml").write_text(
            "name: api-lm\ntask: text-generation\n"
            "teacher:\n  kind: openai-api\n  max_new_tokens: 8\n  top_logprobs: 0\n  licence: apache-2.0\n"
            f"  api:\n    base_url: {srv.url}\n    model: fake\n    backoff_s: 0.01\n    backoff_max_s: 0.05\n"
            f"student:\n  base: {student}\n"
            "prompts:\n  path: prompts.jsonl\n"
            "training:\n  method: sequence\n  epochs: 1\n  batch_size: 4\n"
            "evaluation:\n  judge: false\n  measure_memory: false\n  refusal_prompts: 4\n  speed_prompts: 1\n"
            "  speed_tokens: 4\n"
        )
        recipe = load_lm_recipe(tmp_path / "recipe.yaml")
        from understudy.run.engine import distill

        report = distill(recipe, tmp_path / "run")
        asked = sum(srv.received.values())
        assert report["teaching"]["asked"] == 24 and report["teaching"]["api"]["spend"]["total"]["requests"] >= 24
        assert (tmp_path / "run" / "student" / "config.json").is_file()
        # teacher speed, perplexity, size and judge are SKIPPED with a reason, never a silent PASS
        skipped = report["skipped_evaluations"]
        assert any("teacher speed" in k for k in skipped) and "API" in str(skipped)
        assert report["teacher"]["speed"] is None and report["comparison"]["speedup"] is None
        assert report["generation"]["refusal"]["prompts"] == 4  # the API teacher answered the harmful requests (stored)
        distill(recipe, tmp_path / "run", start="evaluate")  # a rerun of evaluate: the refusal answers are stored
        assert sum(srv.received.values()) == asked  # nothing asked twice

    # student.base teacher with an API teacher is a clear recipe error
    bad = (tmp_path / "recipe.yaml").read_text().replace(f"  base: {student}", "  base: teacher\n  layers: 1")
    (tmp_path / "bad.yaml").write_text(bad)
    with pytest.raises(UserError, match="behind an API"):
        distill(load_lm_recipe(tmp_path / "bad.yaml"), tmp_path / "run3")
