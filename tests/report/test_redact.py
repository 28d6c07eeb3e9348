"""Shipped files name models by id and hash and carry no path that only means something on this machine."""

from __future__ import annotations

import re
from pathlib import Path

from understudy.report.redact import model_ref, strip_paths, strip_paths_in


def _model(folder: Path, weights: bytes = b"\0" * 64) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_model_ref_names_a_folder_by_its_name_and_a_hash_of_its_files(tmp_path):
    ref = model_ref(_model(tmp_path / "a" / "reviews-teacher"))
    assert re.fullmatch(r"reviews-teacher \(sha256:[0-9a-f]{8}\)", ref)
    assert str(tmp_path) not in ref
    # The same files anywhere give the same name; other weights give another.
    assert model_ref(_model(tmp_path / "b" / "reviews-teacher")) == ref
    assert model_ref(_model(tmp_path / "c" / "reviews-teacher", b"\1" * 65)) != ref


def test_model_ref_keeps_a_hub_id_and_reads_the_hub_cache_layout(tmp_path):
    assert model_ref("acme/reviews-classifier") == "acme/reviews-classifier"
    snap = _model(tmp_path / "hub" / "models--acme--tiny-bert" / "snapshots" / "0123abcd")
    assert model_ref(snap).startswith("acme/tiny-bert (sha256:")
    # A path that is not here still loses its folders.
    assert model_ref(str(tmp_path / "gone" / "teacher")) == "teacher"
    assert model_ref(None) == "unnamed model"


def test_strip_paths_replaces_local_paths_and_leaves_the_rest(tmp_path):
    home = str(Path.home())
    run = tmp_path / "runs" / "demo"
    text = (
        f"teacher encoder {home}/.cache/understudy/all-mpnet-base-v2 + head {run}/cache/head.skops; "
        f"card {tmp_path}/models/teacher/README.md, "
        "torch at /usr/lib/python3.12/site-packages/torch/__init__.py; "
        "hub /x/.cache/huggingface/hub/models--acme--bert/snapshots/abc123/config.json. "
        "Speed in tokens/s, see https://huggingface.co/acme/bert and /etc/hosts."
    )
    out = strip_paths(text, run)
    for local in (str(tmp_path), home, "site-packages", ".cache", "snapshots"):
        assert local not in out, (local, out)
    assert "encoder all-mpnet-base-v2 + head demo/cache/head.skops;" in out
    assert "card teacher/README.md," in out
    assert "torch/__init__.py" in out
    assert "hub acme/bert/config.json." in out
    # Not machine-local: left alone.
    assert "tokens/s" in out and "https://huggingface.co/acme/bert" in out and "/etc/hosts." in out


def test_strip_paths_in_reaches_every_string_of_a_report(tmp_path):
    run = tmp_path / "run"
    report = {"out": str(run), "evaluations": [{"file": f"{run}/student/x.json", "score": 0.5}], "n": 3}
    out = strip_paths_in(report, run)
    assert out == {"out": "run", "evaluations": [{"file": "run/student/x.json", "score": 0.5}], "n": 3}
