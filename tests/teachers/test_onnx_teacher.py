"""The sentence-encoder teacher through ONNX Runtime: exported once and cached, the same embeddings and labels as
PyTorch, timed beside it (the speed-up reads the faster), and labelling through it only where parity holds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import review_rows

from understudy.errors import UserError
from understudy.evaluate.speed import measure_teacher_speed
from understudy.teachers.encoder import EncoderWithHead, SentenceEncoder
from understudy.teachers.onnx_encoder import (
    PARITY_TEXTS,
    OnnxEncoder,
    compare,
    embed,
    onnx_folder,
    use_labelling_runtime,
)

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSTUDY_CACHE", str(tmp_path / "cache"))  # where onnx_folder keeps exports
    return tmp_path / "cache"


def texts(n: int, seed: int = 5) -> list[str]:
    return [t for t, _ in review_rows(n, seed=seed)]


def test_the_export_gives_the_same_embeddings_and_labels_and_is_made_once(tiny_st, tiny_head, cache):
    teacher = EncoderWithHead(tiny_st, tiny_head)
    folder = onnx_folder(teacher.encoder)
    assert folder.parent == cache and (folder / "model.onnx").is_file()
    sample = texts(120) + ["a much longer review " * 20]  # padding and truncation at max_length 64
    onnx = OnnxEncoder(teacher.encoder, folder / "model.onnx", threads=1)
    parity = compare(embed(teacher.encoder.torch_predict, sample), embed(onnx.predict, sample), teacher.from_embeddings)
    assert parity["texts"] == len(sample)
    assert parity["max_abs_diff"] < 1e-4 and parity["agreement"] == 1.0

    stamp = (folder / "model.onnx").stat().st_mtime_ns
    again = SentenceEncoder(tiny_st)  # a new object on the same files: the same cache entry, no second export
    assert onnx_folder(again) == folder and (folder / "model.onnx").stat().st_mtime_ns == stamp


def test_a_pipeline_the_export_does_not_cover_is_refused_clearly(tiny_bert, tmp_path, cache):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models

    folder = tmp_path / "cls-st"
    mods = [models.Transformer(str(tiny_bert), max_seq_length=64), models.Pooling(32, "cls")]
    SentenceTransformer(modules=mods, device="cpu").save(str(folder))
    with pytest.raises(UserError, match="pools by the mean"):
        onnx_folder(SentenceEncoder(folder))
    assert not list(cache.glob("teacher-onnx-*"))  # nothing half-made is left to be reused


def test_the_teacher_is_timed_in_both_runtimes_and_the_headline_is_the_faster(tiny_st, tiny_head, cache):
    teacher = EncoderWithHead(tiny_st, tiny_head)
    speed = measure_teacher_speed(teacher, texts(140), n_threads=1, batch_1_calls=4)
    assert set(speed["by_runtime"]) == {"torch", "torch_bf16", "onnx", "onnx_int8"}
    assert speed["onnx_note"] is None
    bf16 = speed["parity"]["torch_bf16"]
    assert 0.99 <= bf16["min_cosine"] <= 1.0 and bf16["agreement"] >= 0.99 and bf16["qualified"]
    assert speed["throughput_torch_bf16"] == speed["by_runtime"]["torch_bf16"]["batch_64"]["texts_per_s"]
    onnx = speed["parity"]["onnx"]
    assert onnx["texts"] == 128 and onnx["max_abs_diff"] < 1e-4 and onnx["agreement"] == 1.0 and onnx["qualified"]
    int8 = speed["parity"]["onnx_int8"]
    assert int8["qualified"] == (int8["agreement_with_fp32"] >= 0.99)
    assert speed["throughput_torch"] == speed["by_runtime"]["torch"]["batch_64"]["texts_per_s"]
    assert speed["throughput_onnx"] == speed["by_runtime"]["onnx"]["batch_64"]["texts_per_s"]
    assert (speed["throughput_onnx_int8"] is None) == (not int8["qualified"])
    runtimes = ("torch", "torch_bf16", "onnx", "onnx_int8")
    counted = [speed[f"throughput_{r}"] for r in runtimes if speed[f"throughput_{r}"]]
    # the top-level figures, which comparison.speedup and the cost read, are the fastest counted runtime's
    assert speed["batch_64"]["texts_per_s"] == max(counted)
    assert speed["batch_64"] == speed["by_runtime"][speed["runtime"]]["batch_64"]


def test_a_teacher_without_an_encoder_is_timed_in_torch_and_says_why(cache):
    class Plain:
        labels = ["a", "b"]

        def predict(self, batch):
            return {"probs": np.tile([0.3, 0.7], (len(batch), 1))}

    speed = measure_teacher_speed(Plain(), texts(70), n_threads=1, batch_1_calls=2)
    assert speed["runtime"] == "torch" and set(speed["by_runtime"]) == {"torch"}
    assert speed["throughput_onnx"] is None and speed["parity"] is None and "sentence-encoder" in speed["onnx_note"]


def test_onnx_labelling_checks_parity_on_the_first_texts_then_labels_through_onnx(tiny_st, tiny_head, cache):
    teacher = EncoderWithHead(tiny_st, tiny_head)
    gate = use_labelling_runtime(teacher, "onnx")
    assert teacher.encoder.runtime is gate
    sample = texts(PARITY_TEXTS + 64, seed=9)
    got = np.concatenate([teacher.predict(sample[i : i + 32])["embedding"] for i in range(0, len(sample), 32)])
    assert np.abs(got - embed(teacher.encoder.torch_predict, sample, 32)).max() < 1e-4
    report = gate.report(teacher.from_embeddings)
    assert report["setting"] == "onnx" and report["runtime"] == "onnx"
    assert report["texts"] == {"torch": PARITY_TEXTS, "onnx": 64, "bf16": 0}  # the parity texts came from PyTorch
    assert report["parity"]["onnx"]["agreement"] == 1.0 and report["parity"]["onnx"]["qualified"]
    assert set(report["parity"]) == {"onnx"} and report["speed"]["onnx"] > 0
    # a second encoder object on the same files (the demo head's and the teacher's) shares the decision
    other = EncoderWithHead(tiny_st, tiny_head)
    assert use_labelling_runtime(other, "onnx", like=gate) is gate
    assert use_labelling_runtime(EncoderWithHead(tiny_st, tiny_head), "torch") is None


def test_a_run_reports_both_runtimes_the_speedup_against_the_faster_and_how_it_labelled(
    tiny_st, tiny_head, tmp_path, cache
):
    import json

    from cli_builders import explain, recipe_lines, write_recipe
    from conftest import write_csv
    from typer.testing import CliRunner

    from understudy.cli.main import app

    transfer = review_rows(60, seed=11)
    evaluation = review_rows(30, seed=12, exclude={t for t, _ in transfer})
    write_csv(tmp_path / "data" / "transfer.csv", [(t, "") for t, _ in transfer], header=("text", "note"))
    write_csv(tmp_path / "data" / "eval.csv", evaluation)
    recipe = write_recipe(tmp_path, recipe_lines(tiny_st, tiny_head, extra_top=["labelling: {runtime: auto}"]))
    result = CliRunner().invoke(app, ["distill", str(recipe), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, explain(result)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    speed, comparison = report["teacher"]["speed"], report["comparison"]
    assert {"torch", "onnx"} <= set(speed["by_runtime"]) and speed["throughput_onnx"] > 0
    student = report["student"]["speed"]["batch_64"]["texts_per_s"]
    fastest = max(v for v in (speed["throughput_torch"], speed["throughput_onnx"], speed["throughput_onnx_int8"]) if v)
    assert comparison["speedup"] == round(student / fastest, 2)
    assert comparison["speedup_vs_torch"] == round(student / speed["throughput_torch"], 2)
    labelling = report["labelling"]["runtime"]
    # 90 texts, fewer than the parity sample: all answered by PyTorch, each checked against ONNX Runtime
    assert labelling["setting"] == "auto" and labelling["texts"] == {"torch": 90, "onnx": 0, "bf16": 0}
    assert labelling["parity"]["onnx"]["texts"] == 90 and labelling["parity"]["onnx"]["agreement"] == 1.0
    assert labelling["parity"]["bf16"]["texts"] == 90 and labelling["parity"]["bf16"]["agreement"] >= 0.99


def test_auto_takes_the_fastest_runtime_that_stayed_the_same_teacher():
    from understudy.teachers.onnx_encoder import LabellingRuntime

    class Encoder:
        fingerprint = "f"

    def gate(speeds: dict, shift: dict) -> LabellingRuntime:
        g = LabellingRuntime(Encoder(), "auto")
        ref = np.random.default_rng(0).normal(size=(PARITY_TEXTS, 8)).astype(np.float32)
        g.candidates = {n: None for n in speeds if n != "torch"}
        g.reference, g.found = [ref], {n: [ref + shift.get(n, 0.0)] for n in g.candidates}
        g.timings = {n: [(1, 1.0), (int(v), 1.0)] for n, v in speeds.items()}  # the first (loading) batch left out
        return g

    assert gate({"torch": 10, "onnx": 12, "bf16": 40}, {})._decide() == "bf16"
    assert gate({"torch": 10, "onnx": 12, "bf16": 40}, {"bf16": 0.5})._decide() == "onnx"  # bf16 drifted: not counted
    assert gate({"torch": 10, "onnx": 10, "bf16": 10}, {})._decide() == "torch"  # not a tenth faster: float32 stays
    assert gate({"torch": 10, "onnx": 30, "bf16": 20}, {"onnx": 0.01})._decide() == "bf16"  # onnx past MAX_DIFF
    g = gate({"torch": 10, "bf16": 40}, {})
    g.decided = g._decide()
    report = g.report()
    assert report["runtime"] == "bf16" and report["speed"] == {"torch": 10.0, "bf16": 40.0}
    assert report["parity"]["bf16"]["qualified"] and report["parity"]["bf16"]["min_cosine"] == 1.0
