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


def _timed_calls(predict: Callable, batches: list[list[str]], keep: list | None = None) -> list[float]:
    times = []
    for batch in batches:
        start = time.perf_counter()
        found = predict(batch)
        times.append(time.perf_counter() - start)
        if keep is not None:
            keep.append(found)
    return times


def measure_speed(
    predict: Callable[[Sequence[str]], object],
    texts: Sequence[str],
    *,
    n_threads: int = 2,
    batch_1_calls: int = 64,
    keep: list | None = None,
) -> dict:
    """Texts/s and latency p50/p95 at batch 1 and batch 64. One warm-up call first (lazy loading, caches).

    `keep`: a list that gets the outputs of the batch-64 calls, in order (parity between runtimes, for free)."""
    texts = list(texts)
    with threads(n_threads):
        predict(texts[:2])
        out = {"threads": n_threads}
        for size, batches in (
            (1, [[t] for t in texts[:batch_1_calls]]),
            (64, [texts[i : i + 64] for i in range(0, len(texts), 64) if len(texts[i : i + 64]) == 64] or [texts[:64]]),
        ):
            times = np.array(_timed_calls(predict, batches, keep if size == 64 else None))
            n_texts = sum(len(b) for b in batches)
            out[f"batch_{size}"] = {
                "texts_per_s": round(n_texts / times.sum(), 2),
                "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 3),
                "p95_ms": round(float(np.percentile(times, 95)) * 1e3, 3),
                "calls": len(batches),
            }
    return out


def measure_teacher_speed(
    teacher, texts: Sequence[str], *, n_threads: int = 2, batch_1_calls: int = 32, progress=None
) -> dict:
    """The teacher at its best: timed in PyTorch float32 and, for a sentence-encoder teacher, in PyTorch bfloat16
    and ONNX Runtime (float32 and int8), on the same texts and threads. A form counts where it is the same teacher:
    ONNX float32 within MAX_DIFF of PyTorch with every label the same; bfloat16 every embedding within MIN_COSINE
    and, like int8 against ONNX float32, >= 0.99 of the labels the same. The speed figures at the top (batch_1,
    batch_64) are the fastest counted runtime's, so the speed-up is against it; `by_runtime` has each one's, and
    `parity` what each form gave against PyTorch float32 on the batch-64 texts."""
    from ..report.schema import TeacherRuntimes
    from ..teachers.onnx_encoder import LOW_PRECISION_MIN_AGREEMENT, close_enough, compare, head_of, qualifies, runtimes

    forms, why = runtimes(teacher, n_threads, progress)
    outputs, by_runtime = {}, {}
    for name, predict in forms.items():
        outputs[name] = []
        by_runtime[name] = measure_speed(
            predict, texts, n_threads=n_threads, batch_1_calls=batch_1_calls, keep=outputs[name]
        )
    emb = {k: np.concatenate([o["embedding"] for o in v]) for k, v in outputs.items() if v and "embedding" in v[0]}
    head, parity = head_of(teacher), {}
    for name in ("torch_bf16", "onnx", "onnx_int8"):
        if name in forms:
            parity[name] = compare(emb["torch"], emb[name], head)
    if "onnx" in forms:
        if head is not None:
            parity["onnx_int8"]["agreement_with_fp32"] = compare(emb["onnx"], emb["onnx_int8"], head)["agreement"]
        parity["onnx_int8"]["min_agreement"] = LOW_PRECISION_MIN_AGREEMENT
    usable = ["torch"]
    if "torch_bf16" in forms and close_enough(parity["torch_bf16"]):
        usable.append("torch_bf16")
    if "onnx" in forms and qualifies(parity["onnx"]):
        usable.append("onnx")
        agree = parity["onnx_int8"].get("agreement_with_fp32")
        if agree is not None and agree >= LOW_PRECISION_MIN_AGREEMENT:
            usable.append("onnx_int8")
    for name in parity:
        parity[name]["qualified"] = name in usable
    best = max(usable, key=lambda n: by_runtime[n]["batch_64"]["texts_per_s"])

    def fast(name):
        return by_runtime[name]["batch_64"]["texts_per_s"] if name in usable else None

    figures = TeacherRuntimes(
        runtime=best,
        throughput_torch=fast("torch"),
        throughput_torch_bf16=fast("torch_bf16"),
        throughput_onnx=fast("onnx"),
        throughput_onnx_int8=fast("onnx_int8"),
        by_runtime={n: {**s, "counted": n in usable} for n, s in by_runtime.items()},
        parity=parity or None,
        onnx_note=why,
    )
    return {**by_runtime[best], **figures.model_dump()}


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
