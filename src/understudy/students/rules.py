"""The rules student: an ordered rule list (a decision list) that learns the teacher's probabilities (or numbers).

  IF contract is Month-to-month AND tenure <= 17 THEN Yes (p=0.62)
  ELSE IF ...
  ELSE No (p=0.08)

Learnt by sequential covering: a small regression tree (depth <= 3, scikit-learn) is fitted to the soft targets
of the rows no rule covers yet; its leaf that best separates its rows from the rest (the drop in squared error
from answering the leaf and the rest each with their own mean: purity traded against size) becomes the next
rule, answering the mean teacher output of the rows it covers; those rows are removed and the next tree is fitted
to the others, up to student.max_rules; a default rule answers the rest. A row gets the first rule it matches.

Saved as JSON (each condition: feature index, '<=' or '>', threshold, whether a missing value satisfies it);
predicting decides every condition of every rule for the whole batch at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from .table_base import TableStudent

DEPTH = 3  # conditions per rule at most: a longer rule is not one a manager reads


class RulesStudent(TableStudent):
    kind = "rules"

    def _fit(self, x: np.ndarray, y: np.ndarray, settings) -> None:
        from sklearn.tree import DecisionTreeRegressor

        spec = self.spec
        depth = min(DEPTH, getattr(spec, "max_depth", DEPTH))
        min_rows = getattr(spec, "min_samples_leaf", 20)
        most = getattr(spec, "max_rules", 12)
        y2 = y.reshape(len(y), -1)
        left = np.arange(len(x))  # the rows no rule covers yet
        rules = []
        while len(rules) < most and len(left) >= 2 * min_rows:
            tree = DecisionTreeRegressor(
                max_depth=depth, min_samples_leaf=min_rows, random_state=getattr(settings, "seed", 0)
            ).fit(x[left], y2[left])
            best = _best_leaf(tree, x[left], y2[left])
            if best is None:
                break
            conditions, covered = best
            rules.append(
                {"if": conditions, "then": y2[left[covered]].mean(axis=0).tolist(), "rows": int(covered.sum())}
            )
            left = left[~covered]
        rest = y2[left] if len(left) else y2
        self.model = {
            "rules": rules,
            "default": {"then": rest.mean(axis=0).tolist(), "rows": int(len(left))},
            "missing_seen": list(self.missing_seen),
        }
        self._arrays()
        self.training_ = {"rules": len(rules), "default_rows": int(len(left))}

    def _arrays(self) -> None:
        m = self.model
        conds = [(r, c) for r, rule in enumerate(m["rules"]) for c in rule["if"]]
        self._feature = np.array([c[0] for _, c in conds], dtype=np.intp)
        self._le = np.array([c[1] == "<=" for _, c in conds], dtype=bool)
        self._threshold = np.array([c[2] for _, c in conds], dtype=np.float64)
        self._missing = np.array([bool(c[3]) for _, c in conds], dtype=bool)
        # condition -> rule, as a matrix: a rule matches when none of its conditions fails
        self._owner = np.zeros((len(conds), len(m["rules"])), dtype=np.float32)
        for i, (r, _) in enumerate(conds):
            self._owner[i, r] = 1.0
        self._value = np.array([r["then"] for r in m["rules"]] + [m["default"]["then"]], dtype=np.float64)
        self.missing_seen = list(m.get("missing_seen") or [True] * len(self.features.names))

    def rule_of(self, x: np.ndarray) -> np.ndarray:
        """Each row's first matching rule (its index; len(rules) is the default rule)."""
        n_rules = self._owner.shape[1]
        if n_rules == 0:
            return np.zeros(len(x), dtype=np.intp)
        v = x[:, self._feature]
        nan = np.isnan(v)
        ok = np.where(nan, self._missing, np.where(self._le, v <= self._threshold, v > self._threshold))
        matches = np.ones((len(x), n_rules + 1), dtype=bool)
        matches[:, :n_rules] = ((~ok).astype(np.float32) @ self._owner) == 0
        return matches.argmax(axis=1)

    def _raw(self, x: np.ndarray) -> np.ndarray:
        return self._value[self.rule_of(x)]

    def _save_model(self, path: Path) -> None:
        (path / "rules.json").write_text(json.dumps(self.model), encoding="utf-8")

    def _load_model(self, path: Path) -> None:
        file = path / "rules.json"
        try:
            self.model = json.loads(file.read_text(encoding="utf-8"))
            self._arrays()
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise UserError(f"{file}: not a rule list this version can read ({exc}); refit the student") from None

    def rules(self) -> dict:
        """The rules in order, the default one last: conditions in words, the answer, the training rows (real and
        synthetic) each one covered when it was learnt."""
        from .rules_text import condition_words, leaf_answer

        out = []
        for rule in self.model["rules"]:
            out.append(
                {
                    "if": condition_words([tuple(c) for c in rule["if"]], self.features, self.missing_seen),
                    "then": leaf_answer(rule["then"], self.labels),
                    "rows": rule["rows"],
                }
            )
        d = self.model["default"]
        out.append({"if": ["(every other row)"], "then": leaf_answer(d["then"], self.labels), "rows": d["rows"]})
        text = []
        for i, r in enumerate(out[:-1]):
            text.append(f"{'IF' if i == 0 else 'ELSE IF'} {' AND '.join(r['if'])} THEN {r['then']}  ({r['rows']} rows)")
        text.append(f"{'ELSE' if len(out) > 1 else 'ALWAYS'} {out[-1]['then']}  ({out[-1]['rows']} rows)")
        return {"form": "rule list", "rules": out, "text": text}


def _best_leaf(tree, x: np.ndarray, y: np.ndarray):
    """The leaf whose rows, answered with their own mean apart from the others, lower the squared error most:
    n_leaf * n_rest / n * |mean_leaf - mean_rest|^2. Its path's conditions and a mask of its rows; None when
    the tree did not split or no leaf leaves rows for the others."""
    t = tree.tree_
    if t.node_count < 3:
        return None
    leaf = tree.apply(x)
    n, total = len(y), y.sum(axis=0)
    best, best_gain = None, 1e-12 * n
    for node in np.flatnonzero(t.children_left < 0):
        mask = leaf == node
        k = int(mask.sum())
        if k == 0 or k == n:
            continue
        inside = y[mask].sum(axis=0)
        gap = inside / k - (total - inside) / (n - k)
        gain = k * (n - k) / n * float(gap @ gap)
        if gain > best_gain:
            best, best_gain = (int(node), mask), gain
    if best is None:
        return None
    node, mask = best
    return _merged(_path(t, node)), mask


def _path(t, target: int) -> list[list]:
    """The conditions from the root down to node `target`: [feature, '<=' or '>', threshold, missing satisfies]."""
    parent = {}
    for node in range(t.node_count):
        if t.children_left[node] >= 0:
            parent[int(t.children_left[node])] = (node, True)
            parent[int(t.children_right[node])] = (node, False)
    out, node = [], target
    while node in parent:
        up, went_left = parent[node]
        miss_left = bool(t.missing_go_to_left[up])
        out.append([int(t.feature[up]), "<=" if went_left else ">", float(t.threshold[up]), miss_left == went_left])
        node = up
    return out[::-1]


def _merged(conditions: list[list]) -> list[list]:
    """Two bounds on one side of one feature are one: the tighter, missing satisfying it only if it did both."""
    out: dict[tuple[int, str], list] = {}
    for f, op, thr, missing in conditions:
        key = (f, op)
        if key in out:
            prev = out[key]
            prev[2] = min(prev[2], thr) if op == "<=" else max(prev[2], thr)
            prev[3] = prev[3] and missing
        else:
            out[key] = [f, op, thr, missing]
    return list(out.values())
