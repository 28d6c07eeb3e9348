"""Servers for the tests: a tiny static classifier whose policy can defer, keys, and a real uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from student_builders import BAD, GOOD, make_student

from understudy.oversight.abstain import ALWAYS_DEFER, save_policy
from understudy.serve.keys import KeyStore


def classifier_folder(folder: Path, *, defer: bool | None = True, seed: int = 0) -> Path:
    """A saved static student; defer=True sends every text to a person, False none, None: no policy at all."""
    from understudy.recipe import TrainingSpec

    texts = [f"the {g} tea" for g in GOOD] + [f"the {b} tea" for b in BAD]
    probs = np.array([[0.9, 0.1]] * len(GOOD) + [[0.1, 0.9]] * len(BAD), dtype=np.float32)
    spec = TrainingSpec(epochs=2, learning_rate=1e-2, batch_size=4, embedding_loss="none")
    student = make_student(seed=seed).fit(texts, {"probs": probs}, settings=spec)
    student.save(folder)
    if defer is not None:
        threshold = ALWAYS_DEFER if defer else 0.0
        save_policy({"threshold": threshold, "feasible": True, "alpha": 0.1, "delta": 0.1}, folder)
    return folder


def keys(folder: Path) -> tuple[KeyStore, str, str]:
    """A key file with one client key and one reviewer key: (store, client key, reviewer key)."""
    store = KeyStore(folder / "keys.sqlite")
    return store, store.create_key("website"), store.create_key("desk", role="reviewer")


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class Uvicorn:
    """A real uvicorn server in a thread on a free loopback port (use as a context manager)."""

    def __init__(self, app):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(400):
            if self.server.started:
                break
            time.sleep(0.025)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
