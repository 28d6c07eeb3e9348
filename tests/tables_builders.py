"""Tiny real tables and a tiny real scikit-learn teacher for the table tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


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
