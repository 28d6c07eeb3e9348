"""The static student's token ids, faster than its tokenizer: words split in Python, each word's ids remembered.

A static student is a lookup and a mean, so its tokenizer is most of its time (benchmarks/tokenizer_wall.py). For
the tokenizers model2vec makes from BERT-style encoders (BertNormalizer lowercasing, BertPreTokenizer, WordPiece),
WordPiece works on one word at a time, so a word's ids never depend on the words around it. For an ASCII text that
normalisation and split are a few string operations: drop control characters, lower-case, cut into runs of
letters and digits and single punctuation marks (every printable ASCII symbol is punctuation to BERT). Each word's
ids come from the tokenizer itself the first time it is seen and from a dict after that.

Anything else goes to the tokenizer as before: a text with a character outside ASCII, a text holding an added
token's text ("[UNK]", "<pad>"), and every tokenizer of another shape. tests/students/test_static_tokens.py checks
the ids against the tokenizer's own on the demo's reviews and on awkward texts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import chain

MAX_WORDS = 200_000  # words remembered; past it the memory starts again (a server's vocabulary drifts slowly)
_WORDS = re.compile(r"[a-z0-9]+|[^a-z0-9 \t\n\r]")
# BERT's clean_text: control characters go (NUL, the replacement character, Cc and Cf), \t \n \r stay whitespace
_CONTROLS = {c: None for c in [*range(0, 9), 11, 12, *range(14, 32), 127]}


def fast_tokens(tokenizer) -> WordCache | None:
    """A WordCache for a tokenizer of the shape it covers, else None (the student then calls the tokenizer)."""
    try:
        spec = json.loads(tokenizer.to_str())
    except (AttributeError, ValueError):
        return None
    norm, pre, model = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}, spec.get("model") or {}
    bert_normalizer = (
        norm.get("type") == "BertNormalizer"
        and norm.get("lowercase") is True
        and norm.get("clean_text") is True
        and norm.get("strip_accents") in (None, True)
    )
    if not (bert_normalizer and pre.get("type") == "BertPreTokenizer" and model.get("type") == "WordPiece"):
        return None
    if spec.get("post_processor") is not None or (spec.get("truncation") or {}).get("stride", 0):
        return None
    limit = (spec.get("truncation") or {}).get("max_length")
    added = [t["content"] for t in spec.get("added_tokens") or []]
    return WordCache(tokenizer, added, limit)


class WordCache:
    """ids(texts) -> one list of token ids per text, as tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    gives them (truncated at the tokenizer's own max_length)."""

    def __init__(self, tokenizer, added: list[str], limit: int | None):
        self.tokenizer, self.limit = tokenizer, limit
        self.words: dict[str, list[int]] = {}
        # an added token is matched in the raw text before anything else: such a text goes to the tokenizer
        self.added = re.compile("|".join(re.escape(a) for a in added), re.IGNORECASE) if added else None

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        out: list[list[int] | None] = []
        split: list[list[str]] = []
        slow: list[int] = []
        for i, text in enumerate(texts):
            if not text.isascii() or (self.added is not None and self.added.search(text)):
                slow.append(i)
                out.append(None)
                split.append([])
                continue
            split.append(_WORDS.findall(text.translate(_CONTROLS).lower()))
            out.append([])
        words = self.words  # this call's own reference: a server's other threads may start a new memory meanwhile
        new = {w for ws in split for w in ws if w not in words}
        if new:
            if len(words) + len(new) > MAX_WORDS:
                words = self.words = {}
                new = {w for ws in split for w in ws}
            listed = sorted(new)
            for w, e in zip(listed, self.tokenizer.encode_batch_fast(listed, add_special_tokens=False)):
                words[w] = e.ids
        for i, ws in enumerate(split):
            if out[i] is not None:
                ids = list(chain.from_iterable(map(words.__getitem__, ws)))
                out[i] = ids[: self.limit] if self.limit is not None and len(ids) > self.limit else ids
        if slow:
            for i, e in zip(slow, self.tokenizer.encode_batch_fast([texts[i] for i in slow], add_special_tokens=False)):
                out[i] = e.ids
        return out  # type: ignore[return-value]
