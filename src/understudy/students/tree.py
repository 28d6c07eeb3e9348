"""The tree student: one shallow decision tree that learns the teacher's probabilities (or numbers), readable as rules.

It is fitted as a regression tree on the teacher's soft labels (squared error on the probability vectors, so a
leaf holds the mean of the teacher's probabilities there, not a vote), with scikit-learn, and saved as plain
JSON arrays. Row dicts (what a server and `understudy.load` get) go through the tree as one compiled Python
function of the row's values (`tree_code`): the tree reads six of a row's values at depth 6, where a matrix of
every feature costs several times that. A matrix (a DataFrame, `Rows`, or a row that function cannot compare)
is answered by deciding every split for the whole batch at once and finding each row's leaf with one small
matrix product (a leaf is the one whose path agrees with all of the row's decisions); a tree too big for that
walks its arrays one level at a time instead. Both give the same answers (tests/students/test_tree_walk.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from .table_base import TableStudent, normalised
from .tree_code import compile_tree

MATRIX_CELLS = 1 << 20  # inner nodes x leaves: past this (a tree of thousands of leaves) walk level by level


class TreeStudent(TableStudent):
    kind = "tree"

    def _fit(self, x: np.ndarray, y: np.ndarray, settings) -> None:
        from sklearn.tree import DecisionTreeRegressor

        spec = self.spec
        tree = DecisionTreeRegressor(
            max_depth=getattr(spec, "max_depth", 5),
            min_samples_leaf=getattr(spec, "min_samples_leaf", 20),
            random_state=getattr(settings, "seed", 0),
        ).fit(x, y)
        t = tree.tree_
        value = t.value.reshape(t.node_count, -1)  # (nodes, classes) or (nodes, 1)
        self.tree = {
            "left": t.children_left.tolist(),
            "right": t.children_right.tolist(),
            "feature": t.feature.tolist(),
            "threshold": t.threshold.tolist(),
            "missing_left": t.missing_go_to_left.astype(bool).tolist(),
            "value": value.tolist(),
            "rows": t.n_node_samples.tolist(),
            "missing_seen": list(self.missing_seen),  # per feature: whether the fit rows had missing values
        }
        self._arrays()
        self.training_ = {"depth": int(tree.get_depth()), "leaves": int(tree.get_n_leaves())}

    def _arrays(self) -> None:
        t = self.tree
        self._left = np.asarray(t["left"], dtype=np.int64)
        self._right = np.asarray(t["right"], dtype=np.int64)
        self._feature = np.asarray(t["feature"], dtype=np.int64)
        self._threshold = np.asarray(t["threshold"], dtype=np.float64)
        self._missing_left = np.asarray(t["missing_left"], dtype=bool)
        self._value = np.asarray(t["value"], dtype=np.float64)
        self._depth = _depth(self._left, self._right)
        self.missing_seen = list(t.get("missing_seen") or [True] * len(self.features.names))  # older folders
        self._leaf_value = self._value[self._left < 0]  # the leaves in node order, as both walks number them
        self._paths()
        self._leaf_probs = None if self.regression else normalised(self._leaf_value)
        f = self.features
        self._walk = compile_tree(t, f.source, {name: i for i, name in enumerate(f.value_names)}, self._depth)

    def _leaves(self, rows) -> np.ndarray | None:
        """Each row dict's leaf (numbered among the leaves), by the compiled walk; None where it does not apply
        (a matrix, a DataFrame, or a value it cannot compare: the matrix path then reads it or names it)."""
        walk, values = self._walk, self.features.values_of
        if walk is None or not isinstance(rows, list | tuple) or values is None:
            return None
        try:
            return np.fromiter(map(walk, map(values, rows)), dtype=np.intp, count=len(rows))
        except (KeyError, TypeError, IndexError, ValueError):
            return None

    def _probs(self, rows) -> np.ndarray:
        leaves = self._leaves(rows)
        return super()._probs(rows) if leaves is None else self._leaf_probs[leaves]

    def _numbers(self, rows) -> np.ndarray:
        leaves = self._leaves(rows)
        return super()._numbers(rows) if leaves is None else self._leaf_value[leaves].reshape(-1)

    def _paths(self) -> None:
        """For the matrix walk: the inner nodes' splits, and per leaf +1 / -1 where its path goes left / right of
        an inner node. A row's decisions D (1: left) times that matrix reach the leaf's count of left turns only
        at the leaf the row lands in, and fall short of it at every other leaf."""
        inner = np.flatnonzero(self._left >= 0)
        leaves = np.flatnonzero(self._left < 0)
        self._matrix = None
        if len(inner) == 0 or len(inner) * len(leaves) > MATRIX_CELLS:
            return
        at = {int(n): i for i, n in enumerate(inner)}
        turns = np.zeros((len(inner), len(leaves)), dtype=np.float32)
        lefts = np.zeros(len(leaves), dtype=np.float32)
        stack = [(0, [])]
        leaf_at = {int(n): i for i, n in enumerate(leaves)}
        while stack:
            node, path = stack.pop()
            if self._left[node] < 0:
                for n, went_left in path:
                    turns[at[n], leaf_at[node]] = 1.0 if went_left else -1.0
                lefts[leaf_at[node]] = sum(1 for _, went_left in path if went_left)
                continue
            stack.append((int(self._left[node]), path + [(node, True)]))
            stack.append((int(self._right[node]), path + [(node, False)]))
        self._matrix = (
            self._feature[inner],
            self._threshold[inner],
            self._missing_left[inner],
            turns,
            lefts,
            self._leaf_value,
        )

    def leaf_of(self, x: np.ndarray) -> np.ndarray:
        """Each row's leaf (node index), one tree level at a time."""
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        for _ in range(self._depth):
            inner = self._left[node] >= 0
            f = np.where(inner, self._feature[node], 0)
            v = x[rows, f]
            go_left = np.where(np.isnan(v), self._missing_left[node], v <= self._threshold[node])
            node = np.where(inner, np.where(go_left, self._left[node], self._right[node]), node)
        return node

    def _raw(self, x: np.ndarray) -> np.ndarray:
        if self._matrix is None:
            return self._value[self.leaf_of(x)]
        feature, threshold, missing_left, turns, lefts, value = self._matrix
        v = x[:, feature]
        left = (v <= threshold) | (np.isnan(v) & missing_left)
        return value[(left.astype(np.float32) @ turns - lefts).argmax(axis=1)]

    def _save_model(self, path: Path) -> None:
        (path / "tree.json").write_text(json.dumps(self.tree), encoding="utf-8")

    def _load_model(self, path: Path) -> None:
        file = path / "tree.json"
        try:
            self.tree = json.loads(file.read_text(encoding="utf-8"))
            self._arrays()
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise UserError(f"{file}: not a tree this version can read ({exc}); refit the student") from None

    def rules(self) -> dict:
        """Each leaf as one rule a person can check: its conditions, what the student answers there, how many
        of the training rows (real and synthetic) reach it. Leaves in the tree's order (left to right)."""
        from .rules_text import condition_words, leaf_answer

        out = []

        def walk(node: int, conditions: list[tuple[int, str, float, bool]]) -> None:
            if self._left[node] < 0:
                out.append(
                    {
                        "if": condition_words(conditions, self.features, self.missing_seen) or ["(every row)"],
                        "then": leaf_answer(self._value[node], self.labels),
                        "rows": int(self.tree["rows"][node]),
                    }
                )
                return
            f, thr, miss = int(self._feature[node]), float(self._threshold[node]), bool(self._missing_left[node])
            walk(int(self._left[node]), conditions + [(f, "<=", thr, miss)])
            walk(int(self._right[node]), conditions + [(f, ">", thr, not miss)])

        walk(0, [])
        return {"form": "decision tree", "rules": out, "text": [_line(r) for r in out]}


def _line(rule: dict) -> str:
    return f"IF {' AND '.join(rule['if'])} THEN {rule['then']}  ({rule['rows']} rows)"


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    depth, frontier = 0, [0]
    while frontier:
        nxt = [c for n in frontier if left[n] >= 0 for c in (left[n], right[n])]
        if nxt:
            depth += 1
        frontier = nxt
    return depth
