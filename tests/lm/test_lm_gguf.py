"""A GGUF file built in the test: loaded as a teacher with the same weights and tokenizer, and its licence read."""

from __future__ import annotations

import torch
from lm_builders import build_tiny_gguf, build_tiny_llama

from understudy.licences import Use, check
from understudy.lm.models import load_causal_lm


def test_gguf_built_in_the_test_loads_with_the_same_weights_and_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSTUDY_CACHE", str(tmp_path / "cache"))
    hf = build_tiny_llama(tmp_path / "hf")
    path = build_tiny_gguf(tmp_path / "tiny.gguf", hf)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref, ref_tok = AutoModelForCausalLM.from_pretrained(hf).eval(), AutoTokenizer.from_pretrained(hf)
    model, tok = load_causal_lm(path)
    text = "hello there, my order is late"
    ids = ref_tok(text, return_tensors="pt").input_ids
    assert tok(text).input_ids == ids[0].tolist()
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, ref(ids).logits, atol=1e-5)
    cached = list((tmp_path / "cache").rglob("config.json"))
    assert cached, "the dequantised model is cached, so the next load does not convert again"
    again, _ = load_causal_lm(path)
    assert list((tmp_path / "cache").rglob("config.json")) == cached

    verdict = check(str(path), Use(commercial=True, sector="retail"))
    assert verdict["verdict"] == "ALLOW_WITH_OBLIGATIONS" and {lic["id"] for lic in verdict["licences"]} == {"mit"}
