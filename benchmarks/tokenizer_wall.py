"""The tokenizer wall: the static student's throughput against its own tokenizer's, in one process.

    python benchmarks/tokenizer_wall.py [--student runs/demo/student] [--rounds 7]

A static student is a lookup and a mean, so its tokenizer sets its pace; the target is a ratio: predict_proba at
>= 0.8 of the tokenizer-only throughput (the same tokenizers.Tokenizer, the same call and truncation, the same
threads). The student reads ASCII text through its word cache (students/static_tokens.py: each word's ids from the
tokenizer once, from a dict after), so it can pass the tokenizer it stands in front of.
Both run interleaved, round after round, on the demo's 1,000 evaluation reviews; the medians are printed.
benchmarks/reviews.py prints the same table for the student it trains.
"""

from __future__ import annotations

import argparse
import statistics
import time

TARGET = 0.8


def rate(fn, batches: list[list[str]]) -> float:
    """Texts per second over all batches, one call per batch."""
    start = time.perf_counter()
    for batch in batches:
        fn(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def measure(student, texts: list[str], n_threads: int, rounds: int = 7, batch_1_texts: int = 300) -> dict:
    """{batch size: (tokenizer texts/s, student texts/s)}, medians of interleaved rounds."""
    from understudy.evaluate.speed import threads

    tokenizer = student.tokenizer

    def tokenize(batch):  # exactly the tokenizer call the student makes, nothing after it
        return tokenizer.encode_batch_fast(batch, add_special_tokens=False)

    runs = {
        64: [texts[i : i + 64] for i in range(0, len(texts) - 63, 64)],
        1: [[t] for t in texts[:batch_1_texts]],
    }
    rates = {(who, size): [] for who in ("tokenizer", "student") for size in runs}
    with threads(n_threads):
        tokenize(texts[:64])  # warm-up: lazy allocations, thread pools
        student.predict_proba(texts[:64])
        for _ in range(rounds):
            for size, batches in runs.items():
                rates["tokenizer", size].append(rate(tokenize, batches))
                rates["student", size].append(rate(student.predict_proba, batches))
    return {
        size: (statistics.median(rates["tokenizer", size]), statistics.median(rates["student", size])) for size in runs
    }


def report(figures: dict) -> bool:
    """Print the table; True when every batch size meets the target."""
    print(f"{'batch':>5}  {'tokenizer texts/s':>18}  {'student texts/s':>16}  {'ratio':>6}  target >= {TARGET}")
    met = True
    for size, (tok, stu) in figures.items():
        ok = stu / tok >= TARGET
        met &= ok
        print(f"{size:>5}  {tok:>18,.0f}  {stu:>16,.0f}  {stu / tok:>6.2f}  {'met' if ok else 'NOT met'}")
    print("tokenizer wall: target met" if met else "tokenizer wall: target NOT met")
    return met


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--student", default="runs/demo/student")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from understudy.data.demo import RECIPE
    from understudy.data.readers import load_texts
    from understudy.recipe import load_recipe
    from understudy.students import load_student

    recipe = load_recipe(RECIPE)
    texts = load_texts(recipe.data.evaluation, recipe.data.evaluation.path, role="evaluation").texts
    n_threads = recipe.evaluation.threads
    figures = measure(load_student(args.student), texts, n_threads, args.rounds)
    print(f"{len(texts)} evaluation reviews, {args.rounds} interleaved rounds, {n_threads} threads, {args.student}")
    report(figures)


if __name__ == "__main__":
    main()
