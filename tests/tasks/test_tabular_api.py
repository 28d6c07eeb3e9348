"""A table run whose teacher is an LLM behind an OpenAI-compatible server: each row asked as text, the rows it could
not answer reported and left out of what the student learns, the sampled answers of `check` kept for the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
from api_server import FakeLLM
from conftest import LABELS

from understudy.recipe import load_recipe
from understudy.run.engine import distill

NOTES = ["great service and great staff", "awful wait, terrible parking", "great food", "slow and rude"]


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    notes = [NOTES[int(i)] for i in rng.integers(0, len(NOTES), n)]
    return pd.DataFrame(
        {
            "visits": rng.integers(1, 20, n),
            "note": notes,
            "label": [LABELS[0] if "great" in t else LABELS[1] for t in notes],
        }
    )


def test_an_llm_teacher_answers_rows_and_what_it_cannot_answer_is_not_taught(tmp_path):
    transfer = table(40, 1)
    transfer.loc[[3, 9], "note"] = ["unanswerable review one", "unanswerable review two"]
    (tmp_path / "data").mkdir()
    transfer.drop(columns=["label"]).to_csv(tmp_path / "data" / "transfer.csv", index=False)
    table(30, 2).to_csv(tmp_path / "data" / "eval.csv", index=False)
    with FakeLLM(seed=3) as srv:
        (tmp_path / "recipe.yaml").write_text(
            f"""\
name: visits
task: tabular-classification
teacher:
  kind: openai-api
  labels: {LABELS}
  licence: "proprietary: Test Shop"
  api: {{base_url: "{srv.url}", model: fake, backoff_s: 0.01, backoff_max_s: 0.05, timeout_s: 5}}
student: {{kind: tree, max_depth: 3, min_samples_leaf: 2}}
data:
  transfer: {{path: data/transfer.csv}}
  evaluation: {{path: data/eval.csv}}
  target: label
  categorical: [note]
  numeric: [visits]
training: {{synthetic_rows: 0}}
evaluation: {{bootstrap: 20, speed_texts: 16, measure_memory: false}}
safety: {{robustness: false}}
gates: {{min_retention: 0.0, min_speedup: null, max_size_ratio: null}}
"""
        )
        report = distill(load_recipe(tmp_path / "recipe.yaml"), tmp_path / "run")
    assert report["data"]["transfer"]["unlabelled_by_teacher"] == 2
    assert report["data"]["transfer"]["rows_used"] == 38
    assert report["api"]["unparseable"] == 2
    assert report["teacher"]["speed"] is None and report["comparison"]["speedup"] is None  # the server's speed
    assert report["comparison"]["agreement"]["value"] > 0.8
