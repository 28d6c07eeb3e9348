"""One tiny real run (encoder teacher, static student, oversight on), made once per session through
`understudy.distill` and shared by the tests of understudy.load, `understudy predict` and the card's snippet.
Tests that change a run copy it first (`copy_run`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_builders import recipe_lines, write_recipe
from conftest import review_rows, write_csv

_MADE: dict[str, Path] = {}


def tiny_run(tmp_path_factory, tiny_st: Path, tiny_head: Path) -> Path:
    """The run folder; built on first use, reused after (never modify it: copy_run)."""
    key = str(tmp_path_factory.getbasetemp())
    if key not in _MADE:
        import understudy

        root = tmp_path_factory.mktemp("use-run")
        transfer = review_rows(60, seed=31)
        evaluation = review_rows(80, seed=32, exclude={t for t, _ in transfer})
        write_csv(root / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
        write_csv(root / "data" / "eval.csv", evaluation)
        lines = recipe_lines(tiny_st, tiny_head) + [
            "safety:",
            "  oversight: {enabled: true, alpha: 0.2}",
            "  robustness: false",
            "  counterfactual: false",
        ]
        done = understudy.distill(write_recipe(root, lines), root / "run")
        assert done.verdict in ("PASS", "WARN"), done.report.get("gates")
        _MADE[key] = done.folder
    return _MADE[key]


def copy_run(run: Path, where: Path) -> Path:
    target = where / run.name
    shutil.copytree(run, target)
    return target
