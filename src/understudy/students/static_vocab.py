"""Static embeddings from an encoder, computed as model2vec 0.10's `distill` computes them, with two changes.

1. Words are encoded without the tokenizer's own padding. Sentence-transformers folders often save a tokenizer
   that pads every encoding to a fixed length (all-mpnet-base-v2: 128). model2vec 0.10 turns each added word into
   ids with that tokenizer, so a 4-subword word became a 128-token sequence whose pads it attends to and averages
   in: 15x slower per word (benchmarks/static_distill.py) and a word vector mostly made of pad outputs.
   Upstream fixed it after 0.10 (MinishLab/model2vec#376, "disable padding during distill and inference").
2. Each batch reports through understudy's Progress (model2vec only drives a tqdm bar).

Everything else (vocabulary cleaning, the tokenizer built for the new words, mean pooling, SIF weights, PCA,
float16) is model2vec's own code, so the vectors match its `distill_from_model` given an unpadded tokenizer.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..progress import QUIET, Progress

BATCH_SIZE = 256  # sequences per forward pass, as model2vec
SIF_COEFFICIENT = 1e-4  # model2vec's defaults, kept so the vectors match what it would give
TOKEN_REMOVE_PATTERN = r"\[unused\d+\]"


def load_encoder(folder: str | Path):
    """The encoder and its fast tokenizer, the tokenizer's fixed padding turned off (see the module's note)."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    tokenizer.backend_tokenizer.no_padding()
    return model, tokenizer


def distil_embeddings(
    model, tokenizer, vocabulary: Sequence[str] | None, pca_dims, progress: Progress = QUIET
) -> tuple[object, np.ndarray]:
    """(the student's tokenizers.Tokenizer, one float16 row per token), as model2vec's `distill_from_model`."""
    from model2vec.distill.inference import apply_pca, compute_weights
    from model2vec.quantization import DType, quantize_embeddings
    from model2vec.tokenizer import clean_and_create_vocabulary, turn_tokens_into_ids
    from skeletoken import TokenizerModel
    from skeletoken.external.transformers import reshape_embeddings

    original = TokenizerModel.from_transformers_tokenizer(tokenizer).prune_added_tokens()
    new = original.deep_copy()
    if new.adds_prefix_space is not None:
        new.adds_prefix_space = True
    new = clean_and_create_vocabulary(new, list(vocabulary or []), token_remove_regex=re.compile(TOKEN_REMOVE_PATTERN))
    token_ids = turn_tokens_into_ids(new.sorted_vocabulary, original)
    model = reshape_embeddings(model, original)
    embeddings = embed_sequences(model, token_ids, original.pad_token_id or 0, progress)
    weights = compute_weights(len(embeddings), sif_coefficient=SIF_COEFFICIENT)
    embeddings = apply_pca(embeddings, pca_dims) * weights[:, None]
    return new.to_tokenizer(), quantize_embeddings(embeddings, DType.Float16)


def embed_sequences(model, token_ids: list[list[int]], pad_id: int, progress: Progress = QUIET) -> np.ndarray:
    """The mean of the encoder's outputs over each sequence's own tokens (model2vec's mean pooling).

    Shortest first, so a batch pads only to lengths close to its own; one progress step per batch."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    model = model.to("cpu").eval()
    with_types = "token_type_ids" in inspect.getfullargspec(model.forward).args
    order = np.argsort([len(ids) for ids in token_ids], kind="stable")
    out = np.zeros((len(token_ids), model.config.hidden_size), dtype=np.float32)
    with progress.task("distilling static embeddings", len(token_ids), unit="tokens") as advance:
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            seqs = [torch.tensor(token_ids[i], dtype=torch.long) for i in rows]
            ids = pad_sequence(seqs, batch_first=True, padding_value=pad_id)
            lengths = torch.tensor([len(s) for s in seqs])
            mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
            inputs = {"input_ids": ids, "attention_mask": mask}
            if with_types:
                inputs["token_type_ids"] = torch.zeros_like(ids)
            with torch.inference_mode():
                hidden = model(**inputs).last_hidden_state.float()
                weights = mask.float() / mask.sum(1, keepdim=True).clamp_min(1.0)
                out[rows] = torch.bmm(weights[:, None, :], hidden).squeeze(1).numpy()
            advance(len(rows))
    return np.nan_to_num(out)
