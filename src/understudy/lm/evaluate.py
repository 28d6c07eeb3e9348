"""Teacher and student side by side on held-out prompts: agreement, perplexity, length, speed, memory, size, judge.

Speed is measured one answer at a time, on the same threads for both models, with a fixed answer length
(min_new_tokens = max_new_tokens), so tokens/s and time to first token compare like with like.
`python -m understudy.lm.evaluate memory FOLDER THREADS` is run in a fresh process to measure peak memory.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from .prompts import prompt_ids, render

JUDGE_TEMPLATE = (
    "A customer wrote:\n{question}\n\nReply A:\n{a}\n\nReply B:\n{b}\n\n"
    "Which reply answers the customer better? Answer with one letter, A or B."
)


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> dict:
    """ROUGE-L F1 of each prediction against its reference (rouge_score, with stemming)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references)]
    return {"mean": round(float(np.mean(scores)), 4) if scores else None, "per_prompt": [round(s, 4) for s in scores]}


def embedding_similarity(
    predictions: Sequence[str], references: Sequence[str], encoder: str = "builtin:all-MiniLM-L6-v2"
) -> dict:
    """Mean cosine similarity of sentence embeddings (a local encoder), so a paraphrase still counts as agreement."""
    try:
        from sentence_transformers import SentenceTransformer

        from ..data.builtin import builtin_model
        from ..students.transformer import hf_quiet

        with hf_quiet():
            model = SentenceTransformer(str(builtin_model(encoder)), device="cpu", local_files_only=True)
    except Exception as exc:  # the encoder is optional: say why the figure is missing
        return {"mean": None, "encoder": encoder, "error": f"{type(exc).__name__}: {exc}"}
    a = model.encode(list(predictions), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    b = model.encode(list(references), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    sims = (a * b).sum(1)
    return {"mean": round(float(sims.mean()), 4), "encoder": encoder, "per_prompt": [round(float(s), 4) for s in sims]}


@torch.inference_mode()
def perplexity(
    model, tokenizer, chats: Sequence[list[dict]], answers: Sequence[str], *, batch_size: int = 8
) -> float | None:
    """exp(mean negative log-likelihood) of the answers' tokens (plus EOS), each after its prompt: how likely the
    model finds the teacher's answers."""
    total, count = 0.0, 0
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    rows = [
        (prompt_ids(tokenizer, c), list(tokenizer(a, add_special_tokens=False)["input_ids"]) + eos)
        for c, a in zip(chats, answers)
    ]
    pad = tokenizer.pad_token_id or 0
    for i in range(0, len(rows), batch_size):
        batch = rows[i : i + batch_size]
        width = max(len(h) + len(b) for h, b in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
        for r, (h, b) in enumerate(batch):
            ids[r, : len(h) + len(b)] = torch.tensor(h + b)
            mask[r, : len(h) + len(b)] = 1
            labels[r, len(h) : len(h) + len(b)] = torch.tensor(b)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum"
        )
        total, count = total + float(nll), count + int((labels[:, 1:] != -100).sum())
    return round(math.exp(total / count), 3) if count else None


def answer_length(answers: Sequence[str], tokenizer=None) -> dict:
    words = [len(a.split()) for a in answers]
    out = {
        "mean_words": round(float(np.mean(words)), 1) if words else None,
        "empty_answers": sum(1 for a in answers if not a.strip()),
    }
    if tokenizer is not None:
        out["mean_tokens"] = round(
            float(np.mean([len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers])), 1
        )
    return out


class _Clock:
    """A generate() streamer that notes when each token arrives (the first put() is the prompt)."""

    def __init__(self):
        self.times: list[float] = []

    def put(self, value):
        self.times.append(time.perf_counter())

    def end(self):
        pass


@torch.inference_mode()
def measure_generation(model, tokenizer, chats: Sequence[list[dict]], *, n_tokens: int = 32, threads: int = 2) -> dict:
    """Tokens/s while decoding and time to first token, one answer at a time, on `threads` threads."""
    from ..evaluate.speed import threads as limit_threads

    ttft, rates = [], []
    with limit_threads(threads):
        for k, chat in enumerate([chats[0]] + list(chats)):  # the first call warms up
            enc = tokenizer(render(tokenizer, chat), add_special_tokens=False, return_tensors="pt")
            clock, start = _Clock(), time.perf_counter()
            model.generate(
                **enc,
                max_new_tokens=n_tokens,
                min_new_tokens=n_tokens,
                do_sample=False,
                streamer=clock,
                pad_token_id=tokenizer.pad_token_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
            end = time.perf_counter()
            if k == 0:
                continue
            stamps = clock.times[1:]  # the first put() is the prompt itself
            ttft.append(stamps[0] - start)
            rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan"))
            del end
    return {
        "threads": threads,
        "answers_timed": len(rates),
        "tokens_per_answer": n_tokens,
        "tokens_per_s": round(float(np.mean(rates)), 2),
        "time_to_first_token_ms": round(float(np.mean(ttft)) * 1e3, 1),
    }


def peak_memory_mb(folder: str, threads: int = 2, timeout: int = 900) -> float | None:
    """Peak memory of a fresh process that loads the model and writes a short answer: what a server would need."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "understudy.lm.evaluate", "memory", str(folder), str(threads)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"]


@torch.inference_mode()
def judge(
    model, tokenizer, chats: Sequence[list[dict]], teacher_answers: Sequence[str], student_answers: Sequence[str]
) -> dict:
    """The teacher compares its own answer with the student's, in both orders (to cancel its bias for a position),
    by the probability it gives to 'A' and to 'B'. Win: the student's is preferred both times; loss: the teacher's
    is; tie: the orders disagree."""
    a_id = tokenizer("A", add_special_tokens=False)["input_ids"]
    b_id = tokenizer("B", add_special_tokens=False)["input_ids"]
    if len(a_id) != 1 or len(b_id) != 1:
        return {"win": None, "tie": None, "loss": None, "note": "the teacher's tokenizer has no single-token A and B"}
    counts = {"win": 0, "tie": 0, "loss": 0}

    def prefers_first(question, first, second) -> bool:
        msgs = [{"role": "user", "content": JUDGE_TEMPLATE.format(question=question, a=first, b=second)}]
        enc = tokenizer(render(tokenizer, msgs), add_special_tokens=False, return_tensors="pt")
        logits = model(**enc).logits[0, -1]
        return bool(logits[a_id[0]] > logits[b_id[0]])

    for chat, t, s in zip(chats, teacher_answers, student_answers):
        question = next((m["content"] for m in reversed(chat) if m["role"] == "user"), "")
        student_first = prefers_first(question, s, t)
        student_second = not prefers_first(question, t, s)
        counts[
            "win" if student_first and student_second else "loss" if not (student_first or student_second) else "tie"
        ] += 1
    n = sum(counts.values())
    return {**counts, "judged": n, "win_or_tie_share": round((counts["win"] + counts["tie"]) / n, 4) if n else None}


def main(argv: list[str]) -> None:
    if argv[:1] != ["memory"]:
        raise SystemExit("usage: python -m understudy.lm.evaluate memory FOLDER THREADS")
    from ..evaluate.memory import peak_kb
    from .models import load_causal_lm

    torch.set_num_threads(int(argv[2]))
    model, tokenizer = load_causal_lm(argv[1])
    enc = tokenizer(
        render(tokenizer, [{"role": "user", "content": "Where is my order?"}]),
        add_special_tokens=False,
        return_tensors="pt",
    )
    with torch.inference_mode():
        model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    print(json.dumps({"peak_mb": round(peak_kb() / 1024, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
