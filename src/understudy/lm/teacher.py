"""The language-model teacher: answers prompts once; its texts and top-k log-probs go through the store.

Two kinds, one interface (what `teach`, `stored_answers` and the engine use):

    fingerprint, description, provides   keys the store; says what the teacher gives
    in_process                           True: a model on this machine (.model, .tokenizer, .folder); False: an API
    answer(chats) -> [{"text", "token_ids", "top_logprobs", ...}]   what `teach` stores
    generate(chats, max_new_tokens) -> [str]                          plain answers (the refusal check)

`LocalTeacher` is a causal LM on this machine; `ApiLMTeacher` an LLM behind an OpenAI-compatible endpoint, with
the limits, retries, budget and request store of API labelling (every answer stored the moment it arrives).
`build_lm_teacher(spec)` makes either from the recipe's teacher section. `teach` asks only about prompts the
store does not hold, commits every batch as it returns, and so resumes after any kill.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..errors import UserError
from ..progress import QUIET, Progress
from ..store import TeacherStore, input_hash
from .prompts import Prompt, render


class LMTeacher(Protocol):
    fingerprint: str  # model files (or endpoint + model) + generation settings: keys the store; never a key
    description: str
    provides: frozenset[str]  # local: {"text", "token_ids", "top_logprobs"?}; API: {"text", "texts", "top_logprobs"?}
    in_process: bool  # True: .model and .tokenizer exist (token-level methods, speed, perplexity, judge)

    def answer(self, chats: Sequence[list[dict]]) -> list[dict]: ...

    def generate(self, chats: Sequence[list[dict]], max_new_tokens: int | None = None) -> list[str]: ...


def eos_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


@torch.inference_mode()
def generate_answers(
    model,
    tokenizer,
    chats: Sequence[list[dict]],
    *,
    max_new_tokens: int,
    top_k: int = 0,
    batch_size: int = 16,
    progress: Progress = QUIET,
    what: str = "answering",
) -> list[dict]:
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
                gen = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    return_dict_in_generate=True,
                    output_logits=top_k > 0,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=sorted(stops) or None,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                )
                new = gen.sequences[:, enc["input_ids"].shape[1] :]
                logp = torch.stack(gen.logits, 1).float().log_softmax(-1) if top_k > 0 else None
                for b, i in enumerate(rows):
                    ids = new[b].tolist()
                    end = next((t + 1 for t, tok in enumerate(ids) if tok in stops), len(ids))  # keep the EOS
                    ids = ids[:end]
                    answer = {
                        "text": tokenizer.decode(ids, skip_special_tokens=True).strip(),
                        "token_ids": ids,
                        "top_logprobs": None,
                    }
                    if logp is not None:
                        vals, idx = logp[b, :end].topk(min(top_k, logp.shape[-1]), dim=-1)
                        answer["top_logprobs"] = {
                            "ids": idx.numpy().astype(np.int32),
                            "logprobs": vals.numpy().astype(np.float32),
                        }
                    out[i] = answer
                advance(len(rows))
    finally:
        tokenizer.padding_side = side
    return out


class LocalTeacher:
    """A causal LM on this machine (transformers folder, GGUF file or 'builtin:NAME'), loaded on first use."""

    in_process = True

    def __init__(self, path: str, *, max_new_tokens: int = 96, top_logprobs: int = 20, batch_size: int = 16):
        from ..teachers.base import fingerprint_files
        from .models import model_path

        self.path = model_path(path)
        self.source = str(path)
        self.max_new_tokens, self.top_k, self.batch_size = max_new_tokens, top_logprobs, batch_size
        settings = json.dumps({"max_new_tokens": max_new_tokens, "top_logprobs": top_logprobs, "decoding": "greedy"})
        self.fingerprint = fingerprint_files(self.path, extra=settings)
        self.description = f"causal LM {self.source}"
        self.provides = frozenset({"text", "texts", "token_ids"} | ({"top_logprobs"} if top_logprobs else set()))
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

    def answer(self, chats: Sequence[list[dict]]) -> list[dict]:
        """What `teach` stores: text, token ids and (with top_logprobs) the top-k per answer token."""
        model, tokenizer = self._load()
        return generate_answers(
            model, tokenizer, chats, max_new_tokens=self.max_new_tokens, top_k=self.top_k, batch_size=self.batch_size
        )

    def generate(
        self,
        chats: Sequence[list[dict]],
        max_new_tokens: int | None = None,
        *,
        progress: Progress = QUIET,
        what: str = "teacher answering",
    ) -> list[str]:
        """Plain greedy answers (not stored: the model is here, asking again costs nothing but time)."""
        model, tokenizer = self._load()
        return [
            a["text"]
            for a in generate_answers(
                model,
                tokenizer,
                chats,
                max_new_tokens=max_new_tokens or self.max_new_tokens,
                batch_size=self.batch_size,
                progress=progress,
                what=what,
            )
        ]

    def generate_texts(self, chats: Sequence[list[dict]], max_new_tokens: int | None = None, store=None) -> list[str]:
        """`generate` under the name the engine's refusal check calls; the store is not needed here."""
        return self.generate(chats, max_new_tokens)

    def report(self) -> dict:
        return {"kind": "local", "source": self.source, "fingerprint": self.fingerprint}


class ApiLMTeacher:
    """An LLM behind an OpenAI-compatible endpoint, as a language-model teacher.

    Requests go through `teachers.api.ApiGenerator`: bounded concurrency, rate limits, retries, the budget, and
    every raw answer stored (keyed by the exact request) the moment it arrives, so a `kill -9` loses nothing paid
    for and a rerun asks nothing again. Top log-probs are asked for where `top_logprobs` > 0; an endpoint returns
    token strings, not ids, so they are stored as strings (`align_api_tokens` maps them onto a tokenizer).
    The key is read from the environment variable `api.api_key_env` names; it is in no fingerprint, file or message.
    """

    in_process = False

    def __init__(self, settings, *, max_new_tokens: int = 96, top_logprobs: int = 20, client=None):
        from ..teachers.api import ApiGenerator

        settings = settings.model_copy(
            update={
                "max_new_tokens": max_new_tokens,
                "use_logprobs": top_logprobs > 0,
                "top_logprobs": max(1, min(top_logprobs, 20)),
            }
        )
        self.settings = settings
        self.max_new_tokens, self.top_k = max_new_tokens, top_logprobs
        self.generator = ApiGenerator(settings, None, client=client)
        self.fingerprint = self.generator.fingerprint
        self.description = f"OpenAI-compatible API: model {settings.model} at {settings.host()}"
        self.provides = frozenset({"text", "texts"} | ({"top_logprobs"} if top_logprobs else set()))
        self.files: list = []  # nothing on disk: size, parameters and memory do not apply
        self.store: TeacherStore | None = None

    def attach(self, store: TeacherStore) -> ApiLMTeacher:
        """Store raw answers here as they arrive, and count the budget from what this store already spent."""
        if self.store is not store:
            self.store = store
            self.generator.attach(store)
        return self

    def got_no_logprobs(self) -> None:
        """The endpoint answered without top log-probs: say so from now on."""
        self.provides = self.provides - {"top_logprobs"}

    def answer(self, chats: Sequence[list[dict]]) -> list[dict]:
        """What `teach` stores: the text, and per answer token the top alternatives (strings) with log-probs."""
        out = []
        for g in self.generator.generate(list(chats)):
            if g.refused is not None:
                out.append({"text": "", "token_ids": None, "top_logprobs": None, "refused": g.refused})
                continue
            top = None
            if self.top_k and g.top_logprobs:
                k = max(1, max(len(row) for row in g.top_logprobs))
                lp = np.full((len(g.top_logprobs), k), -30.0, dtype=np.float32)  # fewer than k alternatives: ~0 mass
                for i, row in enumerate(g.top_logprobs):
                    lp[i, : len(row)] = [v for _, v in row]
                top = {"tokens": [[t for t, _ in row] for row in g.top_logprobs], "logprobs": lp}
            out.append(
                {
                    "text": g.text.strip(),
                    "token_ids": None,
                    "tokens": g.tokens,
                    "top_logprobs": top,
                    "finish_reason": g.finish_reason,
                }
            )
        return out

    def generate(
        self,
        chats: Sequence[list[dict]],
        max_new_tokens: int | None = None,
        *,
        store: TeacherStore | None = None,
        progress: Progress = QUIET,
        what: str = "teacher answering",
    ) -> list[str]:
        """Plain answers, no log-probs asked. Stored like every request (attach a store, or pass one), so a rerun
        does not pay twice. A request the endpoint refuses (HTTP 400/413/422: a content filter) gives ''."""
        if store is not None:
            self.attach(store)
        with progress.task(what, len(chats)) as advance:
            gens = self.generator.generate(list(chats), max_new_tokens or self.max_new_tokens, logprobs=False)
            advance(len(chats))
        return ["" if g.refused is not None else g.text.strip() for g in gens]

    def generate_texts(
        self, chats: Sequence[list[dict]], max_new_tokens: int | None = None, store: TeacherStore | None = None
    ) -> list[str]:
        """`generate` under the name the engine's refusal check calls, with the run's store positional."""
        return self.generate(chats, max_new_tokens, store=store)

    def report(self) -> dict:
        """For report.json: endpoint, model, fingerprint, features the server refused, and the spend of every run."""
        return self.generator.report()

    def close(self) -> None:
        self.generator.close()


def build_lm_teacher(spec, resolve=None) -> LocalTeacher | ApiLMTeacher:
    """The teacher a text-generation recipe's `teacher` section describes; loads no weights, asks nothing."""
    kind = getattr(spec, "kind", "local")
    if kind == "openai-api":
        if spec.api is None:
            raise UserError("teacher kind 'openai-api' needs an 'api' section (base_url, model, api_key_env, ...)")
        return ApiLMTeacher(spec.api, max_new_tokens=spec.max_new_tokens, top_logprobs=spec.top_logprobs)
    if kind == "local":
        if not spec.path:
            raise UserError("teacher kind 'local' needs 'path' (a transformers folder, a .gguf file or 'builtin:NAME')")
        path = resolve(spec.path) if resolve is not None and not spec.path.startswith("builtin:") else spec.path
        return LocalTeacher(
            path, max_new_tokens=spec.max_new_tokens, top_logprobs=spec.top_logprobs, batch_size=spec.batch_size
        )
    raise UserError(f"teacher.kind '{kind}': a text-generation teacher is 'local' or 'openai-api'")


def answers_for_training(answers: dict[str, dict], method: str, teacher, tokenizer) -> dict[str, dict]:
    """The stored answers as `build_examples` wants them: an API teacher's token strings mapped onto the student's
    tokenizer for token-level methods (topk); a local teacher's answers as they are."""
    if method == "sequence" or getattr(teacher, "in_process", True):
        return answers
    return align_api_tokens(answers, tokenizer)


def align_api_tokens(answers: dict[str, dict], tokenizer, *, min_share: float = 0.98) -> dict[str, dict]:
    """API answers (token strings) as token ids of `tokenizer`, for token-level training (topk): fills 'token_ids'
    and top_logprobs['ids']. Works only where the endpoint's model shares the tokenizer; an answer whose tokens do
    not map is refused with the share that did, so a different tokenizer is named, not trained on.
    Alternatives that do not map keep a log-prob of -30 on distinct unused ids (about zero mass)."""
    vocab: dict[str, int] = {}
    for tok, i in sorted(tokenizer.get_vocab().items(), key=lambda x: x[1]):
        for piece in (tokenizer.convert_tokens_to_string([tok]), tok.replace("\u2581", " ")):
            vocab.setdefault(piece, i)
    out, chosen, mapped = {}, 0, 0
    for pid, a in answers.items():
        top = a.get("top_logprobs")
        if a.get("token_ids") is not None and (top is None or "ids" in top):
            out[pid] = a
            continue
        toks = a.get("tokens") or ([row[0] for row in top["tokens"]] if top and top.get("tokens") else None)
        if not toks:
            out[pid] = a
            continue
        ids = [vocab.get(t) for t in toks]
        chosen += len(ids)
        mapped += sum(i is not None for i in ids)
        new = {**a, "token_ids": [i if i is not None else 0 for i in ids]}
        if top is not None and top.get("tokens") is not None:
            lp = np.array(top["logprobs"], dtype=np.float32, copy=True)
            idx = np.zeros(lp.shape, dtype=np.int32)
            for r, row in enumerate(top["tokens"]):
                row_ids = [vocab.get(t) for t in row] + [None] * (lp.shape[1] - len(row))
                used = {i for i in row_ids if i is not None}
                spare = (i for i in range(len(tokenizer)) if i not in used)
                for c, i in enumerate(row_ids):
                    if i is None:
                        i, lp[r, c] = next(spare), -30.0
                    idx[r, c] = i
            new["top_logprobs"] = {"ids": idx, "logprobs": lp}
        out[pid] = new
    if chosen and mapped / chosen < min_share:
        raise UserError(
            f"only {mapped / chosen:.0%} of the API teacher's answer tokens are single tokens of the student's "
            "tokenizer, so its top log-probs cannot be matched token by token: the endpoint's model uses "
            "another tokenizer. Use training.method: sequence (the student learns from the answer texts)."
        )
    return out


# --- the store: text as UTF-8 bytes, ids and log-probs as arrays; never pickled ------------------------------


def chat_key(messages: list[dict]) -> str:
    return input_hash(json.dumps(messages, sort_keys=True, ensure_ascii=False))


def _blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _put(store: TeacherStore, fingerprint: str, keys: list[str], answers: list[dict]) -> None:
    """One batch: refusals, texts, token ids, top-k (ids, or an API's token strings) and log-probs, per answer."""
    rows: dict[str, list] = {
        "refused": [],
        "text": [],
        "token_ids": [],
        "topk_ids": [],
        "topk_tokens": [],
        "topk_logprobs": [],
    }
    for k, a in zip(keys, answers):
        if a.get("refused") is not None:
            rows["refused"].append((k, _blob(a["refused"])))
            continue
        if a.get("token_ids") is not None:
            rows["token_ids"].append((k, np.asarray(a["token_ids"], dtype=np.int32)))
        top = a.get("top_logprobs")
        if top is not None:
            if top.get("ids") is not None:
                rows["topk_ids"].append((k, np.asarray(top["ids"])))
            if top.get("tokens") is not None:
                rows["topk_tokens"].append(
                    (k, _blob(json.dumps({"tokens": a.get("tokens"), "top": top["tokens"]}, ensure_ascii=False)))
                )
            rows["topk_logprobs"].append((k, np.asarray(top["logprobs"], dtype=np.float32)))
    # the text last: a stored text means the answer's other parts are stored (a kill in between asks again)
    for kind in ("refused", "token_ids", "topk_ids", "topk_tokens", "topk_logprobs", "text"):
        if kind == "text":
            rows[kind] = [(k, _blob(a["text"])) for k, a in zip(keys, answers) if a.get("refused") is None]
        if rows[kind]:
            store.put(fingerprint, kind, rows[kind])


def _get(
    store: TeacherStore, fingerprint: str, keys: list[str], provides: frozenset[str], in_process: bool = True
) -> tuple[dict[str, dict], dict[str, str]]:
    """({key: answer}, {key: the endpoint's refusal}). A local teacher's answer counts only with all it provides;
    an API teacher's with its text (its top log-probs are there where the server gave them)."""
    texts = store.get(fingerprint, keys, "text")
    refused = (
        {k: v.tobytes().decode("utf-8") for k, v in store.get(fingerprint, keys, "refused").items()}
        if not in_process
        else {}
    )
    ids = store.get(fingerprint, keys, "token_ids") if "token_ids" in provides else {}
    want_top = "top_logprobs" in provides or not in_process
    top_ids = store.get(fingerprint, keys, "topk_ids") if want_top and in_process else {}
    top_tok = store.get(fingerprint, keys, "topk_tokens") if want_top and not in_process else {}
    top_lp = store.get(fingerprint, keys, "topk_logprobs") if want_top else {}
    found = {}
    for k, t in texts.items():
        if in_process and (
            "token_ids" in provides
            and k not in ids
            or "top_logprobs" in provides
            and (k not in top_ids or k not in top_lp)
        ):
            continue  # a batch cut short by a kill: ask again
        answer = {
            "text": t.tobytes().decode("utf-8"),
            "token_ids": ids[k].tolist() if k in ids else None,
            "top_logprobs": None,
        }
        if k in top_ids and k in top_lp:
            answer["top_logprobs"] = {"ids": top_ids[k], "logprobs": top_lp[k]}
        elif k in top_tok and k in top_lp:
            data = json.loads(top_tok[k].tobytes().decode("utf-8"))
            answer["tokens"] = data["tokens"]
            answer["top_logprobs"] = {"tokens": data["top"], "logprobs": top_lp[k]}
        found[k] = answer
    return found, {k: v for k, v in refused.items() if k not in found}


@dataclass
class TeachStats:
    prompts: int = 0
    reused: int = 0
    asked: int = 0
    seconds: float = 0.0
    tokens: int = 0
    refused: list[dict] = field(default_factory=list)  # prompts an API endpoint would not answer (left out)
    api: dict | None = None  # an API teacher's report: endpoint, model, features refused, spend of every run

    def to_report(self, fingerprint: str) -> dict:
        out = {
            "teacher_fingerprint": fingerprint,
            "prompts": self.prompts,
            "reused": self.reused,
            "asked": self.asked,
            "seconds": round(self.seconds, 2),
            "answer_tokens": self.tokens,
            "tokens_per_s": round(self.tokens / self.seconds, 2) if self.asked and self.seconds else None,
        }
        if self.refused:
            out["refused"] = self.refused
        if self.api is not None:
            out["api"] = self.api
        return out


def _no_logprobs_error(teacher, n: int, store: TeacherStore, reused: bool) -> UserError:
    refused = getattr(getattr(teacher, "generator", None), "_refused", set())
    why = (
        "the endpoint refused the 'logprobs' parameter"
        if "logprobs" in refused
        else "the endpoint answered without any"
    )
    where = "the stored answers" if reused else f"the first batch of {n} prompts"
    return UserError(
        f"training.method 'topk' needs the teacher's top log-probs, but {where} from {teacher.description} came "
        f"without them ({why}). Use training.method: sequence (the student learns from the answer texts), or an "
        f"endpoint that returns logprobs/top_logprobs. The {n} answers are kept in {store.path}: a rerun with "
        "method sequence reuses them and pays nothing again."
    )


def teach(
    teacher: LMTeacher,
    prompts: Sequence[Prompt],
    store: TeacherStore,
    *,
    batch_size: int = 16,
    progress: Progress = QUIET,
    needs: frozenset[str] | set[str] = frozenset(),
) -> tuple[dict[str, dict], TeachStats]:
    """The teacher's answer to every prompt, {prompt id: answer}; each asked once, ever.

    `needs`: what training cannot do without; {"top_logprobs"} (method topk) stops after the first batch an API
    teacher answers without them, keeping what it answered. Prompts an endpoint refuses (a content filter) are
    left out of the result and listed in stats.refused."""
    start = time.perf_counter()
    in_process = getattr(teacher, "in_process", True)
    if hasattr(teacher, "attach"):
        teacher.attach(store)
    store.register(teacher.fingerprint, teacher.description)
    keys = {p.id: chat_key(p.messages) for p in prompts}
    chats = {keys[p.id]: p.messages for p in prompts}
    have, refused = _get(store, teacher.fingerprint, list(chats), teacher.provides, in_process)
    todo = sorted((k for k in chats if k not in have and k not in refused), key=lambda k: len(json.dumps(chats[k])))
    stats = TeachStats(prompts=len(prompts), reused=len(chats) - len(todo), asked=len(todo))
    need_top = "top_logprobs" in needs
    if need_top and have and not any(a["top_logprobs"] is not None for a in have.values()):
        raise _no_logprobs_error(teacher, len(have), store, reused=True)
    if todo:
        with progress.task(f"teacher answering ({stats.reused} already stored)", len(todo)) as advance:
            for i in range(0, len(todo), batch_size):
                batch = todo[i : i + batch_size]
                try:
                    answers = teacher.answer([chats[k] for k in batch])
                except UserError:
                    raise
                except Exception as exc:
                    raise UserError(
                        f"the teacher ({teacher.description}) failed on a batch of {len(batch)} prompts: "
                        f"{type(exc).__name__}: {exc}. Answers stored so far are kept in {store.path}; "
                        "rerun to resume"
                    ) from exc
                _put(store, teacher.fingerprint, batch, answers)
                for k, a in zip(batch, answers):
                    if a.get("refused") is not None:
                        refused[k] = a["refused"]
                    else:
                        have[k] = a
                stats.tokens += sum(len(a.get("token_ids") or a.get("tokens") or []) for a in answers)
                advance(len(batch))
                answered = [a for a in answers if a.get("refused") is None]
                if not in_process and answered and not any(a["top_logprobs"] is not None for a in answered):
                    if hasattr(teacher, "got_no_logprobs"):
                        teacher.got_no_logprobs()
                    if need_top and not any(a["top_logprobs"] is not None for a in have.values()):
                        raise _no_logprobs_error(teacher, len(have), store, reused=False)
    stats.seconds = time.perf_counter() - start
    ids = {k: pid for pid, k in keys.items()}
    stats.refused = [{"id": ids[k], "reason": r[:500]} for k, r in refused.items() if k in ids]
    if hasattr(teacher, "report") and not in_process:
        stats.api = teacher.report()
    return {p.id: have[keys[p.id]] for p in prompts if keys[p.id] in have}, stats


def stored_answers(teacher: LMTeacher, prompts: Sequence[Prompt], store: TeacherStore) -> dict[str, dict]:
    """The stored answers only, {prompt id: answer}; the teacher is not asked (training reads the store).
    Prompts an endpoint refused are left out, as `teach` leaves them out."""
    keys = {p.id: chat_key(p.messages) for p in prompts}
    have, refused = _get(
        store, teacher.fingerprint, list(set(keys.values())), teacher.provides, getattr(teacher, "in_process", True)
    )
    missing = [pid for pid, k in keys.items() if k not in have and k not in refused]
    if missing:
        raise UserError(
            f"{store.path} holds no answer from this teacher for {len(missing)} prompts (e.g. '{missing[0]}'); "
            "run the teaching stage first (understudy distill), with the same recipe"
        )
    return {pid: have[k] for pid, k in keys.items() if k in have}
