"""Read a GGUF file's key/value metadata from its header, without touching the weights.

Format: magic 'GGUF', uint32 version, uint64 tensor count, uint64 key count, then the keys
(https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). Arrays are skipped unless small:
a tokenizer's 50k-token list is not licence evidence.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import UserError

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
MAX_KEEP = 64  # arrays longer than this are skipped, not stored


def read_gguf_metadata(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return _read(fh, path)
    except (struct.error, UnicodeDecodeError, MemoryError) as exc:
        raise UserError(f"{path}: GGUF header is damaged or truncated ({exc}); re-download the file") from None


def _read(fh, path: Path) -> dict:
    def unpack(fmt):
        size = struct.calcsize(fmt)
        data = fh.read(size)
        if len(data) != size:
            raise struct.error("unexpected end of file")
        return struct.unpack(fmt, data)[0]

    def string():
        n = unpack("<Q")
        if n > 1 << 24:
            raise struct.error(f"a {n}-byte string")
        return fh.read(n).decode("utf-8")

    def value(kind):
        if kind in _SCALARS:
            return unpack(_SCALARS[kind])
        if kind == STRING:
            return string()
        if kind == ARRAY:
            item, n = unpack("<I"), unpack("<Q")
            if n <= MAX_KEEP:
                return [value(item) for _ in range(n)]
            if item in _SCALARS:
                fh.seek(struct.calcsize(_SCALARS[item]) * n, 1)
            else:
                for _ in range(n):
                    value(item)
            return f"<array of {n}>"
        raise struct.error(f"unknown value type {kind}")

    if fh.read(4) != b"GGUF":
        raise UserError(f"{path}: not a GGUF file (the first 4 bytes are not 'GGUF')")
    version = unpack("<I")
    if version < 2:
        raise UserError(f"{path}: GGUF version {version} is too old to read; convert it with a current llama.cpp")
    unpack("<Q")  # tensor count
    meta = {}
    for _ in range(unpack("<Q")):
        key = string()
        meta[key] = value(unpack("<I"))
    return meta
