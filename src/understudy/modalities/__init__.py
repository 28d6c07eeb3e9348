"""Data kinds (modalities): how each kind of input is read, keyed in the store, batched and perturbed.

Each kind is one module with one class that meets `understudy.protocols.Modality`:

  text   TextModality   classification inputs: one string each
  chat   ChatModality   language-model prompts: a list of {"role", "content"} messages each

They are found by name through the `understudy.modalities` entry points, like any third-party kind;
importing this package loads none of them. A new kind (table rows, images, audio) gives its inputs a
store key with `understudy.store.input_key` over the input's bytes and may reuse `by_size` for batching.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

__all__ = ["by_size", "in_order"]


def by_size(sizes: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices 0..n-1 in chunks of at most `batch_size`, smallest first (a stable sort, so ties keep their order).

    Inputs of similar size in a batch waste less padding: a large speed-up for transformer teachers.
    """
    _check(batch_size)
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def in_order(count: int, batch_size: int) -> Iterator[list[int]]:
    """Indices 0..count-1 in chunks of at most `batch_size`, in order: for inputs that each cost a model the same
    (table rows; pictures, which a network resizes to one size), where sorting saves no padding."""
    _check(batch_size)
    for start in range(0, count, batch_size):
        yield list(range(start, min(start + batch_size, count)))


def _check(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
