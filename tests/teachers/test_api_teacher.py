"""The API teachers over real HTTP: probabilities from log-probs or votes, JSON mode and its fallback,
the stricter retry, every row labelled or reported under faults, the budget stop and resume, and
`kill -9` in the middle with nothing asked twice."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from api_server import FakeLLM, brain
from conftest import LABELS, review_rows

from understudy.api import ApiSettings, BudgetExhausted
from understudy.api.client import Choice, TokenLogprob
from understudy.errors import UserError
from understudy.label import label
from understudy.store import TeacherStore
from understudy.teachers.api import (
    KIND_ANSWER,
    KIND_OUTCOME,
    ApiClassifierTeacher,
    ApiGenerator,
    parse_label,
    probs_from_logprobs,
)
from understudy.teachers.base import Teacher

TEXTS = [t for t, _ in review_rows(24, seed=11)]


def settings(url: str, **kw) -> ApiSettings:
    base = dict(
        base_url=url,
        model="fake",
        backoff_s=0.01,
        backoff_max_s=0.05,
        timeout_s=5,
        max_in_flight=3,
        task="Decide whether this review of a food product is great or not.",
        label_descriptions={"great": "the reviewer loved it", "other": "anything else"},
    )
    return ApiSettings(**{**base, **kw})


def expected(text: str) -> np.ndarray:
    """What the fake model believes, once the 2% of mass on a non-label token is renormalised away."""
    return np.array(brain(text, LABELS))


def answers_in(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=5) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM outputs WHERE kind=?", (KIND_ANSWER,)).fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0


def test_probabilities_from_logprobs_stored_as_they_arrive(tmp_path):
    with FakeLLM() as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = ApiClassifierTeacher(settings(srv.url), LABELS, store)
        assert isinstance(teacher, Teacher) and teacher.provides == frozenset({"probs"})
        probs = teacher.predict(TEXTS)["probs"]
        assert probs.shape == (len(TEXTS), 2) and probs.dtype == np.float32
        for row, text in zip(probs, TEXTS):
            assert np.allclose(row, expected(text), atol=1e-5), text
        outs = teacher.outcomes(TEXTS)
        assert {o["method"] for o in outs} == {"logprobs"} and teacher.labelled_mask(TEXTS).all()
        assert store.count(teacher.fingerprint, KIND_ANSWER) == len(TEXTS)
        assert store.count(teacher.fingerprint, KIND_OUTCOME) == len(TEXTS)
        body = next(iter(srv.bodies.values()))
        assert body["response_format"] == {"type": "json_object"} and body["logprobs"] is True
        system = body["messages"][0]["content"]
        assert "- great: the reviewer loved it" in system and "great or not" in system

        # A new run with the same recipe asks nothing: everything is in the store.
        again = ApiClassifierTeacher(settings(srv.url), LABELS, store)
        assert again.fingerprint == teacher.fingerprint
        assert np.array_equal(again.predict(TEXTS)["probs"], probs)
        assert sum(srv.received.values()) == len(TEXTS)


def test_votes_and_agreement_without_logprobs_and_with_n_ignored(tmp_path):
    # A server with no log-probs that also ignores n: the teacher asks again until it has its samples.
    texts = TEXTS[:6]
    with FakeLLM(offer_logprobs=False, honour_n=False, seed=4) as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = ApiClassifierTeacher(settings(srv.url, samples=5, temperature=1.0), LABELS, store)
        probs = teacher.predict(texts)["probs"]
        assert sum(srv.answered.values()) == 5 * len(
            texts
        )  # five rounds per text: n=4, 3, 2, 1 after the first, each answered once
        for row, out in zip(probs, teacher.outcomes(texts)):
            assert np.allclose(row * 5, np.round(row * 5)) and row.sum() == pytest.approx(1)  # vote shares
            assert out["method"] == "votes" and out["agreement"] == pytest.approx(row.max())
        assert len({tuple(r) for r in probs}) > 1  # the votes differ from text to text


def test_json_mode_dropped_when_the_server_refuses_it_and_remembered(tmp_path):
    with FakeLLM(offer_json_mode=False) as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = ApiClassifierTeacher(settings(srv.url), LABELS, store)
        probs = teacher.predict(TEXTS[:10])["probs"]
        assert teacher.labelled_mask(TEXTS[:10]).all()
        for row, text in zip(probs, TEXTS[:10]):
            assert np.allclose(row, expected(text), atol=1e-5)  # the JSON answer is still read, and its log-probs
        asked_with = sum(c for k, c in srv.received.items() if "response_format" in srv.bodies[k])
        assert 1 <= asked_with <= 3 and srv.faults["400"] == asked_with  # at most the requests already in flight
        assert teacher.report(TEXTS[:10])["features_refused_by_server"] == ["response_format"]

        rerun = ApiClassifierTeacher(settings(srv.url), LABELS, store)
        rerun.predict(TEXTS[10:14])
        assert sum(c for k, c in srv.received.items() if "response_format" in srv.bodies[k]) == asked_with


def test_unparseable_answer_retried_once_stricter_then_reported(tmp_path):
    texts = [
        "hesitant, but the coffee was perfect and great",
        "unanswerable: box arrived",
        "great tea, love it",
        "forbidden words here",
        "awful, stale and a waste",
    ]
    with FakeLLM() as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = ApiClassifierTeacher(settings(srv.url, max_in_flight=1), LABELS, store)
        probs = teacher.predict(texts)["probs"]
        outs = teacher.outcomes(texts)
        assert [o["status"] for o in outs] == ["labelled", "unparseable", "labelled", "refused", "labelled"]
        assert outs[0]["method"] == "strict retry" and outs[0]["label"] == "great"
        assert np.allclose(probs[1], 0.5) and np.allclose(probs[3], 0.5)  # uniform rows, flagged
        assert teacher.labelled_mask(texts).tolist() == [True, False, True, False, True]
        missing = teacher.unparseable(texts)
        assert [(m["index"], m["status"]) for m in missing] == [(1, "unparseable"), (3, "refused")]
        assert missing[0]["raw"] == ["I am not sure.", "I am not sure."]  # the first answer and the stricter retry's
        assert "content filter" in missing[1]["raw"][0]
        stricter = [b for b in srv.bodies.values() if "could not be read" in b["messages"][-1]["content"]]
        assert len(stricter) == 2 and all(b["temperature"] == 0.0 for b in stricter)
        report = teacher.report(texts)
        assert (report["labelled"], report["unparseable"], report["refused"], report["not_asked"]) == (3, 1, 1, 0)
        assert report["by_method"] == {"strict retry": 1, "unparseable": 1, "logprobs": 2, "refused": 1}

        # Reported rows are settled: a rerun asks nothing.
        before = sum(srv.received.values())
        ApiClassifierTeacher(settings(srv.url, max_in_flight=1), LABELS, store).predict(texts)
        assert sum(srv.received.values()) == before


def test_under_faults_every_row_is_labelled_or_reported_and_nothing_lost(tmp_path):
    rates = {"429": 0.08, "500": 0.08, "malformed": 0.08, "truncated": 0.08, "slow": 0.04}
    texts = TEXTS + ["unanswerable one", "unanswerable two"]
    with FakeLLM(rates=rates, seed=7, slow_s=2.0) as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        teacher = ApiClassifierTeacher(settings(srv.url, timeout_s=1.0, max_retries=20), LABELS, store)
        out, stats = label(teacher, texts, store, batch_size=8)
        assert out["probs"].shape == (len(texts), 2) and stats.asked == len(texts)
        mask = teacher.labelled_mask(texts)
        assert mask.sum() == len(TEXTS) and [m["text"] for m in teacher.unparseable(texts)] == texts[-2:]
        for row, text in zip(out["probs"][: len(TEXTS)], TEXTS):
            assert np.allclose(row, expected(text), atol=1e-5)
        # Each text's question got exactly one clean answer: nothing paid twice, nothing lost.
        assert set(srv.texts_answered().values()) == {1} and len(srv.texts_answered()) == len(texts)
        assert sum(srv.faults.values()) >= 10
        spend = teacher.spend_report()
        assert spend["this_run"]["requests"] == sum(srv.answered.values())
        assert spend["this_run"]["prompt_tokens"] == srv.prompt_tokens


def test_budget_stop_keeps_every_answer_and_a_rerun_resumes_only_with_more_budget(tmp_path):
    path = tmp_path / "t.sqlite"
    with FakeLLM(latency_s=0.01) as srv:
        with TeacherStore(path) as store:
            teacher = ApiClassifierTeacher(settings(srv.url, budget_tokens=1500), LABELS, store)
            with pytest.raises(BudgetExhausted, match="budget_tokens 1500") as info:
                label(teacher, TEXTS, store, batch_size=8)
            assert isinstance(info.value, UserError)  # label() passes it on as it is: the CLI shows the message
            first = teacher.spend_report()
            done = store.count(teacher.fingerprint, KIND_OUTCOME)
            assert 0 < done < len(TEXTS)
            assert store.count(teacher.fingerprint, KIND_ANSWER) == sum(srv.answered.values())  # every answer kept
            assert first["total"]["tokens"] <= 1500  # the cap held
            assert first["total"]["tokens"] == srv.prompt_tokens + srv.completion_tokens

        with TeacherStore(path) as store:  # the same budget again: the spend is remembered, the cap still holds
            again = ApiClassifierTeacher(settings(srv.url, budget_tokens=1500), LABELS, store)
            with pytest.raises(BudgetExhausted):
                label(again, TEXTS, store, batch_size=8)
            assert again.spend_report()["total"]["tokens"] <= 1500
            assert again.spend_report()["total"]["tokens"] == srv.prompt_tokens + srv.completion_tokens

        with TeacherStore(path) as store:  # a bigger budget: the rest, and nothing twice
            teacher = ApiClassifierTeacher(settings(srv.url, budget_tokens=100_000), LABELS, store)
            out, _ = label(teacher, TEXTS, store, batch_size=8)
            assert teacher.labelled_mask(TEXTS).all()
            assert set(srv.answered.values()) == {1} and len(srv.answered) == len(TEXTS)
            spend = teacher.spend_report()
            assert len(spend["runs"]) == 3  # every run's spend, by run
            assert spend["total"]["tokens"] == srv.prompt_tokens + srv.completion_tokens
            assert spend["total"]["requests"] == len(TEXTS)


KILLED_RUN = """
import json, sys
from understudy.api import ApiSettings
from understudy.label import label
from understudy.store import TeacherStore
from understudy.teachers.api import ApiClassifierTeacher
cfg = json.loads(open(sys.argv[1]).read())
with TeacherStore(cfg["store"]) as store:
    teacher = ApiClassifierTeacher(ApiSettings(**cfg["settings"]), cfg["labels"], store)
    label(teacher, cfg["texts"], store, batch_size=8)
print("finished")  # never reached: the test kills this process
"""


def test_kill_9_mid_run_then_resume_asks_no_prompt_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("UNDERSTUDY_TEST_KEY", "sk-kill-test-7b1e")
    path = tmp_path / "t.sqlite"
    with FakeLLM(key="sk-kill-test-7b1e") as srv:
        s = settings(srv.url, api_key_env="UNDERSTUDY_TEST_KEY")
        cfg = tmp_path / "cfg.json"
        cfg.write_text(
            json.dumps({"settings": s.model_dump(mode="json"), "labels": LABELS, "texts": TEXTS, "store": str(path)})
        )
        srv.hold_after = 11  # then park every request: the labeller freezes mid-batch with requests in flight
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_RUN, str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while True:  # wait until every request in flight is parked and every answer sent has been stored
            with srv.lock:
                parked = srv.held >= 1 and srv.in_flight == srv.held
            if parked and answers_in(path) == srv.total_answered:
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the labelling subprocess never froze"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        answered_before = srv.total_answered
        assert answered_before >= 11 and answers_in(path) == answered_before  # every answer received is there

        srv.hold_after = None
        srv.hold.clear()  # the parked requests now fail (their client is dead)
        with TeacherStore(path) as store:
            teacher = ApiClassifierTeacher(s, LABELS, store)
            out, stats = label(teacher, TEXTS, store, batch_size=8)
            assert stats.reused == 8  # the first batch was complete before the kill
            assert teacher.labelled_mask(TEXTS).all()
            report = teacher.report(TEXTS)
        for row, text in zip(out["probs"], TEXTS):
            assert np.allclose(row, expected(text), atol=1e-5)
        # Server-side: every prompt answered exactly once across both runs; only the parked ones were sent again.
        assert set(srv.answered.values()) == {1} and len(srv.answered) == len(TEXTS)
        resent = [k for k, n in srv.received.items() if n > 1]
        assert len(resent) == srv.faults["held"] and len(resent) <= s.max_in_flight
        assert b"sk-kill-test-7b1e" not in path.read_bytes()  # the key is in no file
        assert "sk-kill-test-7b1e" not in json.dumps(report)
        assert len(report["spend"]["runs"]) == 2  # the killed run's spend was kept too


def test_generator_texts_and_top_logprobs_stored(tmp_path):
    prompts = ["write about great coffee", "say something about tea"]
    with FakeLLM() as srv, TeacherStore(tmp_path / "t.sqlite") as store:
        gen = ApiGenerator(settings(srv.url, max_new_tokens=3, top_logprobs=2, system_prompt="Be brief."), store)
        out = gen.generate(prompts)
        assert [g.text for g in out] == ["coffee great about ", "tea about something "]
        assert out[0].tokens == ["coffee ", "great ", "about "] and len(out[0].top_logprobs) == 3
        assert out[0].top_logprobs[0] == [("coffee ", -0.2), ("the ", -2.0)]  # top-2, as asked
        assert next(iter(srv.bodies.values()))["messages"][0] == {"role": "system", "content": "Be brief."}
        again = ApiGenerator(settings(srv.url, max_new_tokens=3, top_logprobs=2, system_prompt="Be brief."), store)
        assert again.predict(prompts)["texts"] == [g.text for g in out]
        assert sum(srv.received.values()) == 2  # the second run read the store
        assert gen.report()["spend"]["total"]["requests"] == 2


def test_fingerprint_covers_endpoint_model_and_prompt_but_not_the_key(monkeypatch):
    base = settings("http://127.0.0.1:8000/v1")
    fp = ApiClassifierTeacher(base, LABELS).fingerprint
    for change in (
        {"base_url": "http://127.0.0.1:8001/v1"},
        {"model": "other"},
        {"task": "Something else."},
        {"prompt": "{labels}\nPick one."},
        {"examples": [{"text": "great!", "label": "great"}]},
    ):
        assert ApiClassifierTeacher(settings(base.base_url, **change), LABELS).fingerprint != fp, change
    assert ApiClassifierTeacher(settings(base.base_url, max_in_flight=9, timeout_s=1), LABELS).fingerprint == fp
    monkeypatch.setenv("K1", "sk-one")
    monkeypatch.setenv("K2", "sk-two")
    a = ApiClassifierTeacher(settings(base.base_url, api_key_env="K1"), LABELS)
    b = ApiClassifierTeacher(settings(base.base_url, api_key_env="K2"), LABELS)
    assert a.fingerprint == b.fingerprint == fp
    assert "127.0.0.1:8000" in a.description and "sk-" not in a.description


def test_recipe_mistakes_are_named():
    s = settings("http://127.0.0.1:8000/v1")
    with pytest.raises(UserError, match=r"examples\[0\].label is 'bad'"):
        ApiClassifierTeacher(settings(s.base_url, examples=[{"text": "x", "label": "bad"}]), LABELS)
    with pytest.raises(UserError, match="label_descriptions names"):
        ApiClassifierTeacher(settings(s.base_url, label_descriptions={"nope": "x"}), LABELS)
    with pytest.raises(UserError, match="at least two labels"):
        ApiClassifierTeacher(s, ["only"])


def test_answers_are_read_strictly():
    assert parse_label('{"label": "Great"}', LABELS) == "great"
    assert parse_label('```json\n{"label": "other"}\n```', LABELS) == "other"
    assert parse_label(' "other". ', LABELS) == "other"
    for loose in ("It is great", "Label: great", '{"label": "greatest"}', '{"category": "great"}', "", "great other"):
        assert parse_label(loose, LABELS) is None, loose


def test_logprobs_at_the_label_token_become_probabilities():
    lp = math.log
    # '{"label": "positive"}' cut as {" label ": ' "pos' itive "} ; alternatives at the label token.
    tokens = [
        TokenLogprob('{"', 0, []),
        TokenLogprob("label", 0, []),
        TokenLogprob('":', 0, []),
        TokenLogprob(' "pos', lp(0.6), [(' "pos', lp(0.6)), (' "neg', lp(0.3)), (' "neu', lp(0.05)), (" I", lp(0.05))]),
        TokenLogprob("itive", 0, []),
        TokenLogprob('"}', 0, []),
    ]
    labels = ["positive", "negative", "neutral"]
    probs = probs_from_logprobs(Choice('{"label": "positive"}', "stop", tokens), "positive", labels)
    assert np.allclose(probs, [0.6 / 0.95, 0.3 / 0.95, 0.05 / 0.95])
    # A first token two labels share cannot tell them apart: no probabilities (the teacher falls back to votes).
    shared = [TokenLogprob("ne", lp(0.5), [("ne", lp(0.5)), ("pos", lp(0.5))]), TokenLogprob("gative", 0, [])]
    assert probs_from_logprobs(Choice("negative", "stop", shared), "negative", labels) is None
