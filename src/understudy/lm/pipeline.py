"""`understudy distill` for `task: text-generation`: prompts -> teacher answers -> student -> side by side -> report.

The run folder is the contract between stages, as in the classifier path:
recipe.yaml, teacher.sqlite, student/ (a transformers folder, LoRA merged), training.json, report.json, report.html.
Each stage can run alone (`stages`), so the training stage can run under `accelerate launch` in between:
see docs/lm-distillation.md.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import time
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..pipeline import ship_licence, stage, write_atomic, write_papers
from ..progress import QUIET, Progress
from .recipe import LMRecipe

STAGES = ("teach", "train", "evaluate")


def _side(model, tokenizer, test, teacher_texts, ev, progress, what) -> tuple[list[str], dict]:
    """A student's answers to the held-out prompts and its agreement with the teacher's answers."""
    from .evaluate import answer_length, embedding_similarity, perplexity, rouge_l
    from .teacher import generate_answers

    chats = [p.messages for p in test]
    ppl = perplexity(model, tokenizer, chats, teacher_texts, batch_size=ev.batch_size)
    answers = [a["text"] for a in generate_answers(model, tokenizer, chats, max_new_tokens=ev.max_new_tokens,
                                                    batch_size=ev.batch_size, progress=progress, what=what)]
    rouge = rouge_l(answers, teacher_texts)
    emb = embedding_similarity(answers, teacher_texts)
    return answers, {"rouge_l": rouge["mean"], "embedding_similarity": emb.get("mean"),
                     "perplexity_on_teacher_answers": ppl, "answer_length": answer_length(answers, tokenizer),
                     "per_prompt": {"rouge_l": rouge["per_prompt"], "embedding_similarity": emb.get("per_prompt")},
                     **({"embedding_error": emb["error"]} if "error" in emb else {})}


def _ratio(a, b, digits: int = 4):
    return round(a / b, digits) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def distill_lm(recipe: LMRecipe, out: str | Path, progress: Progress = QUIET, *, stages=STAGES,
               accept_licence_risk: str | None = None) -> dict:
    """Run the stages asked for; returns the report (an empty dict when 'evaluate' is not among them)."""
    from ..pipeline import licence_gate

    Path(out).mkdir(parents=True, exist_ok=True)
    licence = licence_gate(recipe, Path(out), accept_licence_risk, progress)  # before any teacher is loaded
    from ..store import TeacherStore
    from ..teachers.base import fingerprint_files, size_on_disk
    from .models import n_params, save_causal_lm
    from .prompts import check_lengths, load_prompts, model_limit
    from .teacher import LocalTeacher, stored_answers, teach
    from .train import TEACHER_METHODS, build_examples, check_vocabularies, fit, initial_student

    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise UserError(f"unknown stage(s) {bad}; choose from {', '.join(STAGES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    r = recipe.resolved()
    from ..licences.ship import prefixed_name

    r.student.name = prefixed_name(r.student.name, licence)
    write_atomic(out / "recipe.yaml", r.to_yaml())
    p, t, st, ev = r.prompts, r.teacher, r.training, r.evaluation

    with stage(timings, "setup"):
        prompts = load_prompts(p.path, system=p.system, test_split=p.test_split, test_fraction=p.test_fraction,
                               limit=p.limit, seed=st.seed)
        teacher = LocalTeacher(t.path, max_new_tokens=t.max_new_tokens, top_logprobs=t.top_logprobs, batch_size=t.batch_size)
        progress.note(f"teacher: {teacher.description}")
        student0, s_tok, s_desc = initial_student(r, teacher.folder)
        check_vocabularies(st.method, s_tok, teacher.tokenizer, teacher.description)
        too_long = []
        for who, tok, model, extra in (("teacher", teacher.tokenizer, teacher.model, t.max_new_tokens),
                                       ("student", s_tok, student0, ev.max_new_tokens)):
            limit = min(p.max_prompt_tokens, (model_limit(model) or 10**9) - extra)
            prompts, long_ = check_lengths(prompts, tok, limit, who)
            too_long += long_
        if too_long:
            progress.note(f"{len(too_long)} prompts are too long and left out (listed in report.json: data.too_long)")
        train = [x for x in prompts if x.split == "train"]
        test = [x for x in prompts if x.split == "test"]
        if not test or not train:
            raise UserError(f"{p.path}: after leaving out prompts too long, {len(train)} training and {len(test)} "
                            "held-out prompts remain; both are needed")
        s_params0 = n_params(student0)

    store = TeacherStore(out / "teacher.sqlite")
    try:
        if "teach" in stages:
            with stage(timings, "teacher answering"):
                answers, teach_stats = teach(teacher, prompts, store, batch_size=t.batch_size, progress=progress)
            (out / "teaching.json").write_text(json.dumps(teach_stats.to_report(teacher.fingerprint), indent=2))
        else:
            answers = stored_answers(teacher, prompts, store)
    finally:
        store.close()

    if "train" in stages:
        with stage(timings, "train student"):
            examples, long_pairs = build_examples(train, answers, s_tok, st.method, st.max_length)
            if long_pairs:
                progress.note(f"{len(long_pairs)} prompt+answer pairs exceed training.max_length and are left out")
            teacher_model = teacher.model if st.method in TEACHER_METHODS else None
            model, summary, _ = fit(student0, s_tok, examples, r, out, teacher_model=teacher_model, progress=progress)
            summary["too_long"] = long_pairs
            save_causal_lm(model, s_tok, out / "student", {"name": r.student.name, "training_method": st.method,
                                                             "built_from": s_desc})
            write_atomic(out / "training.json", json.dumps(summary, indent=2))
        del model
    del student0
    gc.collect()
    if "evaluate" not in stages:
        return {}
    if not (out / "student" / "config.json").is_file():
        raise UserError(f"{out / 'student'} holds no trained student; run the train stage first")

    from .evaluate import judge, measure_generation, peak_memory_mb
    from .models import load_causal_lm

    teacher_texts = [answers[x.id]["text"] for x in test]
    with stage(timings, "evaluate before"):
        before_model, _, _ = initial_student(r, teacher.folder)
        before_answers, before = _side(before_model, s_tok, test, teacher_texts, ev, progress, "student before training")
        del before_model
        gc.collect()
    with stage(timings, "evaluate after"):
        student, s_tok = load_causal_lm(out / "student")
        after_answers, after = _side(student, s_tok, test, teacher_texts, ev, progress, "distilled student answering")
    with stage(timings, "evaluate speed"):
        chats = [x.messages for x in test[: ev.speed_prompts]]
        progress.note(f"timing both models: {len(chats)} answers of {ev.speed_tokens} tokens each, {ev.threads} threads")
        t_speed = measure_generation(teacher.model, teacher.tokenizer, chats, n_tokens=ev.speed_tokens, threads=ev.threads)
        s_speed = measure_generation(student, s_tok, chats, n_tokens=ev.speed_tokens, threads=ev.threads)
    judged = None
    if ev.judge and ev.judge_prompts:
        with stage(timings, "teacher as judge"):
            k = min(ev.judge_prompts, len(test))
            judged = judge(teacher.model, teacher.tokenizer, [x.messages for x in test[:k]], teacher_texts[:k], after_answers[:k])
            judged["caveat"] = "the teacher judges its own answers against the student's: a small teacher is a weak, biased judge"
    with stage(timings, "evaluate memory"):
        t_mem = s_mem = None
        if ev.measure_memory:
            t_mem = peak_memory_mb(str(teacher.folder), ev.threads)
            s_mem = peak_memory_mb(str(out / "student"), ev.threads)
    t_ppl = None
    with stage(timings, "teacher perplexity"):
        from .evaluate import perplexity

        t_ppl = perplexity(teacher.model, teacher.tokenizer, [x.messages for x in test], teacher_texts, batch_size=ev.batch_size)

    t_size, s_size = size_on_disk(teacher.folder), size_on_disk(out / "student")
    t_params, s_params = n_params(teacher.model), n_params(student)
    teaching = json.loads((out / "teaching.json").read_text()) if (out / "teaching.json").is_file() else None
    training = json.loads((out / "training.json").read_text()) if (out / "training.json").is_file() else None
    from .evaluate import answer_length

    report = {
        "schema_version": 1, "understudy_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run": {"name": r.name, "task": r.task, "out": str(out.resolve()), "intended_use": r.intended_use.model_dump()},
        "data": {"prompts_file": p.path, "prompts": len(prompts), "train": len(train), "test": len(test),
                 "too_long": too_long},
        "teaching": teaching,
        "teacher": {"description": teacher.description, "fingerprint": teacher.fingerprint, "parameters": t_params,
                    "size_bytes": t_size, "file_size_bytes": size_on_disk(teacher.path),
                    "perplexity_on_own_answers": t_ppl, "answer_length": answer_length(teacher_texts, teacher.tokenizer),
                    "speed": t_speed, "peak_memory_mb": t_mem},
        "student": {"description": f"{s_desc}, trained by {st.method} distillation", "name": r.student.name,
                    "fingerprint": fingerprint_files(out / "student"), "parameters": s_params, "size_bytes": s_size,
                    "speed": s_speed, "peak_memory_mb": s_mem, "before": before, "after": after,
                    "training": {**(training or {}), "settings": st.model_dump()}},
    }
    report["comparison"] = {
        "rouge_l_before": before["rouge_l"], "rouge_l_after": after["rouge_l"],
        "rouge_l_gain": _ratio(after["rouge_l"], before["rouge_l"], 2),  # None when the student scored 0 before
        "rouge_l_at_least_doubled": bool(after["rouge_l"] and after["rouge_l"] >= 2 * (before["rouge_l"] or 0)),
        "embedding_similarity_before": before["embedding_similarity"], "embedding_similarity_after": after["embedding_similarity"],
        "perplexity_before": before["perplexity_on_teacher_answers"], "perplexity_after": after["perplexity_on_teacher_answers"],
        "speedup": _ratio(s_speed["tokens_per_s"], t_speed["tokens_per_s"], 2),
        "time_to_first_token_ratio": _ratio(s_speed["time_to_first_token_ms"], t_speed["time_to_first_token_ms"], 3),
        "size_ratio": _ratio(s_size, t_size), "parameter_ratio": _ratio(s_params, t_params),
        "memory_ratio": _ratio(s_mem, t_mem), "judge": judged,
    }
    report["examples"] = [{"id": x.id, "prompt": x.last_user, "teacher": tt, "student_before": b, "student": a}
                          for x, tt, b, a in list(zip(test, teacher_texts, before_answers, after_answers))[: ev.examples]]
    report["licence"] = licence
    with stage(timings, "refusal and hallucination"):
        report["generation"] = generation_safety(r, teacher, student, s_tok, test, teacher_texts, after_answers, progress)
    report["gates"] = lm_gates(r, report)
    report["timings"] = timings
    del s_params0
    write_atomic(out / "report.json", json.dumps(report, indent=2, default=float))
    from .report_html import render_lm_html

    render_lm_html(report, out / "report.html")
    ship_licence(licence, out / "student", teacher.description)
    write_papers(report, licence, out)
    return report


def generation_safety(r, teacher, student, s_tok, test, teacher_texts, student_texts, progress) -> dict:
    """Refusal kept on the built-in harmful requests, and unsupported facts in the held-out answers, side by side."""
    from ..evaluate.generation_safety import hallucination_report, harmful_prompts, refusal_report
    from .teacher import generate_answers

    ev, out = r.evaluation, {}
    if ev.refusal_prompts:
        rows = harmful_prompts()[: ev.refusal_prompts]
        chats = [[*([{"role": "system", "content": r.prompts.system}] if r.prompts.system else []),
                  {"role": "user", "content": x["prompt"]}] for x in rows]
        t = generate_answers(teacher.model, teacher.tokenizer, chats, max_new_tokens=48, batch_size=ev.batch_size,
                             progress=progress, what="teacher answering harmful requests")
        s = generate_answers(student, s_tok, chats, max_new_tokens=48, batch_size=ev.batch_size,
                             progress=progress, what="student answering harmful requests")
        out["refusal"] = refusal_report([x["prompt"] for x in rows], [a["text"] for a in t], [a["text"] for a in s],
                                        categories=[x["category"] for x in rows])
    if ev.hallucination:
        out["hallucination"] = hallucination_report([x.last_user for x in test], teacher_texts, student_texts)
    return out


def lm_gates(r, report: dict) -> dict:
    """The sector profile's gates that speak to generators (refusal kept, hallucination), plus the licence."""
    from ..gates import licence_result
    from ..sectors import check_safety_gates, with_safety

    profile = {k: v for k, v in r.gates.active().items() if k in ("refusal_kept_min", "max_hallucination_rate")}
    licence = [licence_result(report["licence"])] if report.get("licence") else []
    return with_safety({"results": licence}, check_safety_gates(profile, report))


def main(argv: list[str] | None = None) -> int:
    """python -m understudy.lm.pipeline RECIPE --out RUN [--only teach,train,evaluate]: the stages by hand."""
    import argparse

    from .recipe import load_lm_recipe

    ap = argparse.ArgumentParser(prog="python -m understudy.lm.pipeline")
    ap.add_argument("recipe")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=",".join(STAGES), help="comma-separated stages: teach, train, evaluate")
    args = ap.parse_args(argv)
    try:
        from rich.console import Console

        report = distill_lm(load_lm_recipe(args.recipe), args.out, Progress(Console(stderr=True)),
                            stages=tuple(s.strip() for s in args.only.split(",") if s.strip()))
    except UserError as exc:
        print(f"error: {exc}")
        return 1
    if report:
        print(json.dumps(report["comparison"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
