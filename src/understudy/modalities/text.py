"""Text: one string per input (classification). Keyed by its UTF-8 bytes, batched by length, perturbed for robustness.

The perturbations robustness uses live here; each is seeded, so the teacher and the student see exactly
the same messy texts and a rerun gives the same figures:

  typos           per letter, at ``typo_rate``: a neighbouring key on a QWERTY keyboard, a dropped
                  letter or a doubled letter
  upper, lower    the whole text in capitals / in lower case
  no_punctuation  every punctuation character removed
  truncated       only the first half of the words kept
  noise           a random word, an emoji and a URL inserted at random places
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import UserError
from ..store import input_hash
from . import by_size

__all__ = ["TextModality", "PERTURBATIONS", "perturb", "shorten"]


def _keyboard_neighbours(rows=("qwertyuiop", "asdfghjkl", "zxcvbnm")) -> dict[str, str]:
    """Each letter's neighbours on a QWERTY keyboard: left, right, and the nearest keys above and below."""
    out = {}
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            near = [row[j] for j in (c - 1, c + 1) if 0 <= j < len(row)]
            for other in (r - 1, r + 1):
                if 0 <= other < len(rows):
                    near += [rows[other][j] for j in (c - 1, c, c + 1) if 0 <= j < len(rows[other])]
            out[ch] = "".join(near)
    return out


_NEIGHBOURS = _keyboard_neighbours()
_NOISE_WORDS = ["lol", "tbh", "anyway", "ok", "hmm", "btw", "so", "like", "actually", "whatever", "um", "yeah"]
_EMOJI = ["😀", "😂", "👍", "🔥", "🙏", "😡", "❤️", "🤔", "🎉", "😅"]
_URLS = ["https://example.com/p/123", "http://bit.ly/3xYz", "www.example.org/review?id=42", "https://t.co/a1b2c3"]

PERTURBATIONS = {
    "typos": "keyboard typos: neighbouring key, dropped or doubled letter",
    "upper": "whole text in capitals",
    "lower": "whole text in lower case",
    "no_punctuation": "punctuation removed",
    "truncated": "first half of the words only",
    "noise": "a random word, an emoji and a URL inserted",
}


def _typos(text: str, rng: np.random.Generator, rate: float) -> str:
    out = []
    for ch in text:
        low = ch.lower()
        if low in _NEIGHBOURS and rng.random() < rate:
            op = rng.integers(3)
            if op == 0:  # a neighbouring key, in the same case
                key = _NEIGHBOURS[low][rng.integers(len(_NEIGHBOURS[low]))]
                out.append(key.upper() if ch.isupper() else key)
            elif op == 1:  # dropped
                continue
            else:  # doubled
                out.append(ch + ch)
        else:
            out.append(ch)
    return "".join(out)


def _noise(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    for extra in (
        _NOISE_WORDS[rng.integers(len(_NOISE_WORDS))],
        _EMOJI[rng.integers(len(_EMOJI))],
        _URLS[rng.integers(len(_URLS))],
    ):
        words.insert(int(rng.integers(len(words) + 1)), extra)
    return " ".join(words)


def perturb(text: str, kind: str, rng: np.random.Generator, typo_rate: float = 0.05) -> str:
    """One perturbed version of ``text``; the original when the result would be empty."""
    if kind == "typos":
        out = _typos(text, rng, typo_rate)
    elif kind == "upper":
        out = text.upper()
    elif kind == "lower":
        out = text.lower()
    elif kind == "no_punctuation":
        out = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    elif kind == "truncated":
        words = text.split()
        out = " ".join(words[: max(1, (len(words) + 1) // 2)])
    elif kind == "noise":
        out = _noise(text, rng)
    else:
        raise UserError(f"unknown perturbation '{kind}': choose from {', '.join(PERTURBATIONS)}")
    return out if out.strip() else text


def _perturb_as(kind: str, typo_rate: float, text: str, rng: np.random.Generator) -> str:
    return perturb(text, kind, rng, typo_rate)


def text_perturbations(typo_rate: float = 0.05) -> dict[str, Callable[[str, np.random.Generator], str]]:
    """{name: fn(text, rng) -> text} for every kind in :data:`PERTURBATIONS`."""
    return {kind: functools.partial(_perturb_as, kind, typo_rate) for kind in PERTURBATIONS}


def shorten(text: str, width: int = 80) -> str:
    """One line of plain text: whitespace collapsed, cut to ``width`` characters with '...' when longer."""
    flat = " ".join(str(text).split())
    if not flat:
        return "(empty)"
    return flat if len(flat) <= width else flat[: max(1, width - 3)].rstrip() + "..."


class TextModality:
    """Inputs are strings. The store key is `input_hash(text)` (sha256 over its UTF-8 bytes), as before."""

    name = "text"
    plural = "texts"  # what error messages call a batch of these inputs

    def __init__(self, typo_rate: float = 0.05):
        self.typo_rate = typo_rate

    def key(self, item: str) -> str:
        return input_hash(item)

    def batches(self, items: Sequence[str], batch_size: int) -> Iterator[list[int]]:
        """Indices sorted by length (shortest first, ties in the order given), in chunks of `batch_size`."""
        return by_size([len(t) for t in items], batch_size)

    def perturbations(self) -> dict[str, Callable[[Any, np.random.Generator], Any]]:
        return text_perturbations(self.typo_rate)

    def describe(self, item: str) -> str:
        return shorten(item)

    def read(self, spec, path: str, *, role: str, known_labels: list[str] | None = None, require_labels: bool = False):
        """The data file checked and cleaned, as `data.readers.load_texts` gives it (a TextSet); its errors unchanged."""
        from ..data.readers import load_texts  # pandas: only when a file is read

        return load_texts(spec, path, role=role, known_labels=known_labels, require_labels=require_labels)
