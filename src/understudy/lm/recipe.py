"""The language-model recipe (`task: text-generation`): the one place its configuration is defined.

It shares the classifier recipe's machinery: the Strict base (unknown keys are errors), IntendedUse, and
errors that name the file, line and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, model_validator

from ..errors import UserError
from ..recipe import GatesSpec, IntendedUse, RecipeBase, Strict, _nearest_line, parse_recipe  # noqa: F401

METHODS = ("sequence", "token", "topk", "on-policy")


from ..teachers.api import GenerationApiSettings  # noqa: E402  (light: the HTTP client loads on first request)

API_MAX_TOP_LOGPROBS = 20  # what OpenAI-compatible endpoints give at most


class LMTeacherSpec(Strict):
    kind: Literal["local", "openai-api"] = Field(
        "local",
        description="local: a causal LM on this machine (path); openai-api: an LLM behind an OpenAI-compatible "
        "endpoint (api), with the same limits, budget and resume as API labelling.",
    )
    path: str | None = Field(
        None, description="kind local: a transformers folder, a .gguf file, or 'builtin:SmolLM2-135M-Instruct'."
    )
    api: GenerationApiSettings | None = Field(
        None,
        description="kind openai-api: the endpoint (base_url, model, "
        "api_key_env), limits, retries, budget and an optional system_prompt.",
    )
    max_new_tokens: int = Field(96, ge=1, description="Longest answer the teacher writes, in tokens.")
    top_logprobs: int = Field(
        20,
        ge=0,
        le=100,
        description="Log-probs kept per answer token (0: texts only). "
        "Needed by training.method topk. An API teacher asks for them (at most 20) and uses "
        "them where the server gives them.",
    )
    batch_size: int = Field(
        16, ge=1, description="Prompts per teacher call; each batch is stored as soon as it returns."
    )
    licence: str | None = Field(
        None, description="The licence the user declares for the teacher (the licence gate reads it)."
    )

    @model_validator(mode="after")
    def _kind(self) -> LMTeacherSpec:
        if self.kind == "local":
            if not self.path:
                raise ValueError(
                    "teacher kind 'local' needs 'path' (a transformers folder, a .gguf file or 'builtin:NAME'); "
                    "for a model behind an API set kind: openai-api and an 'api' section"
                )
            if self.api is not None:
                raise ValueError(
                    "teacher.api is for kind 'openai-api'; set kind: openai-api, or remove the api section"
                )
        else:
            if self.api is None:
                raise ValueError("teacher kind 'openai-api' needs an 'api' section (base_url, model, api_key_env, ...)")
            if self.path is not None:
                raise ValueError(
                    "teacher.path is for kind 'local'; an 'openai-api' teacher is reached through teacher.api"
                )
            if self.top_logprobs > API_MAX_TOP_LOGPROBS:
                raise ValueError(
                    f"teacher.top_logprobs {self.top_logprobs}: OpenAI-compatible endpoints give at most "
                    f"{API_MAX_TOP_LOGPROBS} alternatives per token"
                )
        return self


class LoraSpec(Strict):
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling (lora_alpha).")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = Field("all-linear", description="Modules that get adapters (peft's names).")


class LMStudentSpec(Strict):
    base: str = Field(
        "teacher",
        description="'teacher' (the teacher with layers dropped, DistilBERT-style), "
        "or a small causal LM: a transformers folder, a .gguf file or 'builtin:NAME'.",
    )
    layers: int | None = Field(
        None, ge=1, description="base=teacher: keep this many layers, spread evenly, first and last included."
    )
    keep_layers: list[int] | None = Field(
        None, description="base=teacher: exactly which teacher layers to keep (overrides layers)."
    )
    lora: LoraSpec | None = Field(
        None, description="Train LoRA adapters (peft) instead of every weight; merged on save."
    )
    freeze_embeddings: bool = Field(
        True,
        description="Keep the (often tied) token embeddings fixed: a quarter of a small "
        "model's weights, and the slowest gradient to compute.",
    )
    name: str | None = Field(None, description="The student's name (defaults to '<recipe name>-student').")

    @model_validator(mode="after")
    def _layers(self) -> LMStudentSpec:
        if self.base == "teacher" and self.layers is None and self.keep_layers is None:
            raise ValueError("student.base 'teacher' needs 'layers' (how many to keep) or 'keep_layers' (which)")
        return self


class PromptsSpec(Strict):
    path: str = Field(
        description='JSONL: one prompt per line, {"messages": [...]} or {"prompt": "..."}; '
        "'builtin:support-prompts' for the demo's."
    )
    system: str | None = Field(None, description="A system message put before every prompt that has none.")
    test_split: str = Field(
        "test", description="Rows whose 'split' field equals this are held out for the side-by-side."
    )
    test_fraction: float = Field(0.15, gt=0, lt=1, description="If no row has a 'split' field: this share is held out.")
    max_prompt_tokens: int = Field(
        512, ge=8, description="Longer prompts (after the chat template) are reported and left out, never cut."
    )
    limit: int | None = Field(None, ge=2, description="Use only the first N rows (for a quick trial).")


class LMTrainingSpec(Strict):
    method: Literal["sequence", "token", "topk", "on-policy"] = Field(
        "sequence",
        description="sequence: fine-tune on the teacher's answers (any tokenizers); token: match the "
        "teacher's full next-token distributions on its answers (same vocabulary; teacher in the loop); topk: match "
        "the stored top-k log-probs plus a tail bucket (same vocabulary; works for teachers that give only top-k); "
        "on-policy: the student writes, the teacher scores (same vocabulary; teacher in the loop).",
    )
    divergence: Literal["forward-kl", "reverse-kl", "jsd"] = Field(
        "forward-kl",
        description="token/topk/on-policy: forward KL (mean-seeking), reverse KL (mode-seeking) or generalised JSD.",
    )
    beta: float = Field(
        0.5, ge=0, le=1, description="divergence jsd: 0 is forward KL, 1 is reverse KL, 0.5 the symmetric JSD."
    )
    temperature: float = Field(1.0, gt=0, description="Softens both distributions in the divergence.")
    ce_weight: float = Field(
        1.0, ge=0, description="Weight of cross-entropy on the teacher's answer tokens (the whole loss for sequence)."
    )
    kd_weight: float = Field(1.0, ge=0, description="Weight of the divergence term (token, topk, on-policy).")
    on_policy_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="on-policy: share of steps on the student's own answers "
        "(the rest on the teacher's), as lmbda in trl's GKD.",
    )
    epochs: float = Field(2, gt=0)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    max_length: int = Field(
        384, ge=16, description="Prompt plus answer, in student tokens; longer pairs are reported and left out."
    )
    seed: int = 0


class LMEvaluationSpec(Strict):
    max_new_tokens: int | None = Field(
        None, ge=1, description="Answer length for the side-by-side (default: the teacher's)."
    )
    batch_size: int = Field(16, ge=1)
    threads: int = Field(2, ge=1, description="CPU threads for both models while timing.")
    speed_prompts: int = Field(3, ge=1, description="Held-out prompts each model answers, one at a time, to time it.")
    speed_tokens: int = Field(32, ge=2, description="Tokens generated per timed answer (the same for both models).")
    judge: bool = Field(True, description="Ask the teacher which answer is better, in both orders (win / tie / loss).")
    judge_prompts: int = Field(40, ge=0, description="Held-out prompts judged (each costs two teacher calls).")
    examples: int = Field(8, ge=0, description="Example answers shown in the report.")
    measure_memory: bool = Field(True, description="Measure each model's peak memory in a fresh process.")
    refusal_prompts: int = Field(
        44,
        ge=0,
        description="Built-in harmful requests both models answer: does the student still refuse where the teacher refuses?",
    )
    hallucination: bool = Field(
        True, description="Count numbers and names in held-out answers found in neither the prompt nor the source."
    )


class LMRecipe(RecipeBase):
    """text-generation: a causal LM answers prompts; a small causal LM learns its answers.
    name, intended_use and gates are the shared sections (RecipeBase)."""

    task: Literal["text-generation"] = Field(description="text-generation: a causal LM answers prompts.")
    teacher: LMTeacherSpec
    student: LMStudentSpec = Field(
        description="The small model: the teacher with layers dropped, or a given small causal LM."
    )
    prompts: PromptsSpec
    training: LMTrainingSpec = LMTrainingSpec()
    evaluation: LMEvaluationSpec = LMEvaluationSpec()

    def resolve(self, path: str) -> str:
        """A recipe path made absolute against the recipe's folder; 'builtin:' and 'teacher' pass through."""
        if path.startswith("builtin:") or path == "teacher":
            return path
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else (self._base_dir / p).resolve())

    def check_files(self, lines: dict, path: Path) -> None:
        """A missing teacher, student base or prompts file is an error at load time, naming the key and line."""
        for loc, value in (
            (("teacher", "path"), self.teacher.path),
            (("student", "base"), self.student.base),
            (("prompts", "path"), self.prompts.path),
        ):
            if value is None or value.startswith("builtin:") or value == "teacher":
                continue
            if not Path(self.resolve(value)).exists():
                raise UserError(
                    f"{path}:{_nearest_line(lines, loc) or '?'}: {'.'.join(loc)}: file not found: {self.resolve(value)}"
                )

    def resolved(self) -> LMRecipe:
        """A copy whose paths are absolute and whose defaults are filled in: what is written to the run folder."""
        r = self.model_copy(deep=True)
        if r.teacher.path is not None:
            r.teacher.path = self.resolve(r.teacher.path)
        r.student.base = self.resolve(r.student.base)
        r.prompts.path = self.resolve(r.prompts.path)
        if r.student.name is None:
            r.student.name = f"{r.name}-student"
        r.gates = r.gates.with_sector(r.intended_use.sector)
        if r.evaluation.max_new_tokens is None:
            r.evaluation.max_new_tokens = r.teacher.max_new_tokens
        r._base_dir = self._base_dir
        return r


def is_lm_recipe(path: str | Path) -> bool:
    """Whether a recipe file asks for text generation. Kept for old callers: `understudy.recipe.load_recipe`
    returns the right recipe for any task (isinstance(recipe, LMRecipe))."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and raw.get("task") == "text-generation"


def load_lm_recipe(path: str | Path) -> LMRecipe:
    """Read and validate a text-generation recipe: `understudy.recipe.load_recipe`, which must give an LMRecipe."""
    from ..recipe import load_recipe

    recipe = load_recipe(path)
    if not isinstance(recipe, LMRecipe):
        raise UserError(f"{path}: task is '{recipe.task}', not text-generation (set `task: text-generation`)")
    return recipe
