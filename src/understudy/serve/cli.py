"""`understudy serve TARGET`: the plain function the CLI registers."""

from __future__ import annotations


def serve(target: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve a run folder's student, a teacher folder or a .gguf file until interrupted (OpenAI-compatible)."""
    import uvicorn

    from .app import create_app

    uvicorn.run(create_app(target), host=host, port=port, log_level="info")
