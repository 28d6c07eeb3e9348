"""The language-model teacher: answers prompts once; its texts and top-k log-probs go through the store.

Any teacher has the shape an OpenAI-compatible API teacher can also take:
`generate(list of chats) -> list of {"text", "token_ids", "top_logprobs"}`, where token_ids and top_logprobs
are None when the teacher cannot give them. `teach` asks it only about prompts the store does not hold,
commits every batch as it returns, and so resumes after any kill.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from ..errors import UserError
from ..progress import QUIET, Progress
from ..store import TeacherStore, input_hash
from .prompts import Prompt, render


class LMTeacher(Protocol):
    fingerprint: str  # model files + generation settings: keys the store
    description: str
    provides: frozenset[str]  # {"text"} for a plain API; {"text", "token_ids", "top_logprobs"} for a local model

    def generate(self, prompts: Sequence[list[dict]]) -> list[dict]: ...


def eos_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


@torch.inference_mode()
def generate_answers(model, tokenizer, chats: Sequence[list[dict]], *, max_new_tokens: int, top_k: int = 0,
                     batch_size: int = 16, progress: Progress = QUIET, what: str = "answering") -> list[dict]:
    """Greedy answers, batched (prompts of similar length together, left padding). With top_k, each answer token
    also gets the model's top-k (id, log-prob) pairs, from the raw logits."""
    texts = [render(tokenizer, c) for c in chats]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    stops = eos_ids(model, tokenizer)
    out: list[dict | None] = [None] * len(texts)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        with progress.task(what, len(texts)) as advance:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                enc = tokenizer([texts[i] for i in rows], add_special_tokens=False, padding=True, return_tensors="pt")
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, return_dict_in_generate=True,
                                     output_logits=top_k > 0, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=sorted(stops) or None, temperature=None, top_p=None, top_k=None)
                new = gen.sequences[:, enc["input_ids"].shape[1]:]
                logp = torch.stack(gen.logits, 1).float().log_softmax(-1) if top_k > 0 else None
                for b, i in enumerate(rows):
                    ids = new[b].tolist()
                    end = next((t + 1 for t, tok in enumerate(ids) if tok in stops), len(ids))  # keep the EOS
                    ids = ids[:end]
                    answer = {"text": tokenizer.decode(ids, skip_special_tokens=True).strip(), "token_ids": ids,
                              "top_logprobs": None}
                    if logp is not None:
                        vals, idx = logp[b, :end].topk(min(top_k, logp.shape[-1]), dim=-1)
                        answer["top_logprobs"] = {"ids": idx.numpy().astype(np.int32), "logprobs": vals.numpy().astype(np.float32)}
                    out[i] = answer
                advance(len(rows))
    finally:
        tokenizer.padding_side = side
    return out


class LocalTeacher:
    """A causal LM on this machine (transformers folder, GGUF file or 'builtin:NAME'), loaded on first use."""

    def __init__(self, path: str, *, max_new_tokens: int = 96, top_logprobs: int = 20, batch_size: int = 16):
        from ..teachers.base import fingerprint_files
        from .models import model_path

        self.path = model_path(path)
        self.source = str(path)
        self.max_new_tokens, self.top_k, self.batch_size = max_new_tokens, top_logprobs, batch_size
        settings = json.dumps({"max_new_tokens": max_new_tokens, "top_logprobs": top_logprobs, "decoding": "greedy"})
        self.fingerprint = fingerprint_files(self.path, extra=settings)
        self.description = f"causal LM {self.source}"
        self.provides = frozenset({"text", "token_ids"} | ({"top_logprobs"} if top_logprobs else set()))
        self._model = self._tokenizer = None

    def _load(self):
        if self._model is None:
            from .models import load_causal_lm

            self._model, self._tokenizer = load_causal_lm(self.path)
        return self._model, self._tokenizer

    @property
    def model(self):
        return self._load()[0]

    @property
    def tokenizer(self):
        return self._load()[1]

    @property
    def folder(self) -> Path:
        """The transformers folder (a GGUF's dequantised copy): what a student built from the teacher starts from."""
        from .models import transformers_folder

        return transformers_folder(self.path)

    def generate(self, prompts: Sequence[list[dict]]) -> list[dict]:
        model, tokenizer = self._load()
        return generate_answers(model, tokenizer, prompts, max_new_tokens=self.max_new_tokens, top_k=self.top_k,
                                batch_size=self.batch_size)


# --- the store: text as UTF-8 bytes, ids and log-probs as arrays; never pickled ------------------------------

def chat_key(messages: list[dict]) -> str:
    return input_hash(json.dumps(messages, sort_keys=True, ensure_ascii=False))


def _put(store: TeacherStore, fingerprint: str, keys: list[str], answers: list[dict]) -> None:
    store.put(fingerprint, "text", [(k, np.frombuffer(a["text"].encode("utf-8"), dtype=np.uint8)) for k, a in zip(keys, answers)])
    if answers and answers[0].get("token_ids") is not None:
        store.put(fingerprint, "token_ids", [(k, np.asarray(a["token_ids"], dtype=np.int32)) for k, a in zip(keys, answers)])
    if answers and answers[0].get("top_logprobs") is not None:
        store.put(fingerprint, "topk_ids", [(k, a["top_logprobs"]["ids"]) for k, a in zip(keys, answers)])
        store.put(fingerprint, "topk_logprobs", [(k, a["top_logprobs"]["logprobs"]) for k, a in zip(keys, answers)])


def _get(store: TeacherStore, fingerprint: str, keys: list[str], provides: frozenset[str]) -> dict[str, dict]:
    texts = store.get(fingerprint, keys, "text")
    ids = store.get(fingerprint, keys, "token_ids") if "token_ids" in provides else {}
    top_ids = store.get(fingerprint, keys, "topk_ids") if "top_logprobs" in provides else {}
    top_lp = store.get(fingerprint, keys, "topk_logprobs") if "top_logprobs" in provides else {}
    found = {}
    for k, t in texts.items():
        if "token_ids" in provides and k not in ids or "top_logprobs" in provides and (k not in top_ids or k not in top_lp):
            continue  # a batch cut short by a kill: ask again
        found[k] = {"text": t.tobytes().decode("utf-8"), "token_ids": ids[k].tolist() if k in ids else None,
                    "top_logprobs": {"ids": top_ids[k], "logprobs": top_lp[k]} if k in top_ids else None}
    return found


@dataclass
class TeachStats:
    prompts: int = 0
    reused: int = 0
    asked: int = 0
    seconds: float = 0.0
    tokens: int = 0

    def to_report(self, fingerprint: str) -> dict:
        return {"teacher_fingerprint": fingerprint, "prompts": self.prompts, "reused": self.reused, "asked": self.asked,
                "seconds": round(self.seconds, 2), "answer_tokens": self.tokens,
                "tokens_per_s": round(self.tokens / self.seconds, 2) if self.asked and self.seconds else None}


def teach(teacher: LMTeacher, prompts: Sequence[Prompt], store: TeacherStore, *, batch_size: int = 16,
          progress: Progress = QUIET) -> tuple[dict[str, dict], TeachStats]:
    """The teacher's answer to every prompt, {prompt id: answer}; each asked once, ever."""
    start = time.perf_counter()
    store.register(teacher.fingerprint, teacher.description)
    keys = {p.id: chat_key(p.messages) for p in prompts}
    chats = {keys[p.id]: p.messages for p in prompts}
    have = _get(store, teacher.fingerprint, list(chats), teacher.provides)
    todo = sorted((k for k in chats if k not in have), key=lambda k: len(json.dumps(chats[k])))
    stats = TeachStats(prompts=len(prompts), reused=len(chats) - len(todo), asked=len(todo))
    if todo:
        with progress.task(f"teacher answering ({stats.reused} already stored)", len(todo)) as advance:
            for i in range(0, len(todo), batch_size):
                batch = todo[i : i + batch_size]
                try:
                    answers = teacher.generate([chats[k] for k in batch])
                except UserError:
                    raise
                except Exception as exc:
                    raise UserError(f"the teacher ({teacher.description}) failed on a batch of {len(batch)} prompts: "
                                    f"{type(exc).__name__}: {exc}. Answers stored so far are kept in {store.path}; "
                                    "rerun to resume") from exc
                _put(store, teacher.fingerprint, batch, answers)
                have.update(zip(batch, answers))
                stats.tokens += sum(len(a.get("token_ids") or []) for a in answers)
                advance(len(batch))
    stats.seconds = time.perf_counter() - start
    return {p.id: have[keys[p.id]] for p in prompts}, stats


def stored_answers(teacher: LMTeacher, prompts: Sequence[Prompt], store: TeacherStore) -> dict[str, dict]:
    """The stored answers only, {prompt id: answer}; the teacher is not asked (training reads the store)."""
    keys = {p.id: chat_key(p.messages) for p in prompts}
    have = _get(store, teacher.fingerprint, list(set(keys.values())), teacher.provides)
    missing = [pid for pid, k in keys.items() if k not in have]
    if missing:
        raise UserError(f"{store.path} holds no answer from this teacher for {len(missing)} prompts (e.g. '{missing[0]}'); "
                        "run the teaching stage first (understudy distill), with the same recipe")
    return {pid: have[k] for pid, k in keys.items()}
