"""The review queue behind a real server: right under 32 concurrent clients, and whole after a kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from serve_builders import Uvicorn, bearer, classifier_folder, keys

from understudy.oversight.queue import ReviewQueue
from understudy.serve.app import create_app


def test_every_review_id_maps_to_its_own_text_under_32_concurrent_clients(tmp_path):
    store, client_key, reviewer_key = keys(tmp_path)
    folder = classifier_folder(tmp_path / "student", defer=True)
    with Uvicorn(create_app(str(folder), keys=store)) as url:

        def client(c: int) -> list[tuple[int, str]]:
            got = []
            with httpx.Client(base_url=url, headers=bearer(client_key), timeout=60) as http:
                for r in range(8):
                    texts = [f"client {c} request {r} text {i} great tea" for i in range(3)]
                    answer = http.post("/v1/classify", json={"texts": texts})
                    assert answer.status_code == 200, answer.text
                    got += [(res["review_id"], t) for res, t in zip(answer.json()["results"], texts)]
            return got

        with ThreadPoolExecutor(32) as pool:
            pairs = [p for got in pool.map(client, range(32)) for p in got]
        assert len(pairs) == 32 * 8 * 3 and len({i for i, _ in pairs}) == len(pairs)
        with httpx.Client(base_url=url, headers=bearer(reviewer_key)) as http:
            wrong = [(i, t) for i, t in pairs if http.get(f"/v1/review/{i}").json()["text"] != t]
            assert http.get("/v1/review").json()["pending"] == len(pairs)
    assert wrong == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_queue_survives_a_killed_server(tmp_path):
    store, client_key, _ = keys(tmp_path)
    folder = classifier_folder(tmp_path / "student", defer=True)
    port = _free_port()
    cmd = [sys.executable, "-m", "understudy.cli.main", "serve", str(folder), "--port", str(port)]
    cmd += ["--keys", str(store.path)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"server did not start: {server.stdout.read1().decode(errors='replace')}")
        sent = {}
        for n in range(20):
            text = f"order {n} arrived broken"
            answer = httpx.post(url + "/v1/classify", json={"text": text}, headers=bearer(client_key)).json()
            sent[answer["results"][0]["review_id"]] = text
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL
    queue = ReviewQueue(folder.parent / "review_queue.sqlite")
    assert {i: queue.get(i)["text"] for i in sent} == sent
    assert queue.counts()["pending"] == len(sent)
