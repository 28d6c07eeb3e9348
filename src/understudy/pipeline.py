"""`understudy distill`: recipe -> teacher outputs -> student -> side-by-side evaluation -> gates -> report.

Each stage writes into the run folder, which is the contract between stages (see docs/report-schema.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__
from .errors import UserError
from .progress import QUIET, Progress
from .recipe import Recipe
from .store import TeacherStore


@contextmanager
def stage(timings: dict, name: str):
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 2)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def resolve_defaults(recipe: Recipe, teacher) -> Recipe:
    """Fill in the defaults that depend on the student or the teacher, and refuse impossible pairings now."""
    from .students import DEFAULTS

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
    has_emb = "embedding" in teacher.provides
    if training.embedding_loss == "auto":
        training.embedding_loss = "cosine" if has_emb else "none"
    elif training.embedding_loss != "none" and not has_emb:
        raise UserError(f"training.embedding_loss is '{training.embedding_loss}', but the teacher ({teacher.description}) "
                        "gives no embeddings; set training.embedding_loss: none")
    # The resolved recipe is read from the run folder: its paths must not depend on where it lies.
    for section in (recipe.data.transfer, recipe.data.evaluation):
        section.path = recipe.resolve(section.path)
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


def encoder_folder(recipe: Recipe, teacher) -> str:
    base = recipe.student.base
    if base != "teacher":
        from .data.builtin import builtin_model

        return str(builtin_model(base)) if base.startswith("builtin:") else recipe.resolve(base)
    folder = getattr(getattr(teacher, "encoder", None), "folder", None) or getattr(teacher, "folder", None)
    if folder is None:
        raise UserError(f"student.base is 'teacher', but the teacher ({teacher.description}) has no encoder to start from; "
                        "set student.base to an encoder folder, e.g. builtin:all-MiniLM-L6-v2")
    return str(folder)


def train_student(recipe: Recipe, teacher, texts, outputs, gold, out: Path, progress: Progress):
    spec, settings = recipe.student, recipe.training
    rng = np.random.default_rng(settings.seed)
    val_idx = rng.choice(len(texts), size=int(len(texts) * settings.validation_fraction), replace=False)
    if spec.kind == "static":
        from .students.static import StaticStudent

        student = StaticStudent.distil(encoder_folder(recipe, teacher), texts, teacher.labels, spec, progress, cache=out / "cache")
    else:
        from .students.transformer import TransformerStudent

        student = TransformerStudent.from_base(encoder_folder(recipe, teacher), teacher.labels, spec, progress)
    student.fit(texts, outputs, gold=gold, settings=settings, val_idx=val_idx, progress=progress)
    tmp = out / "student.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    student.save(tmp)
    shutil.rmtree(out / "student", ignore_errors=True)
    os.replace(tmp, out / "student")
    return student.training_


def model_report(description, fingerprint, size, quality, speed, memory, price, cost=None) -> dict:
    from .evaluate.speed import cost_per_million

    if cost is None and speed:
        cost = cost_per_million(speed["batch_64"]["texts_per_s"], price)
    return {"description": description, "fingerprint": fingerprint, "size_bytes": size, "quality": quality,
            "speed": speed, "peak_memory_mb": memory, "cost_per_million_usd": cost}


def api_cost(api_report: dict | None, n_texts: int) -> float | None:
    """An API teacher's cost per million texts, from what labelling these texts really cost."""
    usd = ((api_report or {}).get("spend") or {}).get("total", {}).get("usd")
    return round(usd / n_texts * 1e6, 2) if usd and n_texts else None


def licence_gate(recipe: Recipe, out: Path, accept_risk: str | None, progress: Progress) -> dict:
    """The first stage: nothing is loaded or asked of the teacher before its terms allow it."""
    from .licences import LicenceBlocked, gate_recipe, write_result

    result = gate_recipe(recipe, accept_risk=accept_risk)
    write_result(result, out)
    progress.note(f"licence gate: {result['verdict']}" + (" (risk accepted)" if result["accepted_risk"] else ""))
    if not result["proceed"]:
        raise LicenceBlocked(result)
    return result


def ship_licence(licence: dict, folder: Path, teacher: str) -> None:
    from .licences.ship import write_licence, write_notice

    write_notice(licence, folder, teacher)
    write_licence(licence, folder, teacher)


def write_papers(report: dict, licence: dict | None, out: Path) -> None:
    """What ships with the student and what a boss or an auditor reads: the model card and the compliance report."""
    from .licences.ship import card_metadata
    from .report.compliance import render_compliance
    from .report.model_card import render_model_card

    render_compliance(report, out)
    card = render_model_card(report, {**licence, **card_metadata(licence)} if licence else None)
    write_atomic(out / "student" / "README.md", card)


def distill(recipe: Recipe, out: str | Path, *, progress: Progress = QUIET, accept_licence_risk: str | None = None) -> dict:
    from .data.demo import reviews_head
    from .data.readers import load_texts
    from .evaluate.metrics import compare, quality
    from .evaluate.speed import measure_speed, peak_memory_mb
    from .gates import check_gates
    from .label import label
    from .report.html import render_html
    from .students import load_student
    from .teachers import build_teacher, fingerprint_files, size_on_disk

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with stage(timings, "licence gate"):
        licence = licence_gate(recipe, out, accept_licence_risk, progress)
    store = TeacherStore(out / "teacher.sqlite")
    try:
        with stage(timings, "teacher setup"):
            teacher = build_teacher(recipe.teacher, recipe.resolve, head_builder=lambda name, enc: reviews_head(
                name, enc, store, progress, recipe.labelling.batch_size))
            remote = hasattr(teacher, "attach")  # an API teacher: answers are stored as they arrive
            if remote:
                teacher.attach(store)
            resolved = resolve_defaults(recipe, teacher)
            from .licences.ship import prefixed_name

            resolved.student.name = prefixed_name(resolved.student.name, licence)
            write_atomic(out / "recipe.yaml", resolved.to_yaml())
        with stage(timings, "read data"):
            d = resolved.data
            transfer = load_texts(d.transfer, resolved.resolve(d.transfer.path), role="transfer", known_labels=teacher.labels)
            evaluation = load_texts(d.evaluation, resolved.resolve(d.evaluation.path), role="evaluation",
                                    known_labels=teacher.labels, require_labels=True)
        with stage(timings, "teacher labelling"):
            outputs, stats = label(teacher, transfer.texts + evaluation.texts, store,
                                   batch_size=resolved.labelling.batch_size, progress=progress)
        n = len(transfer.texts)
        api_report, n_unlabelled = None, 0
        if remote:  # rows the API could not label are reported, and not taught
            api_report = teacher.report(transfer.texts + evaluation.texts)
            keep = teacher.labelled_mask(transfer.texts)
            if not keep.any():
                raise UserError("the API teacher labelled none of the transfer texts; see the unparseable answers in "
                                f"{out / 'teacher.sqlite'} and check the prompt and the model")
            outputs = {k: np.concatenate([v[:n][keep], v[n:]]) for k, v in outputs.items()}
            transfer.texts = [t for t, k in zip(transfer.texts, keep) if k]
            if transfer.labels is not None:
                transfer.labels = [g for g, k in zip(transfer.labels, keep) if k]
            n_unlabelled = n - len(transfer.texts)
            n = len(transfer.texts)
        t_out = {k: v[:n] for k, v in outputs.items()}
        e_probs = outputs["probs"][n:]
        index = {name: i for i, name in enumerate(teacher.labels)}
        gold = None
        if transfer.labels is not None and resolved.training.gold_weight > 0:
            gold = np.array([index[g] if g is not None else -1 for g in transfer.labels])
        with stage(timings, "train student"):
            training = train_student(resolved, teacher, transfer.texts, t_out, gold, out, progress)
            ship_licence(licence, out / "student", teacher.description)
        student = load_student(out / "student")  # measure what ships, as it ships
        ev = resolved.evaluation
        with stage(timings, "evaluate quality"):
            s_probs = student.predict_proba(evaluation.texts)
            y = np.array([index[g] for g in evaluation.labels])
            t_quality = quality(y, e_probs, teacher.labels, n_boot=ev.bootstrap, seed=resolved.training.seed)
            s_quality = quality(y, s_probs, teacher.labels, n_boot=ev.bootstrap, seed=resolved.training.seed)
            comparison = compare(y, e_probs, s_probs, evaluation.texts, teacher.labels, n_boot=ev.bootstrap,
                                 seed=resolved.training.seed, n_examples=ev.flip_examples)
        from .evaluate.safety import safety_evaluations

        safety = safety_evaluations(resolved, teacher, student, evaluation, y, e_probs, s_probs, store, out / "student",
                                    progress, timings, stage)
        with stage(timings, "evaluate speed"):
            sample = evaluation.texts[: ev.speed_texts]
            progress.note(f"timing both models on {len(sample)} evaluation texts, {ev.threads} threads")
            # An API teacher's speed is its server's: its latency comes from the calls made while labelling.
            t_speed = None if remote else measure_speed(teacher.predict, sample, n_threads=ev.threads,
                                                        batch_1_calls=min(32, len(sample)))
            s_speed = measure_speed(student.predict_proba, sample, n_threads=ev.threads, batch_1_calls=min(256, len(sample)))
        with stage(timings, "evaluate memory"):
            t_mem = s_mem = None
            if ev.measure_memory and not remote:
                spec = resolved.teacher.model_copy()
                spec.path = str(teacher.files[0]) if getattr(teacher, "files", None) else spec.path
                if spec.kind == "encoder":
                    spec.head = str(teacher.head_path)
                elif spec.kind == "callable":
                    spec.target = teacher.target
                t_mem = peak_memory_mb("teacher", spec.model_dump(), sample, ev.threads)
            if ev.measure_memory:
                s_mem = peak_memory_mb("student", {"path": str(out / "student")}, sample, ev.threads)
        t_size = size_on_disk(*getattr(teacher, "files", [])) or None
        s_size = size_on_disk(out / "student")
        price = ev.cpu_price_per_hour
        report = {
            "schema_version": 1, "understudy_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "run": {"name": resolved.name, "task": resolved.task, "out": str(out.resolve()),
                    "intended_use": resolved.intended_use.model_dump()},
            "licence": licence,
            "labels": teacher.labels,
            "data": {"transfer": {**transfer.to_report(), "unlabelled_by_teacher": n_unlabelled},
                     "evaluation": evaluation.to_report()},
            "labelling": stats.to_report(teacher.fingerprint),
            "teacher": model_report(teacher.description, teacher.fingerprint, t_size, t_quality, t_speed, t_mem, price,
                                    cost=api_cost(api_report, len(transfer.texts) + len(evaluation.texts))),
            "student": {**model_report(f"{resolved.student.kind} student {resolved.student.name}",
                                       fingerprint_files(out / "student"), s_size, s_quality, s_speed, s_mem, price),
                        "kind": resolved.student.kind, "name": resolved.student.name,
                        "training": {**training, "settings": resolved.training.model_dump()}},
        }
        if api_report is not None:
            report["api"] = api_report
        s_fast = s_speed["batch_64"]["texts_per_s"]
        t_fast = t_speed["batch_64"]["texts_per_s"] if t_speed else None
        t_cost, s_cost = report["teacher"]["cost_per_million_usd"], report["student"]["cost_per_million_usd"]
        report["comparison"] = {
            **comparison,
            "speedup": round(s_fast / t_fast, 2) if t_fast else None,
            "speedup_batch_1": round(s_speed["batch_1"]["texts_per_s"] / t_speed["batch_1"]["texts_per_s"], 2) if t_speed else None,
            "size_ratio": round(s_size / t_size, 5) if t_size else None,
            "memory_ratio": round(s_mem / t_mem, 4) if (s_mem and t_mem) else None,
            "cost_ratio": round(s_cost / t_cost, 6) if (t_cost and s_cost) else None,
        }
        report.update(safety)
        from .sectors import check_safety_gates, with_safety

        # Refusal and hallucination are checks of generators: a classifier neither refuses nor invents facts.
        profile = {k: v for k, v in resolved.gates.active().items() if k not in ("refusal_kept_min", "max_hallucination_rate")}
        report["gates"] = with_safety(check_gates(resolved.gates, report), check_safety_gates(profile, report))
        report["timings"] = timings
        write_atomic(out / "report.json", json.dumps(report, indent=2, default=float))
        render_html(report, out / "report.html")
        write_papers(report, licence, out)
        return report
    finally:
        if "teacher" in locals() and hasattr(teacher, "close"):
            teacher.close()
        store.close()
