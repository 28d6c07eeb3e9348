"""Regression tests for how sizes, fingerprints and memory are measured."""

import numpy as np

from understudy.evaluate.speed import cost_per_million, measure_speed, peak_memory_mb
from understudy.teachers.base import fingerprint_files, size_on_disk


def test_a_model_folder_inside_a_cache_folder_is_measured(tmp_path):
    # The built-in teacher lives under ~/.cache/understudy: its files once counted as 0 bytes.
    folder = tmp_path / ".cache" / "understudy" / "model"
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"x" * 1000)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_bytes(b"y" * 50)  # a tool's cache inside the model folder is not the model
    assert size_on_disk(folder) == 1000
    before = fingerprint_files(folder)
    (folder / "weights.bin").write_bytes(b"z" * 1000)
    assert fingerprint_files(folder) != before


def test_a_child_process_does_not_inherit_the_parents_peak_memory(tmp_path):
    from student_builders import make_student

    student = make_student()
    student.head_ = {
        "w1": np.zeros((16, 8), np.float32),
        "b1": np.zeros(16, np.float32),
        "w2": np.zeros((2, 16), np.float32),
        "b2": np.zeros(2, np.float32),
    }
    student.save(tmp_path / "s")
    ballast = np.ones(400 * 2**20 // 8)  # 400 MB in this process
    peak = peak_memory_mb("student", {"path": str(tmp_path / "s")}, ["good tea"] * 4)
    assert ballast.sum() > 0
    assert peak is not None and 10 < peak < 350


def test_speed_and_cost_figures_are_consistent():
    texts = [f"text {i}" for i in range(130)]
    speed = measure_speed(lambda batch: [len(t) for t in batch], texts, n_threads=1, batch_1_calls=10)
    assert speed["batch_1"]["calls"] == 10 and speed["batch_64"]["calls"] == 2
    assert speed["batch_64"]["texts_per_s"] > 0
    assert speed["batch_1"]["p50_ms"] <= speed["batch_1"]["p95_ms"]
    # $0.36/hour at 100 texts/s: 360,000 texts per $0.36 -> $1 per million
    assert cost_per_million(100.0, 0.36) == 1.0


def test_speed_keeps_the_batch_64_outputs_in_order_when_asked():
    texts = [f"text {i}" for i in range(130)]
    kept: list = []
    measure_speed(lambda batch: list(batch), texts, n_threads=1, batch_1_calls=3, keep=kept)
    assert [t for batch in kept for t in batch] == texts[:128]  # the two full batches of 64, no batch-1 calls
