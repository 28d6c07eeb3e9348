"""The built-in table teachers: fitted once into the cache and reused, refitted when a setting changes, saved as
LightGBM text and skops (never a pickle), with the class order the recipes declare. Tiny settings keep it fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from understudy.data import builtin_tables as bt
from understudy.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
TINY = {"n_estimators": 3, "num_leaves": 4, "learning_rate": 0.5}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSTUDY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_model_is_fitted_once_then_reused(cache, monkeypatch):
    first = bt.builtin_table_model(bt.CHURN, **TINY)
    assert first.parent == cache / "tables" and first.is_file()

    def refit(*args):
        raise AssertionError("refitted although the cached file is there")

    monkeypatch.setattr(bt, "_fit_lightgbm", refit)
    assert bt.builtin_table_model(bt.CHURN, **TINY) == first


def test_a_changed_setting_fits_a_new_file(cache):
    a = bt.builtin_table_model(bt.CHURN, **TINY)
    b = bt.builtin_table_model(bt.CHURN, **{**TINY, "n_estimators": 4})
    assert a != b and a.is_file() and b.is_file()
    assert a.read_text().count("\nTree=") == 3 and b.read_text().count("\nTree=") == 4


def test_the_file_is_lightgbm_text_not_a_pickle(cache):
    import lightgbm as lgb

    path = bt.builtin_table_model(bt.CHURN, **TINY)
    raw = path.read_bytes()
    assert raw.startswith(b"tree\nversion=") and not raw.startswith(b"\x80")
    text = raw.decode("utf-8")
    assert "pandas_categorical:" in text and '"Month-to-month"' in text  # the categories travel with the model
    frame, _ = bt.training_rows(bt.CHURN)
    booster = lgb.Booster(model_file=str(path))
    assert booster.feature_name() == list(frame.columns)
    assert "rownames" not in booster.feature_name() and "churn" not in booster.feature_name()


def test_class_one_is_the_second_label(cache):
    """LightGBM's class 1 is BUILTIN_LABELS[1] ('Yes'): rows whose gold answer is Yes score higher."""
    import lightgbm as lgb

    frame, y = bt.training_rows(bt.CHURN)
    assert bt.BUILTIN_LABELS[bt.CHURN] == ["No", "Yes"] and set(np.unique(y)) == {0, 1}
    assert y.mean() < 0.5  # most customers stay: 'No' is class 0
    p = lgb.Booster(model_file=str(bt.builtin_table_model(bt.CHURN, **TINY))).predict(bt.categorical(frame))
    assert p[y == 1].mean() > p[y == 0].mean() + 0.1


def test_the_forest_is_skops_with_the_declared_classes(cache):
    from understudy.teachers.python import load_skops

    path = bt.builtin_table_model(bt.CANCER, n_estimators=3)
    assert path.suffix == ".skops" and path.parent == cache / "tables"
    model = load_skops(path)  # only the types understudy trusts by default
    assert list(model.classes_) == bt.BUILTIN_LABELS[bt.CANCER] and len(model.estimators_) == 3


@pytest.mark.parametrize("recipe, path", [("churn.yaml", bt.CHURN), ("breast-cancer.yaml", bt.CANCER)])
def test_the_recipes_read_the_rows_the_teacher_was_fitted_on(recipe, path):
    for folder in (ROOT / "recipes", ROOT / "src" / "understudy" / "recipes"):
        raw = yaml.safe_load((folder / recipe).read_text(encoding="utf-8"))
        assert raw["teacher"]["path"] == path and raw["teacher"]["labels"] == bt.BUILTIN_LABELS[path]
        data = raw["data"]
        for key, value in bt.DATA[path].items():
            if key in ("transfer", "evaluation"):
                assert {k: data[key][k] for k in value} == value, (folder, key)
            else:
                assert data[key] == value, (folder, key)
        assert "test_fraction" not in data and "split_seed" not in data  # the teacher was fitted on the defaults


def test_unknown_names_and_settings_are_user_errors(cache):
    with pytest.raises(UserError, match="known: builtin:churn-boosted, builtin:breast-cancer-forest"):
        bt.builtin_table_model("builtin:churn")
    with pytest.raises(UserError, match=r"unknown settings \['trees'\]"):
        bt.builtin_table_model(bt.CHURN, trees=3)
