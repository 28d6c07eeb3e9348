"""Teachers behind an OpenAI-compatible API: an LLM that labels texts, and one that writes them.

Paid calls must never repeat, so every answer is written to the TeacherStore the moment it arrives,
keyed by a hash of the exact request (kind 'api_answer'); a request whose answer is stored is never
sent again, whatever happened in between (a crash, `kill -9`, a budget stop). When a text's label is
settled, its outcome is stored too (kind 'api_outcome', keyed by the text's hash), so `label()` and a
rerun find everything.

How a text is labelled, in order:
1. one request with the label set, their descriptions and the few-shot examples; JSON mode where
   the server offers it, else the answer must be exactly one label (case and quotes aside);
2. with log-probs, the class probabilities are read from the top log-probs at the token where the
   label begins (renormalised over the labels);
3. without them, `samples` answers are asked for and the probabilities are the vote shares: the
   largest share is the agreement score;
4. an answer that cannot be read is asked again once with a stricter prompt; if that fails too the
   text is 'unparseable'.

An unparseable text, or one the server refuses outright (HTTP 400/413/422: too long, filtered) while
it answers others, gets a uniform row of probabilities, so `predict` still returns one row per text;
`unparseable(texts)` lists them with the raw answers, `labelled_mask(texts)` tells training which rows
to drop, and `report(texts)` counts them. Refused from the first request on, the set-up is wrong (a
bad model name or parameter) and the run stops instead.

Without a store (`store=None`, or `attach(store)` not called) nothing is kept: fine for a trial,
never for paid labelling.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field

import numpy as np
from pydantic import model_validator

from ..api.client import Answer, ApiClient, ApiError, BudgetExhausted, Choice, EndpointDown
from ..api.settings import ApiSettings
from ..errors import UserError
from ..store import TeacherStore, input_hash

KIND_ANSWER = "api_answer"  # raw answers, keyed by the request's hash
KIND_OUTCOME = "api_outcome"  # per text: how its label was settled
KIND_NOTE = "api_note"  # what the server refused (response_format, logprobs), so reruns do not ask again
SPEND_FINGERPRINT, SPEND_KEY, KIND_SPEND = "api-spend", "ledger", "api_spend"  # the spend of every run
STRICT_NOTE = "That answer could not be read."
REFUSED_STATUS = {400, 413, 422}  # the server will not answer this request: record it, go on with the others
# (only once the server has answered something: refused from the start, the set-up is wrong and the run stops)
FATAL_STATUS = {401, 403, 404}  # nothing will work: stop at once
OPTIONAL_FEATURES = {"response_format": ("response_format", "json"), "logprobs": ("logprob",)}


def _text_blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _blob_text(array: np.ndarray) -> str:
    return np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8")


def request_key(payload: dict, round_: int = 0) -> str:
    """The hash a request's answer is stored under: the exact payload, plus which round of samples it is."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{round_}|{canonical}".encode()).hexdigest()


@dataclass
class _Job:
    """One request to make: how to build it (late, so a refused feature is left out), and what its answer leads to."""

    build: Callable[[], tuple[dict, int]]  # -> (payload, round)
    on_answer: Callable[[Answer], list[_Job]]
    on_refused: Callable[[ApiError], list[_Job]]


class _ApiTeacherBase:
    """What both API teachers share: the store of answers, the spend ledger, and the loop that asks."""

    settings: ApiSettings
    fingerprint: str

    def __init__(self, settings: ApiSettings, store: TeacherStore | None, client: ApiClient | None):
        self.settings = settings
        self.store = store
        self._client = client
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._refused: set[str] = set()
        self._notes_read = False
        self._answered = False  # until something is answered, a refusal means the set-up is wrong

    def attach(self, store: TeacherStore) -> _ApiTeacherBase:
        """Store answers here as they arrive, and count the budget from what this store already spent."""
        self.store = store
        self._notes_read = False
        if self._client is not None:
            self._client.spent_before = self._spent_before()
        return self

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient(self.settings, spent_before=self._spent_before())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -------------------------------------------------------------------------------- the store

    def _get_blob(self, fingerprint: str, key: str, kind: str) -> str | None:
        if self.store is None:
            return None
        found = self.store.get(fingerprint, [key], kind)
        return _blob_text(found[key]) if key in found else None

    def _put_blob(self, fingerprint: str, key: str, kind: str, text: str) -> None:
        if self.store is not None:
            self.store.put(fingerprint, kind, [(key, _text_blob(text))])

    def ledger(self) -> dict:
        """{'runs': {run id: spend}}: every run's spend on the API from this store."""
        text = self._get_blob(SPEND_FINGERPRINT, SPEND_KEY, KIND_SPEND)
        return json.loads(text) if text else {"runs": {}}

    def _spent_before(self) -> tuple[int, float]:
        runs = [r for rid, r in self.ledger()["runs"].items() if rid != self.run_id]
        return sum(r["tokens"] for r in runs), sum(r["usd"] or 0.0 for r in runs)

    def _save_ledger(self) -> None:
        if self.store is None or self._client is None:
            return
        ledger = self.ledger()
        ledger["runs"][self.run_id] = {
            "endpoint": self.settings.host(),
            "model": self.settings.model,
            "fingerprint": self.fingerprint,
            **self._client.spend.to_report(self._client.prices),
        }
        self._put_blob(SPEND_FINGERPRINT, SPEND_KEY, KIND_SPEND, json.dumps(ledger))

    def _read_notes(self) -> None:
        if not self._notes_read:
            text = self._get_blob(self.fingerprint, "refused", KIND_NOTE)
            self._refused |= set(json.loads(text)) if text else set()
            self._notes_read = True

    def _drop_refused_feature(self, payload: dict, error: ApiError) -> bool:
        """A 400/422 that names an optional feature (JSON mode, log-probs): leave it out from now on."""
        if any(f in payload for f in self._refused):
            return True  # built before the feature was dropped: build it again without
        message = str(error).lower()
        for feature, words in OPTIONAL_FEATURES.items():
            if feature in payload and feature not in self._refused and any(w in message for w in words):
                self._refused.add(feature)
                self._put_blob(self.fingerprint, "refused", KIND_NOTE, json.dumps(sorted(self._refused)))
                return True
        return False

    @staticmethod
    def _down_error(error: EndpointDown, answered: int, total: int, unit: str) -> EndpointDown:
        """The endpoint went away mid-run: say what is safe in the store, what is left, and how to go on."""
        return EndpointDown(
            f"{error}. {answered} of the {total} {unit} asked were answered and are stored; {total - answered} "
            "remain. Rerun the same command once the endpoint is back: it resumes where this stopped and asks "
            "nothing already answered again"
        )

    @staticmethod
    def _setup_error(deferred: list) -> ApiError:
        first = deferred[0][1]
        return ApiError(
            f"the endpoint refused the first {len(deferred)} request(s) and answered none, so the set-up "
            f"rather than the texts looks wrong (check teacher.api: model, max_tokens, top_logprobs): {first}",
            first.status,
        )

    def spend_report(self) -> dict:
        """This run's spend, every run's spend from this store, and the totals."""
        runs = self.ledger()["runs"]
        if self._client is not None:
            runs[self.run_id] = {
                "endpoint": self.settings.host(),
                "model": self.settings.model,
                "fingerprint": self.fingerprint,
                **self._client.spend.to_report(self._client.prices),
            }
        prices = self._client.prices if self._client is not None else None
        return {
            "this_run": runs.get(self.run_id),
            "runs": runs,
            "total": {
                "tokens": sum(r["tokens"] for r in runs.values()),
                "usd": round(sum(r["usd"] or 0.0 for r in runs.values()), 6),
                "requests": sum(r["requests"] for r in runs.values()),
            },
            "prices": None
            if prices is None
            else {"input_per_million": prices.input, "output_per_million": prices.output, "source": prices.source},
            "budget": {"tokens": self.settings.budget_tokens, "usd": self.settings.budget_usd},
        }

    # -------------------------------------------------------------------------------- the loop

    def _ask(self, jobs: Sequence[_Job]) -> None:
        """Run jobs and their follow-ups, at most max_in_flight at once, storing each answer as it arrives.

        Stored answers are reused without a request. A budget stop, a fatal refusal or an endpoint that cannot be
        reached lets the requests in flight finish (and stores them) before it is raised; so do failures after every
        retry.
        """
        self._read_notes()
        if self._client is not None and self._client.endpoint_down:
            self._client.reconnect()  # a new call: the caller chose to try again
        queue: deque[_Job] = deque(jobs)
        pending: dict = {}
        failed: list[ApiError] = []
        deferred: list[tuple[_Job, ApiError]] = []  # refusals seen before any answer
        stop: UserError | None = None
        try:
            while queue or pending:
                while queue and stop is None and len(pending) < self.settings.max_in_flight:
                    job = queue.popleft()
                    payload, round_ = job.build()
                    key = request_key(payload, round_)
                    stored = self._get_blob(self.fingerprint, key, KIND_ANSWER)
                    if stored is not None:
                        self._answered = True
                        queue.extend(job.on_answer(Answer.from_json(stored)))
                    else:
                        pending[self.client.submit(payload)] = (job, payload, key)
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job, payload, key = pending.pop(future)
                    try:
                        answer = future.result()
                    except (BudgetExhausted, EndpointDown) as exc:
                        stop = stop or exc
                        continue
                    except ApiError as exc:
                        if exc.status in REFUSED_STATUS and self._drop_refused_feature(payload, exc):
                            queue.appendleft(job)  # the same job, built again without the feature
                        elif exc.status in REFUSED_STATUS and self._answered:
                            queue.extend(job.on_refused(exc))  # this text only: the server answers others
                        elif exc.status in REFUSED_STATUS:
                            # Nothing answered yet: the text, or the whole set-up? Wait for a first answer.
                            deferred.append((job, exc))
                            if len(deferred) >= max(3, self.settings.max_in_flight):
                                stop = stop or self._setup_error(deferred)
                        elif exc.status in FATAL_STATUS:
                            stop = stop or exc
                        else:
                            failed.append(exc)
                        continue
                    self._put_blob(self.fingerprint, key, KIND_ANSWER, answer.to_json())
                    self._save_ledger()
                    self._answered = True
                    queue.extend(job.on_answer(answer))
                for job, exc in deferred:
                    if self._answered:
                        queue.extend(job.on_refused(exc))
                if self._answered:
                    deferred.clear()
        except BaseException:
            # Interrupted (Ctrl-C): keep what is already paid for before giving up.
            for future, (_job, _payload, key) in pending.items():
                try:
                    answer = future.result()
                except BaseException:
                    continue
                self._put_blob(self.fingerprint, key, KIND_ANSWER, answer.to_json())
            self._save_ledger()
            raise
        self._save_ledger()
        if isinstance(stop, BudgetExhausted):
            raise BudgetExhausted(self.client.budget_message())
        if stop is not None:
            raise stop
        if deferred:  # refused, and nothing at all answered: the set-up is wrong, not the texts
            raise self._setup_error(deferred)
        if failed:
            raise ApiError(
                f"{len(failed)} request(s) failed after every retry; the first: {failed[0]}", failed[0].status
            )


# ------------------------------------------------------------------------------------------ classifier


def parse_label(text: str, labels: Sequence[str]) -> str | None:
    """The label an answer names, or None: a JSON object {"label": ...} or the bare label; case, quotes,
    surrounding spaces, a code fence and a final full stop aside, nothing looser."""
    s = text.strip()
    fence = re.match(r"^```[a-zA-Z]*\s*(.*?)\s*```$", s, re.S)
    if fence:
        s = fence.group(1).strip()
    value: object = s
    if s.startswith("{") or s.startswith('"'):
        try:
            value = json.loads(s)
        except ValueError:
            value = s
        if isinstance(value, dict):
            keys = [k for k in value if isinstance(k, str) and k.strip().lower() == "label"]
            if len(keys) != 1:
                return None
            value = value[keys[0]]
    if not isinstance(value, str):
        return None
    v = re.sub(r"^[\s\"'`]+|[\s\"'`.]+$", "", value)
    by_name = {name.lower(): name for name in labels}
    return by_name.get(v.lower())


def _label_start(text: str, label: str) -> int | None:
    """Where the label's value begins in the answer: after '"label": "' in JSON, else its first occurrence."""
    lower = text.lower()
    key = re.search(r'"label"\s*:\s*"?', lower)
    at = lower.find(label.lower(), key.end() if key else 0)
    return at if at >= 0 else None


def _label_of_piece(piece: str, labels: Sequence[str]) -> int | None:
    """The one label a token could begin (or a token holding a whole label and closing punctuation); None if none or several."""
    r = piece.lower().rstrip().rstrip("\"}'`.,").rstrip()
    if not r:
        return None
    hits = [i for i, name in enumerate(labels) if name.lower().startswith(r) or r == name.lower()]
    return hits[0] if len(hits) == 1 else None


def probs_from_logprobs(choice: Choice, label: str, labels: Sequence[str]) -> np.ndarray | None:
    """Class probabilities from the top log-probs at the token where the chosen label begins.

    Each alternative token there that begins exactly one label adds its probability to that label;
    the rest (other words) are dropped and the row renormalised. None when the position cannot be
    found, or the token there cannot tell the labels apart."""
    tokens = choice.logprobs
    if not tokens:
        return None
    text = "".join(t.token for t in tokens)
    start = _label_start(text, label)
    if start is None:
        return None
    offset = 0
    for tok in tokens:
        if offset <= start < offset + len(tok.token):
            break
        offset += len(tok.token)
    else:
        return None
    prefix = tok.token[: start - offset]
    chosen = _label_of_piece(tok.token[len(prefix) :], labels)
    if chosen is None or labels[chosen] != label:
        return None
    best: dict[str, float] = {tok.token: tok.logprob}
    for alt, lp in tok.top:
        best[alt] = max(lp, best.get(alt, -np.inf))
    mass = np.zeros(len(labels))
    for alt, lp in best.items():
        if not alt.startswith(prefix):
            continue
        k = _label_of_piece(alt[len(prefix) :], labels)
        if k is not None and np.isfinite(lp):
            mass[k] += float(np.exp(lp))
    if mass.sum() <= 0:
        return None
    return mass / mass.sum()


@dataclass
class _TextState:
    text: str
    hash: str
    votes: Counter = field(default_factory=Counter)
    raws: list[str] = field(default_factory=list)
    received: int = 0
    rounds: int = 0
    strict_tried: bool = False


class ApiClassifierTeacher(_ApiTeacherBase):
    """An LLM behind an OpenAI-compatible endpoint, asked to label each text with one of `labels`."""

    provides = frozenset({"probs"})

    def __init__(
        self,
        settings: ApiSettings,
        labels: Sequence[str],
        store: TeacherStore | None = None,
        *,
        client: ApiClient | None = None,
    ):
        super().__init__(settings, store, client)
        self.labels = [str(x) for x in labels or []]
        self._check_labels()
        identity = {
            "kind": "openai-api",
            "endpoint": settings.host(),
            "model": settings.model,
            "task": settings.task,
            "prompt": settings.prompt,
            "labels": self.labels,
            "descriptions": settings.label_descriptions,
            "examples": [e.model_dump() for e in settings.examples],
            "json_mode": settings.json_mode,
            "use_logprobs": settings.use_logprobs,
            "top_logprobs": settings.top_logprobs,
            "samples": settings.samples,
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
            "seed": settings.seed,
        }
        self.fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        self.description = f"OpenAI-compatible API: model {settings.model} at {settings.host()}"
        self.files: list = []  # nothing on disk: size and memory do not apply
        self._system = settings.prompt.format(
            task=settings.task, labels=self._label_block(), answer_format=self._answer_format()
        )
        self._outcomes: dict[str, dict] = {}

    def _check_labels(self) -> None:
        s = self.settings
        if len(self.labels) < 2:
            raise UserError("teacher.labels: an API classifier needs at least two labels, e.g. labels: [great, other]")
        if len({x.lower() for x in self.labels}) != len(self.labels):
            raise UserError(f"teacher.labels {self.labels}: labels must differ in more than upper/lower case")
        unknown = set(s.label_descriptions) - set(self.labels)
        if unknown:
            raise UserError(
                f"teacher.api.label_descriptions names {sorted(unknown)}, which are not in teacher.labels {self.labels}"
            )
        for i, ex in enumerate(s.examples):
            if ex.label not in self.labels:
                raise UserError(f"teacher.api.examples[{i}].label is '{ex.label}'; it must be one of {self.labels}")

    def _label_block(self) -> str:
        d = self.settings.label_descriptions
        return "\n".join(f"- {x}: {d[x]}" if d.get(x) else f"- {x}" for x in self.labels)

    def _answer_format(self) -> str:
        names = ", ".join(self.labels)
        if self.settings.json_mode:
            return f'a JSON object {{"label": "<label>"}}, where <label> is exactly one of: {names}'
        return f"exactly one of these labels: {names}"

    def _answer_text(self, label: str) -> str:
        return json.dumps({"label": label}) if self.settings.json_mode else label

    def messages(self, text: str) -> list[dict]:
        """The conversation sent for one text: system prompt, few-shot turns, then the text."""
        msgs = [{"role": "system", "content": self._system}]
        for ex in self.settings.examples:
            msgs += [
                {"role": "user", "content": ex.text},
                {"role": "assistant", "content": self._answer_text(ex.label)},
            ]
        return msgs + [{"role": "user", "content": text}]

    def _payload(self, messages: list[dict], n: int, temperature: float) -> dict:
        s = self.settings
        payload: dict = {"model": s.model, "messages": messages, "temperature": temperature, "max_tokens": s.max_tokens}
        if n > 1:
            payload["n"] = n
        if s.use_logprobs and "logprobs" not in self._refused:
            payload["logprobs"] = True
            payload["top_logprobs"] = s.top_logprobs
        if s.json_mode and "response_format" not in self._refused:
            payload["response_format"] = {"type": "json_object"}
        if s.seed is not None:
            payload["seed"] = s.seed
        return payload

    # -------------------------------------------------------------------------------- one text

    def _first_job(self, st: _TextState) -> _Job:
        s = self.settings
        first_n = 1 if s.use_logprobs else s.samples

        def build():
            n = first_n if st.rounds == 0 else s.samples - st.received
            return self._payload(self.messages(st.text), n, s.temperature), st.rounds

        def on_answer(answer: Answer) -> list[_Job]:
            for choice in answer.choices:
                st.received += 1
                label = parse_label(choice.text, self.labels)
                if label is None:
                    st.raws.append(choice.text)
                    continue
                if s.use_logprobs:
                    probs = probs_from_logprobs(choice, label, self.labels)
                    if probs is not None:
                        self._finish(st, probs, "logprobs")
                        return []
                st.votes[label] += 1
            if st.received < s.samples and st.rounds + 1 < s.samples:
                st.rounds += 1  # fewer answers than samples (no log-probs, or n not honoured): ask for the rest
                return [_Job(build, on_answer, on_refused)]
            return self._settle(st)

        def on_refused(error: ApiError) -> list[_Job]:
            self._finish(st, None, "refused", raw=[str(error)[:2000]])
            return []

        return _Job(build, on_answer, on_refused)

    def _settle(self, st: _TextState) -> list[_Job]:
        if st.votes:
            total = sum(st.votes.values())
            probs = np.array([st.votes[x] / total for x in self.labels])
            self._finish(st, probs, "votes" if self.settings.samples > 1 else "label")
            return []
        if not st.strict_tried:
            st.strict_tried = True
            return [self._strict_job(st)]
        self._finish(st, None, "unparseable", raw=st.raws)
        return []

    def _strict_job(self, st: _TextState) -> _Job:
        def build():
            last = next((r for r in reversed(st.raws) if r.strip()), "(no answer)")
            msgs = self.messages(st.text) + [
                {"role": "assistant", "content": last},
                {"role": "user", "content": f"{STRICT_NOTE} Reply with {self._answer_format()}. Say nothing else."},
            ]
            return self._payload(msgs, 1, 0.0), 0

        def on_answer(answer: Answer) -> list[_Job]:
            for choice in answer.choices:
                label = parse_label(choice.text, self.labels)
                if label is None:
                    st.raws.append(choice.text)
                    continue
                probs = probs_from_logprobs(choice, label, self.labels) if self.settings.use_logprobs else None
                if probs is None:
                    probs = np.array([float(x == label) for x in self.labels])
                self._finish(st, probs, "strict retry")
                return []
            self._finish(st, None, "unparseable", raw=st.raws)
            return []

        def on_refused(error: ApiError) -> list[_Job]:
            self._finish(st, None, "unparseable", raw=st.raws + [str(error)[:2000]])
            return []

        return _Job(build, on_answer, on_refused)

    def _finish(self, st: _TextState, probs: np.ndarray | None, method: str, raw: list[str] | None = None) -> None:
        """Settle a text: store its outcome at once (a kill after this loses nothing)."""
        if probs is None:
            outcome = {
                "status": "unparseable" if method == "unparseable" else "refused",
                "method": method,
                "probs": [1.0 / len(self.labels)] * len(self.labels),
                "raw": [r[:2000] for r in (raw or [])][:5],
            }
        else:
            probs = np.asarray(probs, dtype=np.float64)
            outcome = {
                "status": "labelled",
                "method": method,
                "label": self.labels[int(probs.argmax())],
                "agreement": round(float(probs.max()), 6),
                "probs": probs.tolist(),
            }
        self._outcomes[st.hash] = outcome
        self._put_blob(self.fingerprint, st.hash, KIND_OUTCOME, json.dumps(outcome))

    # -------------------------------------------------------------------------------- the protocol

    def _stored_outcomes(self, hashes: Sequence[str]) -> dict[str, dict]:
        missing = [h for h in dict.fromkeys(hashes) if h not in self._outcomes]
        if missing and self.store is not None:
            for h, blob in self.store.get(self.fingerprint, missing, KIND_OUTCOME).items():
                self._outcomes[h] = json.loads(_blob_text(blob))
        return {h: self._outcomes[h] for h in hashes if h in self._outcomes}

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """One row of class probabilities per text; unparseable and refused texts get a uniform row."""
        hashes = [input_hash(t) for t in texts]
        known = self._stored_outcomes(hashes)
        todo = {h: t for h, t in zip(hashes, texts) if h not in known}
        if todo:
            try:
                self._ask([self._first_job(_TextState(t, h)) for h, t in todo.items()])
            except EndpointDown as exc:
                answered = sum(h in self._outcomes for h in todo)
                raise self._down_error(exc, answered, len(todo), "texts") from None
        outcomes = self._stored_outcomes(hashes)
        return {"probs": np.array([outcomes[h]["probs"] for h in hashes], dtype=np.float32)}

    def outcomes(self, texts: Sequence[str]) -> list[dict | None]:
        """Each text's stored outcome (status, method, label, agreement, probs; raw answers when unparseable), or None."""
        hashes = [input_hash(t) for t in texts]
        known = self._stored_outcomes(hashes)
        return [known.get(h) for h in hashes]

    def labelled_mask(self, texts: Sequence[str]) -> np.ndarray:
        """True where the text got a real label: train only on these rows."""
        return np.array([bool(o) and o["status"] == "labelled" for o in self.outcomes(texts)])

    def unparseable(self, texts: Sequence[str]) -> list[dict]:
        """The texts without a label, for the report: index, text, status, and the raw answers (or the refusal)."""
        return [
            {"index": i, "text": t, "status": o["status"], "raw": o.get("raw", [])}
            for i, (t, o) in enumerate(zip(texts, self.outcomes(texts)))
            if o and o["status"] != "labelled"
        ]

    def report(self, texts: Sequence[str], examples: int = 20) -> dict:
        """For report.json: counts by outcome and method, the unparseable texts, and the spend by run."""
        outs = [o for o in self.outcomes(texts) if o]
        missing = self.unparseable(texts)
        return {
            "kind": "openai-api",
            "endpoint": self.settings.host(),
            "model": self.settings.model,
            "fingerprint": self.fingerprint,
            "texts": len(texts),
            "labelled": sum(o["status"] == "labelled" for o in outs),
            "unparseable": sum(o["status"] == "unparseable" for o in outs),
            "refused": sum(o["status"] == "refused" for o in outs),
            "not_asked": len(texts) - len(outs),
            "by_method": dict(Counter(o["method"] for o in outs)),
            "mean_agreement": round(
                float(np.mean([o["agreement"] for o in outs if o["status"] == "labelled"] or [np.nan])), 4
            ),
            "features_refused_by_server": sorted(self._refused),
            "unparseable_examples": missing[:examples],
            "spend": self.spend_report(),
        }


# ------------------------------------------------------------------------------------------ generator


@dataclass
class Generation:
    prompt: str
    text: str
    finish_reason: str | None
    tokens: list[str] | None = None  # the generated tokens, where log-probs were given
    logprobs: list[float] | None = None  # each generated token's log-prob
    top_logprobs: list[list[tuple[str, float]]] | None = None  # the top-k alternatives at each position
    refused: str | None = None  # the server's refusal, if it would not answer


CLASSIFIER_ONLY = ("task", "prompt", "label_descriptions", "examples", "json_mode", "samples", "max_tokens")
SET_BY_TEACHER = {
    "max_new_tokens": "teacher.max_new_tokens",
    "top_logprobs": "teacher.top_logprobs",
    "use_logprobs": "teacher.top_logprobs (0: no log-probs)",
}


class GenerationApiSettings(ApiSettings):
    """`teacher.api` of a text-generation recipe: the endpoint, limits, budget and retries of labelling, without the
    labelling prompt. Answer length and log-probs are the teacher section's (`teacher.max_new_tokens`,
    `teacher.top_logprobs`), the same keys a local teacher reads."""

    @model_validator(mode="after")
    def _generation_only(self) -> GenerationApiSettings:
        given = self.model_fields_set
        wrong = [k for k in CLASSIFIER_ONLY if k in given]
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)}: classification settings (the labelling prompt); a text-generation "
                "teacher answers the prompts as they are (system_prompt adds a system message)"
            )
        moved = [f"{k} (set {SET_BY_TEACHER[k]})" for k in SET_BY_TEACHER if k in given]
        if moved:
            raise ValueError(
                f"{', '.join(moved)}: for a text-generation teacher these are keys of the teacher "
                "section, shared with local teachers"
            )
        return self


def chat_messages(prompt: str | Sequence[dict], system: str | None) -> list[dict]:
    """A prompt (a string, or a chat as a list of {role, content}) as the messages sent, with the system message
    put first where the chat has none."""
    msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if system and not any(m.get("role") == "system" for m in msgs):
        msgs = [{"role": "system", "content": system}] + msgs
    return msgs


class ApiGenerator(_ApiTeacherBase):
    """Texts, and top-k log-probs where offered, from an LLM behind an OpenAI-compatible endpoint: the
    teacher of a language-model student. Every answer is stored as it arrives, like the classifier's."""

    provides = frozenset({"texts", "top_logprobs"})
    labels: list[str] = []

    def __init__(self, settings: ApiSettings, store: TeacherStore | None = None, *, client: ApiClient | None = None):
        super().__init__(settings, store, client)
        identity = {
            "kind": "openai-api-generate",
            "endpoint": settings.host(),
            "model": settings.model,
            "system": settings.system_prompt,
            "temperature": settings.temperature,
            "max_new_tokens": settings.max_new_tokens,
            "use_logprobs": settings.use_logprobs,
            "top_logprobs": settings.top_logprobs,
            "seed": settings.seed,
        }
        self.fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        self.description = f"OpenAI-compatible API generator: model {settings.model} at {settings.host()}"
        self.files: list = []

    def _payload(self, prompt: str | Sequence[dict], max_new_tokens: int | None = None, logprobs: bool = True) -> dict:
        s = self.settings
        msgs = chat_messages(prompt, s.system_prompt)
        payload: dict = {
            "model": s.model,
            "messages": msgs,
            "temperature": s.temperature,
            "max_tokens": max_new_tokens or s.max_new_tokens,
        }
        if logprobs and s.use_logprobs and "logprobs" not in self._refused:
            payload["logprobs"] = True
            payload["top_logprobs"] = s.top_logprobs
        if s.seed is not None:
            payload["seed"] = s.seed
        return payload

    def generate(
        self, prompts: Sequence[str | Sequence[dict]], max_new_tokens: int | None = None, *, logprobs: bool = True
    ) -> list[Generation]:
        """One generation per prompt (a string or a chat), in order; stored answers are reused without a request.
        `max_new_tokens` overrides the settings' answer length; `logprobs=False` asks for none."""
        results: dict[int, Generation] = {}

        def job(i: int, prompt) -> _Job:
            def on_answer(answer: Answer) -> list[_Job]:
                c = answer.choices[0]
                lp = c.logprobs
                results[i] = Generation(
                    _prompt_text(prompt),
                    c.text,
                    c.finish_reason,
                    [t.token for t in lp] if lp else None,
                    [t.logprob for t in lp] if lp else None,
                    [t.top for t in lp] if lp else None,
                )
                return []

            def on_refused(error: ApiError) -> list[_Job]:
                results[i] = Generation(_prompt_text(prompt), "", None, refused=str(error)[:2000])
                return []

            return _Job(lambda: (self._payload(prompt, max_new_tokens, logprobs), 0), on_answer, on_refused)

        try:
            self._ask([job(i, p) for i, p in enumerate(prompts)])
        except EndpointDown as exc:
            answered = sum(g.refused is None for g in results.values())
            raise self._down_error(exc, answered, len(prompts), "prompts") from None
        return [results[i] for i in range(len(prompts))]

    def predict(self, prompts: Sequence[str | Sequence[dict]]) -> dict[str, list]:
        """{'texts': [str], 'top_logprobs': [per position [(token, logprob), ...]] or None per prompt}.
        Lists, not arrays: lengths differ from prompt to prompt."""
        gens = self.generate(prompts)
        return {"texts": [g.text for g in gens], "top_logprobs": [g.top_logprobs for g in gens]}

    def report(self) -> dict:
        return {
            "kind": "openai-api-generate",
            "endpoint": self.settings.host(),
            "model": self.settings.model,
            "fingerprint": self.fingerprint,
            "features_refused_by_server": sorted(self._refused),
            "spend": self.spend_report(),
        }


def _prompt_text(prompt) -> str:
    """A prompt for people: the string itself, or a chat's last user message."""
    if isinstance(prompt, str):
        return prompt
    return next((m.get("content", "") for m in reversed(list(prompt)) if m.get("role") == "user"), "")


def build(spec, resolve=lambda p: p, head_builder=None) -> ApiClassifierTeacher:
    """Teacher kind 'openai-api' (registered in pyproject.toml): an LLM behind an OpenAI-compatible endpoint labels texts."""
    return ApiClassifierTeacher(spec.api, spec.labels)
