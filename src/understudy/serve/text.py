"""Checks on the text a client sends: valid Unicode (JSON lets a lone surrogate through), not empty."""

from __future__ import annotations


def check_unicode(value):
    """A pydantic validator: every string inside `value` must encode as UTF-8 (a lone surrogate does not)."""
    _walk(value, "")
    return value


def _walk(value, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            at = f" at {where}" if where else ""
            raise ValueError(f"text{at} is not valid Unicode (character {exc.start} is a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, where)
            _walk(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _walk(v, f"{where}[{i}]" if where else f"[{i}]")
