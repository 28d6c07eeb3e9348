"""text-classification's part of `understudy check`: the teacher's labels against the data, the student against
the teacher kind, the data sets' sizes, then the estimate (see understudy.check). No teacher call before the
estimate, and the estimate's few calls are stored in the run folder's store."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import UserError

NO_ENCODER = ("sklearn", "callable", "openai-api")  # teacher kinds without an encoder a student can start from
FEW_TRANSFER, FEW_EVALUATION = 1000, 200  # below these a note says the figures will be shaky (see README)


def check(recipe, result, *, missing: set[str], licence_ok: bool, out: Path, sample: int = 0) -> None:
    teacher = _teacher(recipe, result) if licence_ok else None
    labels = list(teacher.labels) if teacher is not None else recipe.teacher.labels
    _student(recipe, teacher, result)
    if teacher is not None:
        _losses(recipe, teacher, result)
    sets = _data(recipe, labels, missing, result)
    if teacher is None or "transfer" not in sets or "evaluation" not in sets:
        return
    texts = list(dict.fromkeys(sets["transfer"].texts + sets["evaluation"].texts))
    if result.ok:
        n_eval = len(sets["evaluation"].texts)
        result.estimate = estimate(recipe, teacher, texts, n_eval, out, sample, result)
        _small_teacher(recipe, teacher, texts[:sample] if sample > 0 else [], result)
    close = getattr(teacher, "close", None)
    if close is not None:
        close()


def _teacher(recipe, result):
    """The teacher, built from its files (not its weights); None where it cannot be built without a run."""
    from ..teachers import build_teacher

    spec = recipe.teacher
    if (spec.head or "").startswith("builtin:"):
        result.notes.append(f"teacher.head {spec.head}: the built-in head is fitted when the run starts")
        return None
    try:
        return build_teacher(spec, recipe.resolve)
    except UserError as exc:
        result.add(f"teacher ({spec.kind}): {exc}", kind="teacher")
        return None


def _student(recipe, teacher, result) -> None:
    """student.base 'teacher' needs an encoder in the teacher: known from the kind, before any label is paid for."""
    if recipe.student.base != "teacher":
        return
    kind = recipe.teacher.kind
    has_encoder = None
    if teacher is not None:
        has_encoder = bool(
            getattr(getattr(teacher, "encoder", None), "folder", None) or getattr(teacher, "folder", None)
        )
    elif kind in NO_ENCODER:
        has_encoder = False
    if has_encoder is False:
        default = "" if "base" in recipe.student.model_fields_set else " (the default)"
        result.add(
            f"student.base is 'teacher'{default}, but a {kind} teacher has no encoder for the student to start from",
            "set student.base to an encoder folder, e.g. student: {kind: static, base: builtin:all-MiniLM-L6-v2}",
            kind="student",
        )


def _losses(recipe, teacher, result) -> None:
    from .classification import check_losses, resolve_defaults

    try:
        check_losses(resolve_defaults(recipe, teacher), teacher)
    except UserError as exc:
        result.add(str(exc), kind="teacher")


def _data(recipe, labels, missing: set[str], result) -> dict:
    """Each data file read as the run reads it: columns, labels known to the teacher, sizes."""
    from ..data.readers import load_texts

    d, sets = recipe.data, {}
    for role in ("transfer", "evaluation"):
        spec = getattr(d, role)
        path = recipe.resolve(spec.path)
        if path in missing:
            continue
        try:
            sets[role] = load_texts(spec, path, role=role, known_labels=labels, require_labels=role == "evaluation")
        except UserError as exc:
            where = result.where(getattr(exc, "recipe_key", ())) if hasattr(result, "where") else ""
            result.add(f"{where}data.{role}: {exc}", kind="data")
    if d.gold and recipe.resolve(d.gold) not in missing and labels:
        from .classification import load_gold

        try:
            load_gold(recipe.resolve(d.gold), labels)
        except UserError as exc:
            result.add(str(exc), kind="data")
    transfer, evaluation = sets.get("transfer"), sets.get("evaluation")
    if transfer is not None:
        n = len(transfer.texts)
        if n < 2:
            result.add(f"data.transfer: {n} usable text(s)", "the student learns from these: give it hundreds or more")
        elif n < FEW_TRANSFER:
            result.notes.append(
                f"data.transfer holds {n} texts; under {FEW_TRANSFER} the student usually keeps less of the teacher "
                "(README: how much data is enough)"
            )
    if evaluation is not None:
        found = sorted({str(x) for x in evaluation.labels or [] if x is not None})
        if len(evaluation.texts) < 2 or len(found) < 2:
            result.add(
                f"data.evaluation: {len(evaluation.texts)} usable text(s) with {len(found)} label(s) {found}",
                "the evaluation set needs labelled texts of at least two classes; hundreds for useful intervals",
                kind="data",
            )
        elif len(evaluation.texts) < FEW_EVALUATION:
            result.notes.append(
                f"data.evaluation holds {len(evaluation.texts)} texts; under {FEW_EVALUATION} the 95% intervals are "
                "wide and the gates judge noise"
            )
        if labels:
            absent = [x for x in labels if x not in found]
            if absent and len(found) >= 2:
                result.notes.append(f"data.evaluation has no text labelled {absent}: those classes are not measured")
        for column, values in (evaluation.groups or {}).items():
            small = sorted(
                {str(v) for v in values if sum(w == v for w in values) < recipe.safety.min_group_size} - {"None"}
            )
            if small:
                result.notes.append(
                    f"data.evaluation.group_columns {column}: groups {small} have fewer than "
                    f"safety.min_group_size ({recipe.safety.min_group_size}) texts and are listed, not judged"
                )
    if transfer is not None and evaluation is not None:
        both = set(transfer.texts) & set(evaluation.texts)
        if both:
            result.notes.append(
                f"{len(both)} evaluation texts are also in the transfer set: the student learns the teacher's answers "
                "on them, which flatters agreement; keep the evaluation texts out of the transfer file"
            )
    return sets


# --- a teacher too small or too fast to distil ---------------------------------------------------------

# Generous upper bounds on a student's throughput at batch 64 on a CPU (the static student measured about 12,000
# texts/s on 2 cores; a MiniLM-sized transformer a few hundred): a teacher faster than the ceiling / min_speedup
# cannot be beaten by that factor, however the student is trained.
STUDENT_CEILING_TEXTS_PER_S = {"static": 50_000, "transformer": 2_000}
LOCAL_TEACHERS = ("sklearn", "encoder", "hf-classifier")  # model files here: timing them again asks nobody


def _small_teacher(recipe, teacher, sampled: list[str], result) -> None:
    """The size and speed gates against a teacher that is already small (its file) or fast (timed on the sampled
    texts, local teachers only): when the student cannot meet them, say so before the run, with what to do."""
    from ..teachers import size_on_disk

    gates = recipe.gates.with_sector(recipe.intended_use.sector)
    kind = recipe.student.kind
    why = (
        "this teacher is already small and fast, so a distilled student may not pay here: keep the teacher, or, "
        "if you want the student anyway, set gates that fit a small teacher, e.g. gates: {min_speedup: "
        "{threshold: 0.3, on_fail: warn}, max_size_ratio: {threshold: 200, on_fail: warn}}; a bigger student or "
        "more texts makes these two figures worse, not better"
    )
    t_size = size_on_disk(*getattr(teacher, "files", [])) or None
    s_floor = _student_size_floor(recipe, teacher)
    gate = gates.max_size_ratio
    if gate is not None and t_size and s_floor and s_floor / t_size > gate.threshold:
        said = (
            f"gate max_size_ratio ({gate.threshold:g}, {gate.on_fail}s) cannot be met: the teacher's files hold "
            f"{_mb(t_size)}, and a {kind} student from {recipe.student.base} takes at least {_mb(s_floor)} "
            f"({s_floor / t_size:.3g}x the teacher)"
        )
        _say(result, gate, said, why)
    gate = gates.min_speedup
    ceiling = STUDENT_CEILING_TEXTS_PER_S.get(kind)
    if gate is None or not sampled or ceiling is None or recipe.teacher.kind not in LOCAL_TEACHERS:
        return
    if not (t_size and s_floor and t_size <= s_floor):
        return  # only a teacher smaller than the student: the ceiling is a rough figure, a false BLOCK costs a run
    batch = (sampled * (64 // len(sampled) + 1))[:64]  # batch 64, as the run's speed figure is measured
    try:
        teacher.predict(batch[:8])  # warm
        start = time.perf_counter()
        teacher.predict(batch)
        t_tps = len(batch) / max(time.perf_counter() - start, 1e-9)
    except Exception:  # a timing that fails says nothing about the gate; the labelling itself worked
        return
    if t_tps * gate.threshold > ceiling:
        said = (
            f"gate min_speedup ({gate.threshold:g}x, {gate.on_fail}s) cannot be met: the teacher answers about "
            f"{t_tps:,.0f} texts/s (timed here on {len(batch)} sampled texts), so the student would need "
            f"{t_tps * gate.threshold:,.0f} texts/s; a {kind} student reaches at most about {ceiling:,} on a CPU"
        )
        _say(result, gate, said, why)


def _say(result, gate, said: str, fix: str) -> None:
    if gate.on_fail == "block":
        result.add(said, fix, kind="gates")  # the run would end in a BLOCK nobody can fix by training
    else:
        result.notes.append(f"{said}; {fix}")


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n < 1e8 else f"{n / 1e9:.2f} GB"


def _student_size_floor(recipe, teacher) -> int | None:
    """The least the student can weigh on disk, read from its base's files (no weights loaded): a static student
    stores one float16 row per token of the base's vocabulary, a transformer student the base's weights."""
    import json

    from ..data.builtin import builtin_model
    from ..teachers import size_on_disk

    base = recipe.student.base
    try:
        if base == "teacher":
            folder = getattr(getattr(teacher, "encoder", None), "folder", None) or getattr(teacher, "folder", None)
        elif base.startswith("builtin:"):
            folder = builtin_model(base)
        else:
            folder = recipe.resolve(base)
    except UserError:
        return None
    folder = Path(folder) if folder else None
    if folder is None or not folder.is_dir():
        return None
    if recipe.student.kind == "transformer":
        weights = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
        return size_on_disk(*weights) or None if weights else None
    if recipe.student.kind != "static":
        return None
    try:
        vocab = len(json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])
        width = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("hidden_size")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    dims = min(d for d in (recipe.student.pca_dims, width) if d) if (recipe.student.pca_dims or width) else None
    return vocab * dims * 2 if dims else None


# --- the estimate ----------------------------------------------------------------------------------------


def estimate(recipe, teacher, texts: list[str], n_evaluation: int, out: Path, sample: int, result):
    """Rows still to label (the store already holds some after an earlier run), then time from `sample` timed
    calls whose outputs are stored, then cost for an API teacher from its prices and the tokens."""
    from ..check import Estimate
    from ..label import label
    from ..modalities.text import TextModality
    from ..store import TeacherStore

    modality = TextModality()
    target = getattr(teacher, "encoder", None) or teacher  # label() stores an encoder's embeddings under its own name
    kinds = sorted(target.provides)
    store_path = Path(out) / "teacher.sqlite"
    store = TeacherStore(store_path) if (sample > 0 or store_path.is_file()) else None
    try:
        if store is not None and hasattr(teacher, "attach"):
            teacher.attach(store)  # an API teacher stores each answer the moment it arrives

        def unstored() -> list[str]:
            if store is None:
                return list(texts)
            hashes = [modality.key(t) for t in texts]
            have = [set(store.get(target.fingerprint, hashes, k)) for k in kinds]
            done = set.intersection(*have) if have else set()
            return [t for t, h in zip(texts, hashes) if h not in done]

        todo = unstored()
        safety = _safety_texts(recipe, n_evaluation, modality)
        est = Estimate(texts=len(texts), stored=len(texts) - len(todo), safety_texts=safety)
        picked: list[str] = []
        if sample > 0 and todo and store is not None:
            picked = todo[:sample]
            batch = recipe.labelling.batch_size
            start = time.perf_counter()
            label(teacher, picked[:1], store, batch_size=batch, modality=modality)  # loads the model
            est.load_s = time.perf_counter() - start
            est.seconds_per_text = est.load_s
            if len(picked) > 1:
                start = time.perf_counter()
                label(teacher, picked[1:], store, batch_size=batch, modality=modality)
                est.seconds_per_text = (time.perf_counter() - start) / len(picked[1:])
            est.sampled = len(picked)
            est.stored += len(picked)
            est.store = str(store_path)
        _cost(recipe, teacher, todo[len(picked) :], picked, est)
        return est
    except UserError as exc:
        result.add(f"the teacher failed on the sampled texts: {exc}", kind="teacher")
        return None
    finally:
        if store is not None:
            store.close()


def _safety_texts(recipe, n_evaluation: int, modality) -> int:
    """At most how many more texts the counterfactual and robustness checks ask the teacher about."""
    s = recipe.safety
    more = 0
    if s.counterfactual:
        more += min(s.counterfactual_texts, n_evaluation)
    if s.robustness:
        more += min(s.robustness_texts, n_evaluation) * len(modality.perturbations())
    return more


def _cost(recipe, teacher, todo: list[str], picked: list[str], est) -> None:
    """API teachers: tokens per character and per answer from the sampled calls' usage where the server reported
    it, else estimated from characters."""
    api = getattr(recipe.teacher, "api", None)
    if api is None or not hasattr(teacher, "messages"):
        return
    from ..api.client import prices_for

    try:
        prices = prices_for(api)
    except UserError:
        return  # already reported as a problem
    if prices is None:
        return
    spend = getattr(getattr(teacher, "_client", None), "spend", None)
    chars = sum(len(m["content"]) + 8 for t in todo for m in teacher.messages(t))
    if spend is not None and spend.prompt_tokens and picked:
        sampled_chars = sum(len(m["content"]) + 8 for t in picked for m in teacher.messages(t))
        prompt = chars * spend.prompt_tokens / sampled_chars
        completion = len(todo) * spend.completion_tokens / len(picked)
        est.usd_basis = f"tokens as the {spend.requests} sampled requests used them"
    else:
        # about 4 characters a token for English; the answer is one short label (or `samples` of them)
        answers = 1 if api.use_logprobs else api.samples
        prompt = chars / 4
        completion = min(api.max_tokens, 12) * answers * len(todo)
        est.usd_basis = "tokens estimated at 4 characters each"
    est.usd = prices.usd(prompt, completion)
    est.price_source = prices.source
