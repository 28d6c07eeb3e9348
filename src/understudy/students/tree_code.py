"""A decision tree as one Python function of a row's values: nested ifs, one per split, built as a syntax tree.

A server's rows come as dicts; turning them into a matrix first costs several times what the tree itself costs,
because the tree reads only the few columns on one path (six at depth 6). So the tree is turned into a function
`walk(values) -> leaf number`, where `values` is the row's tuple of feature columns (one C call per row, which is
also the check that every feature column is there), and each split is an `if` on one of them.

The function is assembled from `ast` nodes whose column positions, thresholds and categories are constants
(`ast.Constant`), never from text, so nothing in a student folder can become code: a column named
"'); import os; ('" is a string constant like any other.

It decides exactly as the matrix path does (`TreeStudent._raw` on `TableFeatures.encode`'s matrix):
- a numeric split goes left where value <= threshold, and a missing value (None or NaN) goes the split's
  missing side; `not v > t` is true for NaN, `v <= t` is false for it;
- a categorical split is on an indicator (1 where the row's category is that one): left where indicator <=
  threshold; a missing or unseen category is 0 everywhere; a number in a categorical column reads as its text.
Anything it cannot compare (a number sent as text, pd.NA, a list) raises TypeError, and the caller then takes the
matrix path, which reads it the matrix way or names the row and column.
"""

from __future__ import annotations

import ast
import math

MAX_DEPTH = 32  # deeper trees (unbounded depth) stay on the matrix path: the compiler recurses per level
MAX_NODES = 8191


def category_of(v):
    """A categorical cell that is not a str, as the matrix path reads it: None or NaN is missing, a number its
    text; unhashable values (a list) raise TypeError so that the matrix path names them."""
    hash(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def compile_tree(tree: dict, source: list[tuple[str, str | None]], position: dict[str, int], depth: int):
    """walk(values) -> leaf number (leaves numbered in node order), or None where the tree is too big or deep.
    `source[f]`: feature f's (column, category or None); `position[column]`: its place in the values tuple."""
    left, right = tree["left"], tree["right"]
    if depth > MAX_DEPTH or len(left) > MAX_NODES:
        return None
    feature, threshold, missing_left = tree["feature"], tree["threshold"], tree["missing_left"]
    leaves = {n: i for i, n in enumerate(n for n in range(len(left)) if left[n] < 0)}

    def test(n: int) -> ast.expr:
        column, category = source[int(feature[n])]
        thr = float(threshold[n])
        if not math.isfinite(thr):
            raise ValueError(f"node {n}: threshold {thr}")
        v = ast.Subscript(ast.Name("v", ast.Load()), ast.Constant(int(position[column])), ast.Load())
        if category is None:
            if missing_left[n]:  # v is None or not v > thr
                return _or(_compare(v, ast.Is(), None), ast.UnaryOp(ast.Not(), _compare(v, ast.Gt(), thr)))
            return _and(_compare(v, ast.IsNot(), None), _compare(v, ast.LtE(), thr))  # v is not None and v <= thr
        if thr >= 1.0:  # an indicator is 0 or 1: every row goes left, or every row goes right
            return ast.Constant(True)
        if thr < 0.0:
            return ast.Constant(False)
        # left where the row is not this category: v != c if v is a str, else category_of(v) != c
        as_text = ast.Call(ast.Name("category_of", ast.Load()), [v], [])
        is_str = _compare(ast.Attribute(v, "__class__", ast.Load()), ast.Is(), ast.Name("str", ast.Load()))
        return ast.IfExp(is_str, _compare(v, ast.NotEq(), category), _compare(as_text, ast.NotEq(), category))

    def body(n: int) -> list[ast.stmt]:
        if left[n] < 0:
            return [ast.Return(ast.Constant(leaves[n]))]
        return [ast.If(test(n), body(int(left[n])), body(int(right[n])))]

    module = ast.parse("def walk(v): pass")  # the def itself, as every Python version spells it; the body is ours
    module.body[0].body = body(0)  # type: ignore[attr-defined]
    module = ast.fix_missing_locations(module)
    space: dict = {"category_of": category_of, "str": str, "__builtins__": {}}
    exec(compile(module, "<understudy tree>", "exec"), space)  # noqa: S102 (constants only, see the docstring)
    return space["walk"]


def _compare(a: ast.expr, op: ast.cmpop, b) -> ast.Compare:
    return ast.Compare(a, [op], [b if isinstance(b, ast.expr) else ast.Constant(b)])


def _or(*parts: ast.expr) -> ast.BoolOp:
    return ast.BoolOp(ast.Or(), list(parts))


def _and(*parts: ast.expr) -> ast.BoolOp:
    return ast.BoolOp(ast.And(), list(parts))
