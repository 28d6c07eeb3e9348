"""MUNGE (Bucilua, Caruana and Niculescu-Mizil, "Model compression", KDD 2006): synthetic rows drawn around real ones.

A small model learns a big one's function best where it has many rows to see it on. The teacher labels any
row for free (well, once), so the transfer set is grown with rows that look like the real ones: for each
real row e and its nearest neighbour e', each value is, with probability `swap`, taken from around e''s:
a numeric value drawn from Normal(e'_a, |e_a - e'_a| / spread), a categorical one set to e'_a.
"""

from __future__ import annotations

import numpy as np

from ..modalities.table import Rows, TableSchema


def _space(frame, schema: TableSchema) -> np.ndarray:
    """Rows in a space where distance means something: numeric columns standardised (missing at the mean),
    each categorical column one-hot over its categories, scaled so a mismatch counts like one spread."""
    parts = []
    for c in schema.columns:
        values = frame[c.name]
        if c.kind == "numeric":
            x = values.to_numpy(dtype=float)
            sd = c.std or 1.0
            parts.append(np.nan_to_num((x - (c.mean or 0.0)) / sd)[:, None])
        else:
            v = values.to_numpy(dtype=object)
            parts.append(np.stack([(v == k) for k in c.categories], axis=1).astype(float) / np.sqrt(2.0))
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


def munge(rows: Rows, schema: TableSchema, n: int, *, swap: float = 0.5, spread: float = 1.0, seed: int = 0) -> Rows:
    """`n` synthetic rows (in rounds over the real rows, each round a fresh draw), typed like `rows`."""
    import pandas as pd
    from sklearn.neighbors import NearestNeighbors

    frame = rows.frame
    if n <= 0 or len(frame) < 2:
        return Rows(frame.iloc[:0])
    z = _space(frame, schema)
    _, idx = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)
    # the nearest row that is not the row itself (duplicates find each other first: fall back to the next)
    near = np.where(idx[:, 0] == np.arange(len(frame)), idx[:, 1], idx[:, 0])
    whole = {}
    for c in schema.columns:
        if c.kind == "numeric":
            x = frame[c.name].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            whole[c.name] = bool(len(x)) and bool(np.all(x == np.round(x)))
    rng = np.random.default_rng(seed)
    chunks, made = [], 0
    while made < n:
        take = min(len(frame), n - made)
        base = rng.permutation(len(frame))[:take]
        other = near[base]
        out = {}
        for c in schema.columns:
            a = frame[c.name].to_numpy()[base]
            b = frame[c.name].to_numpy()[other]
            pick = rng.random(take) < swap
            if c.kind == "numeric":
                a, b = a.astype(float), b.astype(float)
                sd = np.abs(a - b) / spread
                drawn = rng.normal(np.nan_to_num(b), np.where(np.isfinite(sd), sd, 0.0))
                drawn = np.where(np.isnan(b), np.nan, drawn)  # a missing neighbour value stays missing
                if c.low is not None and c.high is not None:  # no ages of -3: keep within the seen range
                    drawn = np.clip(drawn, c.low, c.high)
                if whole[c.name]:  # a count or a 0/1 flag stays whole
                    drawn = np.round(drawn)
                out[c.name] = np.where(pick, drawn, a)
            else:
                out[c.name] = np.where(pick, b, a).astype(object)
        chunks.append(pd.DataFrame(out, columns=schema.features))
        made += take
    return Rows(pd.concat(chunks, ignore_index=True))
