"""The gbm student: a small LightGBM model that learns the teacher's probabilities (or numbers). The fast student,
not a readable one: it has no rules; its training record names the columns it leans on most (gain).

Two classes: objective "cross_entropy" on the teacher's p(second class), which LightGBM takes as a soft label.
More classes: multiclass on each row repeated once per class, weighted by the teacher's probability of that
class (the exact soft-label cross-entropy). Regression: squared error on the teacher's numbers.
Saved in LightGBM's own text format (model.txt), loaded with lightgbm.Booster(model_file=...).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from .table_base import TableStudent

MODEL_FILE = "model.txt"
TOP = 10  # feature importances kept in training.json
# Threads: below these sizes one thread is faster than several (measured: OpenMP's start and its waits cost more
# than a small model's work, several times more on a busy machine); above them an explicit count, never LightGBM's
# 0 (OpenMP's default), which was the slowest of all.
ONE_THREAD_ROWS = 4096  # predicting
ONE_THREAD_CELLS = 4_000_000  # training: rows x features


def _threads(size: int, small: int) -> int:
    return 1 if size < small else max(1, min(4, os.cpu_count() or 1))


def _lightgbm():
    try:
        import lightgbm
    except ImportError:
        raise UserError(
            "the gbm student needs LightGBM: pip install 'understudy[tables]' (or choose student.kind tree)"
        ) from None
    return lightgbm


class GbmStudent(TableStudent):
    kind = "gbm"

    def _fit(self, x: np.ndarray, y: np.ndarray, settings) -> None:
        lgb = _lightgbm()
        spec = self.spec
        params = {
            "num_leaves": getattr(spec, "num_leaves", 15),
            "max_depth": getattr(spec, "max_depth", 5),
            "min_data_in_leaf": getattr(spec, "min_samples_leaf", 20),
            "learning_rate": 0.1,
            "seed": getattr(settings, "seed", 0),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": _threads(x.size, ONE_THREAD_CELLS),
            "verbose": -1,
        }
        weight = None
        if self.regression:
            params["objective"] = "regression"
            label = y
        elif y.shape[1] == 2:
            params["objective"] = "cross_entropy"
            label = y[:, 1]
        else:
            n, k = y.shape
            params.update(objective="multiclass", num_class=k)
            x, label, weight = np.tile(x, (k, 1)), np.repeat(np.arange(k), n), y.T.reshape(-1)
            keep = weight > 0
            x, label, weight = x[keep], label[keep], weight[keep]
        data = lgb.Dataset(x, label=label, weight=weight, params={"verbose": -1}, free_raw_data=True)
        self.booster = lgb.train(params, data, num_boost_round=getattr(spec, "n_estimators", 60))
        gain = self.booster.feature_importance(importance_type="gain")
        order = [int(i) for i in np.argsort(-gain)[:TOP] if gain[i] > 0]
        self.training_ = {
            "trees": int(self.booster.num_trees()),
            "importance": [{"feature": self.features.names[i], "gain": round(float(gain[i]), 4)} for i in order],
        }

    def _raw(self, x: np.ndarray) -> np.ndarray:
        out = self.booster.predict(x, num_threads=_threads(len(x), ONE_THREAD_ROWS))
        if self.regression:
            return np.asarray(out, dtype=np.float64).reshape(-1)
        out = np.asarray(out, dtype=np.float64)
        if out.ndim == 1:  # two classes: p(second)
            return np.column_stack([1.0 - out, out])
        return out

    def _save_model(self, path: Path) -> None:
        self.booster.save_model(str(path / MODEL_FILE))

    def _load_model(self, path: Path) -> None:
        lgb = _lightgbm()
        file = path / MODEL_FILE
        if not file.is_file():
            raise UserError(f"{path} holds no {MODEL_FILE}: the gbm student's folder is incomplete; refit it")
        try:
            self.booster = lgb.Booster(model_file=str(file))
        except lgb.basic.LightGBMError as exc:
            raise UserError(f"{file}: LightGBM cannot read it ({exc}); refit the student") from None
        if self.booster.num_feature() != len(self.features.names):
            raise UserError(
                f"{file}: the model reads {self.booster.num_feature()} features but student.json names "
                f"{len(self.features.names)}; the folder is damaged"
            )
