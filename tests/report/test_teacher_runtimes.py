"""The terminal table shows the teacher in each runtime it was timed in, and which one the speed-up is against."""

from __future__ import annotations

from understudy.report.summary import _teacher_runtimes


def test_each_runtime_has_a_row_and_the_one_not_used_says_why():
    speed = {
        "runtime": "onnx",
        "by_runtime": {
            "torch": {"batch_64": {"texts_per_s": 6.4}, "counted": True},
            "onnx": {"batch_64": {"texts_per_s": 9.1}, "counted": True},
            "onnx_int8": {"batch_64": {"texts_per_s": 20.2}, "counted": False},
        },
        "parity": {"onnx_int8": {"agreement": 0.918}},
    }
    rows = dict(_teacher_runtimes(speed))
    assert rows["  batch 64, in PyTorch"] == "6.4"
    assert rows["  batch 64, in ONNX"] == "9.1 (fastest)"
    assert rows["  batch 64, in ONNX int8"] == "20.2 (not used: 91.8% agree)"
    assert _teacher_runtimes({"by_runtime": {"torch": {"batch_64": {"texts_per_s": 6.4}}}}) == []  # one runtime
