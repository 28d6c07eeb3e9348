"""text-classification on the shared engine: the teacher labels texts, a student learns its soft labels.

teach: the teacher answers every transfer and evaluation text once (stored, resumable).
train: the student learns from the stored outputs and is swapped into student/ whole.
evaluate: the student as it ships beside the teacher: quality, agreement, speed, size, memory, then every
registered evaluation for this task (calibration, fairness, counterfactuals, robustness, oversight).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..recipe import Recipe
from . import API_TEACHER_NOT_MEASURED


class ClassificationTask:
    name = "text-classification"
    recipe_model = Recipe
    modality = "text"  # the data kind: its store key, batching and perturbations (understudy.modalities)

    # --- shared set-up: files, not weights; no teacher call ---------------------------------------------

    def prepare(self, run) -> dict:
        if "teacher" in run.state:
            return run.state
        from .. import registry
        from ..data.demo import reviews_head
        from ..data.readers import load_texts
        from ..licences.ship import prefixed_name
        from ..teachers import build_teacher

        recipe, state = run.recipe, run.state
        state["modality"] = registry.load(registry.MODALITIES, self.modality)()
        from ..teachers.onnx_encoder import use_labelling_runtime

        store = state["store"] = run.folder.open_store()
        gates: list = []  # labelling.runtime on the demo head's encoder, shared with the teacher's

        def head_builder(name, enc):
            gates.append(use_labelling_runtime(enc, recipe.labelling.runtime, run.progress))
            return reviews_head(name, enc, store, run.progress, recipe.labelling.batch_size)

        teacher = build_teacher(recipe.teacher, recipe.resolve, head_builder=head_builder)
        state["teacher"] = teacher
        state["runtime"] = use_labelling_runtime(
            teacher, recipe.labelling.runtime, run.progress, like=gates[0] if gates else None
        )
        state["remote"] = hasattr(teacher, "attach")  # an API teacher: answers are stored as they arrive
        if state["remote"]:
            teacher.attach(store)
        resolved = resolve_defaults(recipe, teacher)
        resolved.student.name = prefixed_name(resolved.student.name or f"{recipe.name}-student", run.licence)
        check_losses(resolved, teacher)
        run.resolved = resolved
        run.folder.write_text("recipe.yaml", resolved.to_yaml())
        d = resolved.data
        state["transfer"] = load_texts(
            d.transfer, resolved.resolve(d.transfer.path), role="transfer", known_labels=teacher.labels
        )
        state["evaluation"] = load_texts(
            d.evaluation,
            resolved.resolve(d.evaluation.path),
            role="evaluation",
            known_labels=teacher.labels,
            require_labels=True,
        )
        state["gold"] = load_gold(d.gold, teacher.labels) if d.gold else None  # a bad label fails now
        found = overlap(state["transfer"].texts, state["evaluation"].texts)
        if found["texts"]:
            run.progress.note(f"note: {found['note']}")
        return state

    def close(self, run) -> None:
        teacher, store = run.state.get("teacher"), run.state.get("store")
        if teacher is not None and hasattr(teacher, "close"):
            teacher.close()
        if store is not None:
            store.close()

    def _outputs(self, run) -> dict:
        """The teacher's outputs on transfer + evaluation texts, from the store (asking only what is missing)."""
        from ..label import label

        s = self.prepare(run)
        if "outputs" not in s:
            texts = s["transfer"].texts + s["evaluation"].texts
            s["outputs"], s["label_stats"] = label(
                s["teacher"],
                texts,
                s["store"],
                batch_size=run.resolved.labelling.batch_size,
                progress=run.progress,
                modality=s["modality"],
            )
            self._drop_unlabelled(run)
        return s["outputs"]

    def _drop_unlabelled(self, run) -> None:
        """Rows an API teacher could not label are reported, and not taught."""
        s = self.prepare(run)
        transfer, n = s["transfer"], len(s["transfer"].texts)
        s["api_report"], s["n_unlabelled"] = None, 0
        if not s["remote"]:
            return
        teacher, outputs = s["teacher"], s["outputs"]
        s["api_report"] = teacher.report(transfer.texts + s["evaluation"].texts)
        keep = teacher.labelled_mask(transfer.texts)
        if not keep.any():
            raise UserError(
                "the API teacher labelled none of the transfer texts; see the unparseable answers in "
                f"{s['store'].path} and check the prompt and the model"
            )
        s["outputs"] = {k: np.concatenate([v[:n][keep], v[n:]]) for k, v in outputs.items()}
        transfer.texts = [t for t, k in zip(transfer.texts, keep) if k]
        if transfer.labels is not None:
            transfer.labels = [g for g, k in zip(transfer.labels, keep) if k]
        s["n_unlabelled"] = n - len(transfer.texts)

    # --- stages -----------------------------------------------------------------------------------------

    def teach(self, run) -> dict:
        with run.timed("teacher labelling"):
            self._outputs(run)
        s = run.state
        teaching = {**s["label_stats"].to_report(s["teacher"].fingerprint), "unlabelled_by_teacher": s["n_unlabelled"]}
        if s.get("runtime") is not None:  # labelling.runtime, and the parity of ONNX Runtime with PyTorch
            teaching["runtime"] = s["runtime"].report(getattr(s["teacher"], "from_embeddings", None))
        run.folder.write_json("teaching.json", teaching)
        return {"asked": teaching["asked"], "reused": teaching["reused"]}

    def train(self, run) -> dict:
        outputs = self._outputs(run)
        s, r = run.state, run.resolved
        n = len(s["transfer"].texts)
        index = {name: i for i, name in enumerate(s["teacher"].labels)}
        gold = None
        if s["transfer"].labels is not None and r.training.gold_weight > 0:
            gold = np.array([index[g] if g is not None else -1 for g in s["transfer"].labels])
        texts, targets, reviewed = s["transfer"].texts, {k: v[:n] for k, v in outputs.items()}, None
        if s["gold"] is not None:

            def ask_teacher(new: list[str]) -> dict:
                from ..label import label

                found, _ = label(
                    s["teacher"],
                    new,
                    s["store"],
                    batch_size=r.labelling.batch_size,
                    progress=run.progress,
                    modality=s["modality"],
                )
                return found

            texts, targets, gold, reviewed = apply_gold(
                texts,
                targets,
                gold,
                s["gold"],
                s["teacher"].labels,
                set(s["evaluation"].texts),
                r.training,
                ask_teacher,
            )
        with run.timed("train student"):
            training = train_student(
                r,
                s["teacher"],
                texts,
                targets,
                gold,
                run.folder,
                run.progress,
                train_only=reviewed["rows"] if reviewed else None,
            )
        if reviewed is not None:
            training["gold_labels"] = reviewed["facts"]
        training["teacher_labels"] = teacher_label_counts(targets["probs"], s["teacher"].labels, run.progress)
        run.folder.write_json("training.json", training)
        return {"gold_labels": reviewed["facts"]["used"]} if reviewed else {}

    def evaluate(self, run) -> dict:
        from ..evaluate import run_evaluations
        from ..evaluate.metrics import compare, quality
        from ..evaluate.speed import measure_speed, peak_memory_mb
        from ..protocols import EvalContext
        from ..students import load_student
        from ..teachers import size_on_disk

        outputs = self._outputs(run)
        s, r, folder, progress = run.state, run.resolved, run.folder, run.progress
        teacher, transfer, evaluation = s["teacher"], s["transfer"], s["evaluation"]
        n = len(self._inputs(transfer))
        e_probs = outputs["probs"][n:]
        labels = teacher.labels
        index = {name: i for i, name in enumerate(labels)}
        # What ships, with its raw scores: the calibration evaluation fits the temperature on them, and a rerun
        # from evaluate must not measure a student already rescaled by the calibration.json an earlier one left.
        student = load_student(folder / "student", calibrated=False)
        ev, seed = r.evaluation, r.training.seed
        with run.timed("evaluate quality"):
            s_probs = student.predict_proba(self._inputs(evaluation))
            y = np.array([index[g] for g in evaluation.labels])
            t_quality = quality(y, e_probs, labels, n_boot=ev.bootstrap, seed=seed)
            s_quality = quality(y, s_probs, labels, n_boot=ev.bootstrap, seed=seed)
            comparison = compare(
                y,
                e_probs,
                s_probs,
                self._shown(run, self._inputs(evaluation)),
                labels,
                n_boot=ev.bootstrap,
                seed=seed,
                n_examples=ev.flip_examples,
            )

        ctx = EvalContext(
            task=self.name,
            recipe=r,
            teacher=teacher,
            student=student,
            inputs=self._inputs(evaluation),
            student_dir=folder / "student",
            progress=progress,
            labels=labels,
            y=y,
            teacher_probs=e_probs,
            student_probs=s_probs,
            groups=evaluation.groups or {},
            teacher_predict=self._teacher_predict(run, "probs"),
            student_predict=student.predict_proba,
            modality=s["modality"],
        )
        sections, skipped = run_evaluations(ctx, timed=run.timed)
        remote = s["remote"]
        with run.timed("evaluate speed"):
            sample = self._inputs(evaluation)[: ev.speed_texts]
            noun = getattr(s["modality"], "plural", "texts")
            progress.note(f"timing both models on {len(sample)} evaluation {noun}, {ev.threads} threads")
            # An API teacher's speed is its server's: its latency comes from the calls made while labelling.
            t_speed = None if remote else self._teacher_speed(run, teacher, sample)
            s_speed = measure_speed(
                student.predict_proba, sample, n_threads=ev.threads, batch_1_calls=min(256, len(sample))
            )
        with run.timed("evaluate memory"):
            t_mem = s_mem = None
            rows = list(sample[:64])
            if ev.measure_memory and not remote:
                t_mem = peak_memory_mb("teacher", self._memory_spec(run, teacher), rows, ev.threads)
            if ev.measure_memory:
                s_mem = peak_memory_mb("student", {"path": str(folder / "student")}, rows, ev.threads)
        t_size = size_on_disk(*getattr(teacher, "files", [])) or None
        s_size = size_on_disk(folder / "student")
        price = ev.cpu_price_per_hour
        teaching = folder.read_json("teaching.json") or s["label_stats"].to_report(teacher.fingerprint)
        training = folder.read_json("training.json") or {}
        report = {
            "labels": labels,
            "data": {
                "transfer": {**transfer.to_report(), "unlabelled_by_teacher": s["n_unlabelled"]},
                "evaluation": evaluation.to_report(),
                "overlap": self._overlap(run),  # the inputs the student was taught
            },
            "labelling": teaching,
            "teacher": model_report(
                teacher.description,
                teacher.fingerprint,
                t_size,
                t_quality,
                t_speed,
                t_mem,
                price,
                cost=api_cost(s["api_report"], n + len(self._inputs(evaluation))),
            ),
            "student": {
                **model_report(
                    f"{r.student.kind} student {r.student.name}", None, s_size, s_quality, s_speed, s_mem, price
                ),
                "kind": r.student.kind,
                "name": r.student.name,
                "base": self._student_base(r, teacher),
                "training": {**training, "settings": r.training.model_dump()},
            },
        }
        if s["api_report"] is not None:
            report["api"] = s["api_report"]
        report["comparison"] = {**comparison, **ratios(report, t_size, s_size, t_mem, s_mem)}
        torch_fast = (t_speed or {}).get("throughput_torch")  # the teacher as PyTorch runs it, beside ONNX Runtime
        report["comparison"]["speedup_vs_torch"] = (
            round(s_speed["batch_64"]["texts_per_s"] / torch_fast, 2) if torch_fast else None
        )
        if remote:
            report["not_measured"] = dict(API_TEACHER_NOT_MEASURED)
        report.update(sections)
        report["skipped_evaluations"] = skipped
        return report

    def _teacher_predict(self, run, key: str):
        """The teacher's answers (`key` of its outputs) for new inputs (perturbed ones), through the run's store like
        every answer, so a rerun asks nothing twice."""
        from ..label import label

        s, r = run.state, run.resolved

        def predict(inputs):
            found, _ = label(s["teacher"], list(inputs), s["store"], batch_size=r.labelling.batch_size,
                             progress=run.progress, modality=s["modality"])  # fmt: skip
            return found[key]

        return predict

    # --- what another data kind changes (tabular-classification overrides these) -------------------------

    def _inputs(self, dataset):
        """A data set's inputs: a TextSet's texts."""
        return dataset.texts

    def _shown(self, run, inputs) -> list[str]:
        """The inputs as the report shows them (flip examples)."""
        return list(inputs)

    def _overlap(self, run) -> dict:
        return overlap(run.state["transfer"].texts, run.state["evaluation"].texts)

    def _teacher_speed(self, run, teacher, sample) -> dict:
        """PyTorch and ONNX Runtime for an encoder teacher: the speed-up is against the faster."""
        from ..evaluate.speed import measure_teacher_speed

        ev = run.resolved.evaluation
        return measure_teacher_speed(
            teacher, sample, n_threads=ev.threads, batch_1_calls=min(32, len(sample)), progress=run.progress
        )

    def _student_base(self, recipe, teacher) -> dict:
        return student_base(recipe, teacher)

    def _memory_spec(self, run, teacher) -> dict:
        """The teacher section a fresh process rebuilds the teacher from (evaluate/memory.py)."""
        spec = run.resolved.teacher.model_copy()
        spec.path = str(teacher.files[0]) if getattr(teacher, "files", None) else spec.path
        if spec.kind == "encoder":
            spec.head = str(teacher.head_path)
        elif spec.kind == "callable":
            spec.target = teacher.target
        return spec.model_dump()

    def render_html(self, report: dict, path: Path) -> None:
        from ..report.html import render_html

        render_html(report, path)


# --- helpers of the stages ------------------------------------------------------------------------------


def resolve_defaults(recipe: Recipe, teacher) -> Recipe:
    """Fill in the defaults that depend on the student or the teacher, and refuse impossible pairings now."""
    from ..students import DEFAULTS

    recipe = recipe.model_copy(deep=True)
    recipe.gates = recipe.gates.with_sector(recipe.intended_use.sector)
    oversight = recipe.safety.oversight
    if oversight.enabled is None:
        oversight.enabled = bool(recipe.gates.oversight_required)
    if "alpha" not in oversight.model_fields_set and recipe.gates.oversight_alpha is not None:
        oversight.alpha = recipe.gates.oversight_alpha.threshold
    training = recipe.training
    for key, value in DEFAULTS[recipe.student.kind].items():
        if getattr(training, key) is None:
            setattr(training, key, value)
    if training.embedding_loss == "auto":
        training.embedding_loss = "cosine" if "embedding" in teacher.provides else "none"
    # The resolved recipe is read from the run folder: its paths must not depend on where it lies.
    for section in (recipe.data.transfer, recipe.data.evaluation):
        section.path = recipe.resolve(section.path)
    if recipe.data.gold:
        recipe.data.gold = recipe.resolve(recipe.data.gold)
    for key in ("path", "head"):
        if getattr(recipe.teacher, key):
            setattr(recipe.teacher, key, recipe.resolve(getattr(recipe.teacher, key)))
    if recipe.teacher.target and ".py:" in recipe.teacher.target:
        file, name = recipe.teacher.target.rsplit(":", 1)
        recipe.teacher.target = f"{recipe.resolve(file)}:{name}"
    if recipe.student.base != "teacher":
        recipe.student.base = recipe.resolve(recipe.student.base)
    if recipe.student.name is None:
        recipe.student.name = f"{recipe.name}-student"
    return recipe


def check_losses(recipe: Recipe, teacher) -> None:
    """Each loss the recipe turns on against what the teacher provides: before the teacher is asked anything."""
    from ..losses import EMBEDDING_LOSSES, check_requires, kd_kl

    training = recipe.training
    losses: dict[str, Any] = {"kd_kl": kd_kl} if training.kd_weight > 0 else {}
    if training.embedding_loss != "none":
        loss = EMBEDDING_LOSSES[training.embedding_loss]
        losses[loss.__name__] = loss
    check_requires({name: loss.requires for name, loss in losses.items()}, teacher.provides, teacher.description)


def encoder_folder(recipe: Recipe, teacher) -> str:
    base = recipe.student.base
    if base != "teacher":
        from ..data.builtin import builtin_model

        return str(builtin_model(base)) if base.startswith("builtin:") else recipe.resolve(base)
    folder = getattr(getattr(teacher, "encoder", None), "folder", None) or getattr(teacher, "folder", None)
    if folder is None:
        raise UserError(
            f"student.base is 'teacher', but the teacher ({teacher.description}) has no encoder to start "
            "from; set student.base to an encoder folder, e.g. builtin:all-MiniLM-L6-v2"
        )
    return str(folder)


def student_base(recipe: Recipe, teacher) -> dict:
    """What the student was initialised from (student.base), as the model card names it: not always the teacher.

    {"from": "teacher" | "builtin:NAME" | "folder", "name": the model's or folder's name (never a path), "hub_id": the
    Hugging Face Hub id where understudy knows it (a built-in model), else None}."""
    from ..licences.evidence import BUILTIN_HUB_IDS

    base = recipe.student.base
    if base == "teacher":
        path = getattr(recipe.teacher, "path", None) or ""
        hub = BUILTIN_HUB_IDS.get(path.removeprefix("builtin:")) if path.startswith("builtin:") else None
        return {"from": "teacher", "name": None, "hub_id": hub}  # the teacher's own encoder
    if base.startswith("builtin:"):
        key = base.removeprefix("builtin:")
        return {"from": base, "name": key, "hub_id": BUILTIN_HUB_IDS.get(key)}
    return {"from": "folder", "name": Path(base).name, "hub_id": None}


RARE_CLASS_LABELS = (
    50  # fewer teacher labels than this and a class is learnt from too few (benchmarks/text_sets.py: 40 kept 0.33)
)


def teacher_label_counts(probs: np.ndarray, labels: list[str], progress=None) -> dict:
    """training.json's "teacher_labels": how many transfer texts the teacher gave each class, and the classes under
    RARE_CLASS_LABELS, said as a warning: such a class can vanish from the student without moving the average."""
    counts = np.bincount(np.asarray(probs).argmax(axis=1), minlength=len(labels))
    per = {str(label): int(c) for label, c in zip(labels, counts)}
    rare = {label: c for label, c in per.items() if c < RARE_CLASS_LABELS}
    if rare and progress is not None:
        listed = ", ".join(f"'{k}' ({v})" for k, v in rare.items())
        progress.note(
            f"warning: the teacher gave {listed} of the transfer set: fewer than {RARE_CLASS_LABELS}, so the "
            "student learns these classes from too few examples; see per-class retention in the report, and add "
            "more of these classes to the transfer set"
        )
    return {"per_class": per, "min_labels": RARE_CLASS_LABELS, "rare": rare}


def train_student(recipe: Recipe, teacher, texts, outputs, gold, folder, progress, train_only=None) -> dict:
    """`train_only`: rows never held out for validation (reviewed labels: too few and too dear to set aside)."""
    from .. import registry

    spec, settings = recipe.student, recipe.training
    rng = np.random.default_rng(settings.seed)
    pool = np.arange(len(texts)) if train_only is None else np.setdiff1d(np.arange(len(texts)), train_only)
    val_idx = pool[rng.choice(len(pool), size=int(len(pool) * settings.validation_fraction), replace=False)]
    cls = registry.load("understudy.students", spec.kind)
    student = cls.for_teacher(
        encoder_folder(recipe, teacher), texts, teacher.labels, spec, progress, cache=folder / "cache"
    )
    student.fit(texts, outputs, gold=gold, settings=settings, val_idx=val_idx, progress=progress)
    with folder.staging("student") as tmp:
        student.save(tmp)
    return student.training_


def load_gold(path: str, labels: list[str]):
    """data.gold: reviewed texts and their labels; every label must be one of the teacher's."""
    from ..data.readers import TextSet, file_sha256, load_texts, read_table
    from ..recipe import DataFile

    table = read_table(path)
    columns = [str(c) for c in table.columns]
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        raise UserError(
            f"data.gold {path}: no column {' or '.join(map(repr, missing))}; the columns are {columns}. A gold file "
            "needs 'text' and 'label' columns, as the review queue's CSV export writes them"
        )
    if table.empty:  # nothing reviewed yet: the run goes on, and says it used no gold labels
        return TextSet(texts=[], labels=[], source=path, sha256=file_sha256(path), rows_read=0)
    return load_texts(
        DataFile(path=path, text_column="text", label_column="label"),
        path,
        role="gold",
        known_labels=labels,
        require_labels=True,
    )


def apply_gold(texts, targets, hard, gold, labels, held_out, settings, ask_teacher):
    """Reviewed labels win: a gold text's soft target becomes its label one-hot (and its hard target, where
    the run has one); gold texts the transfer set lacks are added, their other teacher outputs (embeddings)
    asked of the teacher. Texts of the evaluation set are left out: training on them would flatter the student.
    Returns (texts, targets, hard, {"rows": the gold rows, "facts": what the run records})."""
    if settings.kd_weight == 0 and settings.gold_weight == 0:
        raise UserError(
            "data.gold is set, but training.kd_weight and training.gold_weight are both 0: nothing would learn "
            "from the gold labels; set one of them above 0"
        )
    index = {name: i for i, name in enumerate(labels)}
    pairs = [(t, index[g]) for t, g in zip(gold.texts, gold.labels) if t not in held_out]
    row = {t: i for i, t in enumerate(texts)}
    new = [t for t, _ in pairs if t not in row]
    if new:
        asked = ask_teacher(new) if set(targets) - {"probs"} else {}
        targets = {
            k: np.concatenate([v, np.zeros((len(new), *v.shape[1:]), v.dtype) if k == "probs" else asked[k]])
            for k, v in targets.items()
        }
        hard = None if hard is None else np.concatenate([hard, np.full(len(new), -1)])
        texts = texts + new
        row.update((t, len(texts) - len(new) + i) for i, t in enumerate(new))
    rows = np.array([row[t] for t, _ in pairs], dtype=int)
    y = np.array([g for _, g in pairs], dtype=int)
    if "probs" in targets:
        targets = {**targets, "probs": targets["probs"].copy()}
        targets["probs"][rows] = np.eye(len(labels), dtype=targets["probs"].dtype)[y]
    if hard is None and settings.gold_weight > 0 and (settings.kd_weight == 0 or "probs" not in targets):
        hard = np.full(len(texts), -1)  # no soft labels are learnt: the gold labels go in through cross-entropy
    if hard is not None:
        hard = hard.copy()
        hard[rows] = y
    facts = {
        "source": gold.source,
        "sha256": gold.sha256,
        "used": len(pairs),
        "replaced_teacher": len(pairs) - len(new),
        "added": len(new),
        "in_evaluation_set": len(gold.texts) - len(pairs),
        "skipped": {k: v for k, v in gold.skipped.items() if v},
    }
    return texts, targets, hard, {"rows": rows, "facts": facts}


def overlap(transfer: list[str], evaluation: list[str], noun: str = "texts") -> dict:
    """Evaluation texts also in the transfer set, of the evaluation rows used (report["data"]["overlap"], declared
    in understudy.report.schema.Overlap): the student learnt the teacher's answers on them, so agreement and
    retention read better than they will on new texts."""
    from ..report.schema import Overlap

    taught = set(transfer)
    n = sum(t in taught for t in evaluation)
    if n:
        note = (
            f"{n} of the {len(evaluation)} evaluation {noun} are also in the transfer set: the student learnt the "
            f"teacher's answers on them, which flatters agreement; keep the evaluation {noun} out of the transfer file."
        )
    else:
        note = f"None of the {len(evaluation)} evaluation {noun} is in the transfer set."
    return Overlap(texts=n, of=len(evaluation), note=note).model_dump()


def model_report(description, fingerprint, size, quality, speed, memory, price, cost=None) -> dict:
    from ..evaluate.speed import cost_per_million

    if cost is None and speed:
        cost = cost_per_million(speed["batch_64"]["texts_per_s"], price)
    return {
        "description": description,
        "fingerprint": fingerprint,
        "size_bytes": size,
        "quality": quality,
        "speed": speed,
        "peak_memory_mb": memory,
        "cost_per_million_usd": cost,
    }


def ratios(report: dict, t_size, s_size, t_mem, s_mem) -> dict:
    """Student over teacher, from the figures in report["teacher"] and report["student"]: speed at batch 64 (the
    headline: against the teacher's fastest runtime) and 1, size, memory and cost. None where one is unknown."""
    t, s = report["teacher"], report["student"]
    t_speed, s_speed = t.get("speed"), s["speed"]
    s_fast = s_speed["batch_64"]["texts_per_s"]
    t_fast = t_speed["batch_64"]["texts_per_s"] if t_speed else None
    t_cost, s_cost = t["cost_per_million_usd"], s["cost_per_million_usd"]
    out = {
        "speedup": round(s_fast / t_fast, 2) if t_fast else None,
        "speedup_batch_1": (
            round(s_speed["batch_1"]["texts_per_s"] / t_speed["batch_1"]["texts_per_s"], 2) if t_speed else None
        ),
        "size_ratio": round(s_size / t_size, 5) if t_size else None,
        "memory_ratio": round(s_mem / t_mem, 4) if (s_mem and t_mem) else None,
        "cost_ratio": round(s_cost / t_cost, 6) if (t_cost and s_cost) else None,
    }
    return out


def api_cost(api_report: dict | None, n_texts: int) -> float | None:
    """An API teacher's cost per million texts, from what labelling these texts really cost."""
    usd = ((api_report or {}).get("spend") or {}).get("total", {}).get("usd")
    return round(usd / n_texts * 1e6, 2) if usd and n_texts else None
