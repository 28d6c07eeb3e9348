"""Ask a teacher about inputs once: batched, stored as each batch returns, resumable after any kill.

The data kind (a `Modality`, text by default) gives each input its store key and groups inputs into batches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import UserError
from .modalities.text import TextModality
from .progress import QUIET, Progress
from .store import TeacherStore

if TYPE_CHECKING:
    from .protocols import Modality


@dataclass
class LabelStats:
    texts: int = 0
    reused: int = 0
    asked: int = 0
    seconds: float = 0.0

    def to_report(self, fingerprint: str) -> dict:
        return {
            "teacher_fingerprint": fingerprint,
            "texts": self.texts,
            "reused": self.reused,
            "asked": self.asked,
            "seconds": round(self.seconds, 2),
        }


def label(
    teacher,
    texts: Sequence[Any],
    store: TeacherStore,
    *,
    batch_size: int = 32,
    progress: Progress = QUIET,
    modality: Modality | None = None,
) -> tuple[dict[str, np.ndarray], LabelStats]:
    """Every output the teacher provides, one row per input, in the order given.

    `modality` (default: text) keys each input in the store and batches the inputs; texts are batched by length.
    """
    if modality is None:
        modality = TextModality()
    encoder = getattr(teacher, "encoder", None)
    if encoder is not None:
        # The encoder is the expensive part: store its embeddings under its own fingerprint, so a
        # different head on the same encoder never re-encodes; the head itself is cheap.
        out, stats = label(encoder, texts, store, batch_size=batch_size, progress=progress, modality=modality)
        return {"embedding": out["embedding"], "probs": teacher.from_embeddings(out["embedding"])}, stats

    start = time.perf_counter()
    kinds = sorted(teacher.provides)
    store.register(teacher.fingerprint, teacher.description)
    hashes = [modality.key(t) for t in texts]
    unique = dict(zip(hashes, texts))  # duplicates are asked once
    stored = {k: store.get(teacher.fingerprint, list(unique), k) for k in kinds}
    have = set.intersection(*(set(s) for s in stored.values())) if kinds else set()
    todo = [h for h in unique if h not in have]
    stats = LabelStats(texts=len(texts), reused=len(unique) - len(todo), asked=len(todo))
    if todo:
        noun = getattr(modality, "plural", "inputs")
        with progress.task(f"teacher labelling ({len(unique) - len(todo)} already stored)", len(todo)) as advance:
            # Similar sizes in a batch waste less padding: a large speed-up for transformer teachers.
            for rows in modality.batches([unique[h] for h in todo], batch_size):
                batch = [todo[i] for i in rows]
                try:
                    result = teacher.predict([unique[h] for h in batch])
                except UserError:
                    raise
                except Exception as exc:
                    raise UserError(
                        f"the teacher ({teacher.description}) failed on a batch of {len(batch)} {noun}: "
                        f"{type(exc).__name__}: {exc}. Outputs stored so far are kept in {store.path}; rerun to resume"
                    ) from exc
                for kind in kinds:
                    rows = result[kind]
                    store.put(teacher.fingerprint, kind, zip(batch, rows))
                    stored[kind].update(zip(batch, rows))
                advance(len(batch))
    stats.seconds = time.perf_counter() - start
    return {k: np.stack([stored[k][h] for h in hashes]) for k in kinds}, stats
