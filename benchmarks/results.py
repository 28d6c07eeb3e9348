"""One section of benchmarks/RESULTS.md written by a benchmark's --results: the rest of the file stays as it is."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, prefix: str, heading: str, body: str) -> None:
    """Replace the section whose heading starts with `prefix` ('## Tables') up to the next '## ' heading, or append
    it, as `heading` then `body`."""
    from understudy.run.folder import write_atomic

    text = path.read_text(encoding="utf-8") if path.exists() else "# Results\n"
    start = text.find(f"\n{prefix}")
    section = f"\n{heading}\n\n{body}\n"
    if start < 0:
        text = text.rstrip("\n") + "\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    write_atomic(path, text)
