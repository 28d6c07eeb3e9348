"""What every teacher is: a fingerprint, the outputs it provides, and a batched predict."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import UserError


@runtime_checkable
class Teacher(Protocol):
    fingerprint: str  # hash of the model's files: keys the store, names the lineage
    labels: list[str]  # class names, in the order of the columns of "probs"
    provides: frozenset[str]  # e.g. {"probs"} or {"probs", "embedding"}
    description: str  # one line for people: kind and path

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]: ...


def files_of(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    # Skip tool caches inside the folder (e.g. .cache/huggingface), judged below the folder, not above it.
    return sorted(p for p in path.rglob("*") if p.is_file() and not {".cache", ".git"} & set(p.relative_to(path).parts))


def size_on_disk(*paths: str | Path) -> int:
    return sum(f.stat().st_size for p in paths for f in files_of(p))


def fingerprint_files(*paths: str | Path, extra: str = "") -> str:
    """sha256 over each file's relative name and bytes: the same model gives the same fingerprint anywhere."""
    digest = hashlib.sha256(extra.encode())
    for root in paths:
        root = Path(root)
        for f in files_of(root):
            rel = f.name if root.is_file() else str(f.relative_to(root))
            digest.update(rel.encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:32]


def check_probs(probs: np.ndarray, n: int, labels: list[str], who: str) -> np.ndarray:
    """Teachers written by users return all sorts: say exactly what is wrong."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (n, len(labels)):
        raise UserError(
            f"{who} returned probabilities of shape {probs.shape}; expected ({n}, {len(labels)}) "
            f"for {n} texts and labels {labels}"
        )
    if not np.all(np.isfinite(probs)) or (probs < -1e-6).any():
        raise UserError(f"{who} returned NaN, infinite or negative probabilities")
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise UserError(
            f"{who} returned rows that do not sum to 1 (e.g. {sums[0]:.4f}); return probabilities, not scores"
        )
    return probs.astype(np.float32)
