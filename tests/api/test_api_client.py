"""The OpenAI-compatible client over real HTTP on loopback: answers, retries on every fault, Retry-After,
bounded concurrency, rate limits, the budget, prices, and the API key kept out of every message."""

from __future__ import annotations

import email.utils
import json
import logging
import time

import pytest
from api_server import FakeLLM

from understudy.api import ApiClient, ApiError, ApiSettings, BudgetExhausted, default_prices, prices_for
from understudy.api.client import KEY_WINDOW, RateLimiter, retry_after_s, strike_key
from understudy.errors import UserError

SYSTEM = "Classify.\n\nThe labels:\n- great\n- other\n\nAnswer with the label."


def settings(url: str, **kw) -> ApiSettings:
    base = dict(base_url=url, model="fake", backoff_s=0.01, backoff_max_s=0.05, timeout_s=5)
    return ApiSettings(**{**base, **kw})


def payload(text: str, **kw) -> dict:
    return {
        "model": "fake",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        "temperature": 0.0,
        "max_tokens": 8,
        **kw,
    }


def test_answer_parsed_with_logprobs_and_usage_counted():
    with FakeLLM() as srv, ApiClient(settings(srv.url)) as client:
        answer = client.chat(payload("great coffee, love it", logprobs=True, top_logprobs=3))
        assert answer.choices[0].text == "great"
        lp = answer.choices[0].logprobs
        assert lp is not None and [t.token for t in lp] == ["gre", "at"]
        assert {alt for alt, _ in lp[0].top} == {"gre", "oth", "Sorry"}  # the 3 alternatives asked for
        assert (answer.prompt_tokens, answer.completion_tokens) == (srv.prompt_tokens, srv.completion_tokens)
        spend = client.spend
        assert (spend.requests, spend.attempts, spend.tokens) == (1, 1, srv.prompt_tokens + srv.completion_tokens)
        assert spend.usd == 0.0 and client.prices.source == "a server on this machine"


def test_every_fault_is_retried_until_answered_and_nothing_is_answered_twice():
    rates = {"429": 0.1, "500": 0.1, "malformed": 0.1, "truncated": 0.1, "slow": 0.08}
    texts = [f"review number {i}: great taste" for i in range(24)]
    with (
        FakeLLM(rates=rates, seed=3, slow_s=2.0) as srv,
        ApiClient(settings(srv.url, timeout_s=1.0, max_retries=15, max_in_flight=4)) as client,
    ):
        futures = [client.submit(payload(t)) for t in texts]
        answers = [f.result() for f in futures]
        assert [a.choices[0].text for a in answers] == ["great"] * len(texts)
        assert len(srv.answered) == len(texts) and set(srv.answered.values()) == {1}
        for kind in ("429", "500", "malformed", "truncated", "slow"):
            assert srv.faults[kind] > 0, (kind, srv.faults)
        retries = client.spend.retries
        assert retries["http 429"] == srv.faults["429"] and retries["http 500"] == srv.faults["500"]
        assert retries["malformed body"] == srv.faults["malformed"]
        assert retries["connection"] == srv.faults["truncated"]  # the body was cut and the connection dropped
        assert retries["timeout"] >= srv.faults["slow"] - 4  # the last slow ones may still be sleeping server-side
        assert client.spend.requests == len(texts)
        assert client.spend.attempts == sum(srv.received.values())
        # Answers whose body was lost are counted as probably billed, on the safe side, apart from the real usage.
        assert client.spend.prompt_tokens == srv.prompt_tokens and client.spend.estimated_tokens > 0


def test_retry_after_is_honoured_and_pauses_every_worker():
    with FakeLLM(fail_first="429", retry_after=0.4) as srv, ApiClient(settings(srv.url, max_in_flight=2)) as client:
        start = time.monotonic()
        futures = [client.submit(payload(t)) for t in ("great one", "awful one")]
        assert [f.result().choices[0].text for f in futures] == ["great", "other"]
        assert time.monotonic() - start >= 0.4
        for times in srv.times.values():
            assert len(times) == 2 and times[1] - times[0] >= 0.39  # not before the server said


def test_gives_up_after_max_retries_with_a_clear_error():
    with FakeLLM(rates={"500": 1.0}) as srv, ApiClient(settings(srv.url, max_retries=2)) as client:
        with pytest.raises(ApiError, match=r"after 3 attempts.*http 500.*rerun to resume"):
            client.chat(payload("great"))
        assert sum(srv.received.values()) == 3


def test_refusals_are_not_retried_and_say_what_to_check():
    with FakeLLM() as srv, ApiClient(settings(srv.url, model="missing-model")) as client:
        with pytest.raises(ApiError, match="teacher.api.base_url") as info:
            client.chat({**payload("great"), "model": "missing-model"})
        assert info.value.status == 404 and sum(srv.received.values()) == 1


def test_unreachable_server_is_retried_then_reported(unused_port):
    with ApiClient(settings(f"http://127.0.0.1:{unused_port}/v1", max_retries=1)) as client:
        with pytest.raises(ApiError, match="after 2 attempts.*connection"):
            client.chat(payload("great"))


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bounded_concurrency():
    with FakeLLM(latency_s=0.15) as srv, ApiClient(settings(srv.url, max_in_flight=3)) as client:
        futures = [client.submit(payload(f"great {i}")) for i in range(9)]
        [f.result() for f in futures]
        assert srv.max_in_flight == 3


def test_requests_per_minute_spread_over_time():
    # 1200 a minute: 20 a second, with about one second of burst.
    with FakeLLM() as srv, ApiClient(settings(srv.url, requests_per_minute=1200, max_in_flight=8)) as client:
        start = time.monotonic()
        [f.result() for f in [client.submit(payload(f"great {i}")) for i in range(30)]]
        assert time.monotonic() - start >= (30 - 20) / 20 * 0.9
        stamps = sorted(t for ts in srv.times.values() for t in ts)
        assert stamps[-1] - stamps[0] >= 0.45


def test_token_rate_limiter_waits_for_its_allowance():
    limiter = RateLimiter(per_minute=60 * 400)  # 400 tokens a second, a bucket of 400
    start = time.monotonic()
    for _ in range(6):
        limiter.acquire(100)  # 600 tokens: 400 at once, 200 more at 400/s
    assert 0.45 <= time.monotonic() - start < 1.5
    big = RateLimiter(per_minute=60)  # a request bigger than the bucket still goes once the bucket is full
    t0 = time.monotonic()
    big.acquire(5)
    assert time.monotonic() - t0 < 0.1


def test_retry_after_header_forms():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 27 <= retry_after_s({"retry-after": date}) <= 31
    assert retry_after_s({"retry-after": "soon"}) is None and retry_after_s({}) is None
    assert retry_after_s({"retry-after": "99999"}) == 600.0  # capped


def test_budget_in_tokens_stops_before_it_is_passed_and_in_flight_answers_finish():
    with FakeLLM(latency_s=0.02) as srv, ApiClient(settings(srv.url, budget_tokens=400, max_in_flight=3)) as client:
        futures = [client.submit(payload(f"great review {i}")) for i in range(40)]
        answered, refused = [], 0
        for f in futures:
            try:
                answered.append(f.result())
            except BudgetExhausted as exc:
                refused += 1
                assert "budget_tokens 400" in str(exc) and "raise the budget" in str(exc)
        assert answered and refused and len(answered) + refused == 40
        spent = client.spend.tokens
        assert spent == srv.prompt_tokens + srv.completion_tokens  # what the server counted, nothing hidden
        one_request = max(a.prompt_tokens + a.completion_tokens for a in answered)
        assert spent <= 400 and spent > 400 - 4 * one_request  # stops neither late nor much too early
        assert sum(srv.received.values()) == len(answered)  # refused requests never left the machine
        assert client.stopped_by_budget


def test_budget_in_dollars_with_prices_and_the_spend_before():
    s = settings(
        "http://127.0.0.1:9/v1", budget_usd=0.05, price_per_million_input=100.0, price_per_million_output=400.0
    )
    with FakeLLM() as srv:
        s = s.model_copy(update={"base_url": srv.url})
        with ApiClient(s, spent_before=(0, 0.03)) as client:  # earlier runs spent most of it
            answers = []
            with pytest.raises(BudgetExhausted, match=r"budget_usd 0.05"):
                for i in range(50):
                    answers.append(client.chat(payload(f"great {i}")))
            usd = client.spend.usd
            assert usd == pytest.approx((srv.prompt_tokens * 100 + srv.completion_tokens * 400) / 1e6)
            assert 0 < len(answers) < 50 and 0.03 + usd <= 0.05
            assert client.spend.to_report(client.prices)["usd"] == round(usd, 6)


def test_budget_in_dollars_needs_a_price():
    with pytest.raises(UserError, match="no price is known for model 'my-private-model'"):
        ApiClient(ApiSettings(base_url="https://llm.example.com/v1", model="my-private-model", budget_usd=5))


def test_default_prices():
    assert default_prices("gpt-4o-mini").input == 0.15
    assert default_prices("gpt-4o-2024-08-06").output == 10.0  # a dated name: its family's price
    assert default_prices("openai/gpt-4o-mini").output == 0.6  # a provider prefix is ignored
    assert default_prices("gpt-4o-mini-something-else") is None  # no loose prefix matches
    assert default_prices("my-private-model") is None
    hosted = ApiSettings(base_url="https://api.openai.com/v1", model="gpt-4.1-mini")
    assert prices_for(hosted).input == 0.4 and "prices.yaml" in prices_for(hosted).source
    mine = hosted.model_copy(update={"price_per_million_input": 1.0, "price_per_million_output": 2.0})
    assert (prices_for(mine).input, prices_for(mine).output, prices_for(mine).source) == (1.0, 2.0, "recipe")
    local = ApiSettings(base_url="http://localhost:8000/v1", model="smollm2")
    assert prices_for(local).input == 0.0
    assert prices_for(ApiSettings(base_url="https://x.example/v1", model="unknown")) is None


SECRET = "sk-test-DO-NOT-LEAK-4f9a2c"


def test_the_key_is_sent_but_never_written(monkeypatch, caplog):
    monkeypatch.setenv("UNDERSTUDY_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with FakeLLM(key="another-key") as srv:
        s = settings(srv.url, api_key_env="UNDERSTUDY_TEST_KEY")
        with ApiClient(s) as client:
            with pytest.raises(ApiError) as info:
                client.chat(payload("great"))
            assert srv.auth == [f"Bearer {SECRET}"]  # the key went where it belongs...
            message = str(info.value)
            assert "HTTP 401" in message and "***" in message  # ...the server echoed it, the message struck it out
            assert "UNDERSTUDY_TEST_KEY" in message  # and says where the key comes from
            assert SECRET not in message and SECRET not in repr(client) and SECRET not in repr(info.value.args)
            assert SECRET not in repr(vars(client)) and SECRET not in repr(client._http.headers)
        assert SECRET not in s.model_dump_json()
    assert SECRET not in caplog.text and SECRET not in "".join(str(r.args) for r in caplog.records)


@pytest.mark.parametrize(
    "key, what",
    [
        (f"{SECRET}\nsk-second-line-9d8e7f", "a line break"),
        (f"{SECRET}\tsk-after-a-tab-3c2b1a", "a tab"),
        (f"{SECRET}\u2013x7Qz9pLmR4", "a non-ASCII character"),
        (f"Bearer {SECRET}", "a space"),
        (f"{SECRET}\x1bescape", "a control character"),
    ],
)
def test_a_key_that_is_no_legal_header_value_is_refused_before_sending_without_showing_it(monkeypatch, key, what):
    monkeypatch.setenv("UNDERSTUDY_TEST_KEY", key)
    with FakeLLM() as srv:
        with pytest.raises(UserError) as info:
            ApiClient(settings(srv.url, api_key_env="UNDERSTUDY_TEST_KEY"))
        assert sum(srv.received.values()) == 0  # refused up front, not by httpx or h11 mid-request
    message = str(info.value)
    assert "UNDERSTUDY_TEST_KEY" in message and "teacher.api.api_key_env" in message and what in message
    for i in range(len(key) - KEY_WINDOW + 1):
        assert key[i : i + KEY_WINDOW] not in message  # no piece of the value, let alone all of it


def test_a_key_echoed_in_any_shape_is_struck_out():
    key = 'sk-proj-"quoted\\slash-4f9a2c8e7d'
    echoes = [
        f"bad key {key}",
        f"bad key {json.dumps(key)}",  # JSON-escaped: the quote and the backslash doubled
        f"bad key {key[:14]}... (cut short)",
        f"sent Authorization: Bearer {key}",
        f"sent Basic dXNlcjpwYXNz and {key[5:]}",
    ]
    for text in echoes:
        struck = strike_key(text, key)
        assert "***" in struck and text.split()[0] in struck, struck
        for i in range(len(key) - KEY_WINDOW + 1):
            assert key[i : i + KEY_WINDOW] not in struck, (text, struck)
    assert "dXNlcjpwYXNz" not in strike_key(echoes[-1], key)  # whatever follows 'Basic' or 'Bearer' goes too
    assert strike_key("the bearer of great news", key) == "the bearer *** great news"  # messages only: on the safe side
    assert strike_key("the bearer of great news", key, credentials=False) == "the bearer of great news"


def test_missing_key_variable_is_named_not_guessed(monkeypatch):
    monkeypatch.delenv("UNDERSTUDY_UNSET_KEY", raising=False)
    with pytest.raises(UserError, match="UNDERSTUDY_UNSET_KEY, which is not set"):
        ApiClient(settings("http://127.0.0.1:9/v1", api_key_env="UNDERSTUDY_UNSET_KEY"))


def test_settings_say_what_is_wrong():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must start with http"):
        ApiSettings(base_url="api.openai.com/v1", model="m")
    with pytest.raises(ValidationError, match="unknown placeholders") as info:
        ApiSettings(base_url="http://h/v1", model="m", prompt="{labels} {text}")
    with pytest.raises(ValidationError, match=r"must contain \{labels\}"):
        ApiSettings(base_url="http://h/v1", model="m", prompt="Decide.")
    with pytest.raises(ValidationError, match="NAME of an environment variable") as info:
        ApiSettings(base_url="http://h/v1", model="m", api_key_env=SECRET)
    assert SECRET not in str(info.value)  # a pasted key is not echoed back
    assert ApiSettings(base_url="http://h:1/v1/", model="m").host() == "h:1/v1"


def test_the_fake_server_speaks_the_format_the_official_client_reads():
    """The test server is only worth its faults if real clients read it: check it with the openai package."""
    import openai

    with FakeLLM() as srv:
        sdk = openai.OpenAI(base_url=srv.url, api_key="unused", max_retries=0)
        done = sdk.chat.completions.create(**payload("awful and stale", logprobs=True, top_logprobs=2, n=2))
        assert [c.message.content for c in done.choices] == ["other", "other"]
        first = done.choices[0].logprobs.content[0]
        assert first.token == "oth" and [t.token for t in first.top_logprobs] == ["oth", "gre"]
        assert done.usage.prompt_tokens == srv.prompt_tokens and done.usage.completion_tokens == 4
        with ApiClient(settings(srv.url)) as client:  # and ours reads the same bytes the same way
            ours = client.chat(payload("awful and stale", logprobs=True, top_logprobs=2, n=2))
        assert [c.text for c in ours.choices] == [c.message.content for c in done.choices]
        assert ours.choices[0].logprobs[0].top == [(t.token, t.logprob) for t in first.top_logprobs]
