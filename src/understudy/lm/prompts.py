"""Prompts: a JSONL file of chat messages or plain prompts, a held-out split, and each model's chat template.

A prompt too long for a model is reported and left out; it is never cut silently (a cut prompt gets a
confident answer to a question nobody asked).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

ROLES = ("system", "user", "assistant")
BUILTIN_PROMPTS = {"support-prompts": "support_prompts.jsonl"}


@dataclass
class Prompt:
    id: str
    messages: list[dict]
    split: str = "train"
    line: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def last_user(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


def prompts_file(path: str) -> Path:
    if path.startswith("builtin:"):
        key = path.removeprefix("builtin:")
        if key not in BUILTIN_PROMPTS:
            raise UserError(
                f"unknown builtin prompts '{path}'; known: {', '.join('builtin:' + k for k in BUILTIN_PROMPTS)}"
            )
        from .. import data

        return Path(data.__file__).parent / BUILTIN_PROMPTS[key]
    return Path(path)


def _messages(row: dict, where: str) -> list[dict]:
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise UserError(f'{where}: \'messages\' must be a non-empty list of {{"role", "content"}} objects')
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise UserError(
                    f'{where}: messages[{i}] must be {{"role": one of {", ".join(ROLES)}, "content": text}}; got {m!r:.80}'
                )
        if msgs[-1]["role"] != "user":
            raise UserError(
                f"{where}: the last message must be the user's (the models answer it); it is '{msgs[-1]['role']}'"
            )
        return [{"role": m["role"], "content": m["content"]} for m in msgs]
    for key in ("prompt", "text"):
        if isinstance(row.get(key), str) and row[key].strip():
            return [{"role": "user", "content": row[key]}]
    raise UserError(f"{where}: each line needs 'messages' (a chat) or 'prompt' (a text); found keys {sorted(row)}")


def load_prompts(
    path: str,
    *,
    system: str | None = None,
    test_split: str = "test",
    test_fraction: float = 0.15,
    limit: int | None = None,
    seed: int = 0,
) -> list[Prompt]:
    """Every prompt in the file, in order, each marked 'train' or 'test'."""
    file = prompts_file(path)
    if not file.is_file():
        raise UserError(f"prompts file not found: {file}")
    prompts, seen = [], {}
    with open(file, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{file}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{where}: not valid JSON ({exc.msg}); write one JSON object per line") from None
            if not isinstance(row, dict):
                raise UserError(f"{where}: each line must be a JSON object")
            msgs = _messages(row, where)
            if system and msgs[0]["role"] != "system":
                msgs = [{"role": "system", "content": system}] + msgs
            pid = str(row.get("id", f"line-{n}"))
            if pid in seen:
                raise UserError(f"{where}: id '{pid}' is used again (first on line {seen[pid]}); ids must be unique")
            seen[pid] = n
            split = "test" if str(row.get("split", "")) == test_split else "train"
            meta = {k: v for k, v in row.items() if k not in ("messages", "prompt", "text", "id", "split")}
            prompts.append(Prompt(pid, msgs, split, n, meta))
            if limit and len(prompts) >= limit:
                break
    if len(prompts) < 2:
        raise UserError(f"{file}: needs at least 2 prompts (some to learn from, some held out); found {len(prompts)}")
    if not any(p.split == "test" for p in prompts):  # no split column: hold out a seeded share
        rng = random.Random(seed)
        for i in rng.sample(range(len(prompts)), max(1, round(len(prompts) * test_fraction))):
            prompts[i].split = "test"
    if all(p.split == "test" for p in prompts):
        raise UserError(f"{file}: every prompt is marked split '{test_split}'; leave some for training")
    return prompts


def plain_format(messages: list[dict], answer: str | None = None) -> str:
    """For tokenizers without a chat template: 'Role: content' lines, then 'Assistant:'."""
    text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"
    return text if answer is None else text + " " + answer


def render(tokenizer, messages: list[dict]) -> str:
    """The prompt as this model expects it: its own chat template, ready for the assistant's turn."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return plain_format(messages)


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the rendered prompt (the template carries its own special tokens)."""
    return list(tokenizer(render(tokenizer, messages), add_special_tokens=False)["input_ids"])


def model_limit(model) -> int | None:
    limit = getattr(model.config, "max_position_embeddings", None)
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def check_lengths(prompts: list[Prompt], tokenizer, limit: int, who: str) -> tuple[list[Prompt], list[dict]]:
    """(prompts that fit, a report of those that do not); raises if none fit."""
    kept, too_long = [], []
    for p in prompts:
        n = len(prompt_ids(tokenizer, p.messages))
        (kept if n <= limit else too_long).append(
            p if n <= limit else {"id": p.id, "line": p.line, "tokens": n, "model": who}
        )
    if not kept:
        raise UserError(
            f"every prompt is longer than {limit} tokens for the {who} (after its chat template); "
            "raise prompts.max_prompt_tokens or shorten the prompts"
        )
    return kept, too_long
