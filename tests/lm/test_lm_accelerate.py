"""The training stage, unchanged, under `accelerate launch` with two CPU processes (gloo)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lm_builders import build_tiny_llama, lm_recipe_text, write_prompts

from understudy.lm.recipe import load_lm_recipe
from understudy.run import distill


def test_two_cpu_processes(tmp_path):
    teacher = build_tiny_llama(tmp_path / "teacher")
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    (tmp_path / "r.yaml").write_text(
        lm_recipe_text(
            teacher, prompts, training={"method": "topk", "epochs": 1, "batch_size": 2, "learning_rate": 3e-3}
        )
    )
    run = tmp_path / "run"
    distill(load_lm_recipe(tmp_path / "r.yaml"), run, stop="teach")
    # --multi_gpu picks accelerate's torchrun launcher; with no GPU the processes train on CPU over gloo
    # (`--cpu` would start a single process)
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [
            accelerate,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "understudy.lm.train",
            str(run),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run / "training.json").read_text())
    assert summary["world_size"] == 2
    assert summary["steps"] == 5  # 20 examples / (2 per process x 2 processes)
    assert (run / "student" / "model.safetensors").is_file()
    # and the evaluation stage reads what the processes wrote
    report = distill(load_lm_recipe(tmp_path / "r.yaml"), run, start="evaluate")
    assert report["student"]["training"]["world_size"] == 2
