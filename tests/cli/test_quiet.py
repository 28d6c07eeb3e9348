"""Third-party load reports (with raw ANSI colours) and tqdm bars stay off the terminal of a real CLI run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from cli_builders import recipe_lines, write_recipe
from conftest import build_tiny_bert, review_rows, write_csv

from understudy.quiet import ENV

NOISE = re.compile(r"\x1b\[|\d+%\|| it/s\]| tokens/s\]|LOAD REPORT")


def cli(args, cwd, **env):
    base = {k: v for k, v in os.environ.items() if k not in ENV}  # the child silences itself, or not
    done = subprocess.run(
        [sys.executable, "-m", "understudy.cli.main", *args],
        cwd=cwd,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_a_run_that_loads_transformers_and_model2vec_prints_none_of_their_noise(tmp_path):
    # A sequence-classification teacher: model2vec loads it as a bare BertModel, and transformers reports the
    # classifier weights it leaves out, in colour (the vocabulary is embedded by understudy's own loop, whose
    # progress goes through understudy's progress, so model2vec's tqdm bar no longer runs).
    teacher = build_tiny_bert(tmp_path / "teacher")
    transfer = review_rows(30, seed=3)
    write_csv(tmp_path / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(tmp_path / "data" / "eval.csv", review_rows(20, seed=4, exclude={t for t, _ in transfer}))
    lines = [ln for ln in recipe_lines(teacher, teacher) if not ln.startswith(("  kind: encoder", "  head:"))]
    lines.insert(lines.index("teacher:") + 1, "  kind: hf-classifier")
    recipe = str(write_recipe(tmp_path, lines))

    taught = cli(["distill", recipe, "--out", "run", "--to", "teach"], tmp_path)
    shutil.copytree(tmp_path / "run", tmp_path / "loud")
    trained = cli(["distill", recipe, "--out", "run", "--from", "train", "--to", "train"], tmp_path)
    assert "distilling static embeddings" in trained  # model2vec did run, behind understudy's own progress
    assert not NOISE.search(taught + trained), NOISE.findall(taught + trained)

    # The same stage with the user's own settings asking for the libraries' output: the noise is there to hide.
    loud = cli(
        ["distill", recipe, "--out", "loud", "--from", "train", "--to", "train", "-q"],
        tmp_path,
        TQDM_DISABLE="",
        TRANSFORMERS_VERBOSITY="warning",
    )
    assert "LOAD REPORT" in loud and "\x1b[" in loud
