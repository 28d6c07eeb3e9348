"""Speed, memory and cost, measured the same way for teacher and student on the same thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np


@contextmanager
def threads(n: int):
    """Both torch and the BLAS under numpy use n threads, so the comparison is fair."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(n)
    with threadpool_limits(limits=n):
        yield
    if torch and before:
        torch.set_num_threads(before)


def _timed_calls(predict: Callable, batches: list[list[str]]) -> list[float]:
    times = []
    for batch in batches:
        start = time.perf_counter()
        predict(batch)
        times.append(time.perf_counter() - start)
    return times


def measure_speed(
    predict: Callable[[Sequence[str]], object], texts: Sequence[str], *, n_threads: int = 2, batch_1_calls: int = 64
) -> dict:
    """Texts/s and latency p50/p95 at batch 1 and batch 64. One warm-up call first (lazy loading, caches)."""
    texts = list(texts)
    with threads(n_threads):
        predict(texts[:2])
        out = {"threads": n_threads}
        for size, batches in (
            (1, [[t] for t in texts[:batch_1_calls]]),
            (64, [texts[i : i + 64] for i in range(0, len(texts), 64) if len(texts[i : i + 64]) == 64] or [texts[:64]]),
        ):
            times = np.array(_timed_calls(predict, batches))
            n_texts = sum(len(b) for b in batches)
            out[f"batch_{size}"] = {
                "texts_per_s": round(n_texts / times.sum(), 2),
                "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 3),
                "p95_ms": round(float(np.percentile(times, 95)) * 1e3, 3),
                "calls": len(batches),
            }
    return out


def cost_per_million(texts_per_s: float, price_per_hour: float) -> float:
    return round(price_per_hour / (3600 * texts_per_s) * 1e6, 4) if texts_per_s > 0 else float("inf")


def peak_memory_mb(
    kind: str, payload: dict, texts: Sequence[str], n_threads: int = 2, timeout: int = 600
) -> float | None:
    """Peak RSS of a fresh process that loads the model and predicts a batch: what a server would need."""
    job = json.dumps({"kind": kind, "payload": payload, "texts": list(texts)[:64], "threads": n_threads})
    env = dict(os.environ, OMP_NUM_THREADS=str(n_threads))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "understudy.evaluate.memory"],
            input=job,
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
