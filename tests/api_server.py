"""A fake LLM behind a real OpenAI-compatible HTTP server on loopback, with fault injection.

It speaks the chat-completions format (choices, usage, logprobs/top_logprobs, n, response_format)
and counts every request on the server side, so tests can prove that nothing is asked twice.

The "model" reads the text to classify (the last user message) and leans to 'great' or 'other' by
cue words. Texts with 'unanswerable' always get prose instead of a label; texts with 'hesitant' get
prose first and a label once told off (the client's stricter retry); texts with 'forbidden' are
refused with HTTP 400, like a content filter (whose message carelessly echoes the Authorization header). Requests without a label set in the system prompt get
a generated text.

Faults, drawn per request from a seeded generator: '429' (with Retry-After), '500', 'slow' (answers
after `slow_s`, past the client's timeout), 'malformed' (a 200 whose body is not JSON), 'truncated'
(a 200 whose body is cut short and whose connection then drops). `fail_first` gives every distinct
request that fault on its first attempt. `hold` (or `hold_after` answers) parks new requests until it is
lifted (then they get 503), to freeze a client mid-run. `refuse=(status, message)` answers every chat request
with that status and error message (a server's own words, e.g. holding rich markup).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import socket
import threading
import time
from collections import Counter, defaultdict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

GREAT = {
    "great",
    "excellent",
    "love",
    "perfect",
    "amazing",
    "wonderful",
    "fantastic",
    "delicious",
    "best",
    "happy",
    "yummy",
}
OTHER = {
    "awful",
    "broke",
    "terrible",
    "bad",
    "waste",
    "stale",
    "poor",
    "refund",
    "disappointed",
    "worst",
    "soggy",
    "meh",
}
STRICT_MARK = "could not be read"


def brain(text: str, labels: list[str]) -> list[float]:
    """The fake model's belief over the labels (first label = the positive one)."""
    words = [w.strip(".,!?").lower() for w in text.split()]
    g, o = sum(w in GREAT for w in words), sum(w in OTHER for w in words)
    p = (g + 0.5) / (g + o + 1.0)
    rest = (1 - p) / max(1, len(labels) - 1)
    return [p] + [rest] * (len(labels) - 1)


def split_label(label: str) -> list[str]:
    """Labels come out as several tokens, the way real tokenisers cut words."""
    return [label[i : i + 3] for i in range(0, len(label), 3)]


class FakeLLM:
    def __init__(
        self,
        *,
        seed: int = 0,
        rates: dict[str, float] | None = None,
        retry_after: float = 0.05,
        slow_s: float = 1.0,
        fail_first: str | None = None,
        offer_logprobs: bool = True,
        offer_json_mode: bool = True,
        honour_n: bool = True,
        key: str | None = None,
        latency_s: float = 0.0,
        refuse: tuple[int, str] | None = None,
        port: int = 0,
    ):
        self.rng = random.Random(seed)
        self.rates = dict(rates or {})
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.fail_first = fail_first
        self.offer_logprobs = offer_logprobs
        self.offer_json_mode = offer_json_mode
        self.honour_n = honour_n
        self.key = key  # when set, requests must carry it; a wrong one is refused and echoed back (redaction test)
        self.latency_s = latency_s
        self.refuse = refuse
        self.port = port  # 0: any free port; a fixed one lets a test bring a stopped server back at the same address
        self.hold = threading.Event()  # set: park new requests
        self.hold_after: int | None = None  # park every request that arrives once this many have been answered
        self.lock = threading.Lock()
        self.received: Counter = Counter()  # request hash -> requests received
        self.answered: Counter = Counter()  # request hash -> clean answers sent
        self.faults: Counter = Counter()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.bodies: dict[str, dict] = {}
        self.auth: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.held = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    # -------------------------------------------------------------------------------- counts

    @property
    def total_answered(self) -> int:
        with self.lock:
            return sum(self.answered.values())

    def texts_answered(self) -> Counter:
        """How often each classified text got a clean answer to its first (non-strict) request."""
        out: Counter = Counter()
        with self.lock:
            for key, count in self.answered.items():
                msgs = self.bodies[key]["messages"]
                if STRICT_MARK not in msgs[-1]["content"]:
                    out[msgs[-1]["content"]] += count
        return out

    # -------------------------------------------------------------------------------- the app

    def app(self):
        app = FastAPI()

        @app.get("/v1/models")
        async def models():
            return {"object": "list", "data": [{"id": "fake", "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            raw = await request.body()
            body = json.loads(raw)
            key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            auth = request.headers.get("authorization")
            with self.lock:
                self.received[key] += 1
                first = self.received[key] == 1
                self.times[key].append(time.monotonic())
                self.bodies[key] = body
                self.auth.append(auth)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.hold_after is not None and self.total_answered >= self.hold_after:
                    self.hold.set()
                if self.hold.is_set():
                    with self.lock:
                        self.held += 1
                    while self.hold.is_set():
                        await asyncio.sleep(0.02)
                    return self._fault("held", JSONResponse({"error": {"message": "held"}}, status_code=503))
                if self.key is not None and auth != f"Bearer {self.key}":
                    # Careless servers echo what they got; the client must strike the key out.
                    return self._fault(
                        "auth", JSONResponse({"error": {"message": f"bad credentials: {auth}"}}, status_code=401)
                    )
                if self.refuse is not None:
                    status, message = self.refuse
                    return self._fault("refuse", JSONResponse({"error": {"message": message}}, status_code=status))
                if body.get("model") == "missing-model":
                    return self._fault(
                        "404",
                        JSONResponse({"error": {"message": f"model not found (sent with {auth})"}}, status_code=404),
                    )
                if "response_format" in body and not self.offer_json_mode:
                    return self._fault(
                        "400", JSONResponse({"error": {"message": "response_format is not supported"}}, status_code=400)
                    )
                fault = self.fail_first if first and self.fail_first else self._draw()
                if fault == "429":
                    return self._fault(
                        "429",
                        JSONResponse(
                            {"error": {"message": "slow down"}},
                            status_code=429,
                            headers={"Retry-After": str(self.retry_after)},
                        ),
                    )
                if fault == "500":
                    return self._fault("500", JSONResponse({"error": {"message": "oops"}}, status_code=500))
                if fault == "slow":
                    self._fault("slow", None)
                    await asyncio.sleep(self.slow_s)
                    return JSONResponse(self._complete(body, count=False))
                if fault == "malformed":
                    return self._fault(
                        "malformed", Response(b'{"choices": [{"message": ', media_type="application/json")
                    )
                if fault == "truncated":
                    full = json.dumps(self._complete(body, count=False)).encode()
                    return self._fault("truncated", Truncated(full))
                text = self._text(body)
                if "forbidden" in text:
                    return self._fault(
                        "refused",
                        JSONResponse({"error": {"message": f"content filter: refused ({auth})"}}, status_code=400),
                    )
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                answer = self._complete(body, count=True)
                with self.lock:
                    self.answered[key] += 1
                return JSONResponse(answer)
            finally:
                with self.lock:
                    self.in_flight -= 1

        return app

    def _fault(self, name: str, response):
        with self.lock:
            self.faults[name] += 1
        return response

    def _draw(self) -> str | None:
        with self.lock:
            x = self.rng.random()
        for name, rate in self.rates.items():
            if x < rate:
                return name
            x -= rate
        return None

    @staticmethod
    def _text(body: dict) -> str:
        msgs = body["messages"]
        if STRICT_MARK in msgs[-1]["content"] and len(msgs) >= 3:
            return msgs[-3]["content"]
        return msgs[-1]["content"]

    def _complete(self, body: dict, count: bool) -> dict:
        msgs = body["messages"]
        system = next((m["content"] for m in msgs if m["role"] == "system"), "")
        n = int(body.get("n") or 1) if self.honour_n else 1
        choices = []
        for i in range(n):
            if "The labels:" in system:
                tokens = self._classify(body, system)
            else:
                tokens = self._generate(body)
            choice = {
                "index": i,
                "message": {"role": "assistant", "content": "".join(t for t, _ in tokens)},
                "finish_reason": "stop",
            }
            if body.get("logprobs") and self.offer_logprobs:
                k = int(body.get("top_logprobs") or 0)
                choice["logprobs"] = {
                    "content": [
                        {
                            "token": t,
                            "logprob": top[0][1] if top else 0.0,
                            "bytes": list(t.encode()),
                            "top_logprobs": [
                                {"token": a, "logprob": lp, "bytes": list(a.encode())} for a, lp in top[:k]
                            ],
                        }
                        for t, top in tokens
                    ]
                }
            choices.append(choice)
        prompt_tokens = math.ceil(sum(len(m["content"]) for m in msgs) / 4)
        completion_tokens = sum(
            len(c["logprobs"]["content"]) if "logprobs" in c else max(1, len(c["message"]["content"]) // 3)
            for c in choices
        )
        if count:
            with self.lock:
                self.prompt_tokens += prompt_tokens
                self.completion_tokens += completion_tokens
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _classify(self, body: dict, system: str) -> list[tuple[str, list]]:
        """The answer as (token, top alternatives) pairs; the label's first token carries the belief."""
        labels = [line[2:].split(":")[0].strip() for line in system.splitlines() if line.startswith("- ")]
        text = self._text(body)
        strict = STRICT_MARK in body["messages"][-1]["content"]
        if "unanswerable" in text or ("hesitant" in text and not strict):
            return [(w, [(w, -0.1)]) for w in ["I ", "am ", "not ", "sure."]]
        probs = brain(text, labels)
        temperature = float(body.get("temperature") or 0.0)
        with self.lock:
            k = (
                max(range(len(labels)), key=probs.__getitem__)
                if temperature == 0
                else self.rng.choices(range(len(labels)), weights=probs)[0]
            )
        as_json = "response_format" in body or '"label"' in system
        lead = ' "' if as_json else ""
        # 2% of the mass goes to a token that begins no label: the client must renormalise it away.
        top = sorted(
            [(lead + split_label(x)[0], math.log(p * 0.98)) for x, p in zip(labels, probs)]
            + [(lead + "Sorry", math.log(0.02))],
            key=lambda a: -a[1],
        )
        pieces = split_label(labels[k])
        chosen = (
            lead + pieces[0],
            [a for a in top if a[0] == lead + pieces[0]] + [a for a in top if a[0] != lead + pieces[0]],
        )
        rest = [(p, [(p, -0.01)]) for p in pieces[1:]]
        if as_json:
            return [
                ('{"', [('{"', -0.01)]),
                ("label", [("label", -0.01)]),
                ('":', [('":', -0.01)]),
                chosen,
                *rest,
                ('"}', [('"}', -0.01)]),
            ]
        return [chosen, *rest]

    def _generate(self, body: dict) -> list[tuple[str, list]]:
        prompt = body["messages"][-1]["content"]
        words = [w + " " for w in reversed(prompt.split())][: int(body.get("max_tokens") or 16)]
        return [(w, [(w, -0.2), ("the ", -2.0), ("a ", -3.0)]) for w in words]

    # -------------------------------------------------------------------------------- running

    def start(self) -> FakeLLM:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(), http="h11", log_level="critical", lifespan="off", timeout_graceful_shutdown=1, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.hold.clear()
        self.server.should_exit = True
        self.thread.join(timeout=5)

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Truncated(Response):
    """A response that promises the whole body, sends half, and drops the connection."""

    def __init__(self, full: bytes):
        super().__init__(full, media_type="application/json")
        self.full = full

    async def __call__(self, scope, receive, send):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(self.full)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self.full[: len(self.full) // 2], "more_body": True})
        raise ConnectionAbortedError("truncated on purpose")
