"""`GET /` says what is served where (JSON for clients, a page for browsers), and the banner's curl line works."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

from fastapi.testclient import TestClient
from serve_builders import Uvicorn, bearer, classifier_folder, keys

from understudy.serve.app import create_app
from understudy.serve.cli import banner

SECRET_TEXT = "a private complaint about parcel 4711"


def test_root_answers_json_naming_the_model_the_endpoints_the_docs_and_the_desk(tmp_path):
    store, client_key, _ = keys(tmp_path)
    api = TestClient(create_app(str(classifier_folder(tmp_path / "student")), keys=store, name="reviews-student"))
    api.post("/v1/classify", json={"text": SECRET_TEXT}, headers=bearer(client_key))  # queued for a person
    root = api.get("/")  # no key: it shows only what /health shows, and fixed paths
    assert root.status_code == 200 and root.headers["content-type"] == "application/json"
    about = root.json()
    health = api.get("/health").json()
    assert {k: about[k] for k in ("model", "task", "verdict")} == {k: health[k] for k in ("model", "task", "verdict")}
    assert about["model"] == "reviews-student"
    assert (about["docs"], about["health"], about["review_desk"]) == ("/docs", "/health", "/review")
    assert {"POST /v1/classify", "GET /v1/models", "GET /health", "GET /v1/review"} <= set(about["endpoints"])
    assert SECRET_TEXT not in root.text and client_key not in root.text
    for path in ("/", "/docs", "/openapi.json"):
        assert path not in {e.split(" ", 1)[1] for e in about["endpoints"]}  # the ways in are not the API


def test_root_without_a_policy_has_no_review_desk(tmp_path):
    store, _, _ = keys(tmp_path)
    about = TestClient(create_app(str(classifier_folder(tmp_path / "student", defer=None)), keys=store)).get("/")
    assert "review_desk" not in about.json() and "GET /v1/review" not in about.json()["endpoints"]


def test_root_in_a_browser_is_a_page_of_links_with_no_script(tmp_path):
    store, _, _ = keys(tmp_path)
    name = "<b>tea</b>-student"  # a name is text on the page, never markup
    api = TestClient(create_app(str(classifier_folder(tmp_path / "student")), keys=store, name=name))
    page = api.get("/", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"] and "<script" not in page.text
    assert "<b>tea</b>" not in page.text and "&lt;b&gt;tea&lt;/b&gt;-student" in page.text
    for link in ("/docs", "/review", "/health"):
        assert f'href="{link}"' in page.text
    assert "POST /v1/classify" in page.text


def test_the_banner_names_the_ways_in_and_its_curl_line_works_as_printed(tmp_path):
    store, client_key, _ = keys(tmp_path)
    app = create_app(str(classifier_folder(tmp_path / "student")), keys=store, name="reviews-student")
    with Uvicorn(app) as url:
        port = int(url.rsplit(":", 1)[1])
        lines = banner(app, "0.0.0.0", port, store)  # listening everywhere: the banner shows a local address
        text = "\n".join(lines)
        assert client_key not in text  # the key comes from the environment, never the banner
        assert lines[0].startswith("serving reviews-student (text-classification)")
        for way_in in ("/ ", "/docs ", "/health ", "/review "):
            assert any(f"GET   {url}{way_in}" in line for line in lines), way_in
        assert f"{url}/v1/classify" in text and "/static/" not in text
        [curl] = [line.removeprefix("try: ") for line in lines if line.startswith("try: ")]
        assert shlex.split(curl)[0] == "curl"
        env = {**os.environ, "UNDERSTUDY_API_KEY": client_key}
        done = subprocess.run(["bash", "-c", curl + " --silent --show-error --fail"], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
    answer = json.loads(done.stdout)
    assert answer["model"] == "reviews-student" and len(answer["results"]) == 1
    assert set(answer["results"][0]["probabilities"]) == set(answer["classes"])


def test_a_language_model_server_has_the_same_ways_in(tmp_path):
    from lm_builders import build_tiny_llama

    store, client_key, _ = keys(tmp_path)
    app = create_app(str(build_tiny_llama(tmp_path / "tiny")), keys=store)
    api = TestClient(app)
    about = api.get("/").json()
    assert about["model"] == "tiny" and about["task"] == "text-generation" and "review_desk" not in about
    assert "POST /v1/chat/completions" in about["endpoints"]
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json", headers=bearer(client_key)).json()
    assert spec["paths"]["/v1/chat/completions"]["post"]["security"] == [{"bearer": []}]
    [curl] = [line for line in banner(app, "127.0.0.1", 8000, store) if line.startswith("try: ")]
    assert "/v1/chat/completions" in curl and '"messages"' in curl
