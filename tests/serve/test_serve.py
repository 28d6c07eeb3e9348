"""The OpenAI-compatible server, driven by the official openai client against uvicorn on loopback."""

import threading
import time

import httpx
import pytest
from lm_builders import build_tiny_llama
from serve_builders import bearer, keys


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from understudy.serve.app import create_app

    where = tmp_path_factory.mktemp("serve")
    folder = build_tiny_llama(where / "tiny")
    store, client_key, _ = keys(where)
    config = uvicorn.Config(
        create_app(str(folder), name="tiny", keys=store), host="127.0.0.1", port=0, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield {"url": f"http://127.0.0.1:{port}", "key": client_key}
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server["url"] + "/v1", api_key=server["key"])


def test_health_and_models(server, client):
    assert httpx.get(server["url"] + "/health").json()["status"] == "ok"
    assert [m.id for m in client.models.list().data] == ["tiny"]
    assert httpx.post(server["url"] + "/v1/completions", json={"prompt": "hi"}).status_code == 401


def test_generation_limits_are_422(server):
    url, auth = server["url"], bearer(server["key"])
    for body in (
        {"prompt": "hi", "max_tokens": 10**30},
        {"prompt": "hi", "max_tokens": 0},
        {"prompt": "hi", "seed": -1},
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000},
    ):
        path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
        r = httpx.post(url + path, json=body, headers=auth)
        assert r.status_code == 422, (body, r.text)
        assert "max_tokens" in r.json()["error"]["message"] or "seed" in r.json()["error"]["message"]
    bad = httpx.post(
        url + "/v1/completions",
        content=b'{"prompt": "\\ud800"}',
        headers={**auth, "content-type": "application/json"},
    )
    assert bad.status_code == 422 and "surrogate" in bad.json()["error"]["message"]


def test_chat_completion_with_logprobs(client):
    r = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "where is my order"}],
        max_tokens=5,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    choice = r.choices[0]
    assert choice.finish_reason in ("stop", "length") and r.usage.completion_tokens == len(choice.logprobs.content)
    first = choice.logprobs.content[0]
    assert len(first.top_logprobs) == 3 and first.logprob <= 0
    assert first.logprob == pytest.approx(first.top_logprobs[0].logprob)  # greedy picks the top token
    # greedy is deterministic
    again = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "where is my order"}], max_tokens=5, temperature=0
    )
    assert again.choices[0].message.content == choice.message.content


def test_chat_streaming_matches_the_whole_answer(client):
    msgs = [{"role": "user", "content": "please refund my payment"}]
    whole = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=6, temperature=0)
    chunks = list(client.chat.completions.create(model="tiny", messages=msgs, max_tokens=6, temperature=0, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_completions_with_logprobs_and_stream(client):
    r = client.completions.create(model="tiny", prompt="my order arrived", max_tokens=4, temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == r.usage.completion_tokens
    assert all(len(t) <= 2 for t in lp.top_logprobs)
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model="tiny", prompt="my order arrived", max_tokens=4, temperature=0, stream=True
        )
    )
    assert streamed == r.choices[0].text


def test_sampling_is_seeded_and_bad_requests_are_openai_errors(client):
    import openai

    kw = dict(model="tiny", prompt="the courier", max_tokens=6, temperature=1.5, seed=3)
    assert client.completions.create(**kw).choices[0].text == client.completions.create(**kw).choices[0].text
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model="tiny", prompt="x", temperature=5)


def test_classifier_run_folder_is_served(tmp_path, tiny_bert):
    from fastapi.testclient import TestClient

    from understudy.recipe import StudentSpec
    from understudy.serve.app import create_app
    from understudy.students.transformer import TransformerStudent

    student = TransformerStudent.from_base(
        tiny_bert, ["great", "other"], StudentSpec(kind="transformer", base=str(tiny_bert))
    )
    student.save(tmp_path / "model")
    store, client_key, _ = keys(tmp_path)
    api = TestClient(create_app(str(tmp_path / "model"), keys=store), headers=bearer(client_key))
    body = api.post("/v1/classify", json={"texts": ["great coffee", "awful tea"]}).json()
    assert body["classes"] == ["great", "other"] and len(body["results"]) == 2
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in body["results"])
    assert "defer_to_human" not in body["results"][0]  # no oversight policy in this folder
    assert api.post("/v1/classify", json={"texts": []}).status_code == 422
