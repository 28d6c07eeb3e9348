"""Train the language-model student: sequence-level, token-level, top-k or on-policy distillation.

One transformers Trainer subclass for every method, so the same code runs on one CPU or under
`accelerate launch` on several processes, GPUs or machines (the Trainer shards the data and syncs gradients):

    accelerate launch -m understudy.lm.train RUN_FOLDER

reads RUN_FOLDER/recipe.yaml and the teacher's answers in RUN_FOLDER/teacher.sqlite, and writes
RUN_FOLDER/student/ (LoRA merged) and RUN_FOLDER/training.json from the main process.
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..progress import QUIET, Progress
from .losses import answer_cross_entropy, divergence, topk_divergence
from .prompts import prompt_ids

TEACHER_METHODS = ("token", "on-policy")  # the teacher model sits in the training loop
SAME_VOCAB_METHODS = ("token", "topk", "on-policy")


def check_vocabularies(method: str, student_tokenizer, teacher_tokenizer, teacher_desc: str) -> None:
    """Refuse token-level methods across different tokenizers now, not an hour into training."""
    from .models import same_vocabulary

    if method in SAME_VOCAB_METHODS and not same_vocabulary(student_tokenizer, teacher_tokenizer):
        raise UserError(
            f"training.method '{method}' compares the teacher's and the student's next-token distributions token by "
            f"token, but their tokenizers differ (teacher {teacher_desc}: {len(teacher_tokenizer)} tokens, student: "
            f"{len(student_tokenizer)} tokens), so token ids do not mean the same text. Use training.method: sequence "
            "(the student learns from the teacher's answer texts, with its own tokenizer), or a student that shares "
            "the teacher's tokenizer (student.base: teacher)."
        )


def plan_training(recipe, teacher, student_tokenizer=None) -> None:
    """Plan before work: refuse a training method the teacher cannot serve, before any teacher call or training.

    topk needs top log-probs (a local teacher with top_logprobs 0 gives none; an API teacher must ask for them, and
    `teach(needs={"top_logprobs"})` stops after the first batch if the server gives none); token and on-policy need
    the teacher's model in the loop (an API cannot score the student's tokens); a student built from the teacher
    needs the teacher's layers. With `student_tokenizer`, a local teacher's tokenizer is checked against it
    (check_vocabularies; this loads the teacher)."""
    method = recipe.training.method
    in_process = getattr(teacher, "in_process", True)
    spec = recipe.teacher
    kind = getattr(spec, "kind", "local")
    if not in_process and getattr(recipe.student, "base", None) == "teacher":
        raise UserError(
            f"student.base 'teacher' keeps some of the teacher's layers, but the teacher ({teacher.description}) "
            "is behind an API and has no layers here; set student.base to a small causal LM (a transformers "
            "folder, a .gguf file or 'builtin:NAME') that the API teacher's answers fine-tune"
        )
    if method in TEACHER_METHODS and not in_process:
        raise UserError(
            f"training.method '{method}' needs the teacher's full next-token distributions on every "
            f"training step, but the teacher ({teacher.description}, teacher.kind {kind}) is behind an API and "
            "cannot score the student's tokens; use training.method: sequence (learn from its answer texts) "
            "or topk (its top log-probs, where the server gives them)"
        )
    if method == "topk" and "top_logprobs" not in teacher.provides:
        raise UserError(
            f"training.method 'topk' needs the teacher's top log-probs, and teacher.top_logprobs is 0, so "
            f"{teacher.description} is asked for none; set teacher.top_logprobs above 0 (e.g. 20) or use "
            "training.method: sequence"
        )
    if student_tokenizer is not None and in_process:
        check_vocabularies(method, student_tokenizer, teacher.tokenizer, teacher.description)


def build_examples(prompts, answers: dict, tokenizer, method: str, max_length: int) -> tuple[list[dict], list[dict]]:
    """Tokenised (prompt, teacher answer) pairs; pairs longer than max_length are reported, not cut."""
    examples, too_long = [], []
    eos = tokenizer.eos_token_id
    for p in prompts:
        a = answers[p.id]
        head = prompt_ids(tokenizer, p.messages)
        if method == "sequence":
            body = list(tokenizer(a["text"], add_special_tokens=False)["input_ids"]) + (
                [eos] if eos is not None else []
            )
        else:
            if a.get("token_ids") is None:
                raise UserError(
                    f"training.method '{method}' needs the teacher's token ids, which this teacher does not give; "
                    "use training.method: sequence"
                )
            body = list(a["token_ids"])
        if len(head) + len(body) > max_length:
            too_long.append({"id": p.id, "line": p.line, "tokens": len(head) + len(body)})
            continue
        ex = {"id": p.id, "prompt_ids": head, "answer_ids": body}
        if method == "topk":
            top = a.get("top_logprobs")
            if top is None:
                raise UserError(
                    "training.method 'topk' needs the teacher's top log-probs; set teacher.top_logprobs "
                    "above 0 (its answers are then asked again), or use training.method: sequence"
                )
            ex["topk_ids"], ex["topk_logprobs"] = np.asarray(top["ids"]), np.asarray(top["logprobs"])
        examples.append(ex)
    return examples, too_long


class Collator:
    """Right-padded batches: input ids, mask, labels (-100 outside the answer), and the teacher's top-k aligned to
    the labels; prompts kept for on-policy generation."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict]) -> dict:
        seqs = [r["prompt_ids"] + r["answer_ids"] for r in rows]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)
        for b, (r, s) in enumerate(zip(rows, seqs)):
            ids[b, : len(s)] = torch.tensor(s)
            mask[b, : len(s)] = 1
            labels[b, len(r["prompt_ids"]) : len(s)] = torch.tensor(r["answer_ids"])
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if "topk_ids" in rows[0]:
            k = rows[0]["topk_ids"].shape[1]
            top_ids = torch.zeros((len(rows), width, k), dtype=torch.long)
            top_lp = torch.zeros((len(rows), width, k), dtype=torch.float32)
            for b, r in enumerate(rows):
                s, n = len(r["prompt_ids"]), len(r["answer_ids"])
                top_ids[b, s : s + n] = torch.from_numpy(r["topk_ids"][:n].astype(np.int64))
                top_lp[b, s : s + n] = torch.from_numpy(r["topk_logprobs"][:n])
            batch["topk_ids"], batch["topk_logprobs"] = top_ids, top_lp
        batch["prompt_lengths"] = torch.tensor([len(r["prompt_ids"]) for r in rows])
        return batch


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def _trainer_class():
    from transformers import Trainer

    class DistilTrainer(Trainer):
        """compute_loss = ce_weight * cross-entropy on the teacher's answer + kd_weight * divergence from the teacher
        (its live logits, its stored top-k, or its logits on the student's own answers)."""

        def __init__(self, *args, settings, teacher_model=None, max_new_tokens: int = 64, **kwargs):
            super().__init__(*args, **kwargs)
            self.settings, self.teacher_model, self.max_new_tokens = settings, teacher_model, max_new_tokens
            self.rng = random.Random(settings.seed + self.args.process_index)
            self.history: list[dict] = []
            if teacher_model is not None:
                self.teacher_model = teacher_model.to(self.args.device).eval()
                self.teacher_model.requires_grad_(False)

        def _own_answers(self, model, inputs):
            """On-policy: the student samples its own answers to the batch's prompts; returns a new batch."""
            st = self.settings
            unwrapped = self.accelerator.unwrap_model(model)
            pad = self.processing_class.pad_token_id
            prompts = [inputs["input_ids"][b, :n] for b, n in enumerate(inputs["prompt_lengths"].tolist())]
            width = max(len(p) for p in prompts)
            left = torch.full((len(prompts), width), pad, dtype=torch.long, device=inputs["input_ids"].device)
            lmask = torch.zeros_like(left)
            for b, p in enumerate(prompts):
                left[b, width - len(p) :], lmask[b, width - len(p) :] = p, 1
            was_training = unwrapped.training
            unwrapped.eval()
            with torch.no_grad():
                out = unwrapped.generate(
                    input_ids=left,
                    attention_mask=lmask,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=True,
                    temperature=st.temperature,
                    top_p=1.0,
                    top_k=0,
                    pad_token_id=pad,
                )
            unwrapped.train(was_training)
            new = out[:, width:]
            stops = set(
                unwrapped.generation_config.eos_token_id
                if isinstance(unwrapped.generation_config.eos_token_id, list)
                else [unwrapped.generation_config.eos_token_id]
            )
            rows = []
            for b, p in enumerate(prompts):
                ids = new[b].tolist()
                end = next((t + 1 for t, tok in enumerate(ids) if tok in stops), len(ids))
                rows.append({"prompt_ids": p.tolist(), "answer_ids": ids[:end] or [pad]})
            batch = Collator(pad)(rows)
            return {k: v.to(inputs["input_ids"].device) for k, v in batch.items()}

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            st = self.settings
            on_policy = st.method == "on-policy" and model.training and self.rng.random() < st.on_policy_fraction
            if on_policy:
                inputs = self._own_answers(model, inputs)
            labels = inputs["labels"][:, 1:]
            mask = labels != -100
            out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            logits = out.logits[:, :-1]
            parts = {}
            if st.ce_weight > 0 and not on_policy:
                parts["ce"] = answer_cross_entropy(logits, labels)
            if st.method == "topk" and st.kd_weight > 0:
                parts["kd"] = topk_divergence(
                    logits,
                    inputs["topk_ids"][:, 1:],
                    inputs["topk_logprobs"][:, 1:],
                    mask,
                    kind=st.divergence,
                    beta=st.beta,
                    temperature=st.temperature,
                )
            elif st.method in TEACHER_METHODS and st.kd_weight > 0:
                with torch.no_grad():
                    t_logits = self.teacher_model(
                        input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
                    ).logits[:, :-1]
                parts["kd"] = divergence(
                    logits, t_logits, mask, kind=st.divergence, beta=st.beta, temperature=st.temperature
                )
            loss = st.ce_weight * parts.get("ce", 0.0) + st.kd_weight * parts.get("kd", 0.0)
            if not torch.is_tensor(loss):
                raise UserError("training: ce_weight and kd_weight are both 0 for this method; nothing to learn from")
            if model.training:
                self.history.append(
                    {
                        "step": self.state.global_step,
                        "loss": round(float(loss.detach()), 5),
                        **{k: round(float(v.detach()), 5) for k, v in parts.items()},
                        **({"on_policy": True} if on_policy else {}),
                    }
                )
            return (loss, out) if return_outputs else loss

    return DistilTrainer


def _progress_callback(progress: Progress, total: int):
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        def __init__(self):
            self.ctx = progress.task("training the student", total)
            self.advance = self.ctx.__enter__()

        def on_step_end(self, args, state, control, **kw):
            self.advance(1)

        def on_train_end(self, args, state, control, **kw):
            self.ctx.__exit__(None, None, None)

    return Report()


def prepare_student(model, spec):
    """Frozen embeddings and/or LoRA adapters, as the recipe asks; returns the model to train."""
    from .models import add_lora

    if spec.lora is not None:
        return add_lora(model, spec.lora.r, spec.lora.alpha, spec.lora.dropout, spec.lora.target_modules)
    if spec.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model


def fit(model, tokenizer, examples: list[dict], recipe, out: Path, *, teacher_model=None, progress: Progress = QUIET):
    """Train `model` on the examples; returns (the trained model, a summary for the report, the Trainer).
    A LoRA model comes back with its adapters; `models.save_causal_lm` merges them."""
    from transformers import TrainingArguments

    st = recipe.training
    if not examples:
        raise UserError(
            "no training examples left (every prompt was held out or too long); add prompts or raise training.max_length"
        )
    if st.method in TEACHER_METHODS and teacher_model is None:
        raise UserError(
            f"training.method '{st.method}' needs the teacher model in the loop; this teacher gives no model"
        )
    torch.manual_seed(st.seed)
    model = prepare_student(model, recipe.student)
    model.train()
    use_gpu = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=st.batch_size,
        gradient_accumulation_steps=st.gradient_accumulation,
        num_train_epochs=st.epochs,
        learning_rate=st.learning_rate,
        warmup_steps=st.warmup_ratio,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=st.seed,
        logging_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        use_cpu=not use_gpu,
        bf16=use_gpu and torch.cuda.is_bf16_supported(),
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )
    n_steps = math.ceil(len(examples) / (st.batch_size * st.gradient_accumulation * args.world_size)) * math.ceil(
        st.epochs
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=ListDataset(examples),
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        settings=st,
        teacher_model=teacher_model,
        max_new_tokens=recipe.teacher.max_new_tokens,
        callbacks=[_progress_callback(progress, n_steps)] if args.process_index == 0 else [],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our Progress reports instead of printed dicts
    start = time.perf_counter()
    result = trainer.train()
    if args.process_index == 0 and (out / "checkpoints").is_dir() and not any((out / "checkpoints").iterdir()):
        (out / "checkpoints").rmdir()
    model = trainer.accelerator.unwrap_model(trainer.model).eval()
    steps = trainer.history
    summary = {
        "method": st.method,
        "seconds": round(time.perf_counter() - start, 2),
        "examples": len(examples),
        "steps": result.global_step,
        "world_size": args.world_size,
        "device": str(args.device),
        "first_loss": steps[0]["loss"] if steps else None,
        "last_loss": float(np.mean([s["loss"] for s in steps[-5:]])) if steps else None,
        "history": steps[:: max(1, len(steps) // 200)],
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    return model, summary, trainer


def initial_student(recipe, teacher_folder: Path | None = None):
    """(model, tokenizer, description) of the student before any training, as the recipe describes it."""
    from .models import default_keep, load_causal_lm, student_from_teacher

    spec = recipe.student
    if spec.base == "teacher":
        from transformers import AutoConfig

        folder = teacher_folder
        n = AutoConfig.from_pretrained(str(folder), local_files_only=True).num_hidden_layers
        keep = list(spec.keep_layers) if spec.keep_layers is not None else default_keep(n, spec.layers)
        model, tok = student_from_teacher(folder, keep)
        return model, tok, f"the teacher with layers {keep} of {n} kept"
    model, tok = load_causal_lm(spec.base)
    return model, tok, f"causal LM {spec.base}"


def train_run(run: str | Path, progress: Progress = QUIET) -> dict:
    """The training stage alone, from a run folder the teaching stage filled: what `accelerate launch` runs."""
    from ..store import TeacherStore
    from .models import save_causal_lm
    from .prompts import load_prompts
    from .recipe import LMRecipe
    from .teacher import answers_for_training, build_lm_teacher, stored_answers

    run = Path(run)
    import os

    import yaml

    from ..run import RunFolder

    folder = RunFolder(run)
    # Under `accelerate launch` every process runs this; the first one keeps the books of the run folder.
    first = os.environ.get("RANK", "0") == "0"
    if not (run / "recipe.yaml").is_file():
        raise UserError(f"{run} holds no recipe.yaml; run the teaching stage first (understudy distill)")
    recipe_yaml = (run / "recipe.yaml").read_text()
    recipe = LMRecipe.model_validate(yaml.safe_load(recipe_yaml))
    folder.require("teach", "the training stage")
    if first:
        folder.start("train")  # the same recipe as the teach stage that filled this folder
    p = recipe.prompts
    prompts = [
        x
        for x in load_prompts(
            p.path,
            system=p.system,
            test_split=p.test_split,
            test_fraction=p.test_fraction,
            limit=p.limit,
            seed=recipe.training.seed,
        )
        if x.split == "train"
    ]
    teacher = build_lm_teacher(recipe.teacher)
    plan_training(recipe, teacher)
    with TeacherStore(run / "teacher.sqlite") as store:
        answers = stored_answers(teacher, prompts, store)
    model, tokenizer, _ = initial_student(recipe, getattr(teacher, "folder", None))
    if getattr(teacher, "in_process", True):
        check_vocabularies(recipe.training.method, tokenizer, teacher.tokenizer, teacher.description)
    answers = answers_for_training(answers, recipe.training.method, teacher, tokenizer)
    examples, too_long = build_examples(
        [x for x in prompts if x.id in answers], answers, tokenizer, recipe.training.method, recipe.training.max_length
    )
    teacher_model = teacher.model if recipe.training.method in TEACHER_METHODS else None
    model, summary, trainer = fit(
        model, tokenizer, examples, recipe, run, teacher_model=teacher_model, progress=progress
    )
    summary["too_long"] = too_long
    if trainer.args.process_index == 0:
        save_causal_lm(
            model, tokenizer, run / "student", {"name": recipe.student.name, "training_method": recipe.training.method}
        )
        folder.write_json("training.json", summary)
        folder.finish("train", launched_by="accelerate")
    trainer.accelerator.wait_for_everyone()
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: [accelerate launch -m] understudy.lm.train RUN_FOLDER", file=sys.stderr)
        return 2
    try:
        train_run(argv[0])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
