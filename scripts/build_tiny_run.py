"""Make a small, real run folder to serve: `understudy distill` of a tiny static student, all offline.

Run with the dev environment (.venv: torch, transformers, sentence-transformers and the test builders):
    .venv/bin/python scripts/build_tiny_run.py RUN_FOLDER
It writes RUN_FOLDER (stages.json, report.json, student/...) with the same CLI a user runs, from the tiny teacher
the tests build (a 2-layer BERT with a scikit-learn head on its embeddings), which it keeps with the recipe and the
data in RUN_FOLDER.inputs beside it. Nothing is downloaded; it takes about 20 seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

RECIPE = """\
name: tiny
teacher: {{kind: encoder, path: {st}, head: {head}}}
student: {{kind: static, base: teacher, pca_dims: 16, vocabulary_size: 50}}
data:
  transfer: {{path: data/transfer.csv}}
  evaluation: {{path: data/eval.csv, label_column: label}}
training: {{epochs: 3}}
evaluation: {{bootstrap: 20, speed_texts: 16, measure_memory: false}}
safety: {{counterfactual: false, robustness_texts: 10, oversight: {{enabled: true, alpha: 0.3}}}}
gates:
  min_retention: 0.0
  min_speedup: {{threshold: 0.0, on_fail: warn}}
  max_size_ratio: {{threshold: 1000.0, on_fail: warn}}
"""


def build(run: Path) -> Path:
    """Build the teacher and the data beside `run`, distil into `run`; return it."""
    from conftest import build_tiny_bert, build_tiny_sentence_transformer, fit_skops_head, review_rows, write_csv
    from typer.testing import CliRunner

    from understudy.cli.main import app

    out = run.parent / f"{run.name}.inputs"
    out.mkdir(parents=True, exist_ok=True)
    bert = build_tiny_bert(out / "models" / "tiny-bert")
    st = build_tiny_sentence_transformer(out / "models" / "tiny-st", bert)
    head = fit_skops_head(st, out / "models" / "head.skops", review_rows(80, seed=123))
    transfer = review_rows(40, seed=21)
    write_csv(out / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(out / "data" / "eval.csv", review_rows(24, seed=22, exclude={t for t, _ in transfer}))
    recipe = out / "recipe.yaml"
    recipe.write_text(RECIPE.format(st=st, head=head), encoding="utf-8")
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(run), "-q"])
    if result.exit_code != 0:
        raise SystemExit(f"understudy distill failed (exit {result.exit_code}):\n{result.output}\n{result.exception!r}")
    return run


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: build_tiny_run.py RUN_FOLDER")
    print(build(Path(sys.argv[1])))
