"""Plan before work: a training method the teacher cannot serve, or a loss whose needs the teacher does not
meet, is refused before any teacher call or training, with the key to change."""

from __future__ import annotations

import numpy as np
import pytest
from lm_builders import build_lm_tokenizer, build_tiny_llama

from understudy.errors import UserError
from understudy.lm.recipe import LMRecipe
from understudy.lm.teacher import align_api_tokens, build_lm_teacher
from understudy.lm.train import plan_training
from understudy.losses import check_requires, embedding_cosine, kd_kl

API = {"kind": "openai-api", "api": {"base_url": "http://127.0.0.1:9/v1", "model": "fake"}}


def recipe(teacher: dict, method: str = "sequence", student: dict | None = None) -> LMRecipe:
    return LMRecipe.model_validate(
        {
            "name": "plan",
            "task": "text-generation",
            "teacher": teacher,
            "student": student or {"base": "builtin:SmolLM2-135M-Instruct"},
            "prompts": {"path": "builtin:support-prompts"},
            "training": {"method": method},
        }
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("teacher") / "llama", layers=2)


def test_topk_with_a_local_teacher_giving_no_logprobs_is_refused_before_loading(tiny):
    r = recipe({"path": str(tiny), "top_logprobs": 0}, "topk")
    teacher = build_lm_teacher(r.teacher)
    assert teacher.in_process and "top_logprobs" not in teacher.provides
    with pytest.raises(UserError) as info:
        plan_training(r, teacher)
    assert "topk" in str(info.value) and "teacher.top_logprobs" in str(info.value)
    assert teacher._model is None  # nothing loaded, nothing asked
    plan_training(
        recipe({"path": str(tiny), "top_logprobs": 5}, "topk"), build_lm_teacher(recipe({"path": str(tiny)}).teacher)
    )


@pytest.mark.parametrize("method", ["token", "on-policy"])
def test_teacher_in_the_loop_methods_need_a_teacher_in_process(method):
    r = recipe(API, method)
    with pytest.raises(UserError) as info:
        plan_training(r, build_lm_teacher(r.teacher))
    message = str(info.value)
    assert method in message and "behind an API" in message and "training.method: sequence" in message


def test_topk_with_an_api_teacher_needs_logprobs_requested():
    r = recipe({**API, "top_logprobs": 0}, "topk")
    with pytest.raises(UserError, match="teacher.top_logprobs"):
        plan_training(r, build_lm_teacher(r.teacher))
    ok = recipe(API, "topk")  # asked for: teach(needs={"top_logprobs"}) checks the first batch
    plan_training(ok, build_lm_teacher(ok.teacher))
    plan_training(recipe(API), build_lm_teacher(recipe(API).teacher))


def test_a_student_cut_from_an_api_teacher_is_refused():
    r = recipe(API, student={"base": "teacher", "layers": 2})
    with pytest.raises(UserError) as info:
        plan_training(r, build_lm_teacher(r.teacher))
    assert "student.base" in str(info.value) and "no layers" in str(info.value)


def test_shared_tokenizer_check_stays(tiny):
    r = recipe({"path": str(tiny)}, "token")
    teacher = build_lm_teacher(r.teacher)
    with pytest.raises(UserError, match="tokenizers differ"):
        plan_training(r, teacher, build_lm_tokenizer(vocab_size=280))
    plan_training(r, teacher, teacher.tokenizer)
    plan_training(recipe({"path": str(tiny)}), teacher, build_lm_tokenizer(vocab_size=280))  # sequence: any tokenizers


def test_check_requires_names_the_loss_the_need_the_teacher_and_the_key():
    check_requires({"probs"}, frozenset({"probs", "embedding"}), "encoder x")
    check_requires({"kd": kd_kl.requires}, frozenset({"probs"}), "encoder x")
    with pytest.raises(UserError) as info:
        check_requires({"probs", "embedding"}, frozenset({"probs"}), "sklearn model.skops")
    message = str(info.value)
    assert "sklearn model.skops" in message and "'embedding'" in message and "['probs']" in message
    assert "embedding matching" in message and "training.embedding_loss: none" in message
    with pytest.raises(UserError, match="kd_weight"):
        check_requires({"kd": kd_kl.requires, "cosine": embedding_cosine.requires}, frozenset({"embedding"}), "t")


def test_api_token_strings_align_onto_a_shared_tokenizer():
    tok = build_lm_tokenizer()
    ids = tok("my order arrived late", add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    alt = tok.decode([ids[0] + 1 if ids[0] + 1 < len(tok) else 3])
    answer = {
        "text": "".join(pieces),
        "token_ids": None,
        "tokens": pieces,
        "top_logprobs": {
            "tokens": [[p, alt, "not-a-token-\u2603"] for p in pieces],
            "logprobs": np.full((len(pieces), 3), -1.0, dtype=np.float32),
        },
    }
    out = align_api_tokens({"p": answer}, tok)["p"]
    assert out["token_ids"] == ids
    assert out["top_logprobs"]["ids"][:, 0].tolist() == ids and out["top_logprobs"]["ids"].shape == (len(ids), 3)
    assert np.all(out["top_logprobs"]["logprobs"][:, 2] == -30.0)  # the unknown alternative carries ~no mass
    assert len(set(out["top_logprobs"]["ids"][0].tolist())) == 3
    # and the aligned answer trains by topk like a local teacher's
    from understudy.lm.prompts import Prompt
    from understudy.lm.train import build_examples

    examples, _ = build_examples([Prompt("p", [{"role": "user", "content": "hello"}])], {"p": out}, tok, "topk", 384)
    assert examples[0]["answer_ids"] == ids and examples[0]["topk_ids"].shape == (len(ids), 3)
    with pytest.raises(UserError, match="another tokenizer"):
        align_api_tokens({"p": {**answer, "tokens": ["\u2603\u2603x", "\u2603y"]}}, tok)
