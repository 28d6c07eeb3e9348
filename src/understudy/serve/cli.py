"""`understudy serve TARGET`: the plain function the CLI registers, with the start-up banner."""

from __future__ import annotations

import json


def serve(
    target: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    keys_file: str | None = None,
    allow_blocked: bool = False,
    max_body_mb: float = 1.0,
    max_batch: int = 256,
    keep_decided_days: float | None = 90,
    keep_pending_days: float | None = None,
    access_log: bool = False,
    name: str | None = None,
    say=print,
) -> None:
    """Serve a run folder's student, a teacher folder or a .gguf file until interrupted."""
    import uvicorn

    from .app import create_app
    from .keys import KeyStore

    keys = KeyStore(keys_file, create=False)
    app = create_app(
        target,
        keys=keys,
        name=name,
        allow_blocked=allow_blocked,
        max_body_mb=max_body_mb,
        max_batch=max_batch,
        keep_decided_days=keep_decided_days,
        keep_pending_days=keep_pending_days,
    )
    for line in banner(app, host, port, keys):
        say(line)
    # uvloop and httptools where installed (the serve extra brings them); /metrics counts requests either way.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)


NOTES = {
    "/": "what is served where (no key)",
    "/docs": "API docs in your browser (no key to open; enter yours there)",
    "/health": "(no key)",
    "/review": "the review desk (reviewers log in)",
}


def banner(app, host: str, port: int, keys) -> list[str]:
    """What is served where, and a request that works (with the key from an environment variable, never printed)."""
    health = app.state.health
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    routes = sorted(
        {
            (m, r.path)
            for r in app.routes
            for m in getattr(r, "methods", ())
            if m != "HEAD" and "/static/" not in r.path
        },
        key=lambda mp: (mp[1] not in NOTES, mp[1], mp[0]),  # the ways in first
    )
    lines = [f"serving {health['model']} ({health['task']}), verdict {health['verdict']}, keys from {keys.path}"]
    if health.get("warning"):
        lines.append(f"WARNING: {health['warning']}")
    lines += [f"  {m:5} {base}{p}" + (f"  {NOTES[p]}" if p in NOTES and m == "GET" else "") for m, p in routes]
    if not getattr(app.state, "docs", True):
        from .docs import MISSING

        lines.append(f"no /docs: {MISSING}")
    ex = getattr(app.state, "example", None)  # create_app's working request for a classifier or a table model
    if ex:
        example = f"-d '{json.dumps(ex['body'], ensure_ascii=False)}' {base}{ex['path']}"
    else:
        example = f'-d \'{{"messages": [{{"role": "user", "content": "hello"}}]}}\' {base}/v1/chat/completions'
    lines.append(
        "every other endpoint needs a key: export UNDERSTUDY_API_KEY=<a key from `understudy api-keys create NAME`>"
    )
    lines.append(
        f'try: curl -H "Authorization: Bearer $UNDERSTUDY_API_KEY" -H "Content-Type: application/json" {example}'
    )
    return lines
