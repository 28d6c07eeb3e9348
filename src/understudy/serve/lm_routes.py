"""OpenAI-compatible routes for a language model: /v1/chat/completions and /v1/completions.

Streaming as server-sent events; logprobs and top_logprobs as the OpenAI API gives them.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .security import error as _error
from .text import check_unicode

MAX_NEW_TOKENS = 4096


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ChatRequest(_Loose):
    model: str | None = None
    messages: list[dict[str, Any]] = Field(max_length=1000)
    max_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    temperature: float | None = None
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool = False
    stop: str | list[str] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    n: int | None = None

    _unicode = field_validator("messages", "stop")(check_unicode)


class CompletionRequest(_Loose):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1, le=MAX_NEW_TOKENS)
    temperature: float | None = None
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool = False
    stop: str | list[str] | None = None
    logprobs: int | None = None
    echo: bool | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    n: int | None = None

    _unicode = field_validator("prompt", "stop")(check_unicode)


def _sse(obj) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def add_lm_routes(app, what, model_id: str, require) -> None:
    """The generation routes for the model at `what`; every one needs a client key."""
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

    @app.post("/v1/chat/completions", dependencies=[Depends(require("client"))])
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

    @app.post("/v1/completions", dependencies=[Depends(require("client"))])
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
