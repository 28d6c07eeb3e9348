"""Tiny real tables and a tiny real scikit-learn teacher for the table tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from understudy.modalities.table import Column, TableSchema


def churn_like(n: int, seed: int = 0, missing: float = 0.0) -> pd.DataFrame:
    """A small churn table whose answer depends on tenure, contract and charges (so a shallow tree can learn it)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n).astype(float)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.5, 0.3, 0.2])
    charges = np.round(rng.uniform(20, 120, n), 2)
    senior = rng.integers(0, 2, n)
    score = -0.05 * tenure + (contract == "Month-to-month") * 1.5 + 0.02 * (charges - 70) + rng.normal(0, 0.5, n)
    df = pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(n)],
            "tenure": tenure,
            "contract": contract,
            "monthly_charges": charges,
            "senior": senior,
            "churn": np.where(score > 0, "Yes", "No"),
        }
    )
    if missing:
        holes = rng.random(n) < missing
        df.loc[holes, "monthly_charges"] = np.nan
    return df


def write_table(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def sklearn_teacher(df: pd.DataFrame, path: Path, target: str = "churn", regression: bool = False) -> Path:
    """A scikit-learn pipeline (one-hot + gradient boosting) fitted on `df`, saved with skops."""
    import skops.io as sio
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x = df.drop(columns=[target, "customer"], errors="ignore")
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numeric = [c for c in x.columns if c not in categorical]
    prep = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), categorical),
        (SimpleImputer(), numeric),
    )
    model = GradientBoostingRegressor(n_estimators=30) if regression else GradientBoostingClassifier(n_estimators=30)
    pipe = make_pipeline(prep, model).fit(x, df[target])
    sio.dump(pipe, path)
    return path


RECIPE = """\
name: tiny-table
task: {task}
teacher: {{kind: sklearn, path: teacher.skops, licence: "proprietary: Test Shop"}}
student: {{kind: tree, max_depth: 3, min_samples_leaf: 5}}
data:
  transfer: {{path: data/table.csv, split: train}}
  evaluation: {{path: data/table.csv, split: test, group_columns: [senior]}}
  target: {target}
  drop: [customer]
training: {{synthetic_rows: {synthetic}}}
evaluation: {{bootstrap: 20, speed_texts: 32, measure_memory: false}}
safety: {{robustness_texts: 20}}
gates:
  min_retention: {{threshold: 0.0, on_fail: warn}}
  min_speedup: {{threshold: 0.0, on_fail: warn}}
  max_size_ratio: {{threshold: 1000.0, on_fail: warn}}
"""


def table_run_folder(folder: Path, *, n: int = 300, regression: bool = False, synthetic: float = 1.0) -> Path:
    """A recipe folder (data, teacher, recipe.yaml) for a tiny table run; returns the recipe's path."""
    df = churn_like(n, seed=3)
    target = "churn"
    if regression:
        df["spend"] = df["monthly_charges"] * (1 + df["tenure"] / 72.0)
        df = df.drop(columns=["churn"])
        target = "spend"
    write_table(df, folder / "data" / "table.csv")
    sklearn_teacher(df, folder / "teacher.skops", target=target, regression=regression)
    recipe = folder / "recipe.yaml"
    recipe.write_text(
        RECIPE.format(
            task="tabular-regression" if regression else "tabular-classification", target=target, synthetic=synthetic
        )
    )
    return recipe


# --- a tree student fitted on a known function, with and without an oversight policy (use, serve, predict tests) ---

CONTRACTS = ["Month-to-month", "One year", "Two year"]
LABELS = ["No", "Yes"]
SURE = {"tenure": 3.0, "contract": "Month-to-month", "charges": 90.0}  # the teacher says Yes at 0.97
UNSURE = {"tenure": 20.0, "contract": "Month-to-month", "charges": 60.0}  # Yes at 0.65: below a 0.8 threshold
STAYS = {"tenure": 50.0, "contract": "Two year", "charges": 30.0}  # No at 0.95


def churn_rows(n: int = 240, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "tenure": None if i % 17 == 0 else float(rng.integers(0, 72)),
                "contract": CONTRACTS[int(rng.integers(0, 3))],
                "charges": float(np.round(rng.uniform(20, 120), 2)),
            }
        )
    return rows


def teacher_yes(row: dict) -> float:
    """The teacher's probability of churn: sure for new month-to-month customers, unsure a little later."""
    tenure = row["tenure"] if row["tenure"] is not None else 40.0
    if row["contract"] == "Month-to-month" and tenure < 12:
        return 0.97
    if row["contract"] == "Month-to-month" and tenure < 36:
        return 0.65
    return 0.05


def churn_schema(rows: list[dict]) -> TableSchema:
    def numeric(name: str) -> Column:
        x = np.array([r[name] for r in rows if r[name] is not None], dtype=float)
        return Column(
            name, "numeric", mean=float(x.mean()), std=float(x.std()), low=float(x.min()), high=float(x.max())
        )

    return TableSchema(
        [numeric("tenure"), Column("contract", "categorical", categories=CONTRACTS), numeric("charges")],
        target="churn",
    )


def table_student_folder(folder: Path, *, regression: bool = False, threshold: float | None = 0.8) -> Path:
    """A TreeStudent fitted on a tiny churn table and saved; classification with an oversight policy at
    `threshold` (None: no policy; ALWAYS_DEFER: every row to a person), or a regression of the monthly spend."""
    rows = churn_rows()
    schema = churn_schema(rows)
    spec = SimpleNamespace(max_depth=4, min_samples_leaf=5)
    if regression:
        spend = [r["charges"] * (1 + (r["tenure"] or 0.0) / 72.0) for r in rows]
        from understudy.students.tree import TreeStudent

        student = TreeStudent(schema, None, spec).fit(rows, {"value": np.array(spend)})
    else:
        from understudy.students.tree import TreeStudent

        p = np.array([teacher_yes(r) for r in rows])
        student = TreeStudent(schema, LABELS, spec).fit(rows, {"probs": np.stack([1 - p, p], axis=1)})
    student.save(folder)
    from understudy.oversight.abstain import save_policy

    if threshold is not None and not regression:
        save_policy({"threshold": threshold, "feasible": True, "alpha": 0.1, "delta": 0.1}, folder)
    return folder


_RUNS: dict[str, Path] = {}


def table_run(tmp_path_factory) -> Path:
    """One real tabular-classification run (sklearn teacher, tree student), made once per session through
    understudy.distill; never modify it."""
    import understudy

    key = str(tmp_path_factory.getbasetemp())
    if key not in _RUNS:
        root = tmp_path_factory.mktemp("table-run")
        done = understudy.distill(table_run_folder(root), root / "run")
        assert done.verdict in ("PASS", "WARN"), done.report.get("gates")
        _RUNS[key] = done.folder
    return _RUNS[key]
