"""Teachers that are Python objects: a scikit-learn model saved with skops, or any callable."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import check_probs, fingerprint_files

# scikit-learn's own tree structures (plain arrays, no code) and numpy's dtype class (OneHotEncoder's `dtype`): not in
# skops' default trust list, but data, not code. Any other type skops does not trust is refused until the recipe
# lists it in teacher.trusted_types.
SKLEARN_TREE_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "numpy.dtype",
)


def load_skops(path: str | Path, trusted: list[str] | tuple[str, ...] = ()):
    """Load a skops file, trusting skops' defaults, scikit-learn's tree structures and the `trusted` types the
    user has checked: never unpickle."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise UserError(f"skops file not found: {path}")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise UserError(f"{path} is not a readable skops file ({exc}); save the model with skops.io.dump") from None
    allowed = set(SKLEARN_TREE_TYPES) | set(trusted)
    refused = [t for t in untrusted if t not in allowed]
    if refused:
        raise UserError(
            f"{path} holds types skops does not trust by default: {refused}. Check them (skops.io.get_untrusted_types "
            "lists them), then list the ones you trust in teacher.trusted_types, or save the model with only "
            "scikit-learn/numpy types"
        )
    return sio.load(path, trusted=[t for t in untrusted if t in allowed] or None)


class SklearnTeacher:
    """Any scikit-learn-style classifier over raw texts (e.g. a TF-IDF + LogisticRegression pipeline)."""

    provides = frozenset({"probs"})

    def __init__(self, path: str | Path, labels: list[str] | None = None, trusted: list[str] | tuple[str, ...] = ()):
        self.path = Path(path)
        self.model = load_skops(self.path, trusted)
        if not hasattr(self.model, "predict_proba"):
            raise UserError(f"{self.path}: the model has no predict_proba; distillation needs class probabilities")
        classes = [str(c) for c in getattr(self.model, "classes_", [])]
        self.labels = list(labels) if labels else classes
        if not self.labels:
            raise UserError(f"{self.path}: the model has no classes_; name them in teacher.labels")
        self.fingerprint = fingerprint_files(self.path, extra="sklearn")
        self.description = f"scikit-learn model {self.path}"
        self.files = [self.path]

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return {"probs": check_probs(self.model.predict_proba(list(texts)), len(texts), self.labels, self.description)}


def import_target(target: str) -> Callable:
    """'package.module:function' or 'path/to/file.py:function'."""
    if ":" not in target:
        raise UserError(f"teacher.target '{target}' must look like 'module:function' or 'file.py:function'")
    where, name = target.rsplit(":", 1)
    try:
        if where.endswith(".py"):
            if not Path(where).is_file():
                raise UserError(f"teacher.target file not found: {where}")
            spec = importlib.util.spec_from_file_location(f"understudy_target_{Path(where).stem}", where)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses and pickling-free introspection look modules up here
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"cannot import teacher.target '{where}': {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UserError(f"teacher.target: '{name}' is not a callable in {where}")
    return fn


class CallableTeacher:
    """Any Python function from a list of texts to an (n, classes) array of probabilities."""

    provides = frozenset({"probs"})

    def __init__(self, fn: Callable | str, labels: list[str], fingerprint: str | None = None):
        self.target = (
            fn if isinstance(fn, str) else f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', '?')}"
        )
        self.fn = import_target(fn) if isinstance(fn, str) else fn
        self.labels = list(labels)
        self.fingerprint = fingerprint or self._fingerprint()
        self.description = f"python callable {self.target}"
        source = inspect.getsourcefile(self.fn) if inspect.isfunction(self.fn) else None
        self.files = [Path(source)] if source else []

    def _fingerprint(self) -> str:
        # The function's source file stands for its "files"; a changed function gets new outputs.
        try:
            source = inspect.getsourcefile(self.fn)
            return fingerprint_files(source, extra=f"callable:{self.target}:{self.labels}")
        except TypeError:
            return hashlib.sha256(f"callable:{self.target}:{self.labels}".encode()).hexdigest()[:32]

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return {"probs": check_probs(self.fn(list(texts)), len(texts), self.labels, self.description)}


def build_sklearn(spec, resolve=lambda p: p, head_builder=None) -> SklearnTeacher:
    """Teacher kind 'sklearn' (registered in pyproject.toml): a scikit-learn pipeline saved with skops."""
    return SklearnTeacher(resolve(spec.path), spec.labels, spec.trusted_types)


def build_callable(spec, resolve=lambda p: p, head_builder=None) -> CallableTeacher:
    """Teacher kind 'callable': 'module:function' or 'path/file.py:function' (the file resolved against the recipe)."""
    target = spec.target
    if ".py:" in target:
        file, name = target.rsplit(":", 1)
        target = f"{resolve(file)}:{name}"
    return CallableTeacher(target, spec.labels)
