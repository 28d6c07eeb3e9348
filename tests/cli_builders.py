"""Recipes and result explanations shared by the tests that run `understudy distill` through the CLI runner."""

from __future__ import annotations

from pathlib import Path


def recipe_lines(st: Path, head: Path, *, min_retention: float = 0.0, extra_top: list[str] = ()) -> list[str]:
    return [
        "name: tiny",
        "teacher:",
        "  kind: encoder",
        f"  path: {st}",
        f"  head: {head}",
        "student:",
        "  kind: static",
        "  base: teacher",
        "  pca_dims: 16",
        "  vocabulary_size: 50",
        "data:",
        "  transfer:",
        "    path: data/transfer.csv",
        "  evaluation:",
        "    path: data/eval.csv",
        "    label_column: label",
        "training:",
        "  epochs: 5",
        "  embedding_loss: auto",
        "evaluation:",
        "  bootstrap: 50",
        "  speed_texts: 16",
        "  measure_memory: false",
        "gates:",
        f"  min_retention: {min_retention}",
        "  min_speedup: {threshold: 0.0, on_fail: warn}",
        "  max_size_ratio: {threshold: 1000.0, on_fail: warn}",
        *extra_top,
    ]


def write_recipe(folder: Path, lines: list[str], name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def flat(output: str) -> str:
    """The output without rich's line wrapping (it wraps at the terminal width, 80 under CliRunner)."""
    return output.replace("\n", "")


def explain(result) -> str:
    import traceback

    tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
    return f"exit {result.exit_code}\n--- output\n{result.output}\n--- exception\n{tb}"
