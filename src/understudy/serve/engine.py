"""Text generation for the server, one token at a time: so answers can stream, and every token can carry its
log-prob and the top alternatives (what an API teacher asks for), greedy or sampled."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch


@dataclass
class Step:
    token_id: int
    token: str  # the token's own text
    text: str  # new text to show (held back while a multi-byte character is incomplete)
    logprob: float
    top: list[tuple[str, float]]


class TextGenerator:
    """A causal LM behind a lock: one generation at a time on this model."""

    def __init__(self, model, tokenizer, name: str):
        from ..lm.teacher import eos_ids

        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.stops = eos_ids(model, tokenizer)
        limit = getattr(model.config, "max_position_embeddings", None)
        self.context = int(limit) if isinstance(limit, int) and limit > 0 else 2048
        self.lock = threading.Lock()

    def chat_ids(self, messages: list[dict]) -> list[int]:
        from ..lm.prompts import prompt_ids

        return prompt_ids(self.tokenizer, messages)

    def text_ids(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def piece(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id], skip_special_tokens=False)

    @torch.inference_mode()
    def stream(
        self,
        prompt_ids: Sequence[int],
        *,
        max_tokens: int = 128,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        top_logprobs: int = 0,
        seed: int | None = None,
    ) -> Iterator[Step | str]:
        """Yields a Step per token, then the finish reason ('stop' or 'length') as a plain string."""
        max_tokens = max(0, min(max_tokens, self.context - len(prompt_ids)))
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        with self.lock:
            past, ids, out_ids, shown = None, torch.tensor([list(prompt_ids)]), [], ""
            for _ in range(max_tokens):
                out = self.model(input_ids=ids, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logp = out.logits[0, -1].float().log_softmax(-1)
                if temperature <= 0:
                    tok = int(logp.argmax())
                else:
                    probs = (logp / temperature).softmax(-1)
                    if top_p < 1.0:
                        sorted_p, order = probs.sort(descending=True)
                        cut = sorted_p.cumsum(0) - sorted_p >= top_p  # keep the smallest set reaching top_p
                        sorted_p[cut] = 0
                        probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
                    tok = int(torch.multinomial(probs / probs.sum(), 1, generator=gen))
                if tok in self.stops:
                    yield "stop"
                    return
                out_ids.append(tok)
                text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
                if text.endswith("\ufffd"):  # half a character: wait for the rest
                    new = ""
                else:
                    new, shown = text[len(shown) :], text
                hit = next((s for s in stop if s and s in shown), None)
                top = []
                if top_logprobs:
                    vals, idx = logp.topk(top_logprobs)
                    top = [(self.piece(int(i)), float(v)) for v, i in zip(vals, idx)]
                if hit is not None:
                    cut_at = shown.index(hit)
                    keep = max(0, cut_at - (len(shown) - len(new)))
                    yield Step(tok, self.piece(tok), new[:keep], float(logp[tok]), top)
                    yield "stop"
                    return
                yield Step(tok, self.piece(tok), new, float(logp[tok]), top)
                ids = torch.tensor([[tok]])
            yield "length"
