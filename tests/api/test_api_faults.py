"""An endpoint that cannot be reached fails the whole batch fast, keeps every answer that arrived and resumes on a
rerun; 429 and 5xx keep their retries; and no key reaches the store."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import numpy as np
import pytest
from api_server import FakeLLM
from conftest import LABELS, review_rows

from understudy.api import ApiClient, ApiSettings, EndpointDown
from understudy.errors import UserError
from understudy.store import TeacherStore
from understudy.teachers.api import KIND_ANSWER, KIND_OUTCOME, ApiClassifierTeacher, ApiGenerator

TEXTS = [t for t, _ in review_rows(40, seed=21)]


def fast(url: str, **kw) -> ApiSettings:
    return ApiSettings(**{"base_url": url, "model": "fake", "backoff_s": 0.01, "backoff_max_s": 0.05, **kw})


@pytest.fixture
def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # closed again: nothing listens, every connection is refused


def test_a_dead_endpoint_fails_the_batch_fast_on_the_default_settings(tmp_path, dead_url):
    defaults = ApiSettings(base_url=dead_url, model="fake")  # the settings a user gets: 6 retries, back-off 1 s
    with TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = ApiClassifierTeacher(defaults, LABELS, store)
        start = time.monotonic()
        with pytest.raises(EndpointDown) as info:
            teacher.predict(TEXTS)
        elapsed = time.monotonic() - start
        teacher.close()
    assert elapsed < 30, elapsed
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert "5 connections in a row failed" in message and "Connection refused" in message
    assert f"0 of the {len(TEXTS)} texts asked were answered" in message and f"{len(TEXTS)} remain" in message
    assert "Rerun the same command" in message
    sent, limit = teacher.client.spend.attempts, defaults.max_connection_failures
    assert limit <= sent <= limit + defaults.max_in_flight - 1  # then nothing more was tried


def test_a_dead_endpoint_fails_a_generator_the_same_way(dead_url):
    generator = ApiGenerator(fast(dead_url))
    with pytest.raises(EndpointDown, match=r"0 of the 6 prompts asked were answered and are stored; 6 remain"):
        generator.generate([f"write about {i}" for i in range(6)])
    generator.close()


def test_an_endpoint_dying_mid_run_keeps_what_arrived_and_a_rerun_asks_only_the_rest(tmp_path):
    settings_for = lambda url: fast(url, max_in_flight=3, max_retries=20)  # noqa: E731 (retries alone never end it)
    with TeacherStore(tmp_path / "t.sqlite") as store:
        srv = FakeLLM(latency_s=0.01).start()
        srv.hold_after = 15  # park what comes after 15 answers, then take the server away

        def kill_when_parked():
            while srv.held == 0:
                time.sleep(0.01)
            srv.stop()  # the parked requests get 503 (retried), then every connection is refused

        killer = threading.Thread(target=kill_when_parked)
        killer.start()
        teacher = ApiClassifierTeacher(settings_for(srv.url), LABELS, store)
        with pytest.raises(EndpointDown) as info:
            teacher.predict(TEXTS)
        killer.join()
        teacher.close()
        arrived = srv.total_answered
        assert 15 <= arrived < len(TEXTS)
        assert store.count(teacher.fingerprint, KIND_ANSWER) == arrived  # every answer that came back is kept
        assert store.count(teacher.fingerprint, KIND_OUTCOME) == arrived
        assert f"{arrived} of the {len(TEXTS)} texts asked" in str(info.value)
        assert f"{len(TEXTS) - arrived} remain" in str(info.value)

        with FakeLLM(port=srv.port) as back:  # the same address: the same teacher, the same stored answers
            again = ApiClassifierTeacher(settings_for(back.url), LABELS, store)
            probs = again.predict(TEXTS)["probs"]
            again.close()
        assert back.total_answered == len(TEXTS) - arrived  # only the rest was asked
        assert probs.shape == (len(TEXTS), 2) and again.labelled_mask(TEXTS).all()


class Flaky(httpx.BaseTransport):
    """Every `every`-th connection fails to open (with `error`); the others reach the real server."""

    def __init__(self, every: int, error: type[httpx.TransportError] = httpx.ConnectError):
        self.inner, self.every, self.error, self.tries = httpx.HTTPTransport(), every, error, 0

    def handle_request(self, request):
        self.tries += 1
        if self.every and self.tries % self.every == 0:
            raise self.error("could not connect", request=request)
        return self.inner.handle_request(request)

    def close(self):
        self.inner.close()


def test_only_failures_in_a_row_stop_the_run_and_429_or_500_never_do():
    payload = {"model": "fake", "messages": [{"role": "user", "content": "great"}], "max_tokens": 4}
    with FakeLLM(rates={"429": 0.3, "500": 0.3}, retry_after=0.01, seed=5) as srv:
        # Answers of any status show the server is there: one connection failure would stop the run, none does.
        with ApiClient(fast(srv.url, max_connection_failures=1, max_retries=30, max_in_flight=1)) as client:
            for _ in range(10):
                client.chat(payload)
        assert srv.faults["429"] and srv.faults["500"] and not client.endpoint_down
        # Every other connection fails: never two in a row, so the retries carry on.
        flaky = Flaky(every=2)
        with ApiClient(fast(srv.url, max_connection_failures=2, max_retries=30, max_in_flight=1), transport=flaky) as c:
            for _ in range(5):
                c.chat(payload)
            assert c.spend.retries["connection"] >= 5 and not c.endpoint_down
        # Connect timeouts count too.
        timeouts = Flaky(every=1, error=httpx.ConnectTimeout)
        with ApiClient(fast(srv.url, max_connection_failures=3, max_retries=30), transport=timeouts) as c:
            with pytest.raises(
                EndpointDown, match="3 connections in a row failed to open, the last with ConnectTimeout"
            ):
                c.chat(payload)
            assert timeouts.tries == 3


def test_a_breaker_that_tripped_lets_a_new_call_try_again(dead_url):
    teacher = ApiClassifierTeacher(fast(dead_url, max_connection_failures=2), LABELS)
    for _ in range(2):  # each call tries afresh, then stops after 2 failures in a row
        with pytest.raises(EndpointDown):
            teacher.predict(TEXTS[:3])
    assert teacher.client.spend.attempts >= 4
    teacher.close()


SECRET = "sk-live-NEVER-STORE-7e3d1f0a9b"


def test_no_key_in_the_store_even_when_the_server_echoes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSTUDY_TEST_KEY", SECRET)
    texts = TEXTS[:6] + ["forbidden words in this review", "forbidden again, great"]
    with FakeLLM() as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = ApiClassifierTeacher(fast(srv.url, api_key_env="UNDERSTUDY_TEST_KEY"), LABELS, store)
        teacher.predict(texts)
        refused = teacher.unparseable(texts)
        report = teacher.report(texts)
        teacher.close()
    assert srv.auth[0] == f"Bearer {SECRET}"  # the key was sent, and the refusals echoed it
    assert len(refused) == 2 and all("Bearer ***" in r["raw"][0] for r in refused)
    assert SECRET not in repr(report) and SECRET not in repr(refused)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and its journal
    assert SECRET.encode() not in stored and b"NEVER-STORE" not in stored
    assert np.isfinite(teacher.predict(texts)["probs"]).all()  # all from the store now
