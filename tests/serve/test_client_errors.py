"""A client's mistake is answered in words: bodies that are not JSON or not UTF-8, paths this server lacks, and a
blocked student's reason without JSON paths."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient
from serve_builders import bearer, classifier_folder, keys

from understudy.errors import StudentBlocked
from understudy.serve.app import create_app, run_verdict


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classifier")
    store, client_key, _ = keys(tmp)
    app = create_app(str(classifier_folder(tmp / "student", defer=None)), keys=store)
    return TestClient(app, raise_server_exceptions=False), bearer(client_key)


def _error(response) -> dict:
    return response.json()["error"]


@pytest.mark.parametrize(
    "body, needle",
    [
        (b'{"text": ', "not valid JSON (at character 9: Expecting value)"),
        (b"hello", "not valid JSON (at character 0"),
        (b"[1, 2", "not valid JSON (at character 5"),
        (b'{"text": "caf\xe9 tea"}', "not valid UTF-8 (byte 13)"),
        (b"", "the request body is empty"),
    ],
)
def test_a_body_that_is_not_json_is_422_naming_the_body(classifier, body, needle):
    api, key = classifier
    r = api.post("/v1/classify", content=body, headers={**key, "content-type": "application/json"})
    assert r.status_code == 422, r.text
    error = _error(r)
    assert needle in error["message"] and error["param"] == "body"  # never the character offset as a field


def test_a_language_model_route_on_a_classifier_says_to_use_classify(classifier):
    api, key = classifier
    r = api.post("/v1/chat/completions", json={"messages": []}, headers=key)
    assert r.status_code == 404
    message = _error(r)["message"]
    assert "serves a classifier" in message and "use POST /v1/classify" in message
    assert "POST /v1/classify" in message.split("Its endpoints:", 1)[1] and "GET /v1/models" in message
    other = api.get("/v1/nothing-here", headers=key)
    assert other.status_code == 404 and "Its endpoints:" in _error(other)["message"]
    assert "classifier" not in _error(other)["message"]  # the hint only where it applies
    wrong_method = api.get("/v1/classify", headers=key)
    assert wrong_method.status_code == 405 and "takes POST" in _error(wrong_method)["message"]


def test_a_route_s_own_404_keeps_its_message(tmp_path):
    store, _, reviewer_key = keys(tmp_path)
    api = TestClient(create_app(str(classifier_folder(tmp_path / "student", defer=True)), keys=store))
    r = api.get("/v1/review/999", headers=bearer(reviewer_key))
    assert r.status_code == 404 and "Its endpoints" not in _error(r)["message"]


def test_the_classify_route_on_a_language_model_says_to_use_chat_completions(tmp_path):
    from lm_builders import build_tiny_llama

    store, client_key, _ = keys(tmp_path)
    api = TestClient(create_app(str(build_tiny_llama(tmp_path / "tiny")), keys=store))
    r = api.post("/v1/classify", json={"text": "hi"}, headers=bearer(client_key))
    assert r.status_code == 404
    message = _error(r)["message"]
    assert "serves a language model" in message and "/v1/chat/completions" in message


def _blocked_run(tmp_path):
    """A run folder whose report blocks the student, with the gate message as the engine writes it."""
    run = tmp_path / "run"
    classifier_folder(run / "student", defer=None)
    done = {"status": "done"}
    (run / "stages.json").write_text(json.dumps({"train": done, "evaluate": done, "gate": done}))
    message = (
        "the share of the teacher's macro-F1 the student keeps is 80.0% "
        "(at least 0.95 required; read at comparison › retention)"
    )
    result = {
        "name": "min_retention",
        "value": 0.8,
        "threshold": 0.95,
        "on_fail": "block",
        "passed": False,
        "status": "BLOCK",
        "message": message,
        "where": "comparison › retention",
    }
    report = {"run": {"task": "text-classification"}, "gates": {"verdict": "BLOCK", "results": [result]}}
    (run / "report.json").write_text(json.dumps(report))
    return run


def test_a_blocked_student_s_reason_is_the_report_s_sentence_without_paths(tmp_path):
    run = _blocked_run(tmp_path)
    verdict, why = run_verdict(run / "student")
    assert verdict == "BLOCK" and "›" not in why and "read at" not in why
    assert "keeps 80.0% of the teacher's quality (it must be at least 95.0%)" in why
    store, client_key, _ = keys(tmp_path)
    with pytest.raises(StudentBlocked) as refused:
        create_app(str(run), keys=store)
    assert "keeps 80.0%" in str(refused.value) and "›" not in str(refused.value)
    health = TestClient(create_app(str(run), keys=store, allow_blocked=True)).get("/health").json()
    assert health["verdict"] == "BLOCK" and "›" not in health["warning"]
    assert "keeps 80.0% of the teacher's quality" in health["warning"]
    shutil.rmtree(run)
