"""text-generation on the shared engine: a teacher LM answers prompts once, a small LM learns to answer like it.

teach: the teacher answers every prompt (stored, resumable; top log-probs where it gives them).
train: the student (the teacher with layers dropped, or a given small LM) learns from the stored answers; the
same stage runs alone under `accelerate launch -m understudy.lm.train RUN`.
evaluate: both models on the held-out prompts, then every registered evaluation for generators (refusals kept,
unsupported facts).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..lm.recipe import LMRecipe
from . import API_TEACHER_NOT_MEASURED


def _ratio(a, b, digits: int = 4):
    return round(a / b, digits) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


class GenerationTask:
    name = "text-generation"
    recipe_model = LMRecipe
    modality = "chat"  # prompts as chat messages; lm/teacher.py keys the store the same way (chat_key)

    def prepare(self, run) -> dict:
        if "teacher" in run.state:
            return run.state
        from ..licences.ship import prefixed_name
        from ..lm.prompts import check_lengths, load_prompts, model_limit
        from ..lm.teacher import build_lm_teacher
        from ..lm.train import check_vocabularies, initial_student, plan_training

        s = run.state
        r = run.recipe.resolved()
        r.student.name = prefixed_name(r.student.name, run.licence)
        run.resolved = r
        run.folder.write_text("recipe.yaml", r.to_yaml())
        p, t, st, ev = r.prompts, r.teacher, r.training, r.evaluation
        with run.timed("setup"):
            prompts = load_prompts(
                p.path,
                system=p.system,
                test_split=p.test_split,
                test_fraction=p.test_fraction,
                limit=p.limit,
                seed=st.seed,
            )
            teacher: Any = build_lm_teacher(t)  # a local causal LM, or an LLM behind an API
            s["teacher"] = teacher
            plan_training(r, teacher)  # the method's needs against the teacher, before it answers anything
            run.progress.note(f"teacher: {teacher.description}")
            student0, s_tok, s_desc = initial_student(r, getattr(teacher, "folder", None))
            in_process = getattr(teacher, "in_process", True)
            if in_process:
                check_vocabularies(st.method, s_tok, teacher.tokenizer, teacher.description)
            too_long = []
            sides = [("student", s_tok, student0, ev.max_new_tokens)]
            if in_process:
                sides.insert(0, ("teacher", teacher.tokenizer, teacher.model, t.max_new_tokens))
            for who, tok, model, extra in sides:
                limit = min(p.max_prompt_tokens, (model_limit(model) or 10**9) - extra)
                prompts, long_ = check_lengths(prompts, tok, limit, who)
                too_long += long_
            if too_long:
                run.progress.note(
                    f"{len(too_long)} prompts are too long and left out (listed in report.json: data.too_long)"
                )
            train = [x for x in prompts if x.split == "train"]
            test = [x for x in prompts if x.split == "test"]
            if not test or not train:
                raise UserError(
                    f"{p.path}: after leaving out prompts too long, {len(train)} training and {len(test)} "
                    "held-out prompts remain; both are needed"
                )
        s.update(
            prompts=prompts,
            train=train,
            test=test,
            too_long=too_long,
            student0=student0,
            s_tok=s_tok,
            s_desc=s_desc,
            store=run.folder.open_store(),
        )
        return s

    def close(self, run) -> None:
        store = run.state.get("store")
        if store is not None:
            store.close()

    def _answers(self, run) -> dict:
        from ..lm.teacher import stored_answers

        s = self.prepare(run)
        if "answers" not in s:
            s["answers"] = stored_answers(s["teacher"], s["prompts"], s["store"])
        return s["answers"]

    def teach(self, run) -> dict:
        from ..lm.teacher import teach

        s = self.prepare(run)
        with run.timed("teacher answering"):
            needs = frozenset({"top_logprobs"}) if run.resolved.training.method == "topk" else frozenset()
            s["answers"], stats = teach(
                s["teacher"],
                s["prompts"],
                s["store"],
                batch_size=run.resolved.teacher.batch_size,
                progress=run.progress,
                needs=needs,
            )
        teaching = stats.to_report(s["teacher"].fingerprint)
        run.folder.write_json("teaching.json", teaching)
        return {}

    def train(self, run) -> dict:
        from ..lm.models import save_causal_lm
        from ..lm.teacher import answers_for_training
        from ..lm.train import TEACHER_METHODS, build_examples, fit

        s, r = run.state, run.resolved
        st = r.training
        # Prompts the teacher's endpoint refused have no answer: they are listed in teaching.json, not taught.
        answers = answers_for_training(self._answers(run), st.method, s["teacher"], s["s_tok"])
        with run.timed("train student"):
            train = [x for x in s["train"] if x.id in answers]
            examples, long_pairs = build_examples(train, answers, s["s_tok"], st.method, st.max_length)
            if long_pairs:
                run.progress.note(f"{len(long_pairs)} prompt+answer pairs exceed training.max_length and are left out")
            teacher_model = s["teacher"].model if st.method in TEACHER_METHODS else None
            model, summary, _ = fit(
                s["student0"],
                s["s_tok"],
                examples,
                r,
                run.folder.path,
                teacher_model=teacher_model,
                progress=run.progress,
            )
            summary["too_long"] = long_pairs
            save_causal_lm(
                model,
                s["s_tok"],
                run.folder / "student",
                {"name": r.student.name, "training_method": st.method, "built_from": s["s_desc"]},
            )
            run.folder.write_json("training.json", summary)
        del model
        s.pop("student0", None)
        gc.collect()
        return {}

    def evaluate(self, run) -> dict:
        from .. import registry
        from ..evaluate import run_evaluations
        from ..lm.evaluate import answer_length, judge, measure_generation, peak_memory_mb, perplexity
        from ..lm.models import load_causal_lm, n_params
        from ..lm.teacher import generate_answers
        from ..lm.train import initial_student
        from ..protocols import EvalContext
        from ..teachers.base import size_on_disk

        answers = self._answers(run)
        s, r, folder, progress = run.state, run.resolved, run.folder, run.progress
        teacher, test, ev, st = s["teacher"], s["test"], r.evaluation, r.training
        in_process = getattr(teacher, "in_process", True)
        if not (folder / "student" / "config.json").is_file():
            raise UserError(f"{folder / 'student'} holds no trained student; run the train stage first")
        unanswered = [x.id for x in test if x.id not in answers]
        refused = {x["id"] for x in (folder.read_json("teaching.json") or {}).get("refused") or []}
        never_asked = [i for i in unanswered if i not in refused]
        if never_asked:
            raise UserError(
                f"the teacher has no stored answer for {len(never_asked)} held-out prompts (e.g. "
                f"{never_asked[0]}); rerun: understudy distill RECIPE --out {folder.path} --from teach"
            )
        test = [x for x in test if x.id in answers]  # the ones its endpoint refused are listed in teaching.json
        if not test:
            raise UserError("the teacher's endpoint refused every held-out prompt; nothing to compare on")
        teacher_texts = [answers[x.id]["text"] for x in test]
        skipped: dict[str, str] = {}
        with run.timed("evaluate before"):
            # The untrained student built in prepare, unless the train stage of this run has trained it since.
            before_model = s.pop("student0", None)
            if before_model is None:
                before_model, _, _ = initial_student(r, getattr(teacher, "folder", None))
            before_answers, before = _side(
                before_model, s["s_tok"], test, teacher_texts, ev, progress, "student before training"
            )
            del before_model
            gc.collect()
        with run.timed("evaluate after"):
            student, s_tok = load_causal_lm(folder / "student")
            after_answers, after = _side(
                student, s_tok, test, teacher_texts, ev, progress, "distilled student answering"
            )
        chats = [x.messages for x in test[: ev.speed_prompts]]
        with run.timed("evaluate speed"):
            progress.note(f"timing: {len(chats)} answers of {ev.speed_tokens} tokens each, {ev.threads} threads")
            t_speed = (
                measure_generation(
                    teacher.model, teacher.tokenizer, chats, n_tokens=ev.speed_tokens, threads=ev.threads
                )
                if in_process
                else None
            )
            s_speed = measure_generation(student, s_tok, chats, n_tokens=ev.speed_tokens, threads=ev.threads)
        if not in_process:
            skipped["teacher speed, memory, perplexity"] = (
                "the teacher runs behind an API: its speed is its server's, "
                "and it gives no token scores on given answers"
            )
        judged = None
        if ev.judge and ev.judge_prompts and in_process:
            with run.timed("teacher as judge"):
                k = min(ev.judge_prompts, len(test))
                judged = judge(
                    teacher.model,
                    teacher.tokenizer,
                    [x.messages for x in test[:k]],
                    teacher_texts[:k],
                    after_answers[:k],
                )
                judged["caveat"] = (
                    "the teacher judges its own answers against the student's: a small teacher is a weak, biased judge"
                )
        elif ev.judge and ev.judge_prompts:
            skipped["judge"] = "the teacher runs behind an API; the in-process judge needs its weights"
        else:
            skipped["judge"] = "switched off (evaluation.judge / evaluation.judge_prompts)"
        with run.timed("evaluate memory"):
            t_mem = s_mem = None
            if ev.measure_memory:
                t_mem = peak_memory_mb(str(teacher.folder), ev.threads) if in_process else None
                s_mem = peak_memory_mb(str(folder / "student"), ev.threads)
        t_ppl = None
        if in_process:
            with run.timed("teacher perplexity"):
                t_ppl = perplexity(
                    teacher.model,
                    teacher.tokenizer,
                    [x.messages for x in test],
                    teacher_texts,
                    batch_size=ev.batch_size,
                )

        def student_generate(chats, max_new_tokens):
            return [
                a["text"]
                for a in generate_answers(
                    student,
                    s_tok,
                    chats,
                    max_new_tokens=max_new_tokens,
                    batch_size=ev.batch_size,
                    progress=progress,
                    what="student answering",
                )
            ]

        def teacher_generate(chats, max_new_tokens):
            if not in_process:  # stored as they arrive: a rerun pays for none twice
                return teacher.generate_texts(chats, max_new_tokens, s["store"])
            return [
                a["text"]
                for a in generate_answers(
                    teacher.model,
                    teacher.tokenizer,
                    chats,
                    max_new_tokens=max_new_tokens,
                    batch_size=ev.batch_size,
                    progress=progress,
                    what="teacher answering",
                )
            ]

        ctx = EvalContext(
            task=self.name,
            recipe=r,
            teacher=teacher,
            student=student,
            inputs=[x.messages for x in test],
            student_dir=folder / "student",
            progress=progress,
            modality=registry.load(registry.MODALITIES, self.modality)(),
            extra={
                "prompts": [x.last_user for x in test],
                "teacher_texts": teacher_texts,
                "student_texts": after_answers,
                "system": r.prompts.system,
                "teacher_generate": teacher_generate,
                "student_generate": student_generate,
            },
        )
        sections, skipped_evals = run_evaluations(ctx, timed=run.timed)
        t_size = size_on_disk(teacher.folder) if in_process else None
        s_size = size_on_disk(folder / "student")
        t_params = n_params(teacher.model) if in_process else None
        s_params = n_params(student)
        teaching = folder.read_json("teaching.json")
        training = folder.read_json("training.json")
        report = {
            "data": {
                "prompts_file": r.prompts.path,
                "prompts": len(s["prompts"]),
                "train": len(s["train"]),
                "test": len(test),
                "too_long": s["too_long"],
            },
            "teaching": teaching,
            "teacher": {
                "description": teacher.description,
                "fingerprint": teacher.fingerprint,
                "parameters": t_params,
                "size_bytes": t_size,
                "file_size_bytes": size_on_disk(teacher.path) if in_process else None,
                "perplexity_on_own_answers": t_ppl,
                "answer_length": answer_length(teacher_texts, teacher.tokenizer if in_process else None),
                "speed": t_speed,
                "peak_memory_mb": t_mem,
            },
            "student": {
                "description": f"{s['s_desc']}, trained by {st.method} distillation",
                "name": r.student.name,
                "fingerprint": None,
                "parameters": s_params,
                "size_bytes": s_size,
                "speed": s_speed,
                "peak_memory_mb": s_mem,
                "before": before,
                "after": after,
                "training": {**(training or {}), "settings": st.model_dump()},
            },
        }
        t_tps = (t_speed or {}).get("tokens_per_s")
        report["comparison"] = {
            "rouge_l_before": before["rouge_l"],
            "rouge_l_after": after["rouge_l"],
            "rouge_l_gain": _ratio(after["rouge_l"], before["rouge_l"], 2),  # None when the student scored 0 before
            "rouge_l_at_least_doubled": bool(after["rouge_l"] and after["rouge_l"] >= 2 * (before["rouge_l"] or 0)),
            "embedding_similarity_before": before["embedding_similarity"],
            "embedding_similarity_after": after["embedding_similarity"],
            "perplexity_before": before["perplexity_on_teacher_answers"],
            "perplexity_after": after["perplexity_on_teacher_answers"],
            "speedup": _ratio(s_speed["tokens_per_s"], t_tps, 2),
            "time_to_first_token_ratio": _ratio(
                s_speed["time_to_first_token_ms"], (t_speed or {}).get("time_to_first_token_ms"), 3
            ),
            "size_ratio": _ratio(s_size, t_size),
            "parameter_ratio": _ratio(s_params, t_params),
            "memory_ratio": _ratio(s_mem, t_mem),
            "judge": judged,
        }
        report["examples"] = [
            {"id": x.id, "prompt": x.last_user, "teacher": tt, "student_before": b, "student": a}
            for x, tt, b, a in list(zip(test, teacher_texts, before_answers, after_answers))[: ev.examples]
        ]
        if not in_process:
            report["not_measured"] = dict(API_TEACHER_NOT_MEASURED)
        report["generation"] = sections
        report["skipped_evaluations"] = {**skipped, **skipped_evals}
        return report

    def render_html(self, report: dict, path: Path) -> None:
        from ..lm.report_html import render_lm_html

        render_lm_html(report, path)


def _side(model, tokenizer, test, teacher_texts, ev, progress, what) -> tuple[list[str], dict]:
    """A student's answers to the held-out prompts and its agreement with the teacher's answers."""
    from ..lm.evaluate import answer_length, embedding_similarity, perplexity, rouge_l
    from ..lm.teacher import generate_answers

    chats = [p.messages for p in test]
    ppl = perplexity(model, tokenizer, chats, teacher_texts, batch_size=ev.batch_size)
    answers = [
        a["text"]
        for a in generate_answers(
            model,
            tokenizer,
            chats,
            max_new_tokens=ev.max_new_tokens,
            batch_size=ev.batch_size,
            progress=progress,
            what=what,
        )
    ]
    rouge = rouge_l(answers, teacher_texts)
    emb = embedding_similarity(answers, teacher_texts)
    return answers, {
        "rouge_l": rouge["mean"],
        "embedding_similarity": emb.get("mean"),
        "perplexity_on_teacher_answers": ppl,
        "answer_length": answer_length(answers, tokenizer),
        "per_prompt": {"rouge_l": rouge["per_prompt"], "embedding_similarity": emb.get("per_prompt")},
        **({"embedding_error": emb["error"]} if "error" in emb else {}),
    }
