"""The FastAPI app factory: a run folder's student, a teacher folder or a GGUF, in the OpenAI format.

Language models: /v1/chat/completions and /v1/completions (streaming as server-sent events; logprobs and
top_logprobs), /v1/models, /health. Classifier run folders: /v1/classify {texts} -> labels and probabilities.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import UserError


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ChatRequest(_Loose):
    model: str | None = None
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool = False
    stop: str | list[str] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    seed: int | None = None
    n: int | None = None


class CompletionRequest(_Loose):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = 16
    temperature: float | None = None
    top_p: float | None = None
    stream: bool = False
    stop: str | list[str] | None = None
    logprobs: int | None = None
    echo: bool | None = None
    seed: int | None = None
    n: int | None = None


class ReviewDecision(BaseModel):
    label: str
    reviewer: str | None = None


class ClassifyRequest(_Loose):
    texts: list[str]


def resolve_target(target: str) -> tuple[str, Path | str]:
    """('lm' | 'classifier', what to load) for a run folder, a model folder, a .gguf file or 'builtin:NAME'."""
    if target.startswith("builtin:"):
        return "lm", target
    path = Path(target).expanduser()
    if not path.exists():
        raise UserError(f"nothing to serve at {path}: give a run folder, a model folder or a .gguf file")
    student = path / "student"
    if path.name == "student" and (path.parent / "stages.json").is_file():
        path, student = path.parent, path  # a run's student folder: served only as that run evaluated it
    if student.is_dir():
        from ..run import RunFolder

        RunFolder(path).require_evaluated("understudy serve")
        meta = json.loads((student / "student.json").read_text()) if (student / "student.json").is_file() else {}
        if (student / "config.json").is_file() and meta.get("kind", "causal-lm") == "causal-lm":
            return "lm", student
        if meta.get("kind") in ("static", "transformer"):
            return "classifier", student
        raise UserError(f"{student} holds no student this server knows (student.json kind: {meta.get('kind')!r})")
    if (path / "student.json").is_file() and json.loads((path / "student.json").read_text()).get("kind") in (
        "static",
        "transformer",
    ):
        return "classifier", path
    return "lm", path


def _error(status: int, message: str, param: str | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}},
    )


def _sse(obj) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def create_app(target: str, *, name: str | None = None):
    """The app for one model. Loads it now, so a bad target fails at start, not on the first request."""
    from fastapi import FastAPI

    kind, what = resolve_target(target)
    app = FastAPI(title="understudy", version="1")
    model_id = name or (Path(str(what)).parent.name if Path(str(what)).name == "student" else Path(str(what)).stem)
    created = int(time.time())

    @app.get("/health")
    def health():
        return {"status": "ok", "model": model_id, "task": "text-generation" if kind == "lm" else "text-classification"}

    @app.get("/v1/models")
    def models():
        return {
            "object": "list",
            "data": [{"id": model_id, "object": "model", "created": created, "owned_by": "understudy"}],
        }

    if kind == "classifier":
        from ..oversight.abstain import decide, load_policy
        from ..oversight.queue import ReviewQueue
        from ..students import load_student

        student = load_student(what)
        folder = Path(what)
        # The oversight policy calibrated at distillation: below its threshold a person decides, via the queue.
        policy = load_policy(folder) if (folder / "oversight.json").is_file() else None
        queue = ReviewQueue(folder.parent / "review_queue.sqlite") if policy else None

        @app.post("/v1/classify")
        def classify(req: ClassifyRequest):
            if not req.texts:
                return _error(400, "'texts' must hold at least one text", "texts")
            probs = student.predict_proba(req.texts)
            labels = list(student.labels)
            answer = {
                "model": model_id,
                "classes": labels,
                "labels": [labels[i] for i in probs.argmax(1)],
                "probs": [[round(float(p), 6) for p in row] for row in probs],
            }
            if policy is not None:
                defer = decide(probs, policy)
                answer["defer_to_human"] = defer
                answer["review_ids"] = [
                    queue.add(t, labels[int(p.argmax())], float(p.max()), p.tolist()) if d else None
                    for t, p, d in zip(req.texts, probs, defer)
                ]
            return answer

        if queue is not None:

            @app.get("/v1/review")
            def pending(limit: int = 100):
                return {"items": queue.pending(limit), **queue.counts()}

            @app.post("/v1/review/{item}")
            def review(item: int, body: ReviewDecision):
                try:
                    return queue.decide(item, body.label, list(student.labels), body.reviewer)
                except UserError as exc:
                    return _error(404 if "does not exist" in str(exc) else 400, str(exc), "label")

        return app

    from ..lm.models import load_causal_lm
    from .engine import Step, TextGenerator

    model, tokenizer = load_causal_lm(what)
    engine = TextGenerator(model, tokenizer, model_id)
    app.state.engine = engine

    def settings(req, default_max: int):
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        temperature = 1.0 if req.temperature is None else req.temperature
        return {
            "temperature": temperature,
            "top_p": 1.0 if req.top_p is None else req.top_p,
            "stop": stop,
            "seed": req.seed,
            "max_tokens": default_max,
        }

    def check(req) -> Any:
        if req.n not in (None, 1):
            return _error(400, "only n=1 is supported", "n")
        if req.temperature is not None and not 0 <= req.temperature <= 2:
            return _error(400, "temperature must be between 0 and 2", "temperature")
        return None

    def chat_logprob(s: Step) -> dict:
        return {
            "token": s.token,
            "logprob": s.logprob,
            "bytes": list(s.token.encode("utf-8")),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))} for t, lp in s.top],
        }

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest):
        bad = check(req)
        if bad:
            return bad
        if req.top_logprobs is not None and not 0 <= req.top_logprobs <= 20:
            return _error(400, "top_logprobs must be between 0 and 20", "top_logprobs")
        try:
            messages = [
                {
                    "role": m["role"],
                    "content": m["content"]
                    if isinstance(m.get("content"), str)
                    else "".join(p.get("text", "") for p in m.get("content") or []),
                }
                for m in req.messages
            ]
        except (KeyError, TypeError, AttributeError):
            return _error(400, "each message needs 'role' and 'content'", "messages")
        if not messages:
            return _error(400, "'messages' must not be empty", "messages")
        ids = engine.chat_ids(messages)
        opts = settings(req, req.max_completion_tokens or req.max_tokens or 256)
        n_top = (req.top_logprobs or 0) if req.logprobs else 0
        cid, now = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        steps = engine.stream(ids, top_logprobs=n_top, **opts)
        if req.stream:

            def events():
                base = {"id": cid, "object": "chat.completion.chunk", "created": now, "model": model_id}
                yield _sse(
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": ""},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ],
                    }
                )
                n = 0
                for s in steps:
                    if isinstance(s, str):
                        yield _sse(
                            {
                                **base,
                                "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": s}],
                                "usage": {
                                    "prompt_tokens": len(ids),
                                    "completion_tokens": n,
                                    "total_tokens": len(ids) + n,
                                },
                            }
                        )
                        break
                    n += 1
                    yield _sse(
                        {
                            **base,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"content": s.text},
                                    "logprobs": {"content": [chat_logprob(s)]} if req.logprobs else None,
                                    "finish_reason": None,
                                }
                            ],
                        }
                    )
                yield "data: [DONE]\n\n"

            from fastapi.responses import StreamingResponse

            return StreamingResponse(events(), media_type="text/event-stream")
        done = list(steps)
        tokens, finish = [s for s in done if isinstance(s, Step)], done[-1]
        return {
            "id": cid,
            "object": "chat.completion",
            "created": now,
            "model": model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(s.text for s in tokens)},
                    "logprobs": {"content": [chat_logprob(s) for s in tokens]} if req.logprobs else None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": len(tokens),
                "total_tokens": len(ids) + len(tokens),
            },
        }

    def completion_logprobs(tokens: list[Step], start: int = 0) -> dict:
        offsets, at = [], start
        for s in tokens:
            offsets.append(at)
            at += len(s.text)
        return {
            "tokens": [s.token for s in tokens],
            "token_logprobs": [s.logprob for s in tokens],
            "top_logprobs": [dict(s.top) for s in tokens],
            "text_offset": offsets,
        }

    @app.post("/v1/completions")
    def completions(req: CompletionRequest):
        bad = check(req)
        if bad:
            return bad
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if len(prompts) != 1 or not isinstance(prompts[0], str):
            return _error(400, "send one text prompt per request", "prompt")
        if req.echo:
            return _error(400, "echo is not supported", "echo")
        if req.logprobs is not None and not 0 <= req.logprobs <= 5:
            return _error(400, "logprobs must be between 0 and 5", "logprobs")
        ids = engine.text_ids(prompts[0])
        if not ids:
            return _error(400, "the prompt is empty", "prompt")
        opts = settings(req, req.max_tokens if req.max_tokens is not None else 16)
        steps = engine.stream(ids, top_logprobs=req.logprobs or 0, **opts)
        cid, now = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        base = {"id": cid, "object": "text_completion", "created": now, "model": model_id}
        if req.stream:

            def events():
                at = 0
                for s in steps:
                    if isinstance(s, str):
                        yield _sse(
                            {**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": s}]}
                        )
                        break
                    lp = completion_logprobs([s], at) if req.logprobs is not None else None
                    at += len(s.text)
                    yield _sse(
                        {**base, "choices": [{"index": 0, "text": s.text, "logprobs": lp, "finish_reason": None}]}
                    )
                yield "data: [DONE]\n\n"

            from fastapi.responses import StreamingResponse

            return StreamingResponse(events(), media_type="text/event-stream")
        done = list(steps)
        tokens = [s for s in done if isinstance(s, Step)]
        return {
            **base,
            "choices": [
                {
                    "index": 0,
                    "text": "".join(s.text for s in tokens),
                    "logprobs": completion_logprobs(tokens) if req.logprobs is not None else None,
                    "finish_reason": done[-1],
                }
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": len(tokens),
                "total_tokens": len(ids) + len(tokens),
            },
        }

    return app
