"""Chat: language-model prompts, each a list of {"role", "content"} messages ending with the user's.

The store key is a hash over the chat's canonical JSON (keys sorted, UTF-8, not ASCII-escaped): exactly the key
`lm.teacher.chat_key` has always written, so existing stores keep working. Robustness perturbs the last user
message with the text perturbations and leaves the rest of the chat as it is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..store import input_key
from . import by_size
from .text import shorten, text_perturbations

__all__ = ["ChatModality", "canonical_json", "messages_of", "last_user"]


def messages_of(item: Any) -> list[dict]:
    """The messages of a chat: the item itself (a list of {"role", "content"}) or a `Prompt`'s `.messages`."""
    msgs = getattr(item, "messages", item)
    if not isinstance(msgs, list) or not all(isinstance(m, dict) and "role" in m and "content" in m for m in msgs):
        raise TypeError(f'a chat is a list of {{"role", "content"}} messages; got {type(item).__name__} {item!r:.80}')
    return msgs


def canonical_json(item: Any) -> str:
    """The chat as the store keys it. The separators are json's defaults (', ', ': '): changing them would
    change every key, and existing stores would be asked again."""
    return json.dumps(messages_of(item), sort_keys=True, ensure_ascii=False)


def last_user(item: Any) -> str:
    """The content of the last user message ('' when there is none)."""
    return next((m["content"] for m in reversed(messages_of(item)) if m["role"] == "user"), "")


def _on_last_user(fn: Callable[[str, np.random.Generator], str], item: Any, rng: np.random.Generator) -> Any:
    msgs = [dict(m) for m in messages_of(item)]
    for m in reversed(msgs):
        if m["role"] == "user":
            m["content"] = fn(m["content"], rng)
            break
    return dataclasses.replace(item, messages=msgs) if dataclasses.is_dataclass(item) else msgs


class ChatModality:
    """Inputs are chats (lists of messages, or `Prompt`s); the key is sha256 over `canonical_json` in UTF-8."""

    name = "chat"
    plural = "prompts"  # what error messages call a batch of these inputs

    def __init__(self, typo_rate: float = 0.05):
        self.typo_rate = typo_rate

    def key(self, item: Any) -> str:
        return input_key(canonical_json(item).encode("utf-8"))

    def batches(self, items: Sequence[Any], batch_size: int) -> Iterator[list[int]]:
        """Indices sorted by the chat's JSON length (as `lm.teacher.teach` sorts them), in chunks of `batch_size`."""
        return by_size([len(json.dumps(messages_of(c))) for c in items], batch_size)

    def perturbations(self) -> dict[str, Callable[[Any, np.random.Generator], Any]]:
        """The text perturbations, applied to the last user message; a new chat each time, the input untouched."""
        return {name: _bind(fn) for name, fn in text_perturbations(self.typo_rate).items()}

    def describe(self, item: Any) -> str:
        return shorten(last_user(item))

    def read(self, path: str, **options):
        """The prompts of a JSONL file, as `lm.prompts.load_prompts` gives them (a list of Prompt); its errors unchanged.
        `options` are load_prompts' own: system, test_split, test_fraction, limit, seed."""
        from ..lm.prompts import load_prompts

        return load_prompts(path, **options)


def _bind(fn: Callable[[str, np.random.Generator], str]) -> Callable[[Any, np.random.Generator], Any]:
    def perturbed(item: Any, rng: np.random.Generator) -> Any:
        return _on_last_user(fn, item, rng)

    return perturbed
