"""Causal-LM loading, students from the teacher's own layers, LoRA merged on save, prompts, tokenizer mismatch."""

import json

import pytest
import torch
from lm_builders import build_lm_tokenizer, build_tiny_gpt2, build_tiny_llama, prompt_rows, write_prompts

from understudy.errors import UserError
from understudy.lm.models import (
    add_lora,
    default_keep,
    load_causal_lm,
    model_path,
    n_params,
    same_vocabulary,
    save_causal_lm,
    student_from_teacher,
)
from understudy.lm.prompts import check_lengths, load_prompts, render
from understudy.lm.train import check_vocabularies


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("lm") / "llama")


def test_default_keep_spreads_layers():
    assert default_keep(30, 8) == [0, 4, 8, 12, 17, 21, 25, 29]
    assert default_keep(4, 2) == [0, 3]
    with pytest.raises(UserError, match="choose 1 to 30"):
        default_keep(30, 31)


def test_student_keeps_the_teachers_own_layers(llama):
    teacher, _ = load_causal_lm(llama)
    student, tok = student_from_teacher(llama, [0, 3])
    assert student.config.num_hidden_layers == 2 and len(student.model.layers) == 2
    for new, old in ((0, 0), (1, 3)):
        for (k, a), b in zip(
            student.model.layers[new].state_dict().items(), teacher.model.layers[old].state_dict().values()
        ):
            assert torch.equal(a, b), k
    assert n_params(student) < n_params(teacher)
    # the cut model still runs with a KV cache (layer indices renumbered)
    ids = tok("my order arrived", return_tensors="pt")
    out = student.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3
    with pytest.raises(UserError, match="out of range"):
        student_from_teacher(llama, [0, 9])


def test_lora_is_merged_on_save(llama, tmp_path):
    model, tok = load_causal_lm(llama)
    model = add_lora(model, r=4, alpha=8, dropout=0.0, target_modules="all-linear")
    with torch.no_grad():  # move the adapters off zero so merging changes the weights
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    ids = tok("please refund my payment", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    save_causal_lm(model, tok, tmp_path / "student")
    reloaded, _ = load_causal_lm(tmp_path / "student")
    assert not any("lora" in k for k in reloaded.state_dict())
    assert json.loads((tmp_path / "student" / "student.json").read_text())["kind"] == "causal-lm"
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, expected, atol=1e-4)


def test_tokenizer_mismatch_is_explained(llama, tmp_path):
    gpt2 = build_tiny_gpt2(tmp_path / "gpt2")
    _, t_tok = load_causal_lm(llama)
    _, s_tok = load_causal_lm(gpt2)
    assert not same_vocabulary(s_tok, t_tok) and same_vocabulary(t_tok, t_tok)
    for method in ("token", "topk", "on-policy"):
        with pytest.raises(UserError, match="tokenizers differ.*training.method: sequence"):
            check_vocabularies(method, s_tok, t_tok, "tiny llama")
    check_vocabularies("sequence", s_tok, t_tok, "tiny llama")  # sequence-level works across tokenizers


def test_model_path_errors(tmp_path):
    with pytest.raises(UserError, match="not a causal language model"):
        model_path(tmp_path)
    with pytest.raises(UserError, match="unknown builtin"):
        model_path("builtin:nope")


def test_prompts_chat_and_plain_with_split_and_template(tmp_path):
    f = write_prompts(tmp_path / "p.jsonl")
    prompts = load_prompts(str(f), system="Be brief.")
    assert len(prompts) == 24 and sum(p.split == "test" for p in prompts) == 4
    assert all(p.messages[0] == {"role": "system", "content": "Be brief."} for p in prompts)
    assert prompts[1].messages[-1]["role"] == "user"  # a plain prompt became a user message
    tok = build_lm_tokenizer()
    assert render(tok, prompts[0].messages).endswith("<s>assistant\n")
    no_template = build_lm_tokenizer(chat_template=None)
    assert render(no_template, prompts[0].messages).endswith("Assistant:")
    # no split column: a seeded share is held out
    g = write_prompts(tmp_path / "q.jsonl", [{"prompt": f"question {i}"} for i in range(20)])
    assert sum(p.split == "test" for p in load_prompts(str(g), test_fraction=0.2)) == 4


def test_prompt_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"prompt": "fine"}\n{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n'
    )
    with pytest.raises(UserError, match=r"bad.jsonl:2: the last message must be the user's"):
        load_prompts(str(bad))
    bad.write_text('{"prompt": "fine"}\nnot json\n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: not valid JSON"):
        load_prompts(str(bad))


def test_too_long_prompts_are_reported_not_cut(tmp_path):
    rows = prompt_rows(6, 1) + [{"id": "long", "prompt": "refund " * 200}]
    prompts = load_prompts(str(write_prompts(tmp_path / "p.jsonl", rows)))
    kept, too_long = check_lengths(prompts, build_lm_tokenizer(), 64, "student")
    assert [t["id"] for t in too_long] == ["long"] and too_long[0]["tokens"] > 64 and len(kept) == 6
    with pytest.raises(UserError, match="every prompt is longer than 2 tokens"):
        check_lengths(prompts, build_lm_tokenizer(), 2, "student")
