"""The server's keys, roles, limits and errors, through FastAPI's test client: one test per client mistake."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from serve_builders import bearer, classifier_folder, keys

from understudy.errors import UserError
from understudy.serve.app import create_app


@pytest.fixture
def served(tmp_path):
    store, client_key, reviewer_key = keys(tmp_path)
    folder = classifier_folder(tmp_path / "student", defer=True)
    app = create_app(str(folder), keys=store, max_body_mb=0.01, max_batch=8)
    return {
        "api": TestClient(app, raise_server_exceptions=False),
        "store": store,
        "client": bearer(client_key),
        "reviewer": bearer(reviewer_key),
        "folder": folder,
    }


def _message(response) -> str:
    return response.json()["error"]["message"]


def test_health_is_open_and_everything_else_needs_a_key(served):
    api = served["api"]
    assert api.get("/health").json()["status"] == "ok"
    for method, path, body in [
        ("post", "/v1/classify", {"text": "great tea"}),
        ("get", "/v1/models", None),
        ("get", "/metrics", None),
        ("get", "/v1/review", None),
        ("post", "/v1/review/1", {"label": "great"}),
        ("get", "/v1/review/export", None),
        ("get", "/v1/review/audit", None),
    ]:
        r = api.request(method.upper(), path, json=body)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer" and "api-keys create" in _message(r)
    unknown = api.post("/v1/classify", json={"text": "great tea"}, headers=bearer("us_not-a-key"))
    assert unknown.status_code == 401 and "not known" in _message(unknown)


def test_both_key_headers_work_and_a_revoked_key_is_refused(served):
    api, store = served["api"], served["store"]
    key = store.create_key("crm")
    assert api.post("/v1/classify", json={"text": "great tea"}, headers={"X-API-Key": key}).status_code == 200
    assert api.post("/v1/classify", json={"text": "great tea"}, headers=bearer(key)).status_code == 200
    store.revoke("crm")
    r = api.post("/v1/classify", json={"text": "great tea"}, headers=bearer(key))
    assert r.status_code == 403 and "revoked" in _message(r)
    assert key not in r.text


def test_a_client_key_may_not_read_or_decide_the_queue(served):
    api = served["api"]
    ids = [
        x["review_id"]
        for x in api.post("/v1/classify", json={"texts": ["great tea"]}, headers=served["client"]).json()["results"]
    ]
    for r in (
        api.get("/v1/review", headers=served["client"]),
        api.post(f"/v1/review/{ids[0]}", json={"label": "great"}, headers=served["client"]),
        api.get("/v1/review/export", headers=served["client"]),
    ):
        assert r.status_code == 403 and "reviewer role" in _message(r)
    # the reviewer key does both, and the audit names the key, not a name the client sent
    decided = api.post(
        f"/v1/review/{ids[0]}", json={"label": "great", "reviewer": "someone else"}, headers=served["reviewer"]
    )
    assert decided.status_code == 200 and decided.json()["reviewer"] == "desk"
    audit = api.get("/v1/review/audit", headers=served["reviewer"]).json()["entries"]
    assert [(e["item"], e["reviewer"], e["after"]) for e in audit] == [(ids[0], "desk", "great")]


def test_one_result_per_text_with_its_own_review_id(served):
    api = served["api"]
    texts = ["great tea", "awful coffee", "the box was broken"]
    body = api.post("/v1/classify", json={"texts": texts}, headers=served["client"]).json()
    assert body["classes"] == ["great", "other"] and len(body["results"]) == 3
    for text, result in zip(texts, body["results"]):
        assert result["defer_to_human"] is True and abs(sum(result["probabilities"].values()) - 1) < 1e-4
        item = api.get(f"/v1/review/{result['review_id']}", headers=served["reviewer"]).json()
        assert item["text"] == text and item["suggested"] == result["label"]
    single = api.post("/v1/classify", json={"text": "lovely tea"}, headers=served["client"]).json()
    assert len(single["results"]) == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"texts": ["\\ud800"]}', "lone surrogate"),
        (b'{"text": "ok \\udfff"}', "lone surrogate"),
        (b'{"texts": [""]}', "texts[0] is empty"),
        (b'{"texts": ["fine", "   "]}', "texts[1] is empty"),
        (b'{"text": ""}', "text is empty"),
        (b'{"texts": []}', "at least one text"),
        (b'{"texts": "not a list"}', "texts"),
        (b'{"texts": [1, 2]}', "texts"),
        (b'{"text": "a", "texts": ["b"]}', "either 'text'"),
        (b"{}", "either 'text'"),
        (b'{"texts": ["unterminated', "JSON"),
        (b"\xff\xfe not utf-8", "JSON"),
    ],
)
def test_malformed_classify_bodies_are_422_naming_the_field(served, body, needle):
    r = served["api"].post(
        "/v1/classify", content=body, headers={**served["client"], "content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert needle.lower() in _message(r).lower()
    assert served["api"].get("/v1/review", headers=served["reviewer"]).json()["pending"] == 0  # nothing queued


@pytest.mark.parametrize(
    "query",
    [
        "limit=1000000000000000000000000000000",
        "limit=-1",
        "limit=0",
        "limit=1001",
        "offset=-5",
        "limit=abc",
        "offset=1e400",
    ],
)
def test_bad_paging_is_422_never_the_whole_queue(served, query):
    r = served["api"].get(f"/v1/review?{query}", headers=served["reviewer"])
    assert r.status_code == 422, r.text
    assert ("limit" in _message(r)) or ("offset" in _message(r))


@pytest.mark.parametrize("item", ["123456789012345678901234567890", "0", "-3", "abc", "9223372036854775808"])
def test_bad_review_ids_are_422(served, item):
    api = served["api"]
    assert api.get(f"/v1/review/{item}", headers=served["reviewer"]).status_code == 422
    r = api.post(f"/v1/review/{item}", json={"label": "great"}, headers=served["reviewer"])
    assert r.status_code == 422 and "item" in _message(r)


def test_decisions_unknown_items_labels_and_second_decisions(served):
    api, rev = served["api"], served["reviewer"]
    item = api.post("/v1/classify", json={"text": "great tea"}, headers=served["client"]).json()["results"][0][
        "review_id"
    ]
    assert api.post("/v1/review/999999", json={"label": "great"}, headers=rev).status_code == 404
    bad = api.post(f"/v1/review/{item}", json={"label": "maybe"}, headers=rev)
    assert bad.status_code == 422 and "great, other" in _message(bad)
    assert api.post(f"/v1/review/{item}", json={"label": "other"}, headers=rev).status_code == 200
    again = api.post(f"/v1/review/{item}", json={"label": "great"}, headers=rev)
    assert again.status_code == 409 and "already decided" in _message(again)
    fixed = api.post(f"/v1/review/{item}", json={"label": "great", "correct": True}, headers=rev)
    assert fixed.status_code == 200
    audit = api.get("/v1/review/audit", headers=rev).json()["entries"]
    assert (
        sorted((e["before"], e["after"]) for e in audit) == sorted([("great", "other"), ("other", "great")])
        or len(audit) == 2
    )
    csv_text = api.get("/v1/review/export?format=csv", headers=rev).text
    assert csv_text.splitlines()[0].startswith("text,label") and "great tea" in csv_text
    studio = api.get("/v1/review/export?format=label-studio", headers=rev).json()
    assert studio[0]["data"]["text"] == "great tea"
    assert api.get("/v1/review/export?format=xml", headers=rev).status_code == 422


def test_limits_are_413_with_the_limit_in_the_message(served):
    api = served["api"]
    big = api.post("/v1/classify", json={"text": "x" * 20_000}, headers=served["client"])
    assert big.status_code == 413 and "10,485 bytes" in _message(big)

    def chunks():  # no Content-Length: the limit still holds while the body streams in
        yield b'{"text": "'
        for _ in range(40):
            yield b"y" * 1000
        yield b'"}'

    streamed = api.post(
        "/v1/classify", content=chunks(), headers={**served["client"], "content-type": "application/json"}
    )
    assert streamed.status_code == 413
    batch = api.post("/v1/classify", json={"texts": ["great tea"] * 9}, headers=served["client"])
    assert batch.status_code == 413 and "at most 8" in _message(batch)
    assert api.get("/v1/review", headers=served["reviewer"]).json()["pending"] == 0


def test_a_server_fault_is_a_plain_500_without_a_traceback(served, monkeypatch):
    from understudy.students.static import StaticStudent

    def broken(self, texts):
        raise RuntimeError("secret internals at /home/me/model")

    monkeypatch.setattr(StaticStudent, "predict_proba", broken)
    r = served["api"].post("/v1/classify", json={"text": "great tea"}, headers=served["client"])
    assert r.status_code == 500 and "secret internals" not in r.text and "Traceback" not in r.text


def test_metrics_in_prometheus_format(served):
    api = served["api"]
    api.post("/v1/classify", json={"texts": ["great tea", "awful tea"]}, headers=served["client"])
    api.post("/v1/classify", json={"text": ""}, headers=served["client"])
    text = api.get("/metrics", headers=served["client"]).text
    assert 'understudy_requests_total{route="/v1/classify",status="200"} 1.0' in text
    assert 'understudy_requests_total{route="/v1/classify",status="422"} 1.0' in text
    assert 'understudy_request_seconds_bucket{le="0.001",route="/v1/classify"}' in text
    assert "understudy_predictions_total 2.0" in text and "understudy_deferred_share 1.0" in text
    assert "understudy_review_queue_pending 2.0" in text
    model = api.get("/health").json()["model"]
    assert f'understudy_model{{model="{model}",task="text-classification",verdict="not gated"}} 1.0' in text


def test_no_key_file_or_no_active_key_stops_the_server_at_start(tmp_path):
    from understudy.serve.keys import KeyStore

    folder = classifier_folder(tmp_path / "student")
    with pytest.raises(UserError, match="api-keys create"):
        KeyStore(tmp_path / "missing.sqlite", create=False)
    store = KeyStore(tmp_path / "keys.sqlite")
    with pytest.raises(UserError, match="no active API key"):
        create_app(str(folder), keys=store)
    store.create_key("old")
    store.revoke("old")
    with pytest.raises(UserError, match="no active API key"):
        create_app(str(folder), keys=store)
