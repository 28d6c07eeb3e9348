"""Keys, roles, limits and errors for every endpoint of the server.

- Every endpoint but /health needs an API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`): 401 without
  one or with a key this server never made, 403 for a revoked key or a role that may not do this.
- A reviewer logged in at the review desk carries a session cookie instead; a request that changes something
  with that cookie must also carry the desk's header, so another site cannot post in the reviewer's name.
- Bodies over the limit get 413 before they are read whole; malformed input gets 422 naming the field (or the
  body: not JSON, not UTF-8, empty); an unknown path gets 404 listing this server's endpoints; a
  server fault gets a 500 with no traceback (the log has it). Keys never appear in a response or a log line.
"""

from __future__ import annotations

import json
import logging

from fastapi import Request, Security
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

from .keys import KeyStore, Principal

SESSION_COOKIE = "understudy_session"
DESK_HEADER = "x-understudy-desk"
log = logging.getLogger("understudy.serve")
# Only declares the scheme in the OpenAPI (so /docs' Authorize button sends the key); who() does the checking.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An API key from `understudy api-keys create NAME` (the X-API-Key header works as well).",
    auto_error=False,
)


def error_body(message: str, param: str | None = None, kind: str = "invalid_request_error") -> dict:
    """The OpenAI error shape, so OpenAI clients show the message."""
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def error(status: int, message: str, param: str | None = None, headers: dict | None = None):
    from fastapi.responses import JSONResponse

    kind = {401: "authentication_error", 403: "permission_error", 413: "request_too_large"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )
    return JSONResponse(status_code=status, content=error_body(message, param, kind), headers=headers)


class Denied(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _presented_key(request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key") or None


def guard(store: KeyStore):
    """`require(role)`: a FastAPI dependency that answers who is asking, or refuses with 401/403."""

    def who(request: Request) -> Principal:
        key = _presented_key(request)
        if key:
            found = store.check_key(key)
            if found is None:
                raise Denied(401, "this API key is not known to this server")
            if found == "revoked":
                raise Denied(403, "this API key has been revoked")
            assert isinstance(found, Principal)
            return found
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            reviewer = store.session(token)
            if reviewer is None:
                raise Denied(401, "your review-desk session has ended: log in again at /review")
            if request.method not in ("GET", "HEAD") and request.headers.get(DESK_HEADER) != "1":
                raise Denied(403, f"a change made with a desk session needs the {DESK_HEADER} header")
            return reviewer
        raise Denied(
            401, "an API key is needed: send 'Authorization: Bearer KEY' (make one: understudy api-keys create)"
        )

    def require(role: str = "client"):
        # async: a key check is one indexed SQLite read; a trip through the thread pool cost more than the read.
        async def dependency(request: Request, _declared=Security(BEARER)) -> Principal:
            principal = who(request)
            if not principal.can(role):
                raise Denied(
                    403, f"the {principal.role} key '{principal.name}' may not do this: it needs the {role} role"
                )
            request.state.principal = principal
            return principal

        return dependency

    return require


def install_errors(app) -> None:
    """No traceback and no 500 for a client's mistake: every error in the OpenAI error shape."""
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(Denied)
    async def denied(request, exc: Denied):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error(exc.status, exc.message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        problems, param = [], None
        for e in exc.errors():
            if e.get("type") == "json_invalid":  # its loc is ("body", character offset): no field to name
                at = next((p for p in e.get("loc", ()) if isinstance(p, int)), None)
                said = (e.get("ctx") or {}).get("error") or "not JSON"
                where = f"at character {at}: " if at is not None else ""
                return error(422, f"the request body is not valid JSON ({where}{said})", "body")
            if e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",):
                return error(422, "the request body is empty: send a JSON object (see /docs)", "body")
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
            param = param or ".".join(loc) or None
            problems.append(f"{'.'.join(loc) or 'request'}: {_plain(e.get('msg', 'invalid'))}")
        return error(422, "; ".join(problems[:5]) or "the request is not valid", param)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):  # FastAPI's "error parsing the body"
            return error(
                422,
                f"the request body is not valid UTF-8 (byte {cause.start}): send JSON text encoded as UTF-8",
                "body",
            )
        if exc.status_code == 400 and cause is not None and exc.detail == "There was an error parsing the body":
            return error(422, f"the request body could not be read as JSON ({type(cause).__name__})", "body")
        # No route for this path (or this method): not a route's own 404, which says what it did not find.
        if (exc.status_code == 404 and "endpoint" not in request.scope) or (
            exc.status_code == 405 and exc.detail == "Method Not Allowed"
        ):
            return error(exc.status_code, _no_route(request, exc), headers=getattr(exc, "headers", None))
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def fault(request, exc: Exception):
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return error(500, "internal server error; the server's log says more")


# The other kind's endpoints, so a client that called a classifier's server like a language model's is told why.
LM_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
CLASSIFIER_PATHS = ("/v1/classify",)


def _no_route(request, exc: HTTPException) -> str:
    """A 404/405 with no route behind it: what this server serves and its endpoints, not a bare 'Not Found'."""
    from .docs import endpoints

    path, method = request.url.path, request.method
    listed = endpoints(request.app)
    if exc.status_code == 405:
        here = [e.split(" ", 1)[0] for e in listed if e.split(" ", 1)[1] == path]
        return f"{method} {path} is not an endpoint of this server; {path} takes {' or '.join(here) or 'no method'}"
    task = str((getattr(request.app.state, "health", None) or {}).get("task") or "")
    hint = ""
    if task == "text-classification" and path.rstrip("/") in LM_PATHS:
        hint = " This server serves a classifier, not a language model: use POST /v1/classify."
    elif task.startswith("tabular-") and path.rstrip("/") in CLASSIFIER_PATHS + LM_PATHS:
        hint = ' This server serves a table model: use POST /v1/predict with {"row": {...}}.'
    elif task == "text-generation" and path.rstrip("/") in CLASSIFIER_PATHS:
        hint = (
            " This server serves a language model, not a classifier: use POST /v1/chat/completions or /v1/completions."
        )
    return (
        f"{method} {path} is not an endpoint of this server.{hint} "
        f"Its endpoints: {', '.join(listed)}; GET / and /docs describe them"
    )


def _plain(msg: str) -> str:
    return msg.replace("Value error, ", "")


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by its Content-Length or while it streams in."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _reply(send, 400, "Content-Length is not a number")
            if int(length) > self.max_bytes:
                return await _reply(send, 413, self._message())
        seen, started = 0, False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # an HTTPException, so FastAPI's body reader passes it on as it is
                    raise _TooLarge(413, self._message())
            return message

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _reply(send, 413, self._message())

    def _message(self) -> str:
        return f"the request body is over this server's limit of {self.max_bytes:,} bytes (serve --max-body-mb)"


class _TooLarge(HTTPException):
    pass


async def _reply(send, status: int, message: str) -> None:
    body = json.dumps(error_body(message, kind="request_too_large" if status == 413 else "invalid_request_error"))
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body.encode()})
