"""Distilling the static student (static_vocab): model2vec's vectors, without the tokenizer's fixed padding.

The tiny encoder below saves a tokenizer that pads every encoding to 32 tokens, as sentence-transformers folders
do (all-mpnet-base-v2: 128), and knows the added words only as several subwords each."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from understudy.progress import Progress
from understudy.recipe import StudentSpec
from understudy.students.static import StaticStudent
from understudy.students.static_vocab import distil_embeddings, embed_sequences, load_encoder

PIECES = ["the", "good", "tea", "was", "kom", "##bu", "##cha", "mat", "##ch", "##a", "cr", "##un", "##chy", "so"]
PIECES += ["##gg", "##y"]
ADDED = ["kombucha", "matcha", "crunchy", "soggy"]  # not whole tokens: two or three subwords each
FIXED_PAD = 32


def build_padded_encoder(folder: Path) -> Path:
    """A 2-layer, 16-wide BertModel whose saved tokenizer pads to FIXED_PAD tokens."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + PIECES)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tok.enable_padding(length=FIXED_PAD, pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(max_length=FIXED_PAD)
    fast = BertTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    fast.save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return build_padded_encoder(tmp_path_factory.mktemp("models") / "padded-bert")


def test_model2vec_pads_added_words_and_ours_does_not(encoder):
    from model2vec.tokenizer import turn_tokens_into_ids
    from skeletoken import TokenizerModel
    from transformers import AutoTokenizer

    def word_ids(tokenizer):
        model = TokenizerModel.from_transformers_tokenizer(tokenizer).prune_added_tokens()
        return turn_tokens_into_ids(["kombucha", "tea"], model)

    padded = word_ids(AutoTokenizer.from_pretrained(str(encoder), use_fast=True))
    ours = word_ids(load_encoder(encoder)[1])
    assert [len(ids) for ids in padded] == [FIXED_PAD, 3]  # model2vec 0.10: the word padded to the fixed length
    assert [len(ids) for ids in ours] == [5, 3]  # [CLS] kom ##bu ##cha [SEP]; [CLS] tea [SEP]
    assert padded[0][:5] == ours[0]


@pytest.mark.parametrize("pca_dims", [None, 8])
def test_vectors_match_model2vec_own_distillation(encoder, pca_dims):
    from model2vec.distill import distill_from_model

    model, tokenizer = load_encoder(encoder)
    theirs = distill_from_model(model, tokenizer, vocabulary=ADDED, pca_dims=pca_dims, device="cpu")
    student_tokenizer, ours = distil_embeddings(model, tokenizer, ADDED, pca_dims)
    assert student_tokenizer.get_vocab() == theirs.tokenizer.get_vocab()
    assert all(w in student_tokenizer.get_vocab() for w in ADDED)
    assert ours.shape == np.asarray(theirs.embedding).shape
    difference = np.abs(ours.astype(np.float32) - np.asarray(theirs.embedding, dtype=np.float32)).max()
    assert difference < 1e-3, difference  # both float16; batches padded alike


def test_embed_sequences_is_model2vec_mean_pooling(encoder):
    from model2vec.distill.inference import create_embeddings

    model, _ = load_encoder(encoder)
    ids = [[2, 7, 3], [2, 9, 10, 11, 3], [2, 3], [2, 12, 13, 14, 3, 6]]
    theirs = create_embeddings(model, ids, device="cpu", pad_token_id=0)
    np.testing.assert_allclose(embed_sequences(model, ids, pad_id=0), theirs, atol=1e-5)


def test_distil_reports_batches_to_a_log_and_caches(encoder, tmp_path, monkeypatch):
    from understudy.students import static_vocab

    monkeypatch.setattr(static_vocab, "BATCH_SIZE", 8)  # several batches from the tiny vocabulary
    out = io.StringIO()
    log = Progress(Console(file=out, force_terminal=False, width=200))
    texts = ["the kombucha was good", "kombucha tea", "matcha was good", "the matcha", "soggy tea soggy"]
    spec = StudentSpec(pca_dims=None, vocabulary_size=10)
    student = StaticStudent.distil(encoder, texts, ["great", "other"], spec, log, cache=tmp_path)
    assert {"kombucha", "matcha", "soggy"} <= set(student.tokenizer.get_vocab())
    assert student.embeddings.shape[0] == student.tokenizer.get_vocab_size()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("distilling static embeddings:")]
    total = student.embeddings.shape[0]
    assert lines[0].startswith(f"distilling static embeddings: 0 / {total} tokens (0%)")
    assert re.search(rf": {total} / {total} tokens \(100%\), [\d.,]+/s, done in \d+ s$", lines[-1])
    again = StaticStudent.distil(encoder, texts, ["great", "other"], spec, log, cache=tmp_path)
    assert "reusing distilled static embeddings" in out.getvalue()
    np.testing.assert_array_equal(again.embeddings, student.embeddings)
