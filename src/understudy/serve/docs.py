"""The way in: `GET /` (what is served where), the OpenAPI spec behind a key, and Swagger UI at /docs, offline.

Swagger UI's JS and CSS come from the installed swagger-ui-bundle-v2 package, never a CDN, so /docs works on
a machine with no internet. Public and keyed, and why:
- `/`, `/docs` and their static files are public: they hold no data, only what /health already says (the
  model, its task and verdict) and the fixed paths every server of this kind has. Like the desk's login page.
- `/openapi.json` needs a key: it is the server's full description. The docs page asks for the key first,
  fetches the spec with it and hands it to Swagger UI's Authorize, so "Try it out" sends it too. The key stays
  in the page's memory: nothing is stored in the browser.
"""

from __future__ import annotations

import html
import logging
from importlib import resources

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from .desk import HEADERS as DESK_HEADERS
from .security import error

log = logging.getLogger("understudy.serve")
# Swagger UI's stylesheet draws its icons as data: images (inside the file itself); all else is from 'self'.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {**DESK_HEADERS, "Content-Security-Policy": CSP}
OWN = {"docs.js": "text/javascript", "docs.css": "text/css"}  # from understudy/serve/desk/
SWAGGER = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}
MISSING = "the API docs need the swagger-ui-bundle-v2 package: pip install 'understudy[serve]'"


def swagger_files() -> dict[str, bytes] | None:
    """Swagger UI's files from the installed package; None (and the docs say how to get them) when it is missing."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("%s; the server runs without /docs", MISSING)
        return None
    return {name: (swagger_ui_path / name).read_bytes() for name in SWAGGER}


def endpoints(app) -> list[str]:
    """'METHOD /path' for each endpoint in the spec, as a reader would call it."""
    found = {
        (m, r.path)
        for r in app.routes
        if getattr(r, "include_in_schema", False)
        for m in getattr(r, "methods", ())
        if m != "HEAD"
    }
    return [f"{m} {p}" for p, m in sorted((p, m) for m, p in found)]


def example_row(schema) -> dict:
    """A row /v1/predict takes, for the docs' "Try it out": each numeric column's mean (4 significant digits), each
    categorical column's first (most common) category; null where the transfer set had no value at all."""
    row = {}
    for c in schema.columns:
        if c.kind == "numeric":
            row[c.name] = float(f"{c.mean:.4g}") if c.mean is not None else None
        else:
            row[c.name] = c.categories[0] if c.categories else None
    return row


def add_docs_routes(app, require, health: dict, *, desk: bool) -> None:
    own = {name: resources.files("understudy.serve").joinpath("desk", name).read_bytes() for name in OWN}
    page = resources.files("understudy.serve").joinpath("desk", "docs.html").read_bytes()
    vendored = swagger_files()
    app.state.docs = vendored is not None

    def about() -> dict:
        answer = {
            "model": health["model"],
            "task": health["task"],
            "verdict": health["verdict"],
            "docs": "/docs",
            "openapi": "/openapi.json",
            "health": "/health",
            "endpoints": endpoints(app),
            "keys": "every endpoint here but /health needs 'Authorization: Bearer KEY' (understudy api-keys create NAME)",
        }
        if desk:
            answer["review_desk"] = "/review"
        return answer

    @app.get("/", include_in_schema=False)
    def root(request: Request):
        if "text/html" in request.headers.get("accept", ""):  # a browser: a page with links
            return Response(root_page(about()), media_type="text/html; charset=utf-8", headers=HEADERS)
        return JSONResponse(about())

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require("client"))])
    def openapi():
        return JSONResponse(app.openapi(), headers={"Cache-Control": "no-store"})

    @app.get("/docs", include_in_schema=False)
    def docs_page():
        if vendored is None:
            return error(503, MISSING, headers=HEADERS)
        return Response(page, media_type="text/html; charset=utf-8", headers=HEADERS)

    @app.get("/docs/static/{name}", include_in_schema=False)
    def docs_file(name: str):
        if name in OWN:
            return Response(own[name], media_type=OWN[name], headers=HEADERS)
        if name in SWAGGER and vendored is not None:
            # Swagger UI changes only with the package: let the browser keep it for an hour.
            return Response(
                vendored[name], media_type=SWAGGER[name], headers={**HEADERS, "Cache-Control": "max-age=3600"}
            )
        return error(404, f"no docs file named {name!r}", headers=HEADERS)


def root_page(about: dict) -> bytes:
    """`GET /` for a browser: the same facts as the JSON, as links; no script."""
    e = html.escape
    links = [("/docs", "API docs (Swagger UI; asks for your API key)"), ("/health", "health (no key needed)")]
    if "review_desk" in about:
        links.insert(1, ("/review", "review desk (reviewers log in)"))
    items = "".join(f'<li><a href="{e(href)}">{e(href)}</a> {e(what)}</li>' for href, what in links)
    calls = "".join(f"<li><code>{e(line)}</code></li>" for line in about["endpoints"])
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(about['model'])} · understudy</title>"
        "<link rel='stylesheet' href='/docs/static/docs.css'></head><body class='root'><main>"
        f"<h1>{e(about['model'])}</h1><p>{e(about['task'])}, verdict <strong>{e(about['verdict'])}</strong>, "
        f"served by understudy.</p><ul>{items}</ul><h2>Endpoints</h2><p>{e(about['keys'])}.</p><ul>{calls}</ul>"
        "</main></body></html>"
    ).encode()
