"""An httpx client for OpenAI-compatible chat completions that never wastes a paid call.

Bounded concurrency (a thread pool of `max_in_flight`), rate limits in requests and tokens per
minute, retries with exponential back-off and jitter on 429, 5xx, timeouts, dropped connections and
unreadable bodies (Retry-After honoured, and a 429 pauses every worker), and a budget in tokens and
US dollars checked before each request: once the next request could pass the cap, no new request
starts; requests already in flight finish and their answers are kept.

Connections that fail to open (refused, unknown host, connect timeout) are counted over all requests:
after `max_connection_failures` in a row the client stops sending and every request left fails at once
with EndpointDown, so a dead endpoint fails the run in seconds, not after every request's retries.

The API key is read from the environment variable the settings name, refused up front unless it is a
legal header value, and held only in the HTTP client's headers (whose repr hides it). It is never put in
a message: whatever a server echoes is cut at "Bearer ..." and at any run of the key's characters.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UserError
from .settings import ApiSettings

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429}  # and every 5xx
MAX_RETRY_AFTER_S = 600.0
PRICES_FILE = Path(__file__).with_name("prices.yaml")
DATED = re.compile(r"^-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)$")
KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: what an Authorization header can carry as one token
CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s\"'<>,;}\]]+")
KEY_WINDOW = 8  # a run of this many of the key's characters is struck out, wherever and however it appears


class ApiError(UserError):
    """The endpoint refused a request, or kept failing after every retry. Answers already received are kept."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class EndpointDown(ApiError):
    """Too many connections in a row failed to open: nothing more is sent. Answers already received are kept."""


class BudgetExhausted(UserError):
    """The next request could pass the budget: nothing new is sent."""


class MalformedAnswer(ValueError):
    """A 200 answer whose body is not a chat completion (cut short, not JSON, no choices)."""


# ------------------------------------------------------------------------------------------ answers


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]]  # the alternatives at this position, best first


@dataclass
class Choice:
    text: str
    finish_reason: str | None
    logprobs: list[TokenLogprob] | None  # None where the server gave none


@dataclass
class Answer:
    """One chat completion as received: the raw body is what gets stored, the rest is read from it."""

    body: dict
    choices: list[Choice]
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float = 0.0
    attempts: int = 1

    @classmethod
    def from_body(cls, body: Any, latency_s: float = 0.0, attempts: int = 1) -> Answer:
        if not isinstance(body, dict):
            raise MalformedAnswer(f"the body is a JSON {type(body).__name__}, not an object")
        raw_choices = body.get("choices")
        if not isinstance(raw_choices, list) or not raw_choices:
            error = body.get("error")
            raise MalformedAnswer(f"the body has no choices{f' (error: {str(error)[:200]})' if error else ''}")
        choices = []
        for raw in sorted(raw_choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            message = raw.get("message") if isinstance(raw, dict) else None
            if not isinstance(message, dict):
                raise MalformedAnswer("a choice has no message")
            content = message.get("content")
            if content is None:  # a refusal or a tool call: an answer, just not a usable one
                content = ""
            if not isinstance(content, str):
                raise MalformedAnswer("a message's content is not text")
            choices.append(Choice(content, raw.get("finish_reason"), _logprobs(raw.get("logprobs"))))
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        return cls(
            body,
            choices,
            prompt if isinstance(prompt, int) else None,
            completion if isinstance(completion, int) else None,
            latency_s,
            attempts,
        )

    def to_json(self) -> str:
        return json.dumps(
            {"body": self.body, "latency_s": round(self.latency_s, 4), "attempts": self.attempts}, ensure_ascii=False
        )

    @classmethod
    def from_json(cls, text: str) -> Answer:
        data = json.loads(text)
        return cls.from_body(data["body"], data.get("latency_s", 0.0), data.get("attempts", 1))


def _logprobs(raw: Any) -> list[TokenLogprob] | None:
    """The chat format's logprobs.content; anything else (absent, null, another shape) counts as none."""
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, list) or not content:
        return None
    out = []
    try:
        for item in content:
            top = [(str(t["token"]), float(t["logprob"])) for t in item.get("top_logprobs") or []]
            out.append(TokenLogprob(str(item["token"]), float(item["logprob"]), top))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return out


# ------------------------------------------------------------------------------------------ prices


@dataclass(frozen=True)
class Prices:
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens
    source: str

    def usd(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


@lru_cache(maxsize=1)
def price_table() -> dict:
    import yaml

    return yaml.safe_load(PRICES_FILE.read_text(encoding="utf-8"))


def default_prices(model: str) -> Prices | None:
    """The table's price for a model name: exact, or the name plus a date or '-latest'."""
    table = price_table()
    name = model.rsplit("/", 1)[-1].lower()
    models = table["models"]
    where = f"api/prices.yaml ({table['source']}, checked {table['checked']})"
    if name in models:
        return Prices(float(models[name]["input"]), float(models[name]["output"]), where)
    for key in sorted(models, key=len, reverse=True):
        if name.startswith(key) and DATED.match(name[len(key) :]):
            return Prices(float(models[key]["input"]), float(models[key]["output"]), where)
    return None


def prices_for(settings: ApiSettings) -> Prices | None:
    """The recipe's prices, else the table's, else 0 for a server on this machine, else unknown (None)."""
    pin, pout = settings.price_per_million_input, settings.price_per_million_output
    if pin is not None and pout is not None:
        return Prices(pin, pout, "recipe")
    found = default_prices(settings.model)
    if found is None and settings.is_local():
        found = Prices(0.0, 0.0, "a server on this machine")
    if found is None and (pin is not None or pout is not None):
        raise UserError(
            f"teacher.api: set both price_per_million_input and price_per_million_output for model "
            f"'{settings.model}' (it is not in the table of default prices)"
        )
    if found is not None and (pin is not None or pout is not None):
        found = Prices(
            pin if pin is not None else found.input,
            pout if pout is not None else found.output,
            "recipe + " + found.source,
        )
    return found


# ------------------------------------------------------------------------------------------ spend


@dataclass
class Spend:
    """What one run spent. Tokens the server reported, plus estimates for attempts that were probably
    billed but never gave a usable answer (a body cut short, a read timeout, an answer without usage)."""

    requests: int = 0  # answered requests
    attempts: int = 0  # every HTTP attempt, answered or not
    retries: dict[str, int] = field(default_factory=dict)  # reason -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0
    usd: float = 0.0
    refused_by_budget: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens + self.estimated_tokens

    def to_report(self, prices: Prices | None) -> dict:
        lat = sorted(self.latencies)
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 4)) if lat else (lambda q: None)
        return {
            "requests": self.requests,
            "attempts": self.attempts,
            "retries": dict(self.retries),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "estimated_tokens": self.estimated_tokens,
            "tokens": self.tokens,
            "usd": round(self.usd, 6) if prices is not None else None,
            "refused_by_budget": self.refused_by_budget,
            "latency_s": {"p50": pick(0.5), "p95": pick(0.95)},
        }


# ------------------------------------------------------------------------------------------ limits


class RateLimiter:
    """A token bucket holding about one second of allowance, so requests are spread evenly over the minute.
    A request bigger than the bucket waits for a full bucket, then runs into debt that later ones repay."""

    def __init__(self, per_minute: float | None, sleep: Callable[[float], None] = time.sleep):
        self.rate = per_minute / 60.0 if per_minute else None
        self.capacity = max(1.0, self.rate) if self.rate else 0.0
        self.level = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()
        self.sleep = sleep

    def acquire(self, amount: float = 1.0) -> None:
        if self.rate is None:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                need = min(amount, self.capacity)
                if self.level >= need:
                    self.level -= amount
                    return
                wait = (need - self.level) / self.rate
            self.sleep(wait)


def retry_after_s(headers: Any) -> float | None:
    """Retry-After in seconds or as an HTTP date, or retry-after-ms; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(ms) / 1000))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return min(MAX_RETRY_AFTER_S, max(0.0, when.timestamp() - time.time()))
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------ the key


class _Secret:
    """The key, out of every repr and str: only `reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


def _bad_key_char(value: str) -> str | None:
    """What makes a key unsendable in an HTTP header, in words that do not show the key; None if it is fine."""
    if KEY_CHARS.fullmatch(value):
        return None
    bad = next(c for c in value if not KEY_CHARS.fullmatch(c))
    if bad in "\r\n":
        return "a line break"
    if bad == "\t":
        return "a tab"
    if bad == " ":
        return "a space (the variable should hold the key alone, without 'Bearer')"
    if ord(bad) > 0x7F:
        return "a non-ASCII character (often a quote or a dash pasted from a document)"
    return "a control character"


def strike_key(text: str, key: str | None, *, credentials: bool = True) -> str:
    """Text with credentials cut out: whatever follows 'Bearer'/'Basic' (unless `credentials` is False: an answer's
    own words), and every run of KEY_WINDOW characters that also occurs in the key (so a key echoed escaped, quoted,
    cut short or with a prefix still does not show)."""
    if credentials:
        text = CREDENTIAL.sub(r"\1\2***", text)
    if not key or len(key) < 4:  # a dummy key for a local server ('x', 'none') is no secret
        return text
    w = min(KEY_WINDOW, len(key))
    pieces = {key[i : i + w] for i in range(len(key) - w + 1)}
    hit = [False] * len(text)
    for i in range(len(text) - w + 1):
        if text[i : i + w] in pieces:
            hit[i : i + w] = [True] * w
    out, i = [], 0
    while i < len(text):
        if hit[i]:
            while i < len(text) and hit[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _may_hold_key(text: str, key: str | None) -> bool:
    """A fast test before scrubbing a big body: does an aligned piece of the key occur in it?"""
    if not key or len(key) < 4:
        return False
    w = min(KEY_WINDOW, len(key))
    return any(key[i : i + w] in text for i in range(0, len(key) - w + 1, w)) or key[-w:] in text


# ------------------------------------------------------------------------------------------ client


class ApiClient:
    """Chat completions against one OpenAI-compatible endpoint.

    `chat(payload)` sends one request (with retries) and returns its Answer; `submit(payload)` does the
    same on the client's pool and returns a Future. `spent_before` is what earlier runs spent against
    the same budget.
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        spent_before: tuple[int, float] = (0, 0.0),
        transport=None,
        sleep: Callable[[float], None] | None = None,
    ):
        import httpx

        self.settings = settings
        self.prices = prices_for(settings)
        if settings.budget_usd is not None and self.prices is None:
            raise UserError(
                f"teacher.api.budget_usd is set, but no price is known for model '{settings.model}': set "
                "teacher.api.price_per_million_input and price_per_million_output"
            )
        key = self._read_key(settings.api_key_env)
        self._key = _Secret(key) if key else None
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"  # httpx's Headers repr shows '[secure]' for it
        self._http = httpx.Client(
            base_url=settings.base_url + "/",
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.connect_timeout_s, settings.timeout_s)),
            limits=httpx.Limits(
                max_connections=settings.max_in_flight, max_keepalive_connections=settings.max_in_flight
            ),
        )
        self._pool = ThreadPoolExecutor(max_workers=settings.max_in_flight, thread_name_prefix="understudy-api")
        self._down = threading.Event()  # set once max_connection_failures connections in a row failed
        self._connect_failures = 0
        self._last_connect_error = ""
        self._sleep = sleep or time.sleep
        # Back-offs and 429 pauses end early when the endpoint is declared down, so nothing waits a minute to fail.
        self._pause = sleep or self._down.wait
        self._requests = RateLimiter(settings.requests_per_minute, self._sleep)
        self._tokens = RateLimiter(settings.tokens_per_minute, self._sleep)
        self._lock = threading.Lock()
        self._resume_at = 0.0  # a 429's Retry-After holds every worker until then
        self._reserved_tokens = 0.0
        self._reserved_usd = 0.0
        self._stopped = False
        self._tokens_per_char = 0.5  # until the server reports usage: 2 characters a token, on the safe side
        self._seen_ratio = False
        self.spent_before = spent_before
        self.spend = Spend()

    # The key is checked here, then lives only in the HTTP client's headers; no message ever holds it.
    @staticmethod
    def _read_key(name: str | None) -> str | None:
        if name is None:
            return None
        value = os.environ.get(name, "").strip()
        if not value:
            raise UserError(
                f"teacher.api.api_key_env names the environment variable {name}, which is not set or empty; "
                f"export {name}=<your key> in the shell that runs understudy"
            )
        bad = _bad_key_char(value)
        if bad:  # httpx and h11 would quote the whole header value in their error: refuse before sending
            raise UserError(
                f"the environment variable {name} (teacher.api.api_key_env) holds {bad}, which an HTTP header "
                f"cannot carry, so it is not a usable key (its value is not shown). Set it to the key alone, "
                f"on one line: export {name}=<your key>"
            )
        return value

    def redact(self, text: str) -> str:
        return strike_key(text, self._key.reveal() if self._key else None)

    def __repr__(self) -> str:
        return f"ApiClient({self.settings.host()!r}, model={self.settings.model!r})"

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    @property
    def endpoint_down(self) -> bool:
        return self._down.is_set()

    def reconnect(self) -> None:
        """Try the endpoint again after it was declared down (a new batch, once the user says so)."""
        with self._lock:
            self._connect_failures = 0
            self._down.clear()

    def _connect_failed(self, detail: str) -> None:
        with self._lock:
            self._connect_failures += 1
            self._last_connect_error = detail
            if self._connect_failures >= self.settings.max_connection_failures:
                self._down.set()

    def _connected(self) -> None:
        with self._lock:
            self._connect_failures = 0

    def _raise_if_down(self) -> None:
        if self._down.is_set():
            s = self.settings
            raise EndpointDown(
                self.redact(
                    f"{s.base_url} cannot be reached: {s.max_connection_failures} connections in a row failed "
                    f"to open, the last with {self._last_connect_error}; nothing more is sent "
                    "(teacher.api.max_connection_failures). Check that the server is running and that "
                    "teacher.api.base_url is right"
                )
            )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def stopped_by_budget(self) -> bool:
        return self._stopped

    def submit(self, payload: dict) -> Future:
        return self._pool.submit(self.chat, payload)

    # -------------------------------------------------------------------------------- estimates, budget

    def estimate(self, payload: dict) -> tuple[float, float, float]:
        """(prompt tokens, completion tokens, usd) this request could cost at most, as far as can be known."""
        chars = sum(len(m.get("content") or "") + 8 for m in payload.get("messages", []))
        prompt = math.ceil(chars * self._tokens_per_char) + 8
        limit = payload.get("max_tokens") or payload.get("max_completion_tokens") or self.settings.max_tokens
        completion = limit * int(payload.get("n") or 1)
        usd = self.prices.usd(prompt, completion) if self.prices else 0.0
        return prompt, completion, usd

    def _reserve(self, tokens: float, usd: float) -> None:
        s = self.settings
        with self._lock:
            if not self._stopped:
                before_tokens, before_usd = self.spent_before
                over_tokens = s.budget_tokens is not None and (
                    before_tokens + self.spend.tokens + self._reserved_tokens + tokens > s.budget_tokens
                )
                over_usd = s.budget_usd is not None and (
                    before_usd + self.spend.usd + self._reserved_usd + usd > s.budget_usd
                )
                if over_tokens or over_usd:
                    self._stopped = True
            if self._stopped:
                self.spend.refused_by_budget += 1
                raise BudgetExhausted(self.budget_message())
            self._reserved_tokens += tokens
            self._reserved_usd += usd

    def budget_message(self) -> str:
        s, spent = self.settings, self.spend
        before_tokens, before_usd = self.spent_before
        caps = []
        if s.budget_tokens is not None:
            caps.append(f"teacher.api.budget_tokens {s.budget_tokens}: {before_tokens + spent.tokens} spent")
        if s.budget_usd is not None:
            caps.append(f"teacher.api.budget_usd {s.budget_usd}: ${before_usd + spent.usd:.4f} spent")
        return (
            "the API budget would be passed by the next request (" + "; ".join(caps) + "). Every answer received "
            "is stored; raise the budget in the recipe and rerun to continue (nothing already answered is asked again)"
        )

    def _charge(self, prompt: float, completion: float, *, estimated: bool) -> None:
        """Called with the lock held."""
        if estimated:
            self.spend.estimated_tokens += int(prompt + completion)
        else:
            self.spend.prompt_tokens += int(prompt)
            self.spend.completion_tokens += int(completion)
        if self.prices:
            self.spend.usd += self.prices.usd(prompt, completion)

    def _learn_ratio(self, payload: dict, prompt_tokens: int) -> None:
        chars = sum(len(m.get("content") or "") + 8 for m in payload.get("messages", []))
        if chars > 0:
            ratio = prompt_tokens / chars * 1.1
            self._tokens_per_char = ratio if not self._seen_ratio else max(self._tokens_per_char, ratio)
            self._seen_ratio = True

    # -------------------------------------------------------------------------------- one request

    def chat(self, payload: dict) -> Answer:
        """Send one chat completion, retrying what can be retried. Raises BudgetExhausted before sending
        when the budget could be passed, ApiError when the endpoint refuses or every retry failed, EndpointDown
        once connections keep failing to open."""
        self._raise_if_down()
        prompt_est, completion_est, usd_est = self.estimate(payload)
        self._reserve(prompt_est + completion_est, usd_est)
        try:
            return self._send(payload, prompt_est, completion_est)
        finally:
            with self._lock:
                self._reserved_tokens -= prompt_est + completion_est
                self._reserved_usd -= usd_est

    def _wait_turn(self, tokens: float) -> None:
        while True:
            with self._lock:
                wait = self._resume_at - time.monotonic()
            if wait <= 0 or self._down.is_set():
                break
            self._pause(wait)
        self._requests.acquire(1)
        self._tokens.acquire(tokens)

    def _backoff(self, attempt: int) -> float:
        top = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempt - 1))
        return random.uniform(top / 2, top)

    def _send(self, payload: dict, prompt_est: float, completion_est: float) -> Answer:
        import httpx

        s = self.settings
        attempt = 0
        while True:
            attempt += 1
            self._wait_turn(prompt_est + completion_est)
            self._raise_if_down()
            retry_after = None
            started = time.monotonic()
            with self._lock:
                self.spend.attempts += 1
            try:
                with self._http.stream("POST", "chat/completions", json=payload) as resp:
                    self._connected()  # any answer, 429 and 5xx included, shows the server is there
                    status = resp.status_code
                    try:
                        raw = resp.read()
                    except (httpx.TimeoutException, httpx.TransportError):
                        if status == 200:  # the answer was made, probably billed, and lost on the way
                            with self._lock:
                                self._charge(prompt_est, completion_est, estimated=True)
                        raise
                if status == 200:
                    try:
                        text = raw.decode("utf-8")
                        key = self._key.reveal() if self._key else None
                        if _may_hold_key(text, key):  # an answer is stored: it must not carry the key either
                            text = strike_key(text, key, credentials=False)
                        answer = Answer.from_body(json.loads(text), time.monotonic() - started, attempt)
                    except (ValueError, MalformedAnswer) as exc:
                        with self._lock:
                            self._charge(prompt_est, completion_est, estimated=True)
                        reason, detail = "malformed body", str(exc)[:200]
                    else:
                        self._record(payload, answer, prompt_est, completion_est)
                        return answer
                elif status in RETRY_STATUS or status >= 500:
                    retry_after = retry_after_s(resp.headers)
                    reason, detail = f"http {status}", raw[:200].decode("utf-8", "replace")
                    if status == 429 and retry_after:
                        with self._lock:
                            self._resume_at = max(self._resume_at, time.monotonic() + retry_after)
                else:
                    text = raw[:500].decode("utf-8", "replace")
                    raise ApiError(
                        self.redact(
                            f"{s.base_url} answered HTTP {status} to model '{s.model}': {text}{self._hint(status)}"
                        ),
                        status,
                    ) from None
            except httpx.TimeoutException as exc:
                reason, detail = "timeout", type(exc).__name__
                if isinstance(exc, httpx.ConnectTimeout):
                    self._connect_failed(f"{detail} after {self._http.timeout.connect}s")
                elif isinstance(exc, httpx.ReadTimeout):  # sent and maybe answered: count it as billed
                    with self._lock:
                        self._charge(prompt_est, 0, estimated=True)
            except httpx.UnsupportedProtocol:
                raise ApiError(f"teacher.api.base_url {s.base_url} is not an http(s) URL") from None
            except httpx.TransportError as exc:
                reason, detail = "connection", self.redact(f"{type(exc).__name__}: {exc}")
                if isinstance(exc, httpx.ConnectError):  # refused, unknown host, TLS handshake failed
                    self._connect_failed(detail)
            with self._lock:
                self.spend.retries[reason] = self.spend.retries.get(reason, 0) + 1
            self._raise_if_down()
            if attempt > s.max_retries:
                raise ApiError(
                    self.redact(
                        f"{s.base_url}: gave up on a request to model '{s.model}' after {attempt} "
                        f"attempts; the last failed with {reason} ({detail}). Answers received so "
                        "far are kept; rerun to resume, or raise teacher.api.max_retries"
                    )
                ) from None
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            log.info("retrying after %s in %.2fs (attempt %d of %d)", reason, delay, attempt, s.max_retries + 1)
            self._pause(delay)

    def _record(self, payload: dict, answer: Answer, prompt_est: float, completion_est: float) -> None:
        with self._lock:
            self.spend.requests += 1
            self.spend.latencies.append(answer.latency_s)
            if answer.prompt_tokens is not None and answer.completion_tokens is not None:
                self._charge(answer.prompt_tokens, answer.completion_tokens, estimated=False)
                self._learn_ratio(payload, answer.prompt_tokens)
            else:  # servers that report no usage: charge the estimate, on the safe side
                self._charge(prompt_est, completion_est, estimated=True)

    def _hint(self, status: int) -> str:
        env = self.settings.api_key_env
        if status in (401, 403):
            return (
                f". Check the key in the environment variable {env}"
                if env
                else ". The endpoint wants a key: set teacher.api.api_key_env to the name of the variable holding it"
            )
        if status == 404:
            return f". Check teacher.api.base_url (it usually ends in /v1) and that the endpoint serves model '{self.settings.model}'"
        return ""
