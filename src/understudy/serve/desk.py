"""The review desk: a small web page, behind the reviewer login, that works through the review queue.

The page is static HTML, CSS and JS from the package (served here, never from a CDN) and talks to the JSON
API of review.py with the reviewer's session cookie. Why it is built this way:
- a strict Content-Security-Policy with no inline script: the queue holds untrusted texts, and the JS only
  ever puts them in with textContent, so even a missed spot cannot run a script;
- the cookie is HttpOnly and SameSite=Strict, and every POST (login included) carries the desk header, which
  another site's form cannot send;
- repeated failed log-ins for one name are refused for a while, so a password cannot be guessed quickly.
"""

from __future__ import annotations

import json
import threading
import time
from importlib import resources

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .keys import SESSION_HOURS, KeyStore, Principal
from .security import DESK_HEADER, SESSION_COOKIE, Denied, error
from .text import check_unicode

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
FILES = {"desk.js": "text/javascript", "login.js": "text/javascript", "desk.css": "text/css"}
BAD_LOGIN = "wrong name or password"
MAX_FAILURES = 5  # failed log-ins for one name before it is refused for a while
LOCK_SECONDS = 10.0  # the first refusal; each further failure doubles it, up to LOCK_MAX
LOCK_MAX = 15 * 60.0
FORGET_SECONDS = 60 * 60.0  # a name's failures are forgotten this long after its last one


class Login(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)

    _unicode = field_validator("name", "password")(check_unicode)


class Throttle:
    """Failed log-ins per name: after MAX_FAILURES, the name is locked, longer with each further failure.

    Counted for any name, known or not, so a refusal says nothing about which names exist.
    """

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._failed: dict[str, tuple[int, float, float]] = {}  # name -> (failures, last failure, locked until)
        self._lock = threading.Lock()

    def wait(self, name: str) -> float:
        """Seconds until `name` may try again (0: now)."""
        with self._lock:
            entry = self._failed.get(name)
            return max(0.0, entry[2] - self.clock()) if entry else 0.0

    def failed(self, name: str) -> None:
        now = self.clock()
        with self._lock:
            count, last, _ = self._failed.get(name, (0, now, 0.0))
            count = 1 if now - last > FORGET_SECONDS else count + 1
            over = count - MAX_FAILURES
            until = now + min(LOCK_SECONDS * 2**over, LOCK_MAX) if over >= 0 else 0.0
            self._failed[name] = (count, now, until)
            if len(self._failed) > 10_000:  # names nobody uses: keep the table small
                self._failed = {n: e for n, e in self._failed.items() if now - e[1] <= FORGET_SECONDS}

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failed.pop(name, None)


def _file(name: str) -> bytes:
    return resources.files("understudy.serve").joinpath("desk", name).read_bytes()


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _page(body: bytes, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers=HEADERS)


def _desk_header(request: Request) -> None:
    # Login and logout need it as well: another site's form could otherwise log a reviewer in or out.
    if request.headers.get(DESK_HEADER) != "1":
        raise Denied(403, f"the review desk sends the {DESK_HEADER} header; this request did not")


def add_desk_routes(app, keys: KeyStore, labels: list[str], model_id: str) -> None:
    throttle = Throttle()
    app.state.desk_throttle = throttle  # so tests can move its clock
    static = {name: _file(name) for name in FILES}  # read once: a bad install fails at start
    pages = {name: _file(name) for name in ("desk.html", "login.html")}

    def reviewer(request: Request) -> Principal | None:
        token = request.cookies.get(SESSION_COOKIE)
        return keys.session(token) if token else None

    def signed_in(request: Request) -> Principal:
        found = reviewer(request)
        if found is None:
            raise Denied(401, "your review-desk session has ended: log in again at /review/login")
        return found

    @app.get("/review/login", include_in_schema=False)  # pages, not API: / and the banner name /review
    def login_page(request: Request):
        if reviewer(request) is not None:
            return RedirectResponse("/review", status_code=303, headers=HEADERS)
        return _page(pages["login.html"], "text/html; charset=utf-8")

    @app.post("/review/login", dependencies=[Depends(_desk_header)])
    def login(body: Login, request: Request):
        wait = throttle.wait(body.name)
        if wait > 0:
            seconds = int(wait) + 1
            return error(
                429,
                f"too many failed log-ins for this name: try again in {seconds} s",
                headers={**HEADERS, "Retry-After": str(seconds)},
            )
        token = keys.login(body.name, body.password)
        if token is None:
            throttle.failed(body.name)
            return error(401, BAD_LOGIN, headers=HEADERS)
        throttle.succeeded(body.name)
        response = Response(_json({"reviewer": body.name}), media_type="application/json", headers=HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=SESSION_HOURS * 3600,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",  # plain http on loopback must still log in
        )
        return response

    @app.post("/review/logout", dependencies=[Depends(_desk_header)])
    def logout(request: Request):
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            keys.logout(token)
        response = Response('{"logged_out": true}', media_type="application/json", headers=HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/review", include_in_schema=False)
    def desk_page(request: Request):
        if reviewer(request) is None:
            return RedirectResponse("/review/login", status_code=303, headers=HEADERS)
        return _page(pages["desk.html"], "text/html; charset=utf-8")

    @app.get("/review/me")
    def me(who: Principal = Depends(signed_in)):
        return Response(
            _json({"reviewer": who.name, "model": model_id, "labels": labels}),
            media_type="application/json",
            headers=HEADERS,
        )

    @app.get("/review/static/{name}", include_in_schema=False)
    def static_file(name: str):
        if name not in static:
            return error(404, f"no desk file named {name!r}", headers=HEADERS)
        return _page(static[name], FILES[name])
