"""A recipe whose teacher is a Python function with a declared licence, for the licence gate's CLI tests."""

from __future__ import annotations

from cli_builders import recipe_lines, write_recipe
from conftest import review_rows, write_csv


def callable_recipe(folder, licence: str, base=None):
    """A Python teacher the business trained itself, declared with `licence`; the student starts from `base`."""
    (folder / "teacher.py").write_text(
        "def predict(texts):\n    return [[0.9, 0.1] if 'great' in t else [0.2, 0.8] for t in texts]\n"
    )
    transfer = review_rows(20, seed=5)
    write_csv(folder / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(folder / "data" / "eval.csv", review_rows(10, seed=6, exclude={t for t, _ in transfer}))
    lines = [
        ln for ln in recipe_lines(folder, folder) if not ln.startswith(("  kind: encoder", "  path: /", "  head:"))
    ]
    i = lines.index("teacher:")
    lines[i + 1 : i + 1] = [
        "  kind: callable",
        "  target: teacher.py:predict",
        "  labels: [great, other]",
        f'  licence: "{licence}"',
    ]
    if base is not None:
        lines[lines.index("  base: teacher")] = f"  base: {base}"
    return write_recipe(folder, lines)
