"""The built-in default against two reference approaches, on the same data, in one run and one process.

    python benchmarks/reviews.py [--out runs/bench]

1. understudy's default recipe (static student from the mpnet teacher, soft labels + embeddings);
2. model2vec's own recipe: distil static embeddings from the same encoder, then
   StaticModelForClassification trained on the teacher's hard labels;
3. TF-IDF + logistic regression trained on the teacher's hard labels;
4. the transformer student (recipes/reviews-transformer.yaml: all-MiniLM-L6-v2 fine-tuned on the same stored teacher
   outputs), for a user who values quality over speed (SetFit's distillation, the anchor for this route, keeps about
   0.96 of its teacher); --no-transformer leaves it out (it trains for several minutes on 2 cores).
Prints macro-F1, retention, agreement, throughput (batch 64, same threads), speed-up and size for each,
then the default student's throughput beside its tokenizer's alone and their ratio (benchmarks/tokenizer_wall.py).
A rerun reuses the stored teacher outputs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from understudy.data.demo import RECIPE, reviews_head
from understudy.evaluate.speed import measure_speed
from understudy.label import label
from understudy.progress import Progress
from understudy.recipe import load_recipe
from understudy.run import distill
from understudy.store import TeacherStore
from understudy.teachers import build_teacher, size_on_disk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--no-transformer", action="store_true", help="leave out the transformer student")
    parser.add_argument("--no-references", action="store_true", help="leave out model2vec's recipe and TF-IDF")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)  # the table stays readable when written to a file
    recipe = load_recipe(RECIPE)
    report = distill(recipe, args.out, progress=Progress(console))
    threads = recipe.evaluation.threads

    # The same teacher outputs the default was trained on, read back from the store (no teacher calls).
    from understudy.data.readers import load_texts

    store = TeacherStore(Path(args.out) / "teacher.sqlite")
    teacher = build_teacher(recipe.teacher, recipe.resolve, head_builder=lambda n, e: reviews_head(n, e, store))
    transfer = load_texts(recipe.data.transfer, recipe.data.transfer.path, role="transfer")
    evaluation = load_texts(recipe.data.evaluation, recipe.data.evaluation.path, role="evaluation", require_labels=True)
    t_train = label(teacher, transfer.texts, store)[0]["probs"].argmax(1)
    t_eval = label(teacher, evaluation.texts, store)[0]["probs"].argmax(1)
    y = np.array([teacher.labels.index(g) for g in evaluation.labels])
    train_labels = [teacher.labels[i] for i in t_train]
    teacher_f1 = report["teacher"]["quality"]["macro_f1"]["value"]
    teacher_speed = report["teacher"]["speed"]["batch_64"]["texts_per_s"]
    sample = evaluation.texts[: recipe.evaluation.speed_texts]

    rows = [
        ("teacher (mpnet + logistic regression)", teacher_f1, 1.0, 1.0, teacher_speed, report["teacher"]["size_bytes"]),
        (
            "understudy default (static)",
            report["student"]["quality"]["macro_f1"]["value"],
            report["comparison"]["retention"],
            report["comparison"]["agreement"]["value"],
            report["student"]["speed"]["batch_64"]["texts_per_s"],
            report["student"]["size_bytes"],
        ),
    ]

    def score(name, predict_labels, predict_fn, size):
        pred = np.array([teacher.labels.index(p) for p in predict_labels(evaluation.texts)])
        f1 = f1_score(y, pred, average="macro")
        speed = measure_speed(predict_fn, sample, n_threads=threads)["batch_64"]["texts_per_s"]
        rows.append((name, f1, f1 / teacher_f1, float((pred == t_eval).mean()), speed, size))

    if not args.no_references:
        references(score, teacher, transfer, train_labels, console)
    if not args.no_transformer:
        rows.append(transformer_row(Path(args.out), console, teacher_f1, teacher_speed))
    table = Table(
        title=f"Amazon reviews: {len(transfer.texts)} transfer, {len(evaluation.texts)} evaluation, {threads} threads"
    )
    for col in ("approach", "macro-F1", "retention", "agreement", "texts/s (b64)", "speed-up", "size MB"):
        table.add_column(col, justify="right" if col != "approach" else "left")
    for name, f1, ret, agree, speed, size in rows:
        table.add_row(
            name,
            f"{f1:.3f}",
            f"{ret:.3f}",
            f"{agree:.3f}",
            f"{speed:,.0f}",
            f"{speed / teacher_speed:,.0f}x",
            f"{size / 1e6:,.1f}",
        )
    console.print(table)
    store.close()

    # The tokenizer wall: the default student against its own tokenizer alone, interleaved in this process.
    from tokenizer_wall import measure
    from tokenizer_wall import report as print_wall

    from understudy.students import load_student

    console.print("the tokenizer wall: the default student's predict_proba against its tokenizer alone")
    print_wall(measure(load_student(Path(args.out) / "student"), evaluation.texts, threads))


def references(score, teacher, transfer, train_labels, console) -> None:
    """model2vec's own recipe and TF-IDF + logistic regression, each on the teacher's hard labels."""
    console.print("reference 1: model2vec's own recipe on the teacher's labels")
    from model2vec.distill import distill as m2v_distill
    from model2vec.train import StaticModelForClassification

    static = m2v_distill(model_name=str(teacher.encoder.folder), pca_dims=256, device="cpu")
    clf = StaticModelForClassification.from_static_model(model=static).fit(transfer.texts, train_labels, device="cpu")
    pipeline = clf.to_pipeline()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline.save_pretrained(tmp)
        m2v_size = size_on_disk(tmp)
    score(
        "model2vec recipe (teacher labels)",
        lambda t: [str(p) for p in pipeline.predict(t)],
        pipeline.predict_proba,
        m2v_size,
    )

    console.print("reference 2: TF-IDF + logistic regression on the teacher's labels")
    import skops.io as sio
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    tfidf = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), LogisticRegression(max_iter=2000)
    ).fit(transfer.texts, train_labels)
    with tempfile.TemporaryDirectory() as tmp:
        sio.dump(tfidf, Path(tmp) / "tfidf.skops")
        tfidf_size = size_on_disk(tmp)
    score("TF-IDF + LR (teacher labels)", lambda t: list(tfidf.predict(t)), tfidf.predict_proba, tfidf_size)


def transformer_row(out: Path, console, teacher_f1: float, teacher_speed: float) -> tuple:
    """The transformer student's own engine run, on the default run's stored teacher outputs (the store is copied:
    the same teacher, so nothing is asked again), measured by the engine as every run is."""
    import shutil
    import time

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "reviews-transformer.yaml")
    folder = out.with_name(out.name + "-transformer")
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "teacher.sqlite").exists():
        shutil.copy(out / "teacher.sqlite", folder / "teacher.sqlite")
    console.print(f"4: the transformer student ({recipe.student.base}), into {folder}")
    started = time.perf_counter()
    report = distill(recipe, folder, progress=Progress(console))
    seconds = report.get("timings", {}).get("train student")
    console.print(f"the transformer run took {time.perf_counter() - started:,.0f} s (training {seconds} s)")
    s, c = report["student"], report["comparison"]
    f1 = s["quality"]["macro_f1"]["value"]
    # the same teacher timing as the default's row, so the speed-ups in the table share one denominator
    return (f"transformer student ({Path(str(recipe.student.base)).name})", f1, f1 / teacher_f1,
            c["agreement"]["value"], s["speed"]["batch_64"]["texts_per_s"], s["size_bytes"])  # fmt: skip


if __name__ == "__main__":
    main()
